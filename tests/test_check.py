"""The library's check: worked examples, special points, the comparison rule and the API."""

from __future__ import annotations

import dataclasses
import math
import signal
from collections.abc import Iterator

import pytest
import sympy

from gradcheck_cli import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    CheckResult,
    InputError,
    Status,
    Summary,
    Tolerance,
    check,
    check_points,
    prepare,
)
from gradcheck_cli.check import run
from gradcheck_cli.compare import Exact, Kind, differences, fmt, judge, judge_kink
from gradcheck_cli.results import Comparison

PASS, WARN, FAIL, ERROR = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR


def comparisons(result: CheckResult) -> Iterator[Comparison]:
    if result.value is not None:
        yield result.value
    yield from result.derivatives


def formula_value(formula: str, point: dict[str, float]) -> float:
    """A derivative formula as reported, evaluated here independently of the product."""
    symbols = {name: sympy.Symbol(name, real=True) for name in point}
    expr = sympy.sympify(formula, locals=symbols)
    return float(expr.subs({symbols[n]: sympy.Float(v, 30) for n, v in point.items()}).evalf(30))


# -- the worked examples of the PyTorch tutorials -----------------------------------------

# (expression, point, value, [(wrt, derivative)]), every number worked out by hand
SEEDS = [
    ("5*(x+1)**2", "x=1", 20.0, [("x", 20.0)]),              # 5*2**2; 10*(x+1)
    ("(1/2)*5*(x+1)**2", "x=1", 10.0, [("x", 10.0)]),
    ("0.5*5*(x+1)**2", "x=1", 10.0, [("x", 10.0)]),
    ("5*(x+1)^2/2", "x=1", 10.0, [("x", 10.0)]),
    ("x**y", "x=3,y=4", 81.0, [("x", 108.0), ("y", 81 * math.log(3))]),
    ("(x+w)*(w+1)", "w=1,x=2", 6.0, [("x", 2.0), ("w", 5.0)]),
    ("w*x + b", "x=3,w=2,b=5", 11.0, [("w", 3.0), ("x", 2.0), ("b", 1.0)]),
    ("x**2 + 1", "x=2", 5.0, [("x", 4.0)]),
    ("x**2 + 3*x + 1", "x=2", 11.0, [("x", 7.0)]),
    ("x**2", "x=3", 9.0, [("x", 6.0)]),
    ("x^2", "x=-3", 9.0, [("x", -6.0)]),
    ("sin(x)*cos(x)", "x=pi/4", 0.5, [("x", 0.0)]),            # cos(2x) at pi/4
    ("exp(-x^2/2)", "x=0", 1.0, [("x", 0.0)]),
    ("x*y*z", "x=2,y=3,z=5", 30.0, [("x", 15.0), ("y", 10.0), ("z", 6.0)]),
]


@pytest.mark.parametrize(("expression", "point", "value", "partials"), SEEDS)
def test_worked_examples(expression: str, point: str, value: float,
                         partials: list[tuple[str, float]]) -> None:
    result = check(expression, point)
    assert result.status is PASS, result.message
    assert result.category == "ok"
    assert result.message is None
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(value, rel=1e-15, abs=1e-15)
    assert result.value.autograd == pytest.approx(value, rel=1e-14, abs=1e-15)
    assert [d.wrt for d in result.derivatives] == [(name,) for name, _ in partials]
    floats = dict(result.point)
    for derivative, (_, exact) in zip(result.derivatives, partials, strict=True):
        assert derivative.status is PASS
        assert derivative.category == "ok"
        assert derivative.symbolic == pytest.approx(exact, rel=1e-15, abs=1e-15)
        assert derivative.autograd == pytest.approx(exact, rel=1e-14, abs=1e-15)
        # The formula shown is the derivative: evaluated here, it gives the number.
        assert formula_value(derivative.formula, floats) == pytest.approx(exact, rel=1e-14,
                                                                          abs=1e-15)


@pytest.mark.parametrize(("expression", "point", "formulas"), [
    ("5*(x+1)**2", "x=1", ["10*x + 10"]),
    ("x**2 + 1", "x=2", ["2*x"]),
    ("x**2 + 3*x + 1", "x=2", ["2*x + 3"]),
    ("(x+w)*(w+1)", "w=1,x=2", ["w + 1", "2*w + x + 1"]),
    ("w*x + b", "x=3,w=2,b=5", ["x", "w", "1"]),
])
def test_formulas_as_sympy_prints_them(expression: str, point: str, formulas: list[str]) -> None:
    assert [d.formula for d in check(expression, point).derivatives] == formulas


def test_x_to_the_y_exactly() -> None:
    result = check("x**y", "x=3,y=4")
    dx, dy = result.derivatives
    assert (dx.symbolic, dx.autograd) == (108.0, 108.0)
    assert dy.symbolic == pytest.approx(81 * math.log(3), rel=1e-15)
    assert dy.autograd == pytest.approx(88.9875953821169, rel=1e-15)
    assert abs(dy.autograd - dy.symbolic) <= DEFAULT_ATOL + DEFAULT_RTOL * abs(dy.symbolic)


def test_point_as_mapping() -> None:
    result = check("x**y", {"x": 3, "y": "4"})
    assert result.point == (("x", 3.0), ("y", 4.0))
    assert [d.symbolic for d in result.derivatives] == [108.0, pytest.approx(81 * math.log(3))]


def test_constant_expression_needs_no_point() -> None:
    result = check("2 + 3*pi")
    assert result.status is PASS
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(2 + 3 * math.pi, rel=1e-15)
    assert result.derivatives == ()


def test_ordinary_point_is_exact_to_float64() -> None:
    result = check("sin(x)", "x=1")
    assert result.status is PASS and result.category == "ok"
    assert result.value is not None
    assert abs(result.value.symbolic - math.sin(1)) <= 1e-15
    assert abs(result.derivatives[0].symbolic - math.cos(1)) <= 1e-15
    assert result.derivatives[0].autograd == math.cos(1.0)


# -- points through check --------------------------------------------------------------

# (expression, point, point as floats computed here)
CHECKED_POINTS = [
    ("sin(x)", "x=pi/4", [("x", math.pi / 4)]),
    ("x**2", "x=-0.5", [("x", -0.5)]),
    ("x**2", "x=1e-3", [("x", 0.001)]),
    ("x*y", "x=atan2(1,2),y=2", [("x", math.atan2(1, 2)), ("y", 2.0)]),
]


@pytest.mark.parametrize(("expression", "point", "floats"), CHECKED_POINTS)
def test_constant_point_values(expression: str, point: str, floats: list[tuple[str, float]]) -> None:
    result = check(expression, point)
    assert result.status is PASS
    assert result.point == tuple(floats)


# (expression, point, extra options, category)
REFUSED_INPUT = [
    ("x", "y=1", {}, "unknown_variable"),
    ("x", "x=1,y=2", {}, "unknown_variable"),
    ("x+y", "x=1", {}, "missing_value"),
    ("x", None, {}, "missing_value"),
    ("x", "x=", {}, "missing_value"),
    ("x", "x=1,x=2", {}, "repeated_variable"),
    ("x", "x=1/0", {}, "non_finite_point"),
    ("x", "x=log(0)", {}, "non_finite_point"),
    ("x", "x=y", {}, "unknown_variable"),
    ("x", "x=1", {"wrt": "y"}, "unknown_variable"),
    ("x", "x=1", {"wrt": ""}, "unknown_variable"),
    ("x", "x=1", {"wrt": "x,x"}, "repeated_variable"),
    ("x", "x=1", {"rtol": -1}, "bad_option"),
    ("x", "x=1", {"rtol": -1e-300}, "bad_option"),
    ("x", "x=1", {"atol": -1}, "bad_option"),
    ("x", "x=1", {"rtol": math.nan}, "bad_option"),
    ("x", "x=1", {"atol": math.inf}, "bad_option"),
    ("2x", "x=1", {}, "parse_error"),
    ("foo(x)", "x=1", {}, "unknown_function"),
    ("x**2000", "x=1", {}, "limit"),
]


@pytest.mark.parametrize(("expression", "point", "options", "category"), REFUSED_INPUT)
def test_refused_input_is_an_error_result(expression: str, point: str | None,
                                          options: dict[str, object], category: str) -> None:
    result = check(expression, point, **options)  # type: ignore[arg-type]
    assert result.status is ERROR
    assert result.category == category
    assert result.is_input_error
    assert result.message
    assert result.value is None and result.derivatives == ()
    with pytest.raises(InputError) as caught:
        prepare(expression, [] if point is None else [point], **options)  # type: ignore[arg-type]
    assert caught.value.category == category


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_number_in_a_mapping_point(value: float) -> None:
    # A float given as a number is "taken as given": not finite means non_finite_point.
    result = check("x", {"x": value})
    assert result.status is ERROR
    assert result.category == "non_finite_point"


# -- special points ------------------------------------------------------------------------

# (expression, point, status, category) of the whole check
SPECIAL = [
    ("abs(x)", "x=0", WARN, "not_differentiable"),
    ("abs(x-1)", "x=1", WARN, "not_differentiable"),
    ("relu(x)", "x=0", WARN, "not_differentiable"),
    ("max(x,y)", "x=1,y=1", WARN, "not_differentiable"),
    ("min(x,y)", "x=1,y=1", WARN, "not_differentiable"),
    ("sign(x)", "x=0", WARN, "not_differentiable"),
    ("sqrt(x**2)", "x=0", FAIL, "not_differentiable"),
    ("abs(x)**2", "x=0", PASS, "ok"),
    ("relu(x)**2", "x=0", PASS, "ok"),
    ("1/x", "x=0", WARN, "pole"),
    ("sqrt(x)", "x=0", WARN, "pole"),
    ("asin(x)", "x=1", WARN, "pole"),
    ("log(x)", "x=0", WARN, "pole"),
    ("log(x)", "x=-1", WARN, "domain"),
    ("acos(x)", "x=2", WARN, "domain"),
    ("sqrt(x)", "x=-1", WARN, "domain"),
    ("x**(1/3)", "x=-8", WARN, "domain"),
    ("x/x", "x=0", WARN, "removable"),
    ("sin(x)/x", "x=0", WARN, "removable"),
    ("x*sqrt(x)", "x=0", FAIL, "autograd_nan"),
    ("exp(x)", "x=1000", WARN, "overflow"),
    ("x**2", "x=1e200", WARN, "overflow"),
    ("exp(x)/exp(x)", "x=800", FAIL, "overflow"),
    ("log(exp(x))", "x=1000", FAIL, "overflow"),
    ("tan(x)", "x=pi/2", WARN, "rounded_point"),
    ("sin(x)", "x=1", PASS, "ok"),
    ("x**(1/3)", "x=8", PASS, "ok"),
]


@pytest.mark.parametrize(("expression", "point", "status", "category"), SPECIAL)
def test_special_point_verdicts(expression: str, point: str, status: Status, category: str) -> None:
    result = check(expression, point)
    assert (result.status, result.category) == (status, category), result.message
    if status is PASS:
        assert result.message is None
    else:
        assert result.message


def test_abs_at_zero() -> None:
    result = check("abs(x)", "x=0")
    assert result.value is not None
    assert (result.value.symbolic, result.value.autograd, result.value.status) == (0.0, 0.0, PASS)
    (d,) = result.derivatives
    assert d.symbolic is None
    assert d.one_sided == (-1.0, 1.0)
    assert d.autograd == 0.0
    assert (d.status, d.category) == (WARN, "not_differentiable")
    assert d.formula == "sign(x)"


@pytest.mark.parametrize(("expression", "point", "one_sided", "autograd"), [
    ("relu(x)", "x=0", [(0.0, 1.0)], [0.0]),
    ("max(x,y)", "x=1,y=1", [(0.0, 1.0), (0.0, 1.0)], [0.5, 0.5]),
    ("min(x,y)", "x=1,y=1", [(1.0, 0.0), (1.0, 0.0)], [0.5, 0.5]),
    ("max(x,0)", "x=0", [(0.0, 1.0)], [0.5]),
    ("abs(x-1)", "x=1", [(-1.0, 1.0)], [0.0]),
])
def test_kinks_and_ties(expression: str, point: str, one_sided: list[tuple[float, float]],
                        autograd: list[float]) -> None:
    result = check(expression, point)
    assert [d.one_sided for d in result.derivatives] == one_sided
    assert [d.autograd for d in result.derivatives] == autograd
    for d in result.derivatives:
        assert (d.status, d.category, d.symbolic) == (WARN, "not_differentiable", None)


def test_partial_away_from_the_kink_is_ordinary() -> None:
    result = check("abs(x) + y**2", "x=0,y=3")
    dx, dy = result.derivatives
    assert (dx.status, dx.category) == (WARN, "not_differentiable")
    assert (dy.status, dy.category, dy.symbolic, dy.autograd) == (PASS, "ok", 6.0, 6.0)


def test_sign_at_zero_jumps() -> None:
    (d,) = check("sign(x)", "x=0").derivatives
    assert (d.status, d.category, d.symbolic, d.autograd) == (WARN, "not_differentiable", None, 0.0)


def test_sqrt_of_square_at_zero() -> None:
    (d,) = check("sqrt(x**2)", "x=0").derivatives
    assert (d.status, d.category, d.symbolic) == (FAIL, "not_differentiable", None)
    assert d.one_sided == (-1.0, 1.0)
    assert math.isnan(d.autograd)


def test_kink_smoothed_out() -> None:
    (d,) = check("abs(x)**2", "x=0").derivatives
    assert (d.status, d.symbolic, d.autograd) == (PASS, 0.0, 0.0)


def test_pole_of_one_over_x() -> None:
    result = check("1/x", "x=0")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "pole")
    assert result.value.autograd == math.inf
    (d,) = result.derivatives
    assert (d.status, d.category) == (WARN, "pole")
    assert (d.symbolic, d.autograd) == (-math.inf, -math.inf)   # -1/x**2 -> -oo from both sides


@pytest.mark.parametrize(("expression", "point", "value"), [
    ("sqrt(x)", "x=0", 0.0),
    ("asin(x)", "x=1", math.pi / 2),
    ("acosh(x)", "x=1", 0.0),
])
def test_infinite_derivative_at_the_domain_edge(expression: str, point: str, value: float) -> None:
    result = check(expression, point)
    assert result.value is not None
    assert result.value.status is PASS
    assert result.value.symbolic == pytest.approx(value, rel=1e-15)
    (d,) = result.derivatives
    assert (d.status, d.category, d.symbolic, d.autograd) == (WARN, "pole", math.inf, math.inf)


def test_log_outside_its_domain() -> None:
    result = check("log(x)", "x=-1")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "domain")
    assert math.isnan(result.value.autograd)
    (d,) = result.derivatives
    # 1/x continued to -1 is -1, but there is no real function there to differentiate.
    assert (d.status, d.category, d.autograd) == (WARN, "domain", -1.0)


@pytest.mark.parametrize(("expression", "point"), [("acos(x)", "x=2"), ("x**(1/3)", "x=-8"),
                                                    ("sqrt(x)", "x=-1")])
def test_complex_values_are_domain_warnings(expression: str, point: str) -> None:
    result = check(expression, point)
    for comparison in comparisons(result):
        assert (comparison.status, comparison.category) == (WARN, "domain")
        assert math.isnan(comparison.autograd)


@pytest.mark.parametrize("expression", ["x/x", "sin(x)/x"])
def test_removable_singularities(expression: str) -> None:
    result = check(expression, "x=0")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "removable")
    assert result.value.symbolic == 1.0                       # the limit
    assert math.isnan(result.value.autograd)
    (d,) = result.derivatives
    assert (d.status, d.category, d.symbolic) == (WARN, "removable", 0.0)
    assert math.isnan(d.autograd)


def test_autograd_nan_where_the_derivative_exists() -> None:
    result = check("x*sqrt(x)", "x=0")
    assert result.value is not None
    assert (result.value.status, result.value.symbolic, result.value.autograd) == (PASS, 0.0, 0.0)
    (d,) = result.derivatives
    assert (d.status, d.category, d.symbolic) == (FAIL, "autograd_nan", 0.0)  # (3/2)*sqrt(0)
    assert math.isnan(d.autograd)
    assert d.message and "nan" in d.message


def test_overflow_that_float64_can_only_call_inf() -> None:
    result = check("exp(x)", "x=1000")
    for comparison in comparisons(result):
        assert (comparison.status, comparison.category) == (WARN, "overflow")
        assert comparison.symbolic == math.inf and comparison.autograd == math.inf


def test_overflow_that_wrecks_the_result() -> None:
    result = check("exp(x)/exp(x)", "x=800")
    assert result.value is not None
    assert (result.value.status, result.value.category, result.value.symbolic) == (FAIL, "overflow", 1.0)
    assert math.isnan(result.value.autograd)                  # inf/inf
    (d,) = result.derivatives
    assert (d.status, d.symbolic) == (FAIL, 0.0)


def test_rounded_point_near_a_pole() -> None:
    result = check("tan(x)", "x=pi/2")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "rounded_point")
    # tan at exactly pi/2 is a pole with no sign (+oo from the left, -oo from the right):
    # no real value, so None (null in JSON), and the text says which infinity.
    assert result.value.symbolic is None
    assert result.value.symbolic_text == "oo from the left, -oo from the right"
    assert result.value.autograd == math.tan(math.pi / 2)      # at the nearest float64
    (d,) = result.derivatives
    assert (d.status, d.category) == (WARN, "rounded_point")
    assert d.autograd == pytest.approx(1 + math.tan(math.pi / 2) ** 2, rel=1e-12)


def test_rounded_point_away_from_a_pole() -> None:
    # sin(pi) is 0; autograd computes sin(float(pi)) = 1.2246e-16. With atol=0 that
    # differs, and the reason is the point, not autograd.
    result = check("sin(x)", "x=pi", atol=0)
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "rounded_point")
    assert result.value.symbolic == 0.0
    assert result.value.autograd == math.sin(math.pi)
    assert check("sin(x)", "x=pi").status is PASS              # within the default atol


def test_a_literal_float64_cannot_hold_explains_the_difference() -> None:
    # torch computes sin(1e20), the float64 nearest 99999999999999999999; SymPy the
    # sine of the integer. Both right; the literal is the reason, not autograd.
    result = check("sin(99999999999999999999)*x", "x=1")
    exact = float(sympy.sin(sympy.Integer(99999999999999999999)).evalf(30))
    assert result.value is not None
    assert result.status is WARN
    for comparison in (result.value, *result.derivatives):
        assert (comparison.status, comparison.category) == (WARN, "rounded_literal")
        assert comparison.symbolic == pytest.approx(exact, rel=1e-15)
        assert comparison.autograd == math.sin(1e20)
        assert "the literal 99999999999999999999 is not a float64; torch computes with " \
               "100000000000000000000" in (comparison.message or "")
    assert abs(exact - math.sin(1e20)) > 0.3   # a real difference, not a rounding one


def test_an_inexact_literal_does_not_excuse_a_real_failure() -> None:
    # 0.1 is not a float64 either, but with 0.1 as float64 holds it the exact derivative
    # is still 0: autograd's nan stays a failure, named as before.
    (d,) = check("0.1*x*sqrt(x)", "x=0").derivatives
    assert (d.status, d.category) == (FAIL, "autograd_nan")
    assert "literal" not in (d.message or "")


# Points a hair away from a kink are ordinary points: the exact derivative exists.
# (expression, point, derivatives computed by hand)
NEAR_KINKS = [
    ("abs(x)", "x=1e-300", [1.0]),
    ("abs(x)", "x=-1e-30", [-1.0]),
    ("sign(x)", "x=1e-300", [0.0]),
    ("relu(x)", "x=1e-30", [1.0]),
    ("max(x,0)", "x=1e-300", [1.0]),
    ("relu(x)", "x=-1e-30", [0.0]),
    ("max(x,y)", "x=0,y=1e-30", [0.0, 1.0]),
]


class _Watchdog(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` hides it."""


@pytest.fixture
def watchdog() -> Iterator[None]:
    """Stops a check that hangs instead of answering (Unix), so the suite always ends."""
    def expire(signum: int, frame: object) -> None:
        raise _Watchdog("the check did not finish within 10 s")

    check("x", "x=1")  # torch and SymPy load outside the watched time
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("expression", "point", "partials"), NEAR_KINKS)
def test_near_a_kink_is_an_ordinary_point(watchdog: None, expression: str, point: str,
                                          partials: list[float]) -> None:
    try:
        result = check(expression, point)
    except _Watchdog as stopped:
        pytest.fail(f"check({expression!r}, {point!r}) hangs: {stopped}")
    assert (result.status, result.category) == (PASS, "ok"), result.message
    assert [d.symbolic for d in result.derivatives] == partials
    assert [d.autograd for d in result.derivatives] == partials


# Expressions and points where autograd gives nan somewhere.
NAN_CASES = [
    ("x*sqrt(x)", "x=0"), ("sqrt(x**2)", "x=0"), ("x/x", "x=0"), ("sin(x)/x", "x=0"),
    ("log(x)", "x=-1"), ("acos(x)", "x=2"), ("x**(1/3)", "x=-8"), ("exp(x)/exp(x)", "x=800"),
    ("sqrt(x)*sqrt(x)", "x=0"), ("sqrt(abs(x))", "x=0"), ("1/x**2", "x=0"),
    ("log(exp(x))", "x=1000"), ("x**2/x", "x=0"), ("(x-1)/(x-1)", "x=1"),
    ("sqrt(x)", "x=-1"), ("0*log(x)", "x=0"), ("x*log(x)", "x=0"),
]


@pytest.mark.parametrize(("expression", "point"), NAN_CASES)
def test_nan_is_never_a_pass(expression: str, point: str) -> None:
    result = check(expression, point)
    found_nan = False
    for comparison in comparisons(result):
        if comparison.autograd is not None and math.isnan(comparison.autograd):
            found_nan = True
            assert comparison.status is not PASS, comparison
    assert found_nan
    assert result.status is not PASS


def test_big_integer_literal() -> None:
    # 20 digits: within MAX_LITERAL_LENGTH, and float64 holds it as 1e20.
    result = check("99999999999999999999*x", "x=1")
    assert result.status is PASS, result.message
    (d,) = result.derivatives
    assert d.symbolic == float(99999999999999999999)
    assert d.autograd == float(99999999999999999999)


# -- the comparison rule -----------------------------------------------------------------

# Tolerance(rtol=0.25, atol=0.5) around exact 2: the bound is 0.5 + 0.25*2 = 1, exactly.
CLOSE = [
    (3.0, 2.0, True),
    (1.0, 2.0, True),
    (2.0, 2.0, True),
    (math.nextafter(3.0, math.inf), 2.0, False),
    (1.0 - 2**-52, 2.0, False),                            # 1 + 2**-52 away, exactly
    (-1.0, -2.0, True),                                    # the bound uses |exact|
    (-3.0, -2.0, True),
    (math.nextafter(-3.0, -math.inf), -2.0, False),
    (0.5, 0.0, True),                                      # atol alone at 0
    (-0.5, 0.0, True),
    (math.nextafter(0.5, 1.0), 0.0, False),
    (math.nan, 2.0, False),
    (math.inf, 2.0, False),
]


@pytest.mark.parametrize(("actual", "exact", "close"), CLOSE)
def test_tolerance_close(actual: float, exact: float, close: bool) -> None:
    tolerance = Tolerance(rtol=0.25, atol=0.5)
    assert tolerance.bound(exact) == 0.5 + 0.25 * abs(exact)
    assert tolerance.close(actual, exact) is close


def test_tolerance_defaults() -> None:
    assert (Tolerance().rtol, Tolerance().atol) == (DEFAULT_RTOL, DEFAULT_ATOL) == (1e-7, 1e-12)


DIFFERENCES = [
    (2.0, 3.0, (1.0, 0.5)),
    (-4.0, -3.0, (1.0, 0.25)),
    (0.0, 0.0, (0.0, 0.0)),
    (0.0, 0.25, (0.25, math.inf)),
    (math.inf, math.inf, (0.0, 0.0)),
    (-math.inf, -math.inf, (0.0, 0.0)),
    (None, 1.0, (None, None)),
    (1.0, None, (None, None)),
]


@pytest.mark.parametrize(("exact", "actual", "expected"), DIFFERENCES)
def test_differences(exact: float | None, actual: float | None,
                     expected: tuple[float | None, float | None]) -> None:
    assert differences(exact, actual) == expected


@pytest.mark.parametrize(("exact", "actual"), [(1.0, math.nan), (math.nan, 1.0),
                                               (math.inf, math.nan)])
def test_differences_with_nan(exact: float, actual: float) -> None:
    abs_diff, rel_diff = differences(exact, actual)
    assert abs_diff is not None and math.isnan(abs_diff)
    assert rel_diff is not None and math.isnan(rel_diff)


def exact(value: float, kind: Kind) -> Exact:
    return Exact(value, kind, str(value))


# (exact value, autograd's value, status, category)
JUDGED = [
    (exact(2.0, Kind.FINITE), 2.0, PASS, "ok"),
    (exact(2.0, Kind.FINITE), 2.0 + 1e-7, PASS, "ok"),
    (exact(2.0, Kind.FINITE), 2.1, FAIL, "mismatch"),
    (exact(2.0, Kind.FINITE), math.nan, FAIL, "autograd_nan"),
    (exact(2.0, Kind.FINITE), math.inf, FAIL, "mismatch"),
    (exact(math.inf, Kind.POS_INF), math.inf, WARN, "pole"),
    (exact(math.inf, Kind.POS_INF), -math.inf, FAIL, "pole"),
    (exact(math.inf, Kind.POS_INF), 1e308, FAIL, "pole"),
    (exact(-math.inf, Kind.NEG_INF), -math.inf, WARN, "pole"),
    (exact(-math.inf, Kind.NEG_INF), math.inf, FAIL, "pole"),
    (exact(math.inf, Kind.COMPLEX_INF), math.inf, WARN, "pole"),
    (exact(math.inf, Kind.COMPLEX_INF), 3.0, FAIL, "pole"),
    (exact(math.inf, Kind.OVERFLOW), math.inf, WARN, "overflow"),
    (exact(math.inf, Kind.OVERFLOW), -math.inf, FAIL, "overflow"),
    (exact(math.inf, Kind.OVERFLOW), 1e308, FAIL, "overflow"),
    (exact(math.nan, Kind.COMPLEX), math.nan, WARN, "domain"),
    (exact(math.nan, Kind.COMPLEX), 1.0, FAIL, "domain"),
    (exact(math.nan, Kind.UNDEFINED), math.nan, WARN, "undefined"),
]


@pytest.mark.parametrize(("exact_value", "actual", "status", "category"), JUDGED)
def test_judge(exact_value: Exact, actual: float, status: Status, category: str) -> None:
    verdict = judge("value", exact_value, actual, Tolerance())
    assert (verdict.status, verdict.category) == (status, category)
    assert (verdict.message is None) is (status is PASS)


@pytest.mark.parametrize("kind", list(Kind))
def test_judge_never_passes_nan(kind: Kind) -> None:
    value = {Kind.NEG_INF: -math.inf, Kind.COMPLEX: math.nan, Kind.UNDEFINED: math.nan,
             Kind.FINITE: 1.0}.get(kind, math.inf)
    assert judge("value", exact(value, kind), math.nan, Tolerance()).status is not PASS


@pytest.mark.parametrize(("left", "right", "jump", "actual", "status"), [
    (-1.0, 1.0, False, 0.0, WARN),      # a valid subgradient
    (-1.0, 1.0, False, -1.0, WARN),
    (-1.0, 1.0, False, 1.0, WARN),
    (-1.0, 1.0, False, 1.5, FAIL),      # outside the one-sided derivatives
    (-1.0, 1.0, False, math.nan, FAIL),
    (0.0, 1.0, False, 0.5, WARN),
    (0.0, 0.0, True, 0.0, WARN),        # a jump: no derivative at all
])
def test_judge_kink(left: float, right: float, jump: bool, actual: float, status: Status) -> None:
    verdict = judge_kink(exact(left, Kind.FINITE), exact(right, Kind.FINITE), jump, actual,
                         Tolerance(), "f has a kink", None)
    assert (verdict.status, verdict.category) == (status, "not_differentiable")


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (0.0, "0"),
    (-0.0, "0"), (20.0, "20"), (1 / 3, "0.333333333333"), (1e-20, "1e-20"), (-2.5, "-2.5"),
])
def test_fmt(value: float | None, text: str) -> None:
    assert fmt(value) == text


# -- tolerances through check ------------------------------------------------------------


def test_softplus_above_twenty_differs_by_exp_minus_21() -> None:
    # torch's softplus is linear above 20: its value there is x and its derivative 1,
    # while the exact derivative is sigmoid(21) = 1/(1 + exp(-21)).
    result = check("softplus(x)", "x=21")
    assert result.status is PASS
    (d,) = result.derivatives
    sigmoid21 = 1 / (1 + math.exp(-21))
    assert d.symbolic == pytest.approx(sigmoid21, rel=1e-15)
    assert d.autograd == 1.0
    assert d.rel_diff == pytest.approx(math.exp(-21), rel=1e-6)   # 7.6e-10
    assert result.value is not None
    assert result.value.symbolic == pytest.approx(21 + math.log1p(math.exp(-21)), rel=1e-15)
    assert result.value.autograd == 21.0


# softplus(x) at 21: the value is off by 7.58e-10 absolute (3.6e-11 relative), the
# derivative by 7.58e-10 absolute (7.6e-10 relative).
@pytest.mark.parametrize(("rtol", "atol", "status", "failing"), [
    (None, None, PASS, []),
    (1e-10, 0.0, FAIL, ["x"]),
    (1e-12, 0.0, FAIL, ["value", "x"]),
    (0.0, 1e-10, FAIL, ["value", "x"]),
    (0.0, 1e-9, PASS, []),
])
def test_tolerance_options(rtol: float | None, atol: float | None, status: Status,
                           failing: list[str]) -> None:
    options = {k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None}
    result = check("softplus(x)", "x=21", **options)  # type: ignore[arg-type]
    assert result.status is status
    labels = [("value", result.value)] + [(d.wrt[0], d) for d in result.derivatives]
    assert [label for label, c in labels if c is not None and c.status is FAIL] == failing
    if status is FAIL:
        assert result.category == "mismatch"
        assert result.message and "more than atol + rtol*|exact|" in result.message


def test_exact_answers_pass_with_zero_tolerance() -> None:
    assert check("x**2 + 3*x + 1", "x=2", rtol=0, atol=0).status is PASS


# -- the library API ---------------------------------------------------------------------


def test_results_are_frozen() -> None:
    result = check("x**2", "x=3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.FAIL  # type: ignore[misc]
    assert result.value is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value.autograd = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.derivatives[0].symbolic = 1.0  # type: ignore[misc]
    assert isinstance(result.derivatives, tuple)
    assert isinstance(result.point, tuple)


def test_check_points() -> None:
    results = check_points("x**3", ["x=1", "x=2", {"x": -3}])
    assert [r.point for r in results] == [(("x", 1.0),), (("x", 2.0),), (("x", -3.0),)]
    assert [r.value.symbolic for r in results if r.value] == [1.0, 8.0, -27.0]
    assert [r.derivatives[0].autograd for r in results] == [3.0, 12.0, 27.0]
    assert all(r.status is PASS for r in results)


def test_check_points_mixed_verdicts() -> None:
    results = check_points("abs(x)", ["x=-2", "x=0", "x=2"])
    assert [r.status for r in results] == [PASS, WARN, PASS]
    assert [r.derivatives[0].autograd for r in results] == [-1.0, 0.0, 1.0]
    summary = Summary.of(results)
    assert summary.as_dict() == {"total": 3, "pass": 2, "warn": 1, "fail": 0, "error": 0}


def test_check_points_refused_point_is_one_error() -> None:
    results = check_points("x", ["x=1", "x=1/0"])
    assert len(results) == 1
    assert (results[0].status, results[0].category) == (ERROR, "non_finite_point")


@pytest.mark.parametrize(("wrt", "expected"), [
    (None, [("x", 2.0), ("y", 1.0), ("z", 6.0)]),
    ("z,x", [("z", 6.0), ("x", 2.0)]),
    (["y"], [("y", 1.0)]),
    (" y , z ", [("y", 1.0), ("z", 6.0)]),
])
def test_wrt_subset_and_order(wrt: str | list[str] | None, expected: list[tuple[str, float]]) -> None:
    # d/dx (x*y + z**2 ... ) at x=1, y=2, z=3: y, x, 2*z
    result = check("x*y + z**2", "x=1,y=2,z=3", wrt=wrt)
    assert result.status is PASS
    assert [(d.wrt[0], d.autograd) for d in result.derivatives] == expected
    assert [d.symbolic for d in result.derivatives] == [v for _, v in expected]


def test_variable_with_zero_partial_still_reported() -> None:
    result = check("x*0 + y", "x=1,y=2")
    dx, dy = result.derivatives
    assert (dx.wrt, dx.symbolic, dx.autograd, dx.status) == (("x",), 0.0, 0.0, PASS)
    assert (dy.wrt, dy.symbolic, dy.autograd, dy.status) == (("y",), 1.0, 1.0, PASS)


def test_prepare_validates_without_running() -> None:
    request = prepare("x*y", ["x=1,y=pi/4"], wrt="y")
    assert request.expression.variables == ("x", "y")
    assert request.wrt == ("y",)
    assert [(a.name, a.value) for a in request.points[0]] == [("x", 1.0), ("y", math.pi / 4)]
    assert (request.tolerance.rtol, request.tolerance.atol) == (DEFAULT_RTOL, DEFAULT_ATOL)


def test_an_exception_inside_sympy_or_torch_becomes_an_error_result_per_point(monkeypatch):
    import gradcheck_cli.engine.evaluate

    def broken(request):
        raise ValueError("SymPy said no")

    monkeypatch.setattr(gradcheck_cli.engine.evaluate, "evaluate_request", broken)
    results = run(prepare("x*y", ["x=1,y=2", "x=3,y=4"]))
    assert [r.point for r in results] == [(("x", 1.0), ("y", 2.0)), (("x", 3.0), ("y", 4.0))]
    for result in results:
        assert result.status is Status.ERROR and result.category == "internal_error"
        assert result.message == "the check could not be completed: ValueError: SymPy said no"


def test_a_sympy_computation_past_itstime_budget_is_stopped() -> None:
    import threading
    import time

    from gradcheck_cli.engine.substitute import TooSlowError, time_budget

    start = time.monotonic()
    with pytest.raises(TooSlowError), time_budget(0.2):
        while True:
            pass
    assert time.monotonic() - start < 5
    assert signal.getsignal(signal.SIGPROF) == signal.SIG_DFL   # put back as it was
    # Off the main thread no signal can be used: the block runs to its end, unbounded.
    finished = []
    thread = threading.Thread(target=lambda: finished.append(_run_in_budget()))
    thread.start()
    thread.join()
    assert finished == ["done"]


def test_a_budget_whose_expiry_is_swallowed_expires_again() -> None:
    import time

    from gradcheck_cli.engine.substitute import TooSlowError, time_budget

    # The first TooSlowError lands where it is swallowed (as in a garbage-collector
    # callback, which Python only reports); the budget must still stop the block. A
    # one-shot timer left it running: here it would have spun for the full 5 s.
    swallowed = []
    start = time.process_time()
    with pytest.raises(TooSlowError), time_budget(0.1):
        while time.process_time() - start < 5:
            try:
                while time.process_time() - start < 5:
                    pass
            except TooSlowError:
                if swallowed:
                    raise
                swallowed.append(True)
    assert swallowed == [True]
    assert time.process_time() - start < 2
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)  # disarmed on the way out


def _run_in_budget() -> str:
    import time

    from gradcheck_cli.engine.substitute import time_budget

    with time_budget(0.05):
        time.sleep(0.2)
    return "done"
