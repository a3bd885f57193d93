"""Tree -> torch: the value and gradients that PyTorch autograd computes, as written.

The torch computation is built from the parse tree itself, never from SymPy's
canonical form: SymPy turns ``x/x`` into 1 and ``x*sqrt(x)`` into ``x**(3/2)``, which
would hide exactly the cases people come to check. Literals stay Python numbers where a
PyTorch user's code would have them (``5 * (x + 1) ** 2``); a sub-expression with no
variable in it is computed in torch too, so that ``(-8)**(1/3)`` is torch's ``nan``, not
Python's complex number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .functions import CONSTANTS, FUNCTIONS
from .parse import BINARY_OPERATORS, Binary, Constant, Node, Number, Unary, Variable

DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class AutogradResult:
    """The forward value and one gradient per variable asked for.

    A gradient is ``None`` when the variable does not reach the output through the
    graph (autograd returns no gradient; the true partial is 0).
    """

    value: float
    gradients: dict[str, float | None]


def leaves(point: Mapping[str, float], wrt: tuple[str, ...], dtype: torch.dtype
           ) -> dict[str, torch.Tensor]:
    """One leaf tensor per variable; those in ``wrt`` require grad."""
    return {
        name: torch.tensor(value, dtype=dtype, requires_grad=name in wrt)
        for name, value in point.items()
    }


def evaluate(tree: Node, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The torch value of a tree, built node by node as the text is written."""
    result = _build(tree, inputs, dtype)
    return result if isinstance(result, torch.Tensor) else torch.tensor(result, dtype=dtype)


def gradients(tree: Node, point: Mapping[str, float], wrt: tuple[str, ...],
              dtype_name: str = "float64") -> AutogradResult:
    """Forward value and first partials through ``torch.autograd.grad``."""
    dtype = DTYPES[dtype_name]
    inputs = leaves(point, wrt, dtype)
    output = evaluate(tree, inputs, dtype)
    grads: dict[str, float | None] = {name: None for name in wrt}
    targets = [inputs[name] for name in wrt]
    if targets and output.requires_grad:
        found = torch.autograd.grad(output, targets, allow_unused=True)
        for name, grad in zip(wrt, found, strict=True):
            grads[name] = None if grad is None else float(grad)
    return AutogradResult(value=float(output.detach()), gradients=grads)


def _build(node: Node, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype) -> Any:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Constant):
        return CONSTANTS[node.name]
    if isinstance(node, Variable):
        return inputs[node.name]
    if isinstance(node, Unary):
        operand = _build(node.operand, inputs, dtype)
        if not isinstance(operand, torch.Tensor):
            operand = torch.tensor(operand, dtype=dtype)
        return -operand if node.op == "-" else operand
    if isinstance(node, Binary):
        left = _build(node.left, inputs, dtype)
        right = _build(node.right, inputs, dtype)
        if not isinstance(left, torch.Tensor) and not isinstance(right, torch.Tensor):
            # Two Python numbers: Python's rules (ZeroDivisionError, complex powers)
            # are not torch's, so compute it as torch would.
            left = torch.tensor(left, dtype=dtype)
        return BINARY_OPERATORS[node.op](left, right)
    args = [a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=dtype)
            for a in (_build(arg, inputs, dtype) for arg in node.args)]
    return FUNCTIONS[node.function].torch(torch, *args)
