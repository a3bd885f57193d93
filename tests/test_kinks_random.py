"""One-sided derivatives at kinks and ties, against mpmath's one-sided differences.

Random expressions ``outer(kink(inner))`` are checked where ``inner`` is 0, the switching
point of the kink (``abs``, ``relu``, ``max``, ``min``, ``clamp``, ``sign(u)*u``, roots of
squares), in one variable and at ties of two (``x - y`` at x = y). The reference never uses
SymPy: :mod:`mpref` evaluates the parse tree with mpmath, and :func:`mpmath.diff` takes a
one-sided difference on each side at two precisions that must agree. The product's
``one_sided`` pair (or its exact value, where the derivative exists) must be that
reference, to 1e-12 relative, unless it says ``uncertain``.

Found this way: the derivative of ``sqrt(log(x)**2)`` at 1 was certified as 1 (a kink,
-1 | 1), and ``exp(max(log(x/y), y*log(x/y)))`` at x = y = 3 had a left slope "nan" in y.
Run with 300 examples against the tree before those fixes (a96b6eb), it failed 7 times
(``sign(log(x/y))*log(x/y)`` at x = y: "undefined", where the slopes are -1/x and 1/x);
against the fixed tree, 0 times in 1,038 comparisons.
"""

from __future__ import annotations

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mpmath import mpf
from mpref import NotRealError, UnreliableError, evaluate, point_trees

from gradcheck_cli import check
from gradcheck_cli.parse import parse_expression

INNER_1 = ["x - {c}", "sin(x - {c})", "(x - {c})*exp(y)", "{c} - x", "tanh(3*(x - {c}))",
           "(x - {c})**3", "log(1 + (x - {c}))", "atan(x - {c})", "expm1(x - {c})",
           "x*y - {c}*y", "(x - {c})/(1 + y**2)"]
INNER_2 = ["x - y", "sin(x - y)", "x*y - y**2", "(x - y)*exp(x)", "log(x/y)", "x**2 - y**2",
           "atan(x) - atan(y)"]
KINKS = ["abs({u})", "relu({u})", "max({u}, 0)", "min({u}, 0)", "clamp({u}, 0, 1)",
         "clamp({u}, -1, 0)", "max({u}, 2*({u}))", "min({u}, -3*({u}))", "max({u}, y*({u}))",
         "sqrt(({u})**2)", "max(x, x + ({u}))", "abs(sin({u}))", "relu({u})**2",
         "sign({u})*({u})"]
OUTERS = ["{k}", "exp({k})", "sin({k}) + y", "({k})*y", "softplus({k})", "log(1 + ({k})**2)",
          "{k} + x**2", "atan({k})*3", "sigmoid({k})", "({k})**2 + {k}"]
CENTRES = ["0.5", "1", "2", "3"]


@st.composite
def kinked(draw: st.DrawFn) -> tuple[str, str]:
    """An expression and a point where its kink switches."""
    c = draw(st.sampled_from(CENTRES))
    two = draw(st.booleans())
    inner = draw(st.sampled_from(INNER_2 if two else INNER_1)).format(c=c)
    kink = draw(st.sampled_from(KINKS)).format(u=inner)
    text = draw(st.sampled_from(OUTERS)).format(k=kink)
    point = f"x={c}, y={c}" if two else f"x={c}, y=0.7"
    return text, point


def one_sided_reference(text: str, point: str, variable: str, side: int) -> float | None:
    """The derivative from one side by mpmath's one-sided difference, at 50 and at 80
    digits; ``None`` where they disagree or mpmath cannot evaluate it."""
    tree = parse_expression(text).tree
    found = []
    for dps in (50, 80):
        with mpmath.workdps(dps):
            values = {name: evaluate(node, {}) for name, node in point_trees(point).items()}
            def beside(t: mpf, values: dict[str, mpf] = values) -> mpf:
                return evaluate(tree, {**values, variable: t})

            try:
                found.append(mpmath.diff(beside, values[variable], h=mpf(10) ** (-dps // 2),
                                         direction=side))
            except (NotRealError, UnreliableError, ZeroDivisionError, ValueError):
                return None
    low, high = found
    if abs(low - high) > mpf(10) ** -20 * max(1, abs(high)):
        return None
    return float(high)


def _close(product: float, reference: float) -> bool:
    return abs(product - reference) <= 1e-12 * max(1.0, abs(reference))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinked())
def test_one_sided_derivatives_at_kinks_are_mpmaths(case: tuple[str, str]) -> None:
    text, point = case
    variables = parse_expression(text).variables
    point = ", ".join(a for a in point.split(", ") if a.split("=")[0] in variables)
    result = check(text, point)
    assert result.category != "internal_error", result.message
    for derivative in result.derivatives:
        if derivative.category == "uncertain":
            continue  # the product says it does not know: nothing claimed
        (variable,) = derivative.wrt
        left = one_sided_reference(text, point, variable, -1)
        right = one_sided_reference(text, point, variable, 1)
        if left is None or right is None:
            continue
        where = f"{text} at {point}, d/d{variable}: {derivative.category}, {derivative.message}"
        if derivative.one_sided is not None:
            claimed = derivative.one_sided
        else:
            assert isinstance(derivative.symbolic, float), where
            claimed = (derivative.symbolic, derivative.symbolic)
        assert _close(claimed[0], left) and _close(claimed[1], right), \
            f"{where}: product {claimed}, mpmath ({left}, {right})"


@pytest.mark.parametrize(("text", "point", "variable", "left", "right"), [
    ("sqrt(log(x)**2)", "x=1", "x", -1.0, 1.0),
    ("exp(max(log(x/y), y*(log(x/y))))", "x=3, y=3", "y", -1.0, -1 / 3),
    ("abs(x - 1)*y", "x=1, y=2", "x", -2.0, 2.0),
])
def test_the_reference_itself_on_known_kinks(text, point, variable, left, right):
    # By hand: |log x| has slopes -1/x and 1/x; max's two slopes at the tie are -1 and -1/3
    # (see test_depth); |x - 1|*y has slopes -y and y.
    assert one_sided_reference(text, point, variable, -1) == pytest.approx(left, rel=1e-15)
    assert one_sided_reference(text, point, variable, 1) == pytest.approx(right, rel=1e-15)
