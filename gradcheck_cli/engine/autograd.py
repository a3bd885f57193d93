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
import os
import platform
import re
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.autograd.forward_ad as fwad

from ..dtypes import DType
from ..functions import CONSTANTS, FUNCTIONS
from ..parse import (
    BINARY_OPERATORS,
    Binary,
    Call,
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
    if dtype_name == "float64" and type(value) is float:
        return value  # a Python float is a float64: no tensor needed to say so
    return float(torch.tensor(value, dtype=DTYPES[dtype_name]))


def leaves(point: Mapping[str, float], wrt: tuple[str, ...], dtype: torch.dtype,
           device: str = "cpu") -> dict[str, torch.Tensor]:
    """One leaf tensor per variable; those in ``wrt`` require grad."""
    return {
        name: torch.tensor(value, dtype=dtype, device=device, requires_grad=name in wrt)
        for name, value in point.items()
    }


class ImplError(Exception):
    """The user's function raised (``impl_error``) or returned something that cannot be
    checked (``impl_bad_output``): the check's result says which, and why."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


#: Frames of these trees are gradcheck's or torch's, never the user's.
_NOT_USER = (os.path.dirname(os.path.dirname(torch.__file__ or "")) + os.sep + "torch" + os.sep,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)


def user_frames(error: BaseException) -> list[str]:
    """The frames of ``error``'s traceback in the user's code, as ``file:line in name``."""
    frames = traceback.extract_tb(error.__traceback__)
    return [f"{_shown_path(frame.filename)}:{frame.lineno} in {frame.name}" for frame in frames
            if not os.path.abspath(frame.filename).startswith(_NOT_USER)]


def _shown_path(filename: str) -> str:
    """A path under the current directory as relative to it, as the user wrote it."""
    relative = os.path.relpath(filename) if os.path.isabs(filename) else filename
    return filename if relative.startswith("..") else relative


@dataclass(frozen=True)
class Impl:
    """The user's function, called with the input tensors in ``order``.

    ``shape`` is the shape its output must have: the spec's (a one-element output of a
    scalar spec is taken as the scalar).
    """

    function: Callable[..., Any]
    order: tuple[str, ...]
    name: str
    shape: tuple[int, ...] = ()

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        try:
            output = self.function(*[inputs[name] for name in self.order])
        except Exception as error:
            frames = user_frames(error)
            where = f" (at {' -> '.join(frames)})" if frames else ""
            raise ImplError("impl_error", f"{self.name} raised {type(error).__name__}: "
                              f"{error}{where}") from error
        return self._checked(output)

    def _checked(self, output: Any) -> torch.Tensor:
        said = f"{self.name} returned"
        if not isinstance(output, torch.Tensor):
            raise ImplError("impl_bad_output", f"{said} {type(output).__name__} "
                              f"{_short(output)}, not a torch.Tensor")
        if output.is_complex():
            raise ImplError("impl_bad_output", f"{said} a complex tensor ({output.dtype}); "
                              "gradcheck checks real functions")
        if not output.is_floating_point():
            raise ImplError("impl_bad_output", f"{said} a tensor of {output.dtype}, which "
                              "carries no gradient: return a floating-point tensor")
        shape = tuple(output.shape)
        if shape != self.shape:
            if self.shape == () and output.numel() == 1:
                return output.reshape(())
            raise ImplError("impl_bad_output", f"{said} a tensor of shape {shape}, but the "
                              f"expression's value has shape {self.shape}")
        return output


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Side:
    """The torch side of a check: input tensors in, the output tensor out.

    Either the expression as written (``tree``), or the user's function (``impl``); and
    where its tensors live (``device``). Reverse mode, forward mode, finite differences
    and the tensor path all compute through it.
    """

    tree: Node | None = None
    impl: Impl | None = None
    device: str = "cpu"

    def __call__(self, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype,
                 duals: _Duals | None = None) -> torch.Tensor:
        if self.impl is not None:
            return self.impl(inputs)
        assert self.tree is not None
        return evaluate(self.tree, inputs, dtype, duals)


def as_side(source: Node | Side) -> Side:
    """A tree is the expression as written, on the CPU."""
    return source if isinstance(source, Side) else Side(tree=source)


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
            torch.tensor(value, dtype=self.zero.dtype, device=self.zero.device)
        if not bool(torch.isfinite(tensor).all()):
            # 0 * inf is nan: an infinite constant takes no tangent (the slow path).
            return tensor
        return fwad.make_dual(tensor, self.zero)  # type: ignore[no-untyped-call]

    def plain_value(self, node: Node, dtype: torch.dtype) -> Any:
        """A sub-expression computed plainly, from the plain inputs (a constant exponent)."""
        return _build(node, self.plain, dtype, None)

    def independent_value(self, node: Node, dtype: torch.dtype) -> Any:
        """A sub-expression without the differentiated variable: plain, zero tangent."""
        return self.constant(self.plain_value(node, dtype))


@dataclass(frozen=True)
class _SharedDuals(_Duals):
    """Forward mode in one variable after another at one point, in one dual level.

    The plain value of a sub-expression, and its zero-tangent dual, are the same in
    every variable's pass that leaves it out: computed once, the passes share them (the
    same tensors, so the same numbers as computing them again).
    """

    values: dict[int, Any] = field(default_factory=dict)
    made: dict[int, Any] = field(default_factory=dict)

    def constant(self, value: Any) -> Any:
        tensor = value if isinstance(value, torch.Tensor) else \
            torch.tensor(value, dtype=self.zero.dtype, device=self.zero.device)
        if tensor.dim() != 0:
            return super().constant(tensor)
        # The scalar path's values are 0-d: one number read is the base class's test,
        # for a fraction of the cost of a tensor of booleans.
        if not math.isfinite(tensor.item()):
            return tensor
        return fwad.make_dual(tensor, self.zero)  # type: ignore[no-untyped-call]

    def plain_value(self, node: Node, dtype: torch.dtype) -> Any:
        key = id(node)
        if key not in self.values:
            self.values[key] = _build(node, self.plain, dtype, None)
        return self.values[key]

    def independent_value(self, node: Node, dtype: torch.dtype) -> Any:
        key = id(node)
        if key not in self.made:
            self.made[key] = self.constant(self.plain_value(node, dtype))
        return self.made[key]


def _dependencies(tree: Node) -> dict[int, frozenset[str]]:
    """The variables each node of ``tree`` depends on, by node id."""
    found: dict[int, frozenset[str]] = {}

    def visit(node: Node) -> frozenset[str]:
        names = frozenset([node.name]) if isinstance(node, Variable) else frozenset()
        for child in children(node):
            names |= visit(child)
        found[id(node)] = names
        return names

    visit(tree)
    return found


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


def evaluate(tree: Node | Side, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype,
             duals: _Duals | None = None) -> torch.Tensor:
    """The torch value of a tree, built node by node as the text is written.

    Numbers stay Python numbers, as in a user's code (forward mode aside).
    """
    if isinstance(tree, Side):
        return tree(inputs, dtype, duals)
    result = _build(tree, inputs, dtype, duals)
    return result if isinstance(result, torch.Tensor) else \
        torch.tensor(result, dtype=dtype, device=_device(inputs))


def _device(inputs: Mapping[str, torch.Tensor]) -> torch.device | None:
    """Where the inputs live: a literal made a tensor goes there too (``--device``)."""
    return next(iter(inputs.values())).device if inputs else None


def reverse_mode(tree: Node | Side, point: Mapping[str, float], partials: list[Partial],
                 dtype_name: str = "float64") -> AutogradResult:
    """Value and partials by ``torch.autograd.grad``, reverse over reverse for order > 1.

    ``partials`` are tuples of variable names, one per order (``("x", "y")`` is the
    mixed second partial); each is computed by differentiating the one before it
    with ``create_graph=True``.
    """
    dtype = DTYPES[dtype_name]
    side = as_side(tree)
    wrt = tuple(dict.fromkeys(name for partial in partials for name in partial))
    inputs = leaves(point, wrt, dtype, side.device)
    output = side(inputs, dtype)
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
            found = _grad(side, tensor, [inputs[n] for n in names], create_graph=level + 1 < order)
            known.update({(*prefix, name): g for name, g in zip(names, found, strict=True)})
    return AutogradResult(
        value=float(output.detach()),
        partials={p: None if known[p] is None else float(known[p].detach())  # type: ignore[union-attr]
                  for p in partials},
    )


def _grad(side: Side, output: torch.Tensor, inputs: list[torch.Tensor], create_graph: bool
          ) -> tuple[torch.Tensor | None, ...]:
    """``torch.autograd.grad``; a backward of the user's that raises is ``impl_error``."""
    try:
        # Sibling partials share the graph above them, so it must outlive each call.
        return torch.autograd.grad(output, inputs, allow_unused=True, create_graph=create_graph,
                                   retain_graph=True)
    except Exception as error:
        frames = user_frames(error)
        if side.impl is None or not frames:
            raise
        raise ImplError("impl_error", f"the backward of {side.impl.name} raised "
                          f"{type(error).__name__}: {error} (at "
                          f"{' -> '.join(frames)})") from error


def grad_fn_name(tree: Node | Side, point: Mapping[str, float], dtype_name: str = "float64"
                 ) -> str | None:
    """The name of the output's ``grad_fn`` (``BadSigmoidBackward``), if it has one."""
    side = as_side(tree)
    dtype = DTYPES[dtype_name]
    output = side(leaves(point, tuple(point), dtype, side.device), dtype)
    return None if output.grad_fn is None else type(output.grad_fn).__name__


def nan_source(tree: Node | Side, point: Mapping[str, float], partial: str,
               dtype_name: str = "float64") -> str | None:
    """The backward function that first produces ``nan``, found with anomaly detection."""
    dtype = DTYPES[dtype_name]
    side = as_side(tree)
    inputs = leaves(point, (partial,), dtype, side.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anomaly mode warns with a traceback of its own
        try:
            with torch.autograd.detect_anomaly():
                output = side(inputs, dtype)
                if output.requires_grad:
                    torch.autograd.grad(output, [inputs[partial]], allow_unused=True)
        except RuntimeError as error:
            found = re.search(r"Function '(\w+)' returned nan", str(error))
            return found.group(1) if found else None
    return None


def forward_mode(tree: Node | Side, point: Mapping[str, float], name: str,
                 dtype_name: str = "float64") -> float:
    """The first partial in ``name`` by forward-mode AD (dual numbers)."""
    dtype = DTYPES[dtype_name]
    side = as_side(tree)
    plain = {n: torch.tensor(v, dtype=dtype, device=side.device) for n, v in point.items()}
    if side.tree is None:  # the user's function: every input given, one of them dual
        return _tangent(side, plain, name, dtype, None)
    duals = _Duals(plain, torch.zeros((), dtype=dtype, device=side.device),
                   _independent(side.tree, name))
    tree = Side(tree=side.tree, device=side.device)
    fast = _tangent(tree, plain, name, dtype, duals)
    # A zero tangent meeting an infinite value (x*log(y) at y=0, in y) makes 0*inf =
    # nan where torch, given only the one dual input, would not: then ask it that way.
    return _tangent(tree, plain, name, dtype, None) if math.isnan(fast) else fast


def _tangent(tree: Node | Side, plain: Mapping[str, torch.Tensor], name: str, dtype: torch.dtype,
             duals: _Duals | None) -> float:
    with warnings.catch_warnings(), fwad.dual_level():
        # The first dual number of a process makes torch import its JVP decompositions,
        # which call the deprecated torch.jit.script (18 DeprecationWarnings in a library
        # user's test run; under -W error, no forward mode at all). Torch's own, only:
        # the filters are as they were once this returns.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        seeded = fwad.make_dual(plain[name], torch.ones((), dtype=dtype,  # type: ignore[no-untyped-call]
                                                        device=plain[name].device))
        inputs = {**plain, name: seeded} if duals is None else {name: seeded}
        tangent = fwad.unpack_dual(evaluate(tree, inputs, dtype, duals)).tangent  # type: ignore[no-untyped-call]
        return 0.0 if tangent is None else float(tangent)


def step(value: float, order: int, dtype_name: str = "float64") -> float:
    """The finite-difference step: ``eps**(1/(order+2)) * max(1, |value|)``.

    That balances truncation error (h**2) against rounding error (eps/h**order) for a
    central difference. The step is then made exactly representable: ``(x + h) - x``.
    """
    h = EPSILON[dtype_name] ** (1.0 / (order + 2)) * max(1.0, abs(value))
    if dtype_name == "float64" and type(value) is float:
        return float((value + h) - value)  # Python's floats are float64: the same roundings
    # In the dtype itself, so that x + step is exactly the point the dtype holds.
    x = torch.tensor(value, dtype=DTYPES[dtype_name])
    return float((x + h) - x)


def finite_difference(tree: Node | Side, point: Mapping[str, float], partial: Partial,
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


def _vector_bytes() -> int:
    """The width of the SIMD vectors torch's CPU kernels use here, in bytes (at least).

    x86 with AVX-512: 64; other x86: 32; anything else (ARM's NEON, unknown): 16, the
    smallest any build uses, so never an overestimate.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return 16
    return 64 if capability.startswith("AVX512") else 32


#: Elements a batched float64 evaluation may hold and still take the same code as a
#: 0-d tensor, element for element: torch's element-wise CPU loop (``cpu_kernel_vec``)
#: computes fewer than two vectors' worth with the scalar function, as for one element;
#: from two vectors on it uses the vectorised one (SLEEF's ``pow``, ``sinh``, ...), whose
#: last bits may differ. (``sin``, ``exp``, ``log`` and the other VML functions take the
#: same vector code at every length.) Set at first use.
_LANES: list[int] = []


def _lanes() -> int:
    if not _LANES:
        _LANES.append(2 * _vector_bytes() // 8 - 1)
    return _LANES[0]


def _batchable(side: Side, dtype_name: str) -> bool:
    """Whether finite differences may evaluate all their points in one batched pass.

    Only the expression as written, on the CPU, in float64 (float32's GELU takes
    another kernel for a 0-d tensor than for a 1-d one, so other dtypes stay one point
    at a time), built of operators and element-wise functions; no indexing, no
    reduction (it would sum over the batch), no ``clamp`` with bounds that hold a
    variable (a 0-d bound takes the scalar kernel, a batched one the tensor kernel), and
    no ``logsigmoid``: its CPU kernel splits any tensor of two elements or more among
    torch's threads, and waking them costs milliseconds where one element costs one
    microsecond.
    """
    if side.tree is None or side.impl is not None or side.device != "cpu" or \
            dtype_name != "float64":
        return False
    stack: list[Node] = [side.tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Index):
            return False
        if isinstance(node, Call):
            function = FUNCTIONS[node.function]
            if function.kind != "elementwise" or node.function == "logsigmoid":
                return False
            if node.function == "clamp" and any(_has_variable(arg) for arg in node.args[1:]):
                return False
        stack.extend(children(node))
    return True


def _has_variable(tree: Node) -> bool:
    return isinstance(tree, Variable) or any(_has_variable(child) for child in children(tree))


def _shifted_points(point: Mapping[str, float], partial: Partial, dtype_name: str,
                    steps: dict[tuple[str, int], float]) -> tuple[list[dict[str, float]],
                                                                  list[int], float]:
    """The points of a partial's central difference, their signs and its denominator,
    with every float computed as :func:`finite_difference` computes it."""
    order = len(partial)
    for name in set(partial):
        if (name, order) not in steps:
            steps[name, order] = step(point[name], order, dtype_name)
    points: list[dict[str, float]] = []
    signs_of: list[int] = []
    for signs in itertools.product((1, -1), repeat=order):
        shifted = dict(point)
        for name, sign in zip(partial, signs, strict=True):
            shifted[name] += sign * steps[name, order]
        points.append(shifted)
        signs_of.append(math.prod(signs))
    return points, signs_of, math.prod(2 * steps[name, order] for name in partial)


def _batched_values(side: Side, points: list[dict[str, float]], dtype_name: str) -> list[float]:
    """The torch value at each point, in passes of at most :func:`_lanes` points.

    A variable that has one value at every point stays a 0-d tensor, as in
    :func:`forward_value`; the others are 1-d, one element per point.
    """
    dtype = DTYPES[dtype_name]
    values: list[float] = []
    lanes = _lanes()
    for start in range(0, len(points), lanes):
        chunk = points[start:start + lanes]
        inputs: dict[str, torch.Tensor] = {}
        for name, value in chunk[0].items():
            column = [p[name] for p in chunk]
            same = all(v == value and math.copysign(1.0, v) == math.copysign(1.0, value)
                       for v in column)
            inputs[name] = torch.tensor(value if same else column, dtype=dtype)
        with torch.no_grad():
            output = side(inputs, dtype)
        if output.dim() == 0:
            values.extend([float(output)] * len(chunk))
        elif tuple(output.shape) == (len(chunk),):
            values.extend(output.tolist())
        else:
            raise ValueError(f"a batched evaluation gave shape {tuple(output.shape)}")
    return values


def finite_differences(tree: Node | Side, point: Mapping[str, float], partials: Sequence[Partial],
                       dtype_name: str = "float64") -> dict[Partial, float | None]:
    """:func:`finite_difference` of each partial (``None`` where it raises), the same
    numbers to the last bit.

    Where :func:`_batchable` allows, every point of every partial is evaluated in one
    batched forward pass (or a few); otherwise, and if that pass raises, one partial
    at a time, one point at a time.
    """
    side = as_side(tree)
    if _batchable(side, dtype_name) and partials:
        steps: dict[tuple[str, int], float] = {}
        plans = [_shifted_points(point, partial, dtype_name, steps) for partial in partials]
        points = [p for shifted, _, _ in plans for p in shifted]
        try:
            values: list[float] | None = _batched_values(side, points, dtype_name)
        except Exception:  # one partial at a time, below, says which ones fail
            values = None
        if values is not None:
            found: dict[Partial, float | None] = {}
            index = 0
            for partial, (_, signs, denominator) in zip(partials, plans, strict=True):
                total = 0.0
                for sign in signs:  # in finite_difference's order, so the same rounding
                    total += sign * values[index]
                    index += 1
                found[partial] = total / denominator
            return found
    found = {}
    for partial in partials:
        try:
            found[partial] = finite_difference(side, point, partial, dtype_name)
        except Exception:  # a second opinion that cannot be had is left out
            found[partial] = None
    return found


def forward_modes(tree: Node | Side, point: Mapping[str, float], names: Sequence[str],
                  dtype_name: str = "float64") -> dict[str, float | Exception]:
    """:func:`forward_mode` in each of ``names``, or the exception it raised.

    The expression as written is differentiated one variable after another in one dual
    level, sharing the plain tensors, the plain sub-expressions and their zero-tangent
    duals: the same operations on the same numbers as one call per variable. The
    user's function is called once per variable, as :func:`forward_mode` does.
    """
    side = as_side(tree)
    found: dict[str, float | Exception] = {}
    if side.tree is None:
        for name in names:
            try:
                found[name] = forward_mode(side, point, name, dtype_name)
            except Exception as error:
                found[name] = error
        return found
    dtype = DTYPES[dtype_name]
    plain = {n: torch.tensor(v, dtype=dtype, device=side.device) for n, v in point.items()}
    zero = torch.zeros((), dtype=dtype, device=side.device)
    depends = _dependencies(side.tree)
    values: dict[int, Any] = {}
    made: dict[int, Any] = {}
    written = Side(tree=side.tree, device=side.device)
    with warnings.catch_warnings(), fwad.dual_level():
        # See _tangent: torch's JVP decompositions warn once, on the first dual number.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        for name in names:
            try:
                independent = frozenset(key for key, used in depends.items() if name not in used)
                duals = _SharedDuals(plain, zero, independent, values, made)
                fast = _dual_tangent(written, plain, name, dtype, duals)
                # As forward_mode: where a zero tangent met an infinite value, ask torch
                # with the one dual input.
                found[name] = _dual_tangent(written, plain, name, dtype, None) \
                    if math.isnan(fast) else fast
            except Exception as error:
                found[name] = error
    return found


def _dual_tangent(tree: Side, plain: Mapping[str, torch.Tensor], name: str, dtype: torch.dtype,
                  duals: _Duals | None) -> float:
    """The tangent of the output, ``name`` seeded with 1, inside the caller's dual level."""
    seeded = fwad.make_dual(plain[name], torch.ones((), dtype=dtype,  # type: ignore[no-untyped-call]
                                                    device=plain[name].device))
    inputs = {**plain, name: seeded} if duals is None else {name: seeded}
    tangent = fwad.unpack_dual(evaluate(tree, inputs, dtype, duals)).tangent  # type: ignore[no-untyped-call]
    return 0.0 if tangent is None else float(tangent)


class Opinions:
    """The torch side's second opinions at one point, finite differences and forward
    mode, each computed for every partial at once at its first use."""

    def __init__(self, side: Node | Side, point: Mapping[str, float], partials: Sequence[Partial],
                 dtype_name: str = "float64") -> None:
        self.side = as_side(side)
        self.point = point
        self.partials = tuple(partials)
        self.dtype_name = dtype_name
        self._differences: dict[Partial, float | None] | None = None
        self._forward: dict[str, float | Exception] | None = None

    def finite_difference(self, partial: Partial) -> float | None:
        """The partial's central finite difference, ``None`` where it cannot be had."""
        if self.side.tree is None:  # the user's function: called as before, in order
            try:
                return finite_difference(self.side, self.point, partial, self.dtype_name)
            except Exception:
                return None
        if self._differences is None:
            self._differences = finite_differences(self.side, self.point, self.partials,
                                                   self.dtype_name)
        return self._differences[partial]

    def forward_mode(self, name: str) -> float:
        """The first partial in ``name`` by forward mode; raises as :func:`forward_mode`."""
        if self.side.tree is None:
            return forward_mode(self.side, self.point, name, self.dtype_name)
        if self._forward is None:
            names = tuple(dict.fromkeys(p[0] for p in self.partials if len(p) == 1))
            self._forward = forward_modes(self.side, self.point, names, self.dtype_name)
        found = self._forward[name]
        if isinstance(found, Exception):
            raise found
        return found


def one_sided_differences(tree: Node | Side, point: Mapping[str, float], name: str,
                          dtype_name: str = "float64") -> tuple[float, float]:
    """Backward and forward differences ``(f(x) - f(x-h))/h`` and ``(f(x+h) - f(x))/h``."""
    h = step(point[name], 0, dtype_name)  # sqrt(eps): the rule for a one-sided difference
    here = forward_value(tree, point, dtype_name)
    below = forward_value(tree, {**point, name: point[name] - h}, dtype_name)
    above = forward_value(tree, {**point, name: point[name] + h}, dtype_name)
    return (here - below) / h, (above - here) / h


def forward_value(tree: Node | Side, point: Mapping[str, float], dtype_name: str = "float64"
                  ) -> float:
    """The torch value alone, without a graph."""
    dtype = DTYPES[dtype_name]
    side = as_side(tree)
    with torch.no_grad():
        return float(side({n: torch.tensor(v, dtype=dtype, device=side.device)
                           for n, v in point.items()}, dtype))


def _build(node: Node, inputs: Mapping[str, torch.Tensor], dtype: torch.dtype,
           duals: _Duals | None) -> Any:
    if duals is not None and id(node) in duals.independent:
        return duals.independent_value(node, dtype)
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
            operand = torch.tensor(operand, dtype=dtype, device=_device(inputs))
        return -operand if node.op == "-" else operand
    if isinstance(node, Binary):
        left = _build(node.left, inputs, dtype, duals)
        if node.op == "**" and duals is not None and id(node.right) in duals.independent:
            right = duals.plain_value(node.right, dtype)
            if isinstance(right, torch.Tensor) and right.dim() == 0:
                right = float(right)  # pow(dual, float) keeps to torch's fast path
        else:
            right = _build(node.right, inputs, dtype, duals)
        if not isinstance(left, torch.Tensor) and not isinstance(right, torch.Tensor):
            # Two Python numbers: Python's rules (ZeroDivisionError, complex powers)
            # are not torch's, so compute it as torch would.
            left = torch.tensor(left, dtype=dtype, device=_device(inputs))
        return BINARY_OPERATORS[node.op](left, right)
    if isinstance(node, Index):
        operand = _build(node.operand, inputs, dtype, duals)
        error = index_error(node, tuple(operand.shape) if isinstance(operand, torch.Tensor) else ())
        if error is not None:  # the symbolic side refuses it first; never torch's IndexError
            raise error
        return operand[node.indices]  # a view, as x[0] is in a user's code
    args = [a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=dtype, device=_device(inputs))
            for a in (_build(arg, inputs, dtype, duals) for arg in node.args)]
    return FUNCTIONS[node.function].torch(torch, *args)
