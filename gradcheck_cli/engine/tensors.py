"""Checks with tensor variables: gradients, full Jacobians and vector-Jacobian products.

The symbolic side gives each element its own real symbol (``x[0]``, ``x[1]``), so every
entry of a gradient or Jacobian is an ordinary scalar SymPy expression, judged by the
same rules as a scalar check (poles, kinks, nan). The torch side runs the expression
on whole tensors, as a user would: ``out.backward(v)`` is ``autograd.grad(out, x, v)``.

A tensor result is reported compactly: its shape, the largest difference, and the
worst element with its reason.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy as sp
import torch

from ..compare import (
    Exact,
    Kind,
    Verdict,
    differences,
    finite_difference_tolerance,
    fmt,
    real_value,
)
from ..errors import InputError
from ..parse import Assignment
from ..request import Request, order_needs_scalar_output, point_of, vjp_needs_tensor_output
from ..results import Category, CheckResult, Comparison, Derivative, Status, Value, nested
from . import autograd, symbolic
from .evaluate import attempt, impl_failed, torch_sides, written_context
from .judge import Entry, Place, judge_entry


def evaluate_tensor_request(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request with tensor variables, one result per point."""
    symbolic.forget_limits()
    return tuple(_run_point(request, point) for point in request.points)


@dataclass(frozen=True)
class _Element:
    """One entry of a tensor comparison, judged as a scalar."""

    label: str
    exact: Exact
    actual: float
    verdict: Verdict
    formula: str
    one_sided: tuple[float, float] | None = None


def _run_point(request: Request, point: tuple[Assignment, ...]) -> CheckResult:
    expression = request.expression
    shown = point_of(point)
    name = None
    try:
        name = torch_sides(request).impl.name if request.impl is not None else None  # type: ignore[union-attr]
        value, derivatives = _compare_point(request, point)
    except autograd.ImplError as failure:
        return impl_failed(request, shown, failure, name or "")
    except _RefusedError as refused:
        return CheckResult(expression=expression.text, point=shown, status=Status.ERROR,
                           category=refused.category, message=refused.message,
                           source=request.source)
    except InputError as refused:  # shapes only known here: softmax(z)[5], sum(x)[0]
        return CheckResult(expression=expression.text, point=shown, status=Status.ERROR,
                           category=refused.category, message=refused.message,
                           source=request.source, error_text=refused.text or expression.text,
                           column=refused.column)
    except Exception as error:
        frames = autograd.user_frames(error) if request.impl is not None else []
        if frames:  # the user's backward raised, inside torch.autograd.grad
            return impl_failed(request, shown, autograd.ImplError(
                "impl_error", f"the backward of {name} raised {type(error).__name__}: {error} "
                f"(at {' -> '.join(frames)})"), name or "")
        return replace(CheckResult.broken(expression.text, shown, error, request.source),
                       impl=name)
    return replace(CheckResult.rolled_up(expression.text, shown, value, tuple(derivatives),
                                         request.source), impl=name)


class _RefusedError(Exception):
    """The request cannot be checked at this point (a shape mismatch, say)."""

    def __init__(self, category: Category, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


def _compare_point(request: Request, point: tuple[Assignment, ...]
                   ) -> tuple[Comparison, list[Derivative]]:
    tree, dtype_name = request.expression.tree, request.dtype
    dtype = autograd.DTYPES[dtype_name]
    shapes = {a.name: a.shape for a in point}
    symbols = {a.name: symbolic.element_symbols(a.name, a.shape) for a in point}
    exact_point = {
        symbol: symbolic.to_sympy(element, {})
        for a in point
        for symbol, element in zip(_flat(symbols[a.name]), a.elements, strict=True)
    }
    try:
        exact_out = np.asarray(symbolic.to_sympy(tree, symbols), dtype=object)
    except InputError:
        raise
    except ValueError as error:  # numpy: shapes that do not broadcast
        raise _RefusedError(Category.SHAPE_ERROR, f"the shapes do not fit together: {error}") from None
    exact_values = {a.name: np.array([symbolic.to_sympy(e, {}) for e in a.elements],
                                     dtype=object).reshape(a.shape) if a.shape
                    else symbolic.to_sympy(a.elements[0], {}) for a in point}
    context = written_context(tree, exact_values, dtype_name)
    sides = torch_sides(request, tuple(exact_out.shape))
    side = sides.checked
    inputs = _inputs(point, request.wrt, dtype, request.device)
    try:
        output = side(inputs, dtype)
    except RuntimeError as error:
        raise _RefusedError(Category.SHAPE_ERROR, f"torch refuses the shapes: {error}") from None
    spec = None if sides.spec is None else _SpecSide(sides.spec, point, request.wrt, dtype,
                                                     request.device)

    place = Place(exact_point, None, request.tolerance, dtype_name, context, lambda: None)

    def judge_elements(quantity: str, exprs: np.ndarray, actual: np.ndarray, labels: list[str],
                       wide: Callable[[], np.ndarray | None], wrts: list[tuple[Any, ...]] | None = None,
                       lowers: list[tuple[Any, ...]] | None = None) -> list[_Element]:
        flat_wide = _Lazy(lambda: _ravel(wide()))
        return [_judge_element(quantity, expr, float(a), label, place,
                               wrts[i] if wrts else (), lowers[i] if lowers else (),
                               lambda i=i: flat_wide.get(i))  # type: ignore[misc]
                for i, (expr, a, label) in enumerate(zip(exprs.ravel(), actual.ravel(), labels,
                                                         strict=True))]

    in_float64 = _Lazy(lambda: _float64_rerun(request, point, vector is not None, side)
                       if dtype_name != "float64" else None)

    out_labels = _labels("out", exact_out.shape)
    vector = _vjp_vector(request, output, dtype)
    value = _summarise(judge_elements("value", exact_out, _array(output), out_labels,
                                      lambda: _part(in_float64.get(), "value")),
                       exact_out.shape, ())
    if spec is not None:
        value = _impl_value(replace(value, spec_autograd=spec.value()), side)
    if value.category == Category.DOMAIN:
        place = replace(place, outside_domain=True)
    scalar_out = output.dim() == 0 and vector is None
    if vector is not None:
        exact_vector = np.asarray(vector[1], dtype=object)
        products = np.asarray(exact_vector * exact_out, dtype=object)
        target_expr = np.asarray(sp.Add(*products.ravel()), dtype=object)
        grad_outputs: torch.Tensor | None = vector[0]
    else:
        target_expr = exact_out
        grad_outputs = None

    if request.order > 1:
        if exact_out.shape:
            raise order_needs_scalar_output(request.expression.text, request.order,
                                            tuple(exact_out.shape))
        return value, _higher_derivatives(request, point, symbols, inputs, output,
                                          exact_out.item(), judge_elements, in_float64, side)
    derivatives = []
    for name in request.wrt:
        symbol_array = np.asarray(symbols[name], dtype=object)
        leaf = inputs[name]
        if scalar_out or vector is not None:
            computed = _reverse(output, leaf, grad_outputs)
            exprs = np.array([symbolic.derivative(target_expr.item(), (s,))
                              for s in symbol_array.ravel()], dtype=object).reshape(symbol_array.shape)
            shape: tuple[int, ...] = tuple(symbol_array.shape)
        else:
            computed = _jacobian(output, leaf)
            exprs = np.array([[symbolic.derivative(o, (s,)) for s in symbol_array.ravel()]
                              for o in exact_out.ravel()], dtype=object)
            shape = tuple(exact_out.shape) + tuple(symbol_array.shape)
            exprs = exprs.reshape(shape)
        jacobian = bool(exact_out.shape) and vector is None
        labels = [f"d{o}/d{i}" for o in out_labels for i in _labels(name, shapes[name])] \
            if jacobian else _labels(name, shape)
        # Each entry is differentiated along its own element's symbol, from its own
        # function (the output element, or the scalar being differentiated).
        inner = [(s,) for s in symbol_array.ravel()]
        along = inner * (exact_out.size if jacobian else 1)
        lowers = [(o,) for o in exact_out.ravel() for _ in inner] if jacobian else \
            [(target_expr.item(),)] * len(inner)
        fd = attempt(lambda name=name, shape=shape: _finite_differences(  # type: ignore[misc]
            request, point, name, vector, shape, side))
        elements = judge_elements(f"derivative in {name}", exprs, computed.reshape(shape), labels,
                                  lambda name=name: _part(in_float64.get(), name),  # type: ignore[misc]
                                  along, lowers)
        derivative = _summarise(elements, shape, (name,), fd)
        if spec is not None:
            derivative = _impl_derivative(
                replace(derivative, spec_autograd=attempt(
                    lambda name=name, shape=shape: spec.derivative(  # type: ignore[misc]
                        name, grad_outputs, scalar_out or vector is not None, shape))),
                value, side, _reaches(output, leaf), request, point)
        derivatives.append(derivative)
    return value, derivatives


def _inputs(point: tuple[Assignment, ...], wrt: tuple[str, ...], dtype: torch.dtype,
            device: str) -> dict[str, torch.Tensor]:
    """The leaves: one tensor per variable, on the device; those in ``wrt`` require grad."""
    return {a.name: torch.tensor(a.values, dtype=dtype, device=device).reshape(a.shape)
            .requires_grad_(a.name in wrt) for a in point}


class _SpecSide:
    """The spec as written in torch, beside the user's function (``spec_autograd``)."""

    def __init__(self, side: autograd.Side, point: tuple[Assignment, ...], wrt: tuple[str, ...],
                 dtype: torch.dtype, device: str) -> None:
        self.inputs = _inputs(point, wrt, dtype, device)
        self.output: torch.Tensor | None = attempt(lambda: side(self.inputs, dtype))

    def value(self) -> Value:
        if self.output is None:
            return None
        return nested([float(v) for v in _array(self.output).ravel()], tuple(self.output.shape))

    def derivative(self, name: str, grad_outputs: torch.Tensor | None, reverse: bool,
                   shape: tuple[int, ...]) -> Value:
        if self.output is None:
            return None
        output = self.output
        found = _reverse(output, self.inputs[name], grad_outputs) if reverse \
            else _jacobian(output, self.inputs[name])
        return nested([float(v) for v in found.ravel()], shape)


def _reaches(output: torch.Tensor, leaf: torch.Tensor) -> bool:
    """Whether ``leaf`` reaches ``output`` through autograd."""
    if not output.requires_grad:
        return False
    (grad,) = torch.autograd.grad(output.sum(), [leaf], allow_unused=True, retain_graph=True)
    return grad is not None


def _impl_value(value: Derivative, side: autograd.Side) -> Derivative:
    """The user's function computes another function (``impl_value_mismatch``)."""
    if value.status is not Status.FAIL or value.category not in (Category.MISMATCH,
                                                                 Category.ROUNDING):
        return value
    assert side.impl is not None
    where = f" at {value.worst_element}" if value.worst_element else ""
    message = (f"{side.impl.name} computes another function: its value differs from the exact "
               f"value of the spec{where} (largest difference {fmt(value.abs_diff)})")
    spec = value.spec_autograd
    if spec is not None and value.symbolic is not None:
        agrees = bool(np.allclose(np.asarray(spec, dtype=float), np.asarray(value.symbolic,
                                  dtype=float), rtol=1e-7, atol=1e-12, equal_nan=False))
        message += "; the spec as written in torch " + (
            "agrees with the exact value" if agrees else "differs too")
    return replace(value, category=Category.IMPL_VALUE_MISMATCH, message=message)


def _impl_derivative(derivative: Derivative, value: Comparison, side: autograd.Side,
                     reaches: bool, request: Request, point: tuple[Assignment, ...]
                     ) -> Derivative:
    """``no_gradient`` and ``impl_backward_mismatch`` for a tensor check."""
    assert side.impl is not None
    name = "".join(derivative.wrt)
    exact = np.asarray(derivative.symbolic, dtype=float)
    if not reaches and exact.size and bool(np.any(exact != 0)):
        return replace(derivative, status=Status.FAIL, category=Category.NO_GRADIENT,
                       message=f"{name} does not reach the output of {side.impl.name} through "
                       "autograd (a .detach(), .item(), a numpy round trip or torch.no_grad cuts "
                       "the graph), so autograd gives no gradient, while the exact derivative "
                       "is not zero")
    fd = derivative.finite_difference
    if derivative.status is Status.FAIL and value.status is not Status.FAIL and fd is not None \
            and derivative.category in (Category.MISMATCH, Category.FORWARD_REVERSE_MISMATCH):
        tolerance = finite_difference_tolerance(1, request.dtype)
        fd_array = np.asarray(fd, dtype=float)
        if fd_array.shape == exact.shape and all(
                tolerance.close(float(f), float(e)) for f, e in zip(fd_array.ravel(),
                                                                     exact.ravel(), strict=True)):
            grad_fn = None
            try:
                output = side(_inputs(point, request.wrt, autograd.DTYPES[request.dtype],
                                      request.device), autograd.DTYPES[request.dtype])
                grad_fn = None if output.grad_fn is None else type(output.grad_fn).__name__
            except Exception:  # the name is a courtesy; the verdict stands without it
                grad_fn = None
            named = f" (grad_fn {grad_fn})" if grad_fn else ""
            return replace(derivative, category=Category.IMPL_BACKWARD_MISMATCH,
                           message=f"the value of {side.impl.name} is right, but its "
                           f"backward{named} gives another gradient in {name} "
                           f"({derivative.message}); its own finite differences agree with the "
                           "exact derivative: the backward is wrong")
    return derivative



def _higher_derivatives(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
                        inputs: Mapping[str, torch.Tensor], output: torch.Tensor, function: Any,
                        judge_elements: Callable[..., list[_Element]], in_float64: _Lazy,
                        side: autograd.Side | None = None) -> list[Derivative]:
    """Every partial of order 2 and above of a scalar output, a block per multiset of
    variables: the Hessian block of x and y has shape x.shape + y.shape.

    Each entry is the scalar partial in its elements' symbols, judged like a scalar
    check's: SymPy's exact derivative against autograd's reverse over reverse, with
    central finite differences of the torch forward computation beside them.
    """
    exprs: dict[tuple[Any, ...], Any] = {(): function}

    def exact(along: tuple[Any, ...]) -> Any:
        # Each partial from the one of order n-1 before it, as the scalar path does.
        if along not in exprs:
            exprs[along] = symbolic.derivative(exact(along[:-1]), (along[-1],))
        return exprs[along]

    computed = _reverse_partials(output, inputs, request.partials)
    derivatives = []
    for partial in request.partials:
        arrays = [np.asarray(symbols[name], dtype=object) for name in partial]
        shape = tuple(n for array in arrays for n in array.shape)
        entries = list(itertools.product(*(array.ravel() for array in arrays)))
        order = len(partial)
        labels = [f"d^{order}/" + "".join(f"d{s}" for s in entry) for entry in entries]
        key = ",".join(partial)
        fd = attempt(functools.partial(_higher_finite_differences, request, point, partial, shape,
                                       side))
        elements = judge_elements(
            f"{_ORDINALS.get(order, f'order-{order}')} derivative",
            np.array([exact(entry) for entry in entries], dtype=object).reshape(shape),
            computed[partial], labels, functools.partial(_rerun_part, in_float64, key),
            entries, [tuple(exact(entry[:k]) for k in range(order)) for entry in entries])
        derivatives.append(_summarise(elements, shape, partial, fd))
    return derivatives


#: Messages say "the exact second derivative is 0" of a Hessian entry, whose label
#: (d^2/dx[0]dx[1]) comes before the message.
_ORDINALS = {2: "second", 3: "third", 4: "fourth"}


def _judge_element(quantity: str, expr: Any, actual: float, label: str, place: Place,
                   wrt: tuple[Any, ...], lowers: tuple[Any, ...], wide: Callable[[], float | None]
                   ) -> _Element:
    """One entry, by the same judge as a scalar check (:mod:`judge`)."""
    entry = Entry(quantity, expr, actual, wrt=wrt, lowers=lowers if wrt else (), wide=wide)
    judged = judge_entry(entry, place)
    exact = judged.exact if judged.exact is not None else \
        Exact(math.nan, Kind.UNDEFINED, "no derivative")
    return _Element(label, exact, actual, judged.verdict, symbolic.formula(expr), judged.one_sided)


class _Lazy:
    """A value computed on first use, then kept."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute = compute
        self._done = False
        self._value: Any = None

    def get(self, index: int | None = None) -> Any:
        if not self._done:
            self._value, self._done = self._compute(), True
        if index is None or self._value is None:
            return self._value
        return float(self._value[index])


def _ravel(array: np.ndarray | None) -> np.ndarray | None:
    return None if array is None else np.asarray(array, dtype=float).ravel()


def _part(rerun: dict[str, np.ndarray] | None, name: str) -> np.ndarray | None:
    return None if rerun is None else rerun.get(name)


def _rerun_part(rerun: _Lazy, key: str) -> np.ndarray | None:
    """A partial's block from the float64 rerun (computed on first use)."""
    return _part(rerun.get(), key)


def _float64_rerun(request: Request, point: tuple[Assignment, ...], vjp: bool,
                   side: autograd.Side | None = None) -> dict[str, np.ndarray] | None:
    """The value and every gradient or Jacobian again in float64: whether a float32
    difference is rounding."""
    try:
        inputs = _inputs(point, request.wrt, torch.float64, request.device)
        output = autograd.evaluate(side or request.expression.tree, inputs, torch.float64)
        vector = _vjp_vector(request, output, torch.float64) if vjp else None
        found = {"value": _array(output)}
        if request.order > 1:
            blocks = _reverse_partials(output, inputs, request.partials)
            return {**found, **{",".join(p): block for p, block in blocks.items()}}
        for name in request.wrt:
            if output.dim() == 0 or vector is not None:
                found[name] = _reverse(output, inputs[name], vector[0] if vector else None)
            else:
                found[name] = _jacobian(output, inputs[name])
        return found
    except Exception:  # an explanation that cannot be had leaves the verdict as it is
        return None


def _summarise(elements: list[_Element], shape: tuple[int, ...], wrt: tuple[str, ...],
               finite_difference: np.ndarray | None = None) -> Derivative:
    """One comparison for a whole tensor: the worst element speaks for it."""
    ranked = sorted(elements, key=lambda e: -e.verdict.status.rank)
    chosen = ranked[0]
    exacts = [real_value(e.exact) for e in elements]
    actuals = [e.actual for e in elements]
    diffs = [differences(s, a) for s, a in zip(exacts, actuals, strict=True)]
    abs_diff = _largest([d[0] for d in diffs])
    rel_diff = _largest([d[1] for d in diffs])
    message = chosen.verdict.message
    if message and (shape or len(elements) > 1):
        message = f"{chosen.label}: {message}"
    fd: Value = None if finite_difference is None else nested(
        [float(v) for v in finite_difference.ravel()], shape)
    return Derivative(
        symbolic=nested(exacts, shape), autograd=nested(actuals, shape), abs_diff=abs_diff,
        rel_diff=rel_diff, status=chosen.verdict.status, category=chosen.verdict.category,
        message=message, symbolic_text=None, one_sided=chosen.one_sided,
        shape=shape, worst_element=chosen.label if shape else None,
        wrt=wrt, formula=f"{chosen.label}: {chosen.formula}" if shape
        else chosen.formula, finite_difference=fd,
    )


def _vjp_vector(request: Request, output: torch.Tensor, dtype: torch.dtype
                ) -> tuple[torch.Tensor, Any] | None:
    """The vector v of ``out.backward(v)``, as a tensor and as exact values."""
    if request.vjp is None:
        return None
    if output.dim() == 0:
        raise vjp_needs_tensor_output(request.expression.text)
    if request.vjp == "ones":
        ones = torch.ones_like(output)
        return ones, np.ones(tuple(output.shape), dtype=object) * sp.S.One
    assert not isinstance(request.vjp, str)
    vector = request.vjp
    if tuple(vector.shape) != tuple(output.shape):
        raise _RefusedError(Category.SHAPE_ERROR, f"--vjp has shape {vector.shape}, but the output has shape "
                       f"{tuple(output.shape)}: they must match, as for out.backward(v)")
    exact = np.array([symbolic.to_sympy(e, {}) for e in vector.elements],
                     dtype=object).reshape(vector.shape)
    return torch.tensor(vector.values, dtype=dtype, device=output.device).reshape(vector.shape), \
        exact


def _reverse(output: torch.Tensor, leaf: torch.Tensor, grad_outputs: torch.Tensor | None
             ) -> np.ndarray:
    if not output.requires_grad:
        return np.zeros(tuple(leaf.shape))
    (grad,) = torch.autograd.grad(output, [leaf], grad_outputs=grad_outputs, allow_unused=True,
                                  retain_graph=True)
    return np.zeros(tuple(leaf.shape)) if grad is None else _array(grad)


def _reverse_partials(output: torch.Tensor, inputs: Mapping[str, torch.Tensor],
                      partials: tuple[tuple[str, ...], ...]) -> dict[tuple[str, ...], np.ndarray]:
    """Reverse over reverse (``torch.autograd.grad`` with ``create_graph=True``): each
    partial's block, of shape the shapes of its variables in turn.

    Every element of the partial of order n-1 is differentiated again; sibling partials
    share the graph above them, so it is kept. A variable that does not reach an element
    gives zeros, as its gradient ``None`` means.
    """
    order = max(len(p) for p in partials)
    known: dict[tuple[str, ...], torch.Tensor] = {(): output}
    for level in range(order):
        for prefix in sorted({p[:level + 1] for p in partials}):
            above, leaf = known[prefix[:-1]], inputs[prefix[-1]]
            rows = []
            for element in above.reshape(-1):
                grad = torch.autograd.grad(element, [leaf], allow_unused=True, retain_graph=True,
                                           create_graph=level + 1 < order)[0] \
                    if element.requires_grad else None
                rows.append(torch.zeros_like(leaf) if grad is None else grad)
            known[prefix] = torch.stack(rows).reshape(tuple(above.shape) + tuple(leaf.shape))
    return {p: _array(known[p]) for p in partials}


def _higher_finite_differences(request: Request, point: tuple[Assignment, ...],
                               partial: tuple[str, ...], shape: tuple[int, ...],
                               side: autograd.Side | None = None) -> np.ndarray:
    """Central differences of the torch forward computation for a partial of order n,
    entry by entry, as the scalar path takes them (:func:`autograd.finite_difference`):
    the 2**n values at the point moved by +-h along each element of the entry, with
    signs, over the product of the 2h."""
    dtype_name = request.dtype
    dtype = autograd.DTYPES[dtype_name]
    base = {a.name: np.array(a.values, dtype=float).reshape(a.shape) for a in point}
    order = len(partial)

    def forward(values: Mapping[str, np.ndarray]) -> float:
        with torch.no_grad():
            tensors = {n: torch.tensor(v, dtype=dtype, device=request.device)
                       for n, v in values.items()}
            return float(autograd.evaluate(side or request.expression.tree, tensors, dtype))

    indices = [list(np.ndindex(*base[name].shape)) for name in partial]
    entries = []
    for entry in itertools.product(*indices):
        steps = [autograd.step(float(base[name][index]), order, dtype_name)
                 for name, index in zip(partial, entry, strict=True)]
        total = 0.0
        for signs in itertools.product((1, -1), repeat=order):
            moved = {**base, **{name: base[name].copy() for name in partial}}
            for name, index, sign, h in zip(partial, entry, signs, steps, strict=True):
                moved[name][index] += sign * h
            total += math.prod(signs) * forward(moved)
        entries.append(total / math.prod(2 * h for h in steps))
    return np.array(entries, dtype=float).reshape(shape)


def _jacobian(output: torch.Tensor, leaf: torch.Tensor) -> np.ndarray:
    rows = []
    flat = output.reshape(-1)
    for index in range(flat.numel()):
        rows.append(_reverse(flat[index], leaf, None).ravel())
    return np.array(rows)


def _finite_differences(request: Request, point: tuple[Assignment, ...], name: str,
                        vector: tuple[torch.Tensor, Any] | None, shape: tuple[int, ...],
                        side: autograd.Side | None = None) -> np.ndarray:
    """Central differences of the torch forward computation, element by element."""
    dtype_name = request.dtype
    dtype = autograd.DTYPES[dtype_name]
    base = {a.name: np.array(a.values, dtype=float).reshape(a.shape) for a in point}

    def forward(values: Mapping[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            tensors = {n: torch.tensor(v, dtype=dtype, device=request.device)
                       for n, v in values.items()}
            out = autograd.evaluate(side or request.expression.tree, tensors, dtype)
            if vector is not None:
                out = (out * vector[0]).sum()
            return _array(out)

    columns = []
    for index in np.ndindex(*base[name].shape):
        h = autograd.step(float(base[name][index]), 1, dtype_name)
        above, below = ({**base, name: base[name].copy()} for _ in range(2))
        above[name][index] += h
        below[name][index] -= h
        with np.errstate(all="ignore"):  # inf - inf is nan here, and says so without a warning
            columns.append((forward(above) - forward(below)) / (2 * h))
    stacked = np.stack(columns, axis=-1) if columns else np.zeros(0)
    return stacked.reshape(shape)


def _labels(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{', '.join(map(str, index))}]" for index in itertools.product(
        *(range(n) for n in shape))]


def _flat(symbols: Any) -> list[Any]:
    return list(np.asarray(symbols, dtype=object).ravel())


def _array(tensor: torch.Tensor) -> np.ndarray:
    return np.asarray(tensor.detach().to("cpu", torch.float64).numpy(), dtype=float)


def _largest(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if any(math.isnan(v) for v in present):
        return math.nan
    return max(present)
