"""Tree -> torch: the value and gradients that PyTorch autograd computes, as written.

The torch computation is built from the parse tree itself, never from SymPy's
canonical form: SymPy turns ``x/x`` into 1 and ``x*sqrt(x)`` into ``x**(3/2)``, which
would hide exactly the cases people come to check. Literals stay Python numbers where a
PyTorch user's code would have them (``5 * (x + 1) ** 2``); a sub-expression with no
variable in it is computed in torch too, so that ``(-8)**(1/3)`` is torch's ``nan``, not
Python's complex number.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.autograd.forward_ad as fwad

from ..dtypes import DType
from ..functions import CONSTANTS, FUNCTIONS
from ..parse import (
    BINARY_OPERATORS,
    Binary,
    Constant,
    Index,
    Node,
    Number,
    Unary,
    Variable,
    children,
    index_error,
)

DTYPES: dict[str, torch.dtype] = {d.value: getattr(torch, d.value) for d in DType}


#: Machine epsilon per dtype, for the finite-difference step rule.
EPSILON: dict[str, float] = {d.value: d.epsilon for d in DType}

Partial = tuple[str, ...]


@dataclass(frozen=True)
class AutogradResult:
    """The forward value and the partials asked for, by reverse mode.

    A partial is ``None`` when its variable does not reach the output through the
    graph (autograd returns no gradient; the true partial is 0).
    """

    value: float
    partials: dict[Partial, float | None]


def as_dtype(value: float, dtype_name: str) -> float:
    """A float64 value as ``dtype`` holds it (0.1 in float32 is 0.100000001490116...)."""
    return float(torch.tensor(value, dtype=DTYPES[dtype_name]))


def leaves(point: Mapping[str, float], wrt: tuple[str, ...], dtype: torch.dtype
           ) -> dict[str, torch.Tensor]:
    """One leaf tensor per variable; those in ``wrt`` require grad."""
    return {
        name: torch.tensor(value, dtype=dtype, requires_grad=name in wrt)
        for name, value in point.items()
    }


@dataclass(frozen=True)
class _Duals:
    """How forward mode builds the tree.

    A sub-expression that does not depend on the differentiated variable is computed
    plainly and then given a zero tangent, as forward AD with one dual input means;
    the rest is built from dual numbers. Mixing in an operand without a tangent would
    send torch down a slow Python path for the op's forward derivative (and a one-off
    import of torch._dynamo, over a second). Such an exponent stays a plain float: a
    dual one would bring in 0 * log(base), nan for a negative base.
    """

    plain: Mapping[str, torch.Tensor]
    zero: torch.Tensor
    #: ids of the nodes that do not depend on the differentiated variable
    independent: frozenset[int]

    def constant(self, value: Any) -> Any:
        tensor = value if isinstance(value, torch.Tensor) else \
            torch.tensor(value, dtype=self.zero.dtype)
        if not bool(torch.isfinite(tensor).all()):
            # 0 * inf is nan: an infinite constant takes no tangent (the slow path).
            return tensor
        return fwad.make_dual(tensor, self.zero)  # type: ignore[no-untyped-call]


def _independent(tree: Node, name: str) -> frozenset[int]:
    found: set[int] = set()

    def visit(node: Node) -> bool:
        free = [visit(child) for child in children(node)]
        if all(free) and not (isinstance(node, Variable) and node.name == name):
            found.add(id(node))
            return True
        return False

    visit(tree)
    return frozenset(found)


def evaluate(tree: Node, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype,
             duals: _Duals | None = None) -> torch.Tensor:
    """The torch value of a tree, built node by node as the text is written.

    Numbers stay Python numbers, as in a user's code (forward mode aside).
    """
    result = _build(tree, inputs, dtype, duals)
    return result if isinstance(result, torch.Tensor) else torch.tensor(result, dtype=dtype)


def reverse_mode(tree: Node, point: Mapping[str, float], partials: list[Partial],
                 dtype_name: str = "float64") -> AutogradResult:
    """Value and partials by ``torch.autograd.grad``, reverse over reverse for order > 1.

    ``partials`` are tuples of variable names, one per order (``("x", "y")`` is the
    mixed second partial); each is computed by differentiating the one before it
    with ``create_graph=True``.
    """
    dtype = DTYPES[dtype_name]
    wrt = tuple(dict.fromkeys(name for partial in partials for name in partial))
    inputs = leaves(point, wrt, dtype)
    output = evaluate(tree, inputs, dtype)
    order = max((len(p) for p in partials), default=0)
    known: dict[Partial, torch.Tensor | None] = {(): output}
    for level in range(order):
        wanted = {p[: level + 1] for p in partials if len(p) > level}
        for prefix in {p[:-1] for p in wanted}:
            tensor = known[prefix]
            names = [p[-1] for p in wanted if p[:-1] == prefix]
            if tensor is None or not tensor.requires_grad:
                known.update({(*prefix, name): None for name in names})
                continue
            # Sibling partials share the graph above them, so it must outlive each call.
            found = torch.autograd.grad(tensor, [inputs[n] for n in names], allow_unused=True,
                                        create_graph=level + 1 < order, retain_graph=True)
            known.update({(*prefix, name): g for name, g in zip(names, found, strict=True)})
    return AutogradResult(
        value=float(output.detach()),
        partials={p: None if known[p] is None else float(known[p].detach())  # type: ignore[union-attr]
                  for p in partials},
    )


def nan_source(tree: Node, point: Mapping[str, float], partial: str,
               dtype_name: str = "float64") -> str | None:
    """The backward function that first produces ``nan``, found with anomaly detection."""
    dtype = DTYPES[dtype_name]
    inputs = leaves(point, (partial,), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anomaly mode warns with a traceback of its own
        try:
            with torch.autograd.detect_anomaly():
                output = evaluate(tree, inputs, dtype)
                if output.requires_grad:
                    torch.autograd.grad(output, [inputs[partial]], allow_unused=True)
        except RuntimeError as error:
            found = re.search(r"Function '(\w+)' returned nan", str(error))
            return found.group(1) if found else None
    return None


def forward_mode(tree: Node, point: Mapping[str, float], name: str,
                 dtype_name: str = "float64") -> float:
    """The first partial in ``name`` by forward-mode AD (dual numbers)."""
    dtype = DTYPES[dtype_name]
    plain = {n: torch.tensor(v, dtype=dtype) for n, v in point.items()}
    duals = _Duals(plain, torch.zeros((), dtype=dtype), _independent(tree, name))
    fast = _tangent(tree, plain, name, dtype, duals)
    # A zero tangent meeting an infinite value (x*log(y) at y=0, in y) makes 0*inf =
    # nan where torch, given only the one dual input, would not: then ask it that way.
    return _tangent(tree, plain, name, dtype, None) if math.isnan(fast) else fast


def _tangent(tree: Node, plain: Mapping[str, torch.Tensor], name: str, dtype: torch.dtype,
             duals: _Duals | None) -> float:
    with warnings.catch_warnings(), fwad.dual_level():
        # The first dual number of a process makes torch import its JVP decompositions,
        # which call the deprecated torch.jit.script (18 DeprecationWarnings in a library
        # user's test run; under -W error, no forward mode at all). Torch's own, only:
        # the filters are as they were once this returns.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        seeded = fwad.make_dual(plain[name], torch.ones((), dtype=dtype))  # type: ignore[no-untyped-call]
        inputs = {**plain, name: seeded} if duals is None else {name: seeded}
        tangent = fwad.unpack_dual(evaluate(tree, inputs, dtype, duals)).tangent  # type: ignore[no-untyped-call]
        return 0.0 if tangent is None else float(tangent)


def step(value: float, order: int, dtype_name: str = "float64") -> float:
    """The finite-difference step: ``eps**(1/(order+2)) * max(1, |value|)``.

    That balances truncation error (h**2) against rounding error (eps/h**order) for a
    central difference. The step is then made exactly representable: ``(x + h) - x``.
    """
    h = EPSILON[dtype_name] ** (1.0 / (order + 2)) * max(1.0, abs(value))
    # In the dtype itself, so that x + step is exactly the point the dtype holds.
    x = torch.tensor(value, dtype=DTYPES[dtype_name])
    return float((x + h) - x)


def finite_difference(tree: Node, point: Mapping[str, float], partial: Partial,
                      dtype_name: str = "float64") -> float:
    """A central finite difference of the torch forward computation.

    For a partial of order n, the 2**n values at x +- h in each direction of the
    partial, with signs, over the product of the 2h (``step`` gives h).
    """
    order = len(partial)
    steps = {name: step(point[name], order, dtype_name) for name in set(partial)}
    total = 0.0
    for signs in itertools.product((1, -1), repeat=order):
        shifted = dict(point)
        for name, sign in zip(partial, signs, strict=True):
            shifted[name] += sign * steps[name]
        total += math.prod(signs) * forward_value(tree, shifted, dtype_name)
    return total / math.prod(2 * steps[name] for name in partial)


def one_sided_differences(tree: Node, point: Mapping[str, float], name: str,
                          dtype_name: str = "float64") -> tuple[float, float]:
    """Backward and forward differences ``(f(x) - f(x-h))/h`` and ``(f(x+h) - f(x))/h``."""
    h = step(point[name], 0, dtype_name)  # sqrt(eps): the rule for a one-sided difference
    here = forward_value(tree, point, dtype_name)
    below = forward_value(tree, {**point, name: point[name] - h}, dtype_name)
    above = forward_value(tree, {**point, name: point[name] + h}, dtype_name)
    return (here - below) / h, (above - here) / h


def forward_value(tree: Node, point: Mapping[str, float], dtype_name: str = "float64") -> float:
    """The torch value alone, without a graph."""
    dtype = DTYPES[dtype_name]
    with torch.no_grad():
        return float(evaluate(tree, {n: torch.tensor(v, dtype=dtype) for n, v in point.items()},
                              dtype))


def _build(node: Node, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype,
           duals: _Duals | None) -> Any:
    if duals is not None and id(node) in duals.independent:
        return duals.constant(_build(node, duals.plain, dtype, None))
    if isinstance(node, Number | Constant):
        value = node.value if isinstance(node, Number) else CONSTANTS[node.name]
        # An integer past int64 would overflow torch's scalar conversion; as a float it
        # is what a user means by 99999999999999999999 (1e20).
        if isinstance(value, int) and abs(value) >= 2**53:
            value = float(value)
        return value
    if isinstance(node, Variable):
        return inputs[node.name]
    if isinstance(node, Unary):
        operand = _build(node.operand, inputs, dtype, duals)
        if not isinstance(operand, torch.Tensor):
            operand = torch.tensor(operand, dtype=dtype)
        return -operand if node.op == "-" else operand
    if isinstance(node, Binary):
        left = _build(node.left, inputs, dtype, duals)
        if node.op == "**" and duals is not None and id(node.right) in duals.independent:
            right = _build(node.right, duals.plain, dtype, None)
            if isinstance(right, torch.Tensor) and right.dim() == 0:
                right = float(right)  # pow(dual, float) keeps to torch's fast path
        else:
            right = _build(node.right, inputs, dtype, duals)
        if not isinstance(left, torch.Tensor) and not isinstance(right, torch.Tensor):
            # Two Python numbers: Python's rules (ZeroDivisionError, complex powers)
            # are not torch's, so compute it as torch would.
            left = torch.tensor(left, dtype=dtype)
        return BINARY_OPERATORS[node.op](left, right)
    if isinstance(node, Index):
        operand = _build(node.operand, inputs, dtype, duals)
        error = index_error(node, tuple(operand.shape) if isinstance(operand, torch.Tensor) else ())
        if error is not None:  # the symbolic side refuses it first; never torch's IndexError
            raise error
        return operand[node.indices]  # a view, as x[0] is in a user's code
    args = [a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=dtype)
            for a in (_build(arg, inputs, dtype, duals) for arg in node.args)]
    return FUNCTIONS[node.function].torch(torch, *args)
