"""User functions for tests/test_impl.py: what ``--impl`` checks, right and wrong.

Importable as ``tests.impls:NAME`` (from the repository root) or by path,
``tests/impls.py:NAME``. Each wrong one is wrong in one known way.
"""

from __future__ import annotations

import time
from typing import Any

import torch


def swish(x: torch.Tensor) -> torch.Tensor:
    """Right: x*sigmoid(x)."""
    return x * torch.sigmoid(x)


def swish_wrong(x: torch.Tensor) -> torch.Tensor:
    """Another function: x*tanh(x) for x*sigmoid(x)."""
    return x * torch.tanh(x)


def power_rest(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Right for x**2*y, its parameters in another order than the spec's variables."""
    return x**2 * y


def renamed(t: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """t*sigmoid(t): one parameter to fill, named otherwise than the spec's variable."""
    return t * torch.sigmoid(t)


def positional(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a**2*b: names that match no variable, so --args must give the order."""
    return a**2 * b


def with_option(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """A parameter with a default is left to its default: scale*x**2."""
    return scale * x**2


def detached(x: torch.Tensor) -> torch.Tensor:
    """The right value through a .detach(): no gradient reaches x."""
    return x.detach() ** 2


def through_item(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x*y where x goes through .item(): x is cut from the graph, y is not."""
    return torch.tensor(x.item(), dtype=y.dtype) * y


def raises(x: torch.Tensor) -> torch.Tensor:
    """Raises from the user's own code."""
    return _helper_that_raises(x)


def _helper_that_raises(x: torch.Tensor) -> torch.Tensor:
    raise ValueError("shape mismatch in my layer")


def returns_list(x: torch.Tensor) -> Any:
    return [x, x]


def returns_int(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(3)


def returns_complex(x: torch.Tensor) -> torch.Tensor:
    return x * (1 + 1j)


def returns_wrong_shape(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x, x])


def hangs(x: torch.Tensor) -> torch.Tensor:
    """Never returns (for --timeout)."""
    while True:
        time.sleep(0.05)


def mse(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A tensor loss: mean((w*x+b-y)**2)."""
    return torch.mean((w * x + b - y) ** 2)


def mse_detached_bias(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor
                      ) -> torch.Tensor:
    """The same loss with the bias detached."""
    return torch.mean((w * x + b.detach() - y) ** 2)


def square_elements(x: torch.Tensor) -> torch.Tensor:
    """Elementwise x**2 of a tensor: a Jacobian."""
    return x**2


class BadSigmoid(torch.autograd.Function):
    """sigmoid with a wrong backward: s instead of s*(1-s)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        return grad * s


class GoodSigmoid(torch.autograd.Function):
    """sigmoid with the right backward and a jvp."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        ctx.s = s
        return s

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor) -> torch.Tensor:
        return tangent * ctx.s * (1 - ctx.s)


class WrongJvpSigmoid(GoodSigmoid):
    """sigmoid with the right backward and a jvp that is wrong where sigmoid(x) < 1/2 (it
    forgets the factor 1 - s there): a bug only forward mode sees."""

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor) -> torch.Tensor:
        s = ctx.s
        return tangent * torch.where(s < 0.5, s, s * (1 - s))


def wrong_jvp_sigmoid_times(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """WrongJvpSigmoid(x) * y: the same jvp bug, in x, with a second variable."""
    return WrongJvpSigmoid.apply(x) * y  # type: ignore[no-any-return, no-untyped-call]


class BackwardRaises(torch.autograd.Function):
    """A backward that raises."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("backward not written yet")


NOT_CALLABLE = 3
