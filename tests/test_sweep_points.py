"""Special points of a sweep (gradcheck_cli.engine.sweep_points): kinks, poles and domain
edges, each the float64 nearest to the exact point.

Every expected value is derived by hand (the comment says how) and rounded to float64
by Python's own correctly rounded arithmetic or by mpmath at 50 digits, never by the
code under test.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp

from gradcheck_cli.engine import symbolic
from gradcheck_cli.engine.sweep_points import MAX_SPECIAL_POINTS, special_points
from gradcheck_cli.parse import parse_expression

INF = math.inf


def _points(text: str, low: float, high: float, **options: float) -> tuple[float, ...]:
    """special_points of an expression built as the project builds it: parsed, then
    turned into SymPy by symbolic.to_sympy."""
    expression = parse_expression(text)
    (name,) = expression.variables
    symbols = symbolic.symbols_for(expression.variables)
    tree = symbolic.to_sympy(expression.tree, symbols)
    return special_points(tree, symbols[name], low, high, **options)


def _float(value: mpmath.mpf) -> float:
    with mpmath.workdps(50):
        return float(value)


@pytest.mark.parametrize(("text", "low", "high", "expected"), [
    # kinks: abs(a) at a = 0; 1/3 as Python divides it is the float nearest 1/3
    ("abs(x - 1/3)", -1, 1, (1 / 3,)),
    ("abs(x**2 - 2)", -2, 2, (-math.sqrt(2), math.sqrt(2))),  # sqrt is correctly rounded
    ("sign(x + 3)", -5, 5, (-3.0,)),
    ("relu(x - 0.5)", -1, 1, (0.5,)),  # max(0, x - 1/2): a tie at x = 1/2
    ("max(x, 1/x)", -5, 5, (-1.0, 0.0, 1.0)),  # ties at x = 1/x; the pole of 1/x at 0
    ("clamp(x, -1, 2)", -5, 5, (-1.0, 2.0)),
    ("min(x, 2*x - 1)", -5, 5, (1.0,)),
    # poles: denominators, tan at pi/2 + k*pi, lgamma at the non-positive integers
    ("1/(x - 2)", -10, 10, (2.0,)),
    ("1/(x**2 - 4)", -10, 10, (-2.0, 2.0)),
    ("tan(x)", 0, 4, (math.pi / 2,)),  # math.pi/2 is the float nearest pi/2 (halving is exact)
    ("tan(x)", -4, 4, (-math.pi / 2, math.pi / 2)),
    ("sec(2*x)", 0, 2, (math.pi / 4,)),  # cos(2x) = 0 at pi/4 (quartering is exact)
    ("cot(x)", -1, 4, (0.0, math.pi)),
    ("lgamma(x)", -3.5, 3.5, (-3.0, -2.0, -1.0, 0.0)),  # not at 1, 2, 3: gamma is finite there
    ("1/(1 + exp(-x))", -10, 10, ()),  # no real zero of the denominator
    ("1/(x**2 + 1)", -10, 10, ()),
    # domain edges: log and sqrt at 0, asin/acos/atanh at +-1, fractional powers at 0
    ("log(x + 5)", -10, 10, (-5.0,)),
    ("log(x - pi)", 0, 10, (math.pi,)),
    ("sqrt(1 - x**2)", -2, 2, (-1.0, 1.0)),
    ("x*sqrt(x)", 0, 1, (0.0,)),  # x**(3/2): its edge is at the end of the range
    ("x**(1/3)", -1, 1, (0.0,)),
    ("acos(x)", -3, 3, (-1.0, 1.0)),
    ("atanh(x/2)", -5, 5, (-2.0, 2.0)),
    ("atan2(x, -1)", -5, 5, (0.0,)),  # the jump across the negative x axis
    # smooth everywhere: nothing
    ("x**2", -1, 1, ()),
    ("sin(x)*exp(x)", -10, 10, ()),
    ("log(1 + exp(x))", -1000, 1000, ()),  # 1 + exp(x) > 0 for every real x
    # points outside the range are dropped, the ends of the range kept
    ("1/(x - 2)", 3, 4, ()),
    ("1/(x - 2)", 2, 4, (2.0,)),
    ("tan(x)", 0, 1, ()),
    ("sqrt(1 - x**2)", 0, 2, (1.0,)),
    # the whole line, and a point far out on it
    ("abs(x - 1e300)", -INF, INF, (1e300,)),
])
def test_special_points(text: str, low: float, high: float, expected: tuple[float, ...]) -> None:
    found = _points(text, low, high)
    assert found == expected
    assert all(type(v) is float for v in found)


def test_a_line_of_poles_gives_those_nearest_zero() -> None:
    # tan over [-1e6, 1e6] has some 637,000 poles (k + 1/2)*pi: the 64 nearest 0 are
    # k = -32 .. 31, each the float nearest to the exact pole.
    found = _points("tan(x)", -1e6, 1e6)
    with mpmath.workdps(50):
        expected = tuple(_float((k + mpmath.mpf(1) / 2) * mpmath.pi) for k in range(-32, 32))
    assert len(found) == MAX_SPECIAL_POINTS
    assert found == expected


def test_many_points_of_one_term_leave_room_for_another() -> None:
    # The poles of tan would fill the cap on their own; the kink of abs at 1000 is taken
    # first from its own condition, and it is still there.
    found = _points("tan(x) + abs(x - 1000)", -2000, 2000)
    assert len(found) == MAX_SPECIAL_POINTS
    assert 1000.0 in found
    assert math.pi / 2 in found and -math.pi / 2 in found


def _real_roots_of_the_septic() -> list[float]:
    # x**7 - 3*x**5 + x - 1 = (x + 1)(x**6 - x**5 - 2x**4 + 2x**3 - 2x**2 + 2x - 1):
    # its real roots by mpmath's polynomial solver at 50 digits.
    with mpmath.workdps(50):
        roots = mpmath.polyroots([1, 0, -3, 0, 0, 0, 1, -1], maxsteps=200, extraprec=200)
        return sorted(_float(r.real) for r in roots if abs(mpmath.im(r)) < mpmath.mpf(10) ** -40)


def test_a_budget_that_runs_out_returns_what_it_has() -> None:
    # A CPU budget far too small for SymPy to solve a degree-7 polynomial: no error, and
    # whatever comes back is a true kink (possibly none).
    roots = _real_roots_of_the_septic()
    found = _points("abs(x**7 - 3*x**5 + x - 1)", -5, 5, budget_s=1e-6)
    assert set(found) <= set(roots)


def test_with_enough_budget_every_real_root_of_a_septic_is_found() -> None:
    roots = _real_roots_of_the_septic()
    assert len(roots) == 3 and -1.0 in roots
    assert _points("abs(x**7 - 3*x**5 + x - 1)", -5, 5, budget_s=30) == tuple(roots)


def test_an_equation_sympy_cannot_solve_gives_only_true_points() -> None:
    # exp(x) = x + 2 has two real roots, neither in closed form: SymPy answers with a
    # ConditionSet, which gives nothing; anything it does give must be one of them.
    with mpmath.workdps(50):
        roots = {_float(mpmath.findroot(lambda t: mpmath.exp(t) - t - 2, guess)) for guess in (-2, 1)}
    assert set(_points("abs(exp(x) - x - 2)", -5, 5)) <= roots


def test_an_empty_range_has_no_points() -> None:
    assert _points("abs(x)", 1, -1) == ()


def test_conditions_with_another_symbol_are_left_out() -> None:
    # Only the swept variable is solved for: the kink of abs(y) is no point of x.
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    assert special_points(sp.Abs(x - 1) + sp.Abs(y), x, -5, 5) == (1.0,)
