"""Step 2 of a check: evaluate both ways, independently, and compare.

SymPy works on the exact mathematics, torch on the expression as written; neither
sees the other's result. This module imports both, so only :func:`check.run` loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..compare import (
    Context,
    Exact,
    Tolerance,
    Verdict,
    default_tolerance,
    differences,
    finite_difference_tolerance,
    fmt,
    real_value,
    second_opinions,
)
from ..parse import Assignment, Call, Node, Number
from ..request import Request
from ..results import Category, CheckResult, Comparison, Derivative, Expected, Status
from . import autograd, symbolic
from .autograd import Partial
from .expect import compare_expected
from .judge import Entry, Judged, Place, judge_entry

T = TypeVar("T")


def evaluate_request(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request both ways and compare, one result per point."""
    expression = request.expression
    symbolic.forget_limits()
    symbols = symbolic.symbols_for(expression.variables)
    exact_expr = symbolic.to_sympy(expression.tree, symbols)
    # Each partial from the one of order n-1 before it: SymPy's work is shared.
    exact: dict[Partial, Any] = {(): exact_expr}
    for partial in sorted({p[:k] for p in request.partials for k in range(1, len(p) + 1)},
                          key=len):
        exact[partial] = symbolic.derivative(exact[partial[:-1]], (symbols[partial[-1]],))
    # Printed once, not once per point: SymPy's printer costs as much as a derivative.
    formulas = {partial: symbolic.formula(exact[partial]) for partial in request.partials}
    literals = _Float64Literals(expression.tree, symbols)
    sides = torch_sides(request)
    return tuple(_run_point(request, point, symbols, exact, formulas, literals, sides)
                 for point in request.points)


@dataclass(frozen=True)
class Sides:
    """The torch side that is judged, and with ``--impl`` the spec as written in torch
    beside it (the fifth opinion, ``spec_autograd``)."""

    checked: autograd.Side
    spec: autograd.Side | None = None

    @property
    def impl(self) -> autograd.Impl | None:
        return self.checked.impl


def torch_sides(request: Request, shape: tuple[int, ...] = ()) -> Sides:
    """The expression as written, or the user's function (resolved again here: a worker
    gets the TARGET as text) with the spec beside it."""
    written = autograd.Side(tree=request.expression.tree, device=request.device)
    if request.impl is None:
        return Sides(written)
    from ..impl import resolve

    resolved = resolve(request.impl, request.expression.variables, request.impl_args)
    impl = autograd.Impl(resolved.function, resolved.order, resolved.name, shape)
    return Sides(autograd.Side(impl=impl, device=request.device), written)


def impl_failed(request: Request, point: tuple[tuple[str, Any], ...], failure: autograd.ImplError,
                name: str) -> CheckResult:
    """The result of a point where the user's function raised or returned garbage."""
    category = Category(failure.category)
    return CheckResult(expression=request.expression.text, point=point, status=Status.ERROR,
                       category=category, message=failure.message, source=request.source,
                       impl=name)


class _Float64Literals:
    """The expression with its literals as the float64s torch computes with, and its
    partials: built only when a comparison fails and some literal is not a float64."""

    def __init__(self, tree: Node, symbols: Mapping[str, Any]) -> None:
        self.tree = tree
        self.symbols = symbols
        self._inexact: list[Number] | None = None
        self._exprs: dict[Partial, Any] = {}

    @property
    def inexact(self) -> list[Number]:
        """The literals float64 cannot hold, the most changed first."""
        if self._inexact is None:
            self._inexact = symbolic.inexact_literals(self.tree)
        return self._inexact

    def expr(self, partial: Partial) -> Any:
        """The value (``()``) or a partial, with float64 literals."""
        if partial not in self._exprs:
            self._exprs[partial] = \
                symbolic.to_sympy(self.tree, self.symbols, float64_literals=True) \
                if partial == () else \
                symbolic.derivative(self.expr(partial[:-1]), (self.symbols[partial[-1]],))
        return self._exprs[partial]


@dataclass(frozen=True)
class _Site:
    """Everything about one point that every comparison there needs."""

    request: Request
    #: The point in autograd's dtype, and in float64.
    floats: dict[str, float]
    point64: dict[str, float]
    symbols: Mapping[str, Any]
    exact: Mapping[Partial, Any]
    formulas: Mapping[Partial, str]
    exact_point: Mapping[Any, Any]
    #: The point as autograd's dtype holds it, exactly; ``None`` where that is the point.
    rounded_point: Mapping[Any, Any] | None
    context: Context
    literals: _Float64Literals
    #: The torch side that is judged: the expression as written, or the user's function.
    side: autograd.Side

    @property
    def tolerance(self) -> Tolerance:
        return self.request.tolerance

    @property
    def dtype(self) -> str:
        return self.request.dtype


def _run_point(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
               exact: Mapping[Partial, Any], formulas: Mapping[Partial, str],
               literals: _Float64Literals, sides: Sides | None = None) -> CheckResult:
    expression = request.expression
    floats = tuple((a.name, a.value) for a in point)
    sides = sides or Sides(autograd.Side(tree=expression.tree))
    name = sides.impl.name if sides.impl is not None else None
    try:
        site = _site(request, point, symbols, exact, formulas, literals, sides)
        computed = autograd.reverse_mode(sides.checked, site.floats, list(request.partials),
                                         request.dtype)
        spec_side = sides.spec
        spec = None if spec_side is None else attempt(lambda: autograd.reverse_mode(
            spec_side, site.floats, list(request.partials), request.dtype))
        in_float64 = _Float64Rerun(site)
        place = _place(site)
        judged = judge_entry(_entry(site, (), computed.value, in_float64), place)
        value = _comparison(judged, computed.value)
        if sides.impl is not None:
            value = _impl_value(value, sides.impl, site, None if spec is None else spec.value)
        kinks = symbolic.kink_sites(expression.tree, symbols, site.exact_point)
        place = replace(place, outside_domain=value.category == Category.DOMAIN)
        # Finite differences and forward mode for every partial at once (batched where
        # that gives the same numbers): the second opinions, not the judged column.
        opinions = autograd.Opinions(sides.checked, site.floats, request.partials, request.dtype)
        derivatives = tuple(
            _derivative(partial, computed.partials[partial], kinks, site, place, in_float64,
                        value, None if spec is None else spec.partials[partial], opinions)
            for partial in request.partials
        )
    except autograd.ImplError as failure:
        return impl_failed(request, floats, failure, name or "")
    except Exception as error:
        return replace(CheckResult.broken(expression.text, floats, error, request.source),
                       impl=name)
    return replace(CheckResult.rolled_up(expression.text, floats, value, derivatives,
                                         request.source), impl=name)


def _impl_value(value: Comparison, impl: autograd.Impl, site: _Site, spec: float | None
                ) -> Comparison:
    """The user's function computes another function: ``impl_value_mismatch``, saying by
    how much, and whether the spec as written in torch agrees with the exact value."""
    value = replace(value, spec_autograd=spec)
    if value.status is not Status.FAIL or value.category not in (Category.MISMATCH,
                                                                 Category.ROUNDING):
        return value
    at = ", ".join(f"{n}={fmt(v)}" for n, v in site.point64.items())
    exact = fmt(value.symbolic) if isinstance(value.symbolic, float) else value.symbolic_text
    message = (f"{impl.name} computes another function: at {at} it gives {fmt(value.autograd)}"
               f" where the exact value of the spec is {exact} (off by {fmt(value.abs_diff)})")
    if spec is not None and isinstance(value.symbolic, float):
        agrees = site.tolerance.close(spec, value.symbolic)
        message += (f"; the spec as written in torch gives {fmt(spec)}, "
                    + ("agreeing with the exact value" if agrees else "which differs too"))
    return replace(value, category=Category.IMPL_VALUE_MISMATCH, message=message)


def _site(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
          exact: Mapping[Partial, Any], formulas: Mapping[Partial, str],
          literals: _Float64Literals, sides: Sides | None = None) -> _Site:
    exact_values = {a.name: symbolic.to_sympy(a.tree, {}) for a in point}
    exact_point = {symbols[name]: value for name, value in exact_values.items()}
    floats = {a.name: autograd.as_dtype(a.value, request.dtype) for a in point}
    rounded = {symbols[name]: symbolic.exact_float(value) for name, value in floats.items()}
    context = written_context(request.expression.tree, exact_values, request.dtype)
    return _Site(request, floats, {a.name: a.value for a in point}, symbols, exact, formulas,
                 exact_point, None if rounded == exact_point else rounded, context, literals,
                 sides.checked if sides else autograd.Side(tree=request.expression.tree))


def _place(site: _Site) -> Place:
    def inexact_literal() -> Number | None:
        return site.literals.inexact[0] if site.literals.inexact else None
    return Place(site.exact_point, site.rounded_point, site.tolerance, site.dtype, site.context,
                 inexact_literal)


def _entry(site: _Site, partial: Partial, actual: float, in_float64: _Float64Rerun,
           kink_calls: tuple[Call, ...] = ()) -> Entry:
    """One number of a scalar check as the judge sees it."""
    label = "".join(partial)
    quantity = "value" if not partial else f"derivative in {label}" if len(partial) == 1 \
        else f"partial d^{len(partial)}/d{label}"
    return Entry(quantity, site.exact[partial], actual,
                 wrt=tuple(site.symbols[name] for name in partial),
                 lowers=tuple(site.exact[partial[:k]] for k in range(len(partial))),
                 kink_calls=kink_calls, wide=lambda: in_float64.partial(partial),
                 held=lambda: site.literals.expr(partial))


def _comparison(judged: Judged, actual: float) -> Comparison:
    exact, verdict = judged.exact, judged.verdict
    symbolic_value = None if exact is None else real_value(exact)
    abs_diff, rel_diff = differences(symbolic_value, actual)
    return Comparison(symbolic=symbolic_value, autograd=actual, abs_diff=abs_diff,
                      rel_diff=rel_diff, status=verdict.status, category=verdict.category,
                      message=verdict.message, symbolic_text=exact.text if exact else None,
                      one_sided=judged.one_sided)


class _Float64Rerun:
    """The same reverse-mode computation in float64, run once and only if needed: it
    tells whether a float32 difference is explained by rounding."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self._result: autograd.AutogradResult | None = None

    def partial(self, partial: Partial) -> float | None:
        """The float64 value (``()``) or partial."""
        if self._result is None:
            self._result = autograd.reverse_mode(self.site.side,
                                                 self.site.point64,
                                                 list(self.site.request.partials), "float64")
        return self._result.value if partial == () else self._result.partials[partial]


def _derivative(partial: Partial, gradient: float | None, kinks: list[tuple[Call, frozenset[str]]],
                site: _Site, place: Place, in_float64: _Float64Rerun,
                value: Comparison | None = None, spec: float | None = None,
                opinions: autograd.Opinions | None = None) -> Derivative:
    label = "".join(partial)
    actual = 0.0 if gradient is None else gradient
    tree, floats, dtype = site.side, site.floats, site.dtype
    impl = tree.impl
    opinions = opinions or autograd.Opinions(tree, floats, [partial], dtype)
    finite_difference = opinions.finite_difference(partial)
    forward_note = None
    forward_mode = None
    if len(partial) == 1:
        try:
            forward_mode = opinions.forward_mode(partial[0])
        except Exception as error:  # a second opinion that cannot be had is left out
            if impl is not None and _no_jvp(error):
                forward_note = "forward mode not supported by this Function"
    calls = tuple(call for call, names in kinks if set(partial) & names)

    def refine(verdict: Verdict, exact: Exact) -> Verdict:
        return second_opinions(verdict, exact, actual, finite_difference=finite_difference,
                               forward_mode=forward_mode, tolerance=site.tolerance,
                               fd_tolerance=finite_difference_tolerance(len(partial), dtype))

    judged = judge_entry(_entry(site, partial, actual, in_float64, calls), place, refine)
    comparison = _comparison(judged, actual)
    notes = [comparison.message] if comparison.message else []
    if judged.at_kink and len(partial) == 1:
        sides = attempt(lambda: autograd.one_sided_differences(tree, floats, partial[0], dtype))
        if sides is not None:
            notes.append(f"one-sided finite differences give {fmt(sides[0])} (left) and "
                         f"{fmt(sides[1])} (right)")
    if math.isnan(actual) and len(partial) == 1 and comparison.status is not Status.PASS:
        source = attempt(lambda: autograd.nan_source(tree, floats, partial[0], dtype))
        if source:
            notes.append(f"nan first appears in {source}, the backward of "
                         f"{_backward_op(source)}")
    if gradient is None and impl is None:
        notes.insert(0, f"{label} does not reach the output, so autograd returns no gradient "
                        "(None); it is taken as 0")
    result = Derivative(**{**comparison.__dict__, "message": "; ".join(notes) or None},
                        wrt=partial, formula=site.formulas[partial],
                        finite_difference=finite_difference, forward_mode=forward_mode,
                        expected=_expected(site, partial, judged, comparison.category))
    if impl is None:
        return result
    return _impl_derivative(replace(result, spec_autograd=spec, forward_note=forward_note),
                            gradient is None, value, site, impl, notes)


def _no_jvp(error: BaseException) -> bool:
    """Forward AD of a ``torch.autograd.Function`` that defines no ``jvp``."""
    seen: BaseException | None = error
    while seen is not None:
        if "jvp" in str(seen):
            return True
        seen = seen.__cause__
    return False


def _impl_derivative(derivative: Derivative, unreached: bool, value: Comparison | None,
                     site: _Site, impl: autograd.Impl, notes: list[str]) -> Derivative:
    """The verdicts only a user's function can earn: ``no_gradient`` (its graph is cut)
    and ``impl_backward_mismatch`` (the value is right, the backward is not, and its own
    finite differences side with the exact derivative)."""
    label = "".join(derivative.wrt)
    exact = derivative.symbolic
    if unreached and len(derivative.wrt) == 1 and isinstance(exact, float) and exact != 0:
        message = (f"{label} does not reach the output of {impl.name} through autograd (a "
                   ".detach(), .item(), a numpy round trip or torch.no_grad cuts the graph), "
                   f"so autograd gives no gradient, while the exact derivative is {fmt(exact)}")
        return replace(derivative, status=Status.FAIL, category=Category.NO_GRADIENT,
                       message=message)
    fd = derivative.finite_difference
    value_agrees = value is not None and value.status is not Status.FAIL
    backward_right = isinstance(exact, float) and isinstance(derivative.autograd, float) \
        and site.tolerance.close(derivative.autograd, exact)
    if derivative.status is Status.FAIL and derivative.category is \
            Category.FORWARD_REVERSE_MISMATCH and backward_right:
        # Reverse mode agrees with the mathematics and forward mode does not: the bug is in
        # its forward-mode derivative (a Function's jvp), not in its backward.
        message = (f"the backward of {impl.name} agrees with the exact derivative; its "
                   "forward mode (a torch.autograd.Function's jvp) does not: the jvp is wrong")
        return replace(derivative, message="; ".join(
            [n for n in (derivative.message, message) if n]))
    if derivative.status is Status.FAIL and value_agrees and not backward_right \
            and isinstance(exact, float) \
            and isinstance(fd, float) and derivative.category in (
                Category.MISMATCH, Category.FORWARD_REVERSE_MISMATCH, Category.ROUNDING) \
            and finite_difference_tolerance(len(derivative.wrt), site.dtype).close(fd, exact):
        grad_fn = attempt(lambda: autograd.grad_fn_name(site.side, site.floats, site.dtype))
        named = f" (grad_fn {grad_fn})" if grad_fn else ""
        message = (f"the value of {impl.name} is right, but its backward{named} gives "
                   f"{fmt(derivative.autograd)} where the exact derivative is {fmt(exact)}; "
                   f"its own finite differences give {fmt(fd)}, agreeing with the exact "
                   "derivative: the backward is wrong")
        return replace(derivative, category=Category.IMPL_BACKWARD_MISMATCH,
                       message="; ".join([message, *notes[1:]]))
    return derivative


def _expected(site: _Site, partial: Partial, judged: Judged, category: Category
              ) -> Expected | None:
    """The user's own formula for this partial (``--expect``), judged; ``None`` if none."""
    for expectation in site.request.expect:
        if expectation.wrt == partial:
            # Both sides are exact: the dtype's looser tolerance is for autograd's rounding,
            # so the float64 one applies, or the check's own where that is tighter.
            loose, given = default_tolerance("float64"), site.tolerance
            tolerance = Tolerance(rtol=min(loose.rtol, given.rtol), atol=min(loose.atol, given.atol))
            return compare_expected(expectation, site.exact[partial], judged.exact, category,
                                    site.symbols, site.exact_point, tolerance)
    return None


def attempt(compute: Callable[[], T]) -> T | None:
    """``compute()``, or ``None`` where it raises."""
    # A second opinion that cannot be had (forward AD missing for an op) is left out,
    # never allowed to sink the check.
    try:
        return compute()
    except Exception:
        return None


_BACKWARD_OPS = {"Mul": "*", "Div": "/", "Pow": "**", "Add": "+", "Sub": "-", "Neg": "unary -"}


def _backward_op(name: str) -> str:
    stem = re.sub(r"Backward\d*$", "", name)
    return _BACKWARD_OPS.get(stem, stem.lower())


def written_context(tree: Node, exact_values: Mapping[str, Any], dtype: str) -> Context:
    """The lazily found :class:`Written` facts about the expression at the point."""
    return Context(dtype=dtype, compute=lambda: symbolic.as_written(tree, exact_values, dtype))
