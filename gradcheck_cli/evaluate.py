"""Step 2 of a check: evaluate both ways, independently, and compare.

SymPy works on the exact mathematics, torch on the expression as written; neither
sees the other's result. This module imports both, so only :func:`check.run` loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import autograd, symbolic
from .check import Request
from .compare import Context, Exact, Kind, Tolerance, Verdict, differences, fmt, judge, judge_kink
from .functions import FUNCTIONS
from .parse import Assignment, Binary, Call, Node, Number, unparse
from .results import CheckResult, Comparison, Derivative, Status, worst


def evaluate_request(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request both ways and compare, one result per point."""
    expression = request.expression
    symbols = symbolic.symbols_for(expression.variables)
    exact_expr = symbolic.to_sympy(expression.tree, symbols)
    partials = [(name, symbolic.derivative(exact_expr, (symbols[name],))) for name in request.wrt]
    return tuple(
        _run_point(request, point, symbols, exact_expr, partials) for point in request.points
    )


@dataclass(frozen=True)
class _Site:
    """Everything about one point that every comparison there needs."""

    symbols: Mapping[str, Any]
    exact_expr: Any
    exact_point: Mapping[Any, Any]
    #: The point as float64 holds it, exactly; ``None`` where that is the point itself.
    rounded_point: Mapping[Any, Any] | None
    tolerance: Tolerance
    context: Context


def _run_point(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
               exact_expr: Any, partials: list[tuple[str, Any]]) -> CheckResult:
    expression = request.expression
    floats = tuple((a.name, a.value) for a in point)
    try:
        site = _site(request, point, symbols, exact_expr)
        computed = autograd.gradients(expression.tree, dict(floats), request.wrt)
        value = _compare("value", exact_expr, computed.value, site)
        kinks = symbolic.kink_sites(expression.tree, symbols, site.exact_point)
        derivatives = tuple(
            _derivative(name, partial, computed.gradients[name], kinks, site,
                        outside_domain=value.category == "domain")
            for name, partial in partials
        )
    except Exception as error:
        return CheckResult(expression=expression.text, point=floats, status=Status.ERROR,
                           category="internal_error",
                           message=f"the check could not be completed: {type(error).__name__}: "
                                   f"{error}", source=request.source)
    summary = worst([value, *derivatives])
    assert summary is not None
    failing = summary.status is not Status.PASS
    return CheckResult(
        expression=expression.text, point=floats, status=summary.status,
        category=summary.category if failing else "ok",
        message=summary.message if failing else None,
        value=value, derivatives=derivatives, source=request.source,
    )


def _site(request: Request, point: tuple[Assignment, ...], symbols: Mapping[str, Any],
          exact_expr: Any) -> _Site:
    exact_values = {a.name: symbolic.to_sympy(a.tree, {}) for a in point}
    exact_point = {symbols[name]: value for name, value in exact_values.items()}
    rounded = {symbols[a.name]: symbolic.exact_float(a.value) for a in point}
    written = symbolic.as_written(request.expression.tree, exact_values)
    context = Context(undefined=_describe(written.undefined, written.undefined_value),
                      overflow=_describe(written.overflow, written.overflow_value))
    return _Site(symbols, exact_expr, exact_point,
                 None if rounded == exact_point else rounded, request.tolerance, context)


def _compare(quantity: str, expr: Any, actual: float, site: _Site) -> Comparison:
    exact = symbolic.exact_value(expr, site.exact_point)
    verdict = judge(quantity, exact, actual, site.tolerance, site.context)
    if verdict.status is not Status.PASS and site.rounded_point is not None:
        # float64 cannot hold the point (pi/2): autograd computed at the nearest float.
        # Near a pole that matters, so ask what the exact answer is there.
        nearest = symbolic.exact_value(expr, site.rounded_point)
        if judge(quantity, nearest, actual, site.tolerance, site.context).status is Status.PASS:
            shown = ", ".join(f"{s}={float(v)!r}" for s, v in site.rounded_point.items())
            verdict = Verdict(Status.WARN, "rounded_point",
                              f"float64 cannot hold this point exactly ({verdict.message}); at the "
                              f"nearest float64 point {shown}, the exact {quantity} is "
                              f"{fmt(nearest.value)} and autograd agrees")
    return _comparison(exact, actual, verdict)


def _comparison(exact: Exact | None, actual: float, verdict: Verdict,
                one_sided: tuple[float, float] | None = None) -> Comparison:
    symbolic_value = None if exact is None or exact.kind is Kind.UNDEFINED else exact.value
    abs_diff, rel_diff = differences(symbolic_value, actual)
    return Comparison(symbolic=symbolic_value, autograd=actual, abs_diff=abs_diff,
                      rel_diff=rel_diff, status=verdict.status, category=verdict.category,
                      message=verdict.message, symbolic_text=exact.text if exact else None,
                      one_sided=one_sided)


def _derivative(name: str, partial: Any, gradient: float | None,
                kinks: list[tuple[Call, frozenset[str]]], site: _Site, *,
                outside_domain: bool) -> Derivative:
    quantity = f"derivative in {name}"
    actual = 0.0 if gradient is None else gradient
    calls = [call for call, names in kinks if name in names]
    hidden = [] if calls else symbolic.non_smooth_at(partial, site.exact_point)
    comparison: Comparison
    if calls or hidden:
        comparison = _at_kink(name, partial, actual, site, calls, hidden)
    else:
        comparison = _compare(quantity, partial, actual, site)
    message = comparison.message
    if outside_domain and comparison.status is Status.PASS:
        # log(x) at -1: 1/x gives -1, but there is no function there to differentiate.
        message = (f"the expression is outside its real domain here, so this derivative "
                   f"does not exist; autograd gives {fmt(actual)}, the formula continued")
        comparison = replace(comparison, status=Status.WARN, category="domain")
    if gradient is None:
        note = (f"{name} does not reach the output, so autograd returns no gradient (None); "
                "it is taken as 0")
        message = f"{note}; {message}" if message else note
    return Derivative(**{**comparison.__dict__, "message": message}, wrt=(name,),
                      formula=symbolic.formula(partial))


def _at_kink(name: str, partial: Any, actual: float, site: _Site, calls: list[Call],
             hidden: list[Any]) -> Comparison:
    symbol = site.symbols[name]
    left, right = symbolic.one_sided(partial, symbol, site.exact_point)
    value_left, value_right = symbolic.one_sided(site.exact_expr, symbol, site.exact_point)
    jump = not symbolic.same_value(value_left, value_right)
    if not jump and symbolic.same_value(left, right):
        # Every kink on the way is smoothed out (abs(x)**2 at 0): an ordinary point.
        exact = Exact(left.value, left.kind, left.text, by_limit=True)
        verdict = judge(f"derivative in {name}", exact, actual, site.tolerance, site.context)
        return _comparison(exact, actual, verdict)
    if calls:
        function = FUNCTIONS[calls[0].function]
        convention = function.convention
        kind = "a tie" if function.arity == 2 else "a kink"
        where = unparse(calls[0]) if jump else f"{unparse(calls[0])} has {kind}"
    else:
        convention = None
        where = f"the exact derivative contains {hidden[0]}, which switches at this point"
    verdict = judge_kink(left, right, jump, actual, site.tolerance, where, convention)
    return _comparison(None, actual, verdict, one_sided=(left.value, right.value))


_UNDEFINED_WORDS = {"nan": "0/0 or another undefined form", "zoo": "a division by zero"}


def _describe(node: Node | None, value: str | None) -> str | None:
    if node is None or value is None:
        return None
    words = _UNDEFINED_WORDS.get(value, value)
    if isinstance(node, Binary) and node.op == "/" and value == "nan":
        words = "0/0"
    if isinstance(node, Number):
        return None
    return f"{unparse(node)} is {words}"
