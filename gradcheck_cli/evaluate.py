"""Step 2 of a check: evaluate both ways, independently, and compare.

SymPy works on the exact mathematics, torch on the expression as written; neither
sees the other's result. This module imports both, so only :func:`check.run` loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from . import autograd, symbolic
from .autograd import Partial
from .check import Request
from .compare import (
    Context,
    Exact,
    Kind,
    Tolerance,
    Verdict,
    default_tolerance,
    differences,
    finite_difference_tolerance,
    fmt,
    judge,
    judge_kink,
    real_value,
    second_opinions,
)
from .functions import FUNCTIONS
from .parse import Assignment, Binary, Call, Node, Number, unparse
from .results import CheckResult, Comparison, Derivative, Status

T = TypeVar("T")


def evaluate_request(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request both ways and compare, one result per point."""
    expression = request.expression
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
    return tuple(_run_point(request, point, symbols, exact, formulas, literals)
                 for point in request.points)


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

    @property
    def tolerance(self) -> Tolerance:
        return self.request.tolerance

    @property
    def dtype(self) -> str:
        return self.request.dtype


def _run_point(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
               exact: Mapping[Partial, Any], formulas: Mapping[Partial, str],
               literals: _Float64Literals) -> CheckResult:
    expression = request.expression
    floats = tuple((a.name, a.value) for a in point)
    try:
        site = _site(request, point, symbols, exact, formulas, literals)
        computed = autograd.reverse_mode(expression.tree, site.floats, list(request.partials),
                                         request.dtype)
        in_float64 = _Float64Rerun(site)
        value = _compare("value", exact[()], computed.value, site, in_float64)
        kinks = symbolic.kink_sites(expression.tree, symbols, site.exact_point)
        derivatives = tuple(
            _derivative(partial, computed.partials[partial], kinks, site, in_float64,
                        outside_domain=value.category == "domain")
            for partial in request.partials
        )
    except Exception as error:
        return CheckResult.broken(expression.text, floats, error, request.source)
    return CheckResult.rolled_up(expression.text, floats, value, derivatives, request.source)


def _site(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
          exact: Mapping[Partial, Any], formulas: Mapping[Partial, str],
          literals: _Float64Literals) -> _Site:
    exact_values = {a.name: symbolic.to_sympy(a.tree, {}) for a in point}
    exact_point = {symbols[name]: value for name, value in exact_values.items()}
    floats = {a.name: autograd.as_dtype(a.value, request.dtype) for a in point}
    rounded = {symbols[name]: symbolic.exact_float(value) for name, value in floats.items()}
    context = Context(compute=lambda: written_context(request.expression.tree, exact_values))
    return _Site(request, floats, {a.name: a.value for a in point}, symbols, exact, formulas,
                 exact_point, None if rounded == exact_point else rounded, context, literals)


def _compare(quantity: str, expr: Any, actual: float, site: _Site,
             in_float64: _Float64Rerun) -> Comparison:
    exact = symbolic.exact_value(expr, site.exact_point)
    verdict = _rounding(_verdict(quantity, (), expr, exact, actual, site), exact, (), site,
                        in_float64)
    return _comparison(exact, actual, verdict)


def _verdict(quantity: str, partial: Partial, expr: Any, exact: Exact, actual: float,
             site: _Site, along: Any = None) -> Verdict:
    verdict = judge(quantity, exact, actual, site.tolerance, site.context)
    if verdict.status is not Status.PASS and site.rounded_point is not None:
        # The dtype cannot hold the point (pi/2): autograd computed at the nearest
        # float. Near a pole that matters, so ask what the exact answer is there.
        nearest = symbolic.exact_value(expr, site.rounded_point, along)
        if judge(quantity, nearest, actual, site.tolerance, site.context).status is Status.PASS:
            shown = ", ".join(f"{s}={float(v)!r}" for s, v in site.rounded_point.items())
            verdict = Verdict(Status.WARN, "rounded_point",
                              f"{site.dtype} cannot hold this point exactly ({verdict.message}); "
                              f"at the nearest {site.dtype} point {shown}, the exact {quantity} is "
                              f"{fmt(nearest.value)} and autograd agrees")
    if verdict.status is not Status.PASS and site.dtype == "float64" and site.literals.inexact:
        # sin(99999999999999999999): torch computes with the literal 1e20, as Python
        # reads it. Ask what the exact answer is with the literals torch has.
        point = site.exact_point if site.rounded_point is None else site.rounded_point
        held = symbolic.exact_value(site.literals.expr(partial), point, along)
        if judge(quantity, held, actual, site.tolerance, site.context).status is Status.PASS:
            literal = site.literals.inexact[0]
            verdict = Verdict(Status.WARN, "rounded_literal",
                              f"the literal {literal.text} is not a float64; torch computes with "
                              f"{_as_held(float(literal.value))} ({verdict.message}); with the literals "
                              f"as float64 holds them, the exact {quantity} is "
                              f"{fmt(held.value)} and autograd agrees")
    return verdict


def _as_held(value: float) -> str:
    """A float64 written out far enough to show how it differs from the literal."""
    if value.is_integer() and abs(value) < 1e22:
        return str(int(value))
    return f"{Decimal(value):.20g}"


def _comparison(exact: Exact | None, actual: float, verdict: Verdict,
                one_sided: tuple[float, float] | None = None) -> Comparison:
    symbolic_value = None if exact is None else real_value(exact)
    abs_diff, rel_diff = differences(symbolic_value, actual)
    return Comparison(symbolic=symbolic_value, autograd=actual, abs_diff=abs_diff,
                      rel_diff=rel_diff, status=verdict.status, category=verdict.category,
                      message=verdict.message, symbolic_text=exact.text if exact else None,
                      one_sided=one_sided)


class _Float64Rerun:
    """The same reverse-mode computation in float64, run once and only if needed: it
    tells whether a float32 difference is explained by rounding."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self._result: autograd.AutogradResult | None = None

    def partial(self, partial: Partial) -> float | None:
        """The float64 value (``()``) or partial."""
        if self._result is None:
            self._result = autograd.reverse_mode(self.site.request.expression.tree,
                                                 self.site.point64,
                                                 list(self.site.request.partials), "float64")
        return self._result.value if partial == () else self._result.partials[partial]


def _derivative(partial: Partial, gradient: float | None, kinks: list[tuple[Call, frozenset[str]]],
                site: _Site, in_float64: _Float64Rerun, *, outside_domain: bool) -> Derivative:
    expr = site.exact[partial]
    label = "".join(partial)
    quantity = f"derivative in {label}" if len(partial) == 1 else f"partial d^{len(partial)}/d{label}"
    actual = 0.0 if gradient is None else gradient
    tree, floats, dtype = site.request.expression.tree, site.floats, site.dtype
    finite_difference = attempt(lambda: autograd.finite_difference(tree, floats, partial, dtype))
    forward_mode = attempt(lambda: autograd.forward_mode(tree, floats, partial[0], dtype)) \
        if len(partial) == 1 else None
    calls = [call for call, names in kinks if set(partial) & names]
    hidden = [] if calls else symbolic.non_smooth_at(expr, site.exact_point)
    along = site.symbols[partial[-1]]
    comparison: Comparison
    if calls or hidden:
        comparison = _at_kink(partial, actual, site, calls, hidden)
    else:
        exact = symbolic.exact_value(expr, site.exact_point, along)
        if exact.kind is Kind.UNDEFINED and \
                symbolic.sides(expr, [], along, site.exact_point).real_and_apart:
            # No value and no limit, but real one-sided ones: a kink no function names
            # (sqrt(x**2 + y**2) at the origin).
            comparison = _at_kink(partial, actual, site, [], [])
        else:
            verdict = _verdict(quantity, partial, expr, exact, actual, site, along)
            verdict = second_opinions(
                verdict, exact, actual, finite_difference=finite_difference,
                forward_mode=forward_mode, tolerance=site.tolerance,
                fd_tolerance=finite_difference_tolerance(len(partial), dtype))
            verdict = _rounding(verdict, exact, partial, site, in_float64)
            comparison = _comparison(exact, actual, verdict)
    notes = [comparison.message] if comparison.message else []
    if outside_domain and comparison.status is Status.PASS:
        # log(x) at -1: 1/x gives -1, but there is no function there to differentiate.
        notes = [f"the expression is outside its real domain here, so this derivative does not "
                 f"exist; autograd gives {fmt(actual)}, the formula continued"]
        comparison = replace(comparison, status=Status.WARN, category="domain")
    if math.isnan(actual) and len(partial) == 1 and comparison.status is not Status.PASS:
        source = attempt(lambda: autograd.nan_source(tree, floats, partial[0], dtype))
        if source:
            notes.append(f"nan first appears in {source}, the backward of "
                         f"{_backward_op(source)}")
    if gradient is None:
        notes.insert(0, f"{label} does not reach the output, so autograd returns no gradient "
                        "(None); it is taken as 0")
    return Derivative(**{**comparison.__dict__, "message": "; ".join(notes) or None},
                      wrt=partial, formula=site.formulas[partial],
                      finite_difference=finite_difference, forward_mode=forward_mode)


def _rounding(verdict: Verdict, exact: Exact, partial: Partial, site: _Site,
              in_float64: _Float64Rerun) -> Verdict:
    """For float32: is a failure explained by rounding? Ask the float64 computation."""
    if site.dtype == "float64" or verdict.status is not Status.FAIL or exact.kind is not Kind.FINITE:
        return verdict
    wide = in_float64.partial(partial)
    if wide is not None and default_tolerance("float64").close(wide, exact.value):
        return Verdict(Status.FAIL, "rounding",
                       f"{verdict.message}; the same computation in float64 gives {fmt(wide)}, "
                       "which agrees: the difference is float32 rounding (loosen --rtol/--atol "
                       "or compute in float64)")
    return verdict


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


def _at_kink(partial: Partial, actual: float, site: _Site, calls: list[Call],
             hidden: list[Any]) -> Comparison:
    name = partial[-1]
    symbol = site.symbols[name]
    expr = site.exact[partial]
    lowers = [site.exact[partial[:k]] for k in range(len(partial))]
    found = symbolic.sides(expr, lowers, symbol, site.exact_point)
    left, right, jump = found.left, found.right, found.jump
    if found.differentiable:
        # Every kink on the way is smoothed out (abs(x)**2 at 0): an ordinary point.
        exact = Exact(left.value, left.kind, left.text, by_limit=True)
        verdict = judge(f"derivative in {name}", exact, actual, site.tolerance, site.context)
        return _comparison(exact, actual, verdict)
    if calls:
        function = FUNCTIONS[calls[0].function]
        convention = function.convention
        kind = "a tie" if function.arity == 2 else "a kink"
        where = f"{unparse(calls[0])} has {kind}"
        if jump:
            where = unparse(calls[0]) if len(partial) == 1 else \
                f"the derivative of order {len(partial) - 1} (through {unparse(calls[0])})"
    elif hidden:
        convention = None
        where = f"the exact derivative contains {hidden[0]}, which switches at this point"
    else:
        convention = None
        where = "the one-sided derivatives differ"
    verdict = judge_kink(left, right, jump, actual, site.tolerance, where, convention)
    if len(partial) == 1:
        sides = attempt(lambda: autograd.one_sided_differences(
            site.request.expression.tree, site.floats, name, site.dtype))
        if sides is not None:
            below, above = sides
            verdict = replace(verdict, message=f"{verdict.message}; one-sided finite "
                              f"differences give {fmt(below)} (left) and {fmt(above)} (right)")
    return _comparison(None, actual, verdict, one_sided=(left.value, right.value))


_UNDEFINED_WORDS = {"nan": "0/0 or another undefined form", "zoo": "a division by zero"}


def written_context(tree: Node, exact_values: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Where the expression as written breaks at the point: (undefined, overflow), in words."""
    written = symbolic.as_written(tree, exact_values)
    return (describe(written.undefined, written.undefined_value),
            describe(written.overflow, written.overflow_value))


def describe(node: Node | None, value: str | None) -> str | None:
    """A sub-expression that breaks at the point, in words: ``x/x is 0/0``."""
    if node is None or value is None:
        return None
    words = _UNDEFINED_WORDS.get(value, value)
    if isinstance(node, Binary) and node.op == "/" and value == "nan":
        words = "0/0"
    if isinstance(node, Number):
        return None
    return f"{unparse(node)} is {words}"
