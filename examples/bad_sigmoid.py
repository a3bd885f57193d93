"""A custom sigmoid whose backward forgets the (1 - s) factor.

    gradcheck "sigmoid(x)" --impl examples/bad_sigmoid.py:BadSigmoid.apply --at x=0.5
"""

import torch


class BadSigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s  # wrong: the derivative of sigmoid is s * (1 - s)
