"""Depth of a scalar check: higher orders, second opinions, explanations, float32.

Every expected number is computed here from the mathematics (hand-derived formulas,
``math``, numpy float32 emulation), never copied from the program's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck_cli.check import check
from gradcheck_cli.engine import autograd
from gradcheck_cli.limits import MAX_ORDER, MAX_PARTIALS
from gradcheck_cli.results import Status

F32 = np.float32
EULER_GAMMA = 0.5772156649015329


def close(actual: float, expected: float, rel: float) -> bool:
    return abs(actual - expected) <= rel * max(abs(expected), 1e-300)


def by_wrt(result):
    return {d.wrt: d for d in result.derivatives}


# -- 1. higher orders ---------------------------------------------------------------------

def _hessian_poly_sin(x: float, y: float) -> dict[tuple[str, ...], float]:
    # f = x**3*y + sin(x*y)
    return {
        ("x", "x"): 6 * x * y - y * y * math.sin(x * y),
        ("x", "y"): 3 * x * x + math.cos(x * y) - x * y * math.sin(x * y),
        ("y", "y"): -x * x * math.sin(x * y),
    }


def _hessian_exp(x: float, y: float) -> dict[tuple[str, ...], float]:
    # f = exp(x*y)
    e = math.exp(x * y)
    return {("x", "x"): y * y * e, ("x", "y"): (1 + x * y) * e, ("y", "y"): x * x * e}


def _hessian_square(x: float, y: float) -> dict[tuple[str, ...], float]:
    # f = x**2*y**2
    return {("x", "x"): 2 * y * y, ("x", "y"): 4 * x * y, ("y", "y"): 2 * x * x}


HESSIANS = [
    ("x**3*y + sin(x*y)", 1.3, 0.7, _hessian_poly_sin),
    ("exp(x*y)", 0.5, 2.0, _hessian_exp),
    ("x**2*y**2", 1.0, 2.0, _hessian_square),
]


@pytest.mark.parametrize(("expression", "x", "y", "hessian"), HESSIANS)
def test_hessian_matches_hand_computed_second_partials(expression, x, y, hessian):
    result = check(expression, f"x={x},y={y}", order=2)
    expected = hessian(x, y)
    assert result.status is Status.PASS
    assert result.category == "ok"
    # The unique multisets of variables, in wrt order.
    assert [d.wrt for d in result.derivatives] == [("x", "x"), ("x", "y"), ("y", "y")]
    for d in result.derivatives:
        assert close(d.symbolic, expected[d.wrt], 1e-13), d.wrt
        assert close(d.autograd, expected[d.wrt], 1e-12), d.wrt
        # Second-order central differences: step eps**(1/4), error well under 1e-6.
        assert close(d.finite_difference, expected[d.wrt], 1e-6), d.wrt
        assert d.forward_mode is None  # forward mode is first-order only
        assert d.status is Status.PASS


def test_partials_follow_the_wrt_order():
    result = check("x**2*y**2", "x=1,y=2", order=2, wrt="y,x")
    assert [d.wrt for d in result.derivatives] == [("y", "y"), ("y", "x"), ("x", "x")]
    values = {d.wrt: d.symbolic for d in result.derivatives}
    assert values == {("y", "y"): 2.0, ("y", "x"): 8.0, ("x", "x"): 8.0}


# (expression, point, order, {partial: exact value})
HIGHER = [
    ("x**4", "x=2", 3, {("x", "x", "x"): 24 * 2.0}),
    ("exp(x)", "x=1", 4, {("x",) * 4: math.e}),
    ("x**2*y", "x=1.5,y=2", 3, {("x", "x", "x"): 0.0, ("x", "x", "y"): 2.0,
                                ("x", "y", "y"): 0.0, ("y", "y", "y"): 0.0}),
    ("sin(x)*y", "x=0.5,y=2", 2, {("x", "x"): -2 * math.sin(0.5), ("x", "y"): math.cos(0.5),
                                  ("y", "y"): 0.0}),
]


@pytest.mark.parametrize(("expression", "point", "order", "expected"), HIGHER)
def test_third_and_fourth_order(expression, point, order, expected):
    result = check(expression, point, order=order)
    assert result.status is Status.PASS
    found = by_wrt(result)
    assert set(found) == set(expected)
    for partial, value in expected.items():
        d = found[partial]
        assert abs(d.symbolic - value) <= 1e-12 * max(1, abs(value))
        assert abs(d.autograd - value) <= 1e-12 * max(1, abs(value))
        assert d.forward_mode is None


def test_all_35_fourth_partials_of_a_product_of_four():
    # d^4(w*x*y*z) is 1 for the partial in each variable once, 0 when any repeats.
    result = check("w*x*y*z", "w=1,x=2,y=3,z=4", order=4)
    assert len(result.derivatives) == math.comb(4 + 4 - 1, 4) == 35
    assert result.status is Status.PASS
    for d in result.derivatives:
        expected = 1.0 if sorted(d.wrt) == ["w", "x", "y", "z"] else 0.0
        assert d.symbolic == expected, d.wrt
        assert d.autograd == expected, d.wrt


@pytest.mark.parametrize("order", [0, -1, MAX_ORDER + 1, 5])
def test_order_outside_the_limit_is_refused(order):
    assert MAX_ORDER == 4
    result = check("x**4", "x=2", order=order)
    assert result.status is Status.ERROR
    assert result.category == "limit"
    assert result.derivatives == ()


SIX = "u*v*w*x*y*z"
SIX_POINT = "u=1,v=1,w=1,x=1,y=1,z=1"


@pytest.mark.parametrize(("order", "wrt", "count"), [
    (4, None, math.comb(6 + 4 - 1, 4)),      # 126 > 64: refused
    (3, None, math.comb(6 + 3 - 1, 3)),      # 56: accepted
    (4, "u,v,w,x", math.comb(4 + 4 - 1, 4)),  # 35: accepted
])
def test_max_partials(order, wrt, count):
    result = check(SIX, SIX_POINT, order=order, wrt=wrt)
    if count > MAX_PARTIALS:
        assert result.status is Status.ERROR
        assert result.category == "limit"
        assert str(count) in result.message
    else:
        assert result.status is Status.PASS
        assert len(result.derivatives) == count
        for d in result.derivatives:  # all variables are 1: distinct ones give 1
            assert d.symbolic == (1.0 if len(set(d.wrt)) == len(d.wrt) else 0.0)


# -- 2. forward mode, reverse mode, finite differences ------------------------------------

def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


# (expression, point, {wrt: exact first partial})
FIRST = [
    ("5*(x+1)**2", "x=1", {"x": 10 * (1 + 1)}),
    ("x**y", "x=3,y=4", {"x": 4 * 3**3, "y": 3**4 * math.log(3)}),
    ("(x+w)*(w+1)", "w=1,x=2", {"x": 1 + 1, "w": (1 + 1) + (2 + 1)}),
    ("w*x+b", "w=2,x=3,b=1", {"w": 3.0, "x": 2.0, "b": 1.0}),
    ("sin(x)", "x=0.7", {"x": math.cos(0.7)}),
    ("exp(x)", "x=1.5", {"x": math.exp(1.5)}),
    ("log(x)", "x=2.5", {"x": 1 / 2.5}),
    ("tanh(x)", "x=0.3", {"x": 1 - math.tanh(0.3) ** 2}),
    ("sigmoid(x)", "x=0.4", {"x": _sigmoid(0.4) * (1 - _sigmoid(0.4))}),
    ("softplus(x)", "x=1.2", {"x": _sigmoid(1.2)}),
    ("erf(x)", "x=0.6", {"x": 2 / math.sqrt(math.pi) * math.exp(-0.36)}),
    # digamma(2.5) = digamma(1/2) + 1/(1/2) + 1/(3/2) = -gamma - 2 ln 2 + 2 + 2/3
    ("lgamma(x)", "x=2.5", {"x": -EULER_GAMMA - 2 * math.log(2) + 2 + 2 / 3}),
    ("atan2(y, x)", "y=1,x=2", {"y": 2 / (2**2 + 1**2), "x": -1 / (2**2 + 1**2)}),
]


@pytest.mark.parametrize(("expression", "point", "expected"), FIRST)
def test_forward_mode_reverse_mode_and_finite_differences_agree(expression, point, expected):
    result = check(expression, point)
    assert result.status is Status.PASS
    found = {d.wrt[0]: d for d in result.derivatives}
    assert set(found) == set(expected)
    for name, value in expected.items():
        d = found[name]
        assert close(d.symbolic, value, 1e-13), name
        assert close(d.autograd, value, 1e-12), name
        assert close(d.forward_mode, value, 1e-12), name
        assert close(d.forward_mode, d.autograd, 1e-12), name
        assert close(d.finite_difference, value, 1e-7), name


def test_forward_mode_is_none_for_higher_orders():
    result = check("x**y", "x=3,y=4", order=2)
    assert [d.forward_mode for d in result.derivatives] == [None, None, None]
    # d2/dxdy x**y = x**(y-1) * (1 + y ln x)
    mixed = by_wrt(result)[("x", "y")]
    assert close(mixed.symbolic, 3**3 * (1 + 4 * math.log(3)), 1e-13)


# -- 3. the step rule ---------------------------------------------------------------------

EPS = {"float64": 2.0**-52, "float32": 2.0**-23}


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("x", [0.0, 0.1, 1.0, 3.0, -7.3, 1e5])
def test_step_rule_float64(x, order):
    h = EPS["float64"] ** (1 / (order + 2)) * max(1.0, abs(x))
    s = autograd.step(x, order)
    assert s == (x + h) - x
    assert (x + s) - x == s  # exactly representable
    assert abs(s - h) <= 2.0**-52 * max(1.0, abs(x))


@pytest.mark.parametrize(("x", "order"), [(1.1, 1), (3.0, 2)])
def test_step_rule_float32_is_representable_in_float32(x, order):
    # The finite difference perturbs a float32 tensor: the step must be exact there,
    # or the denominator 2h is not the distance between the two points evaluated.
    x32 = float(F32(x))
    h = EPS["float32"] ** (1 / (order + 2)) * max(1.0, abs(x32))
    s = autograd.step(x32, order, "float32")
    assert abs(s - h) <= 2.0**-23 * max(1.0, abs(x32))
    assert float(F32(s)) == s
    assert float((F32(x32) + F32(s)) - F32(x32)) == s


@pytest.mark.parametrize("x", [1.1, 3.0])
def test_float32_central_difference_of_the_identity_is_exact(x):
    # With an exactly representable step, ((x+h) - (x-h)) / 2h is exactly 1.
    d = check("x", f"x={x}", dtype="float32").derivatives[0]
    assert d.finite_difference == 1.0


def test_float64_central_difference_of_linear_is_exact():
    d = check("(x+w)*(w+1)", "w=1,x=2").derivatives[0]
    assert d.wrt == ("x",)
    assert d.finite_difference == 2.0


# -- 4. explanations and categories -------------------------------------------------------

def test_kink_message_gives_one_sided_differences():
    result = check("abs(x)", "x=0")
    d = result.derivatives[0]
    assert result.status is Status.WARN
    assert d.category == "not_differentiable"
    assert d.symbolic is None
    assert d.autograd == 0.0
    assert d.one_sided == (-1.0, 1.0)
    assert "one-sided finite differences give -1 (left) and 1 (right)" in d.message


def test_nan_from_sqrt_backward_is_named():
    result = check("x*sqrt(x)", "x=0")
    d = result.derivatives[0]
    assert result.status is Status.FAIL
    assert result.category == "autograd_nan"
    assert d.symbolic == 0.0  # d/dx x**(3/2) = 1.5*sqrt(x) = 0 at 0
    assert math.isnan(d.autograd)
    assert "SqrtBackward0" in d.message
    assert "SqrtBackward0" in result.message


def test_softplus_threshold_finite_differences_side_with_autograd():
    # torch's softplus is x itself above 20: derivative exactly 1, not sigmoid(21).
    result = check("softplus(x)", "x=21", rtol=1e-12, atol=0)
    d = result.derivatives[0]
    assert close(result.value.symbolic, 21 + math.log1p(math.exp(-21)), 1e-15)
    assert result.value.autograd == 21.0
    assert close(d.symbolic, _sigmoid(21), 1e-15)
    assert d.autograd == 1.0
    assert d.status is Status.FAIL
    assert result.status is Status.FAIL
    assert "finite differences give 1, agreeing with autograd" in d.message


# (expression, point, where the category shows: "value" or "derivative", category, status)
SPECIAL = [
    ("abs(x)", "x=0", "derivative", "not_differentiable", Status.WARN),
    ("relu(x)", "x=0", "derivative", "not_differentiable", Status.WARN),
    ("max(x, y)", "x=1,y=1", "derivative", "not_differentiable", Status.WARN),
    ("sign(x)", "x=0", "derivative", "not_differentiable", Status.WARN),
    ("sqrt(x**2)", "x=0", "derivative", "not_differentiable", Status.FAIL),  # autograd nan
    ("1/x", "x=0", "value", "pole", Status.WARN),
    ("sqrt(x)", "x=0", "derivative", "pole", Status.WARN),
    ("asin(x)", "x=1", "derivative", "pole", Status.WARN),
    ("log(x)", "x=-1", "value", "domain", Status.WARN),
    ("sqrt(x)", "x=-1", "value", "domain", Status.WARN),
    ("acos(x)", "x=2", "value", "domain", Status.WARN),
    ("x**(1/3)", "x=-8", "value", "domain", Status.WARN),
    ("x/x", "x=0", "value", "removable", Status.WARN),
    ("sin(x)/x", "x=0", "value", "removable", Status.WARN),
    ("x*sqrt(x)", "x=0", "derivative", "autograd_nan", Status.FAIL),
    ("exp(x)", "x=1000", "value", "overflow", Status.WARN),
    ("sin(x)", "x=1", "value", "ok", Status.PASS),
]


@pytest.mark.parametrize(("expression", "point", "where", "category", "status"), SPECIAL)
def test_category_at_special_points(expression, point, where, category, status):
    result = check(expression, point)
    assert result.category == category
    assert result.status is status
    shown = [result.value] if where == "value" else list(result.derivatives)
    for comparison in shown:
        assert comparison.category == category
        assert comparison.status is status
    # nan never passes, wherever it appears.
    for comparison in [result.value, *result.derivatives]:
        if isinstance(comparison.autograd, float) and math.isnan(comparison.autograd):
            assert comparison.status is not Status.PASS


@pytest.mark.parametrize("expression", ["x/x", "sin(x)/x"])
def test_removable_singularity_reports_the_limit(expression):
    result = check(expression, "x=0")
    assert result.value.symbolic == 1.0
    assert math.isnan(result.value.autograd)
    d = result.derivatives[0]
    assert d.symbolic == 0.0  # (x/x)' and (sin(x)/x)' both tend to 0
    assert d.status is not Status.PASS


def test_pole_derivative_values():
    # d/dx sqrt(x) = 1/(2 sqrt(x)) -> +oo from the right; d/dx asin(x) -> +oo at 1.
    for expression, point in [("sqrt(x)", "x=0"), ("asin(x)", "x=1")]:
        d = check(expression, point).derivatives[0]
        assert d.symbolic == math.inf
        assert d.autograd == math.inf


def test_two_dimensional_cone_has_no_partial_at_its_tip():
    # Along y = 0, sqrt(x**2 + y**2) is |x|: one-sided derivatives -1 and 1, no
    # derivative. x/sqrt(x**2 + y**2) at (0, 0) is 0/0 with no limit, not 0.
    result = check("sqrt(x**2 + y**2)", "x=0,y=0")
    d = by_wrt(result)[("x",)]
    assert d.symbolic is None
    assert d.category == "not_differentiable"
    assert d.one_sided == (-1.0, 1.0)
    assert d.status is not Status.PASS


# -- 5. float32 ---------------------------------------------------------------------------

F32_DEFAULT = {"rtol": 1e-5, "atol": 1e-6}
F64_DEFAULT = {"rtol": 1e-7, "atol": 1e-12}


def _within(actual: float, exact: float, tolerance: dict[str, float]) -> bool:
    return abs(actual - exact) <= tolerance["atol"] + tolerance["rtol"] * abs(exact)


def _shift_back(x: float, big: float) -> float:
    """(x + big) - big as float32 computes it."""
    return float((F32(x) + F32(big)) - F32(big))


@pytest.mark.parametrize("x", [0.1, 0.2, 0.3])
def test_float32_rounding_passes_float32_tolerances_only(x):
    expected = _shift_back(x, 1.0)
    # The float32 error is real, above float64's rtol and within float32's.
    assert not _within(expected, x, F64_DEFAULT)
    assert not _within(expected, float(F32(x)), F64_DEFAULT)  # not the point's rounding
    assert _within(expected, x, F32_DEFAULT)
    loose = check("(x+1)-1", f"x={x}", dtype="float32")
    assert loose.value.autograd == expected
    assert loose.status is Status.PASS
    tight = check("(x+1)-1", f"x={x}", dtype="float32", **F64_DEFAULT)
    assert tight.value.autograd == expected
    assert tight.status is Status.FAIL
    assert tight.category == "rounding"  # float64 computes (x+1)-1 within 1e-7
    assert tight.derivatives[0].symbolic == 1.0


def test_float32_cancellation_fails_even_float32_tolerances():
    expected = _shift_back(0.1, 1e4)  # 0.099609375: float32 ulp at 1e4 is 2**-10
    assert expected == 0.099609375
    result = check("(x+1e4)-1e4", "x=0.1", dtype="float32")
    assert result.value.autograd == expected
    assert result.value.symbolic == 0.1
    assert result.status is Status.FAIL
    assert result.category == "rounding"
    assert result.value.category == "rounding"
    assert "float64" in result.message
    assert result.derivatives[0].status is Status.PASS  # d/dx is exactly 1 either way


# (expression, x, exact value, numpy float32 emulation of the value)
FLOAT32_CASES = [
    ("x**10", 1.1, 1.1**10, lambda x: float(F32(x) ** F32(10))),
    ("sin(x)*cos(x)", 0.7, math.sin(1.4) / 2, lambda x: float(np.sin(F32(x)) * np.cos(F32(x)))),
]


@pytest.mark.parametrize(("expression", "x", "exact", "emulate"), FLOAT32_CASES)
def test_float32_examples_pass_with_float32_defaults(expression, x, exact, emulate):
    emulated = emulate(x)
    result = check(expression, f"x={x}", dtype="float32")
    assert close(result.value.symbolic, exact, 1e-15)
    # torch's float32 ops may differ from numpy's by an ulp or so.
    assert abs(result.value.autograd - emulated) <= 4 * 2.0**-24 * abs(emulated)
    assert _within(result.value.autograd, exact, F32_DEFAULT)
    assert result.status is Status.PASS


def test_float32_x_pow_10_is_not_a_pass_with_float64_tolerances():
    # float32 holds 1.1 as 1.10000002384: x**10 moves by about 10 * 2.2e-8 relative,
    # more than rtol 1e-7, before any rounding of the computation.
    x32 = float(F32(1.1))
    assert abs(x32**10 - 1.1**10) / 1.1**10 > 1e-7
    result = check("x**10", "x=1.1", dtype="float32", **F64_DEFAULT)
    assert result.status is not Status.PASS
    d = result.derivatives[0]
    assert close(d.symbolic, 10 * 1.1**9, 1e-14)
    assert d.status is not Status.PASS


def test_sin_cos_float32_derivative_is_not_a_pass_with_float64_tolerances():
    x32 = float(F32(0.7))
    assert abs(math.cos(2 * x32) - math.cos(1.4)) / math.cos(1.4) > 1e-7
    result = check("sin(x)*cos(x)", "x=0.7", dtype="float32", **F64_DEFAULT)
    d = result.derivatives[0]
    assert close(d.symbolic, math.cos(1.4), 1e-14)
    assert d.status is not Status.PASS
    assert result.status is not Status.PASS


def test_float8_is_a_bad_option():
    result = check("x**2", "x=1", dtype="float8")
    assert result.status is Status.ERROR
    assert result.category == "bad_option"
    assert "float8" in result.message


# -- 6. higher order at a kink ------------------------------------------------------------

@pytest.mark.parametrize(("expression", "order"), [
    ("abs(x)", 2),      # |x|'' : the first derivative jumps from -1 to 1
    ("relu(x)", 2),     # relu'' : the first derivative jumps from 0 to 1
    ("sign(x)", 2),     # sign itself jumps: no derivative of any order at 0
])
def test_higher_order_at_a_kink_is_not_a_pass(expression, order):
    result = check(expression, "x=0", order=order)
    assert result.status is Status.WARN
    assert result.category == "not_differentiable"
    d = result.derivatives[0]
    assert d.wrt == ("x",) * order
    assert d.symbolic is None
    assert d.status is Status.WARN


def test_second_derivative_through_a_smoothed_kink_is_ordinary():
    # |x|**3 has second derivative 6|x|: 0 at 0, continuous.
    result = check("abs(x)**3", "x=0", order=2)
    assert result.derivatives[0].symbolic == 0.0
    assert result.status is Status.PASS


def test_second_derivative_of_x_abs_x_has_one_sided_limits():
    # (x|x|)'' = 2 sign(x): one-sided -2 and 2.
    result = check("x*abs(x)", "x=0", order=2)
    d = result.derivatives[0]
    assert d.one_sided == (-2.0, 2.0)
    assert d.category == "not_differentiable"
    assert result.status is Status.WARN


# Forward mode makes every operand a dual number (constants with a zero tangent) to stay
# off torch's slow path; an exponent must stay as written, or 0 * log(negative base)
# turns the tangent into nan.
@pytest.mark.parametrize(("expression", "point", "expected"), [
    # d/dx and d/dy of 2.61 x^3 - 2.39 x y + 1.55 y^2 at a negative y
    ("2.61*x**3 - 2.39*x*y + 1.55*y**2", "x=1.862, y=-0.056",
     (3 * 2.61 * 1.862**2 - 2.39 * -0.056, -2.39 * 1.862 + 2 * 1.55 * -0.056)),
    ("(x - 2.8)**4*y", "x=0.334, y=1.632", (4 * 1.632 * (0.334 - 2.8) ** 3, (0.334 - 2.8) ** 4)),
    ("x**3", "x=-2", (12.0,)),
])
def test_forward_mode_at_a_negative_base(expression: str, point: str,
                                         expected: tuple[float, ...]) -> None:
    result = check(expression, point)
    assert result.status is Status.PASS, result.message
    for derivative, value in zip(result.derivatives, expected, strict=True):
        assert derivative.forward_mode == pytest.approx(value, rel=1e-12)


# Sub-expressions that do not depend on the differentiated variable take no part in its
# tangent, even where they are nan or infinite, as with torch given one dual input.
@pytest.mark.parametrize(("expression", "point", "expected"), [
    ("(-8)**(1/3) + x", "x=1", (1.0,)),              # a nan constant: d/dx is still 1
    ("x*log(y)", "x=1, y=0", (-math.inf, math.inf)),  # d/dx = log(0); d/dy = x/y = +inf
])
def test_forward_mode_ignores_independent_non_finite_parts(
        expression: str, point: str, expected: tuple[float, ...]) -> None:
    result = check(expression, point)
    assert [d.forward_mode for d in result.derivatives] == list(expected)
    assert [d.autograd for d in result.derivatives] == list(expected)
    assert all(d.category != "forward_reverse_mismatch" for d in result.derivatives)


# float64 underflow: the exact value is not zero but rounds to 0 (it is below 4.9e-324),
# so autograd's 0 is the nearest float64 can say; a nonzero answer would be wrong.
@pytest.mark.parametrize(("expression", "point", "exact_exponent"), [
    ("exp(x)", "x=-1000", -1000 / math.log(10)),          # e**-1000 = 10**-434.29...
    ("x*exp(-x**2)", "x=30", math.log10(30) - 900 / math.log(10)),
])
def test_underflow_is_a_warning_not_a_silent_pass(expression: str, point: str,
                                                  exact_exponent: float) -> None:
    result = check(expression, point)
    assert (result.status, result.category) == (Status.WARN, "underflow")
    assert result.value is not None
    assert (result.value.symbolic, result.value.autograd) == (0.0, 0.0)
    assert result.value.symbolic_text is not None
    mantissa, exponent = result.value.symbolic_text.split("e")
    assert int(exponent) == math.floor(exact_exponent)
    assert float(mantissa) == pytest.approx(10 ** (exact_exponent - math.floor(exact_exponent)),
                                            rel=1e-9)


@pytest.mark.parametrize(("expression", "point", "undefined"), [
    ("x + 0/0", "x=1", "0/0"),               # SymPy folds it to nan, whose derivative it calls 0
    ("max(x, acos(2))", "x=1", "acos(2)"),   # SymPy's Max refuses a number that is not real
    ("relu(acos(2))*x", "x=1", "acos(2)"),
    ("min(y*x, 0/0)", "x=1,y=2", "0/0"),
])
def test_an_expression_undefined_everywhere_has_no_derivative(expression, point, undefined):
    result = check(expression, point)
    assert result.status is not Status.PASS
    assert result.value.category == "undefined" and result.value.symbolic is None
    assert math.isnan(result.value.autograd)
    for derivative in result.derivatives:
        assert derivative.formula == "nan"
        assert derivative.symbolic is None, derivative  # not 0
        assert derivative.status is not Status.PASS
        assert f"({undefined} is" in derivative.message


@pytest.mark.parametrize(("expression", "point", "category"), [
    ("min(acosh(y), x)", "x=1,y=0", "undefined"),              # Min of I*pi/2 at the point
    ("erfc(2/y)", "y=0", "undefined"),                         # erfc(zoo) has no value
    ("relu(x**0.5)", "x=-2.5", "undefined"),
    ("min(atan2(atan(1), asin(2)), x)", "x=1", "undefined"),   # SymPy's Min took minutes
    # asin(e) is complex: SymPy refuses Heaviside of it in the derivative (random trust test)
    ("max((asin(e) / x), (e - max(2, 1)))", "x=2.314", "undefined"),
])
def test_values_sympy_refuses_to_build_are_undefined_not_internal_errors(expression, point,
                                                                         category):
    result = check(expression, point)
    assert result.value is not None
    assert result.value.category == category, result.value.message
    assert all(d.category != "internal_error" for d in result.derivatives)


def test_a_tie_over_an_interval_is_no_kink():
    # max(x, 1) is 1 all around x = -1, so the outer max ties on a whole interval and is
    # constant there: the derivative is 0, found without SymPy's limits (which ran for
    # minutes on the Heaviside in it).
    result = check("max(1, max(x, 1))", "x=-1")
    (d,) = result.derivatives
    assert (result.status, d.category, d.symbolic, d.autograd) == (Status.PASS, "ok", 0.0, 0.0)


def test_a_limit_sympy_breaks_on_is_uncertain_not_an_internal_error() -> None:
    # Found by the random trust test: in a worker, SymPy's limit of the value at x = -1e300
    # made mpmath shift an integer by about 2**(1e300) bits (OverflowError), which ended
    # the whole check as an internal error. (Here, with SymPy's smaller default cache, the
    # same limit runs out of its 1 s instead.) sqrt(-1e300) is 1e150*I, so nothing here is
    # real: the value's limit is unknown, the derivatives complex (category domain).
    result = check("atan2(xlogy((e)**x, (x)**0.5), y)", "x=-1e300, y=-1e-300")
    assert result.category != "internal_error", result.message
    assert (result.value.category, result.value.symbolic) == ("uncertain", None)
    assert "its limit was not found" in result.value.message
    assert [d.category for d in result.derivatives] == ["domain", "domain"]


def test_an_arithmetic_error_in_sympys_limit_is_a_side_not_found(monkeypatch) -> None:
    import sympy as sp

    from gradcheck_cli.engine import symbolic

    def overflowing(*args, **kwargs):
        raise OverflowError("too many digits in integer")

    monkeypatch.setattr(symbolic.sp, "limit", overflowing)
    symbolic.forget_limits()
    x = sp.Symbol("x", real=True, finite=True)
    # 1/x at 0: no value, so both sides go to SymPy's limit, which breaks.
    left, right = symbolic.one_sided(1 / x, x, {x: sp.S.Zero})
    for side in (left, right):
        assert side.kind.value == "uncertain"
        assert side.text == "no limit found: SymPy's limit failed (OverflowError)"
    assert symbolic.not_found(left, right) is left
    symbolic.forget_limits()


@pytest.mark.parametrize(("expression", "point"), [
    # atanh(0.65*cos(-1.02)) = 0.3478...: SymPy cannot prove the argument real (atanh of
    # something it cannot bound by 1), so sympy.diff leaves Derivative(sign(...), y),
    # which the exact route called undefined. sign is locally constant where its
    # argument is a nonzero real: the derivative is exactly 0.
    ("sign(atanh(0.65*cos((y - 1.02))))", "y=0"),
    ("0.154*sign(log1p(0.55*sin(3.1*w)))", "w=2.012"),
    ("sign(atanh(0.73*erf(p)))", "p=-0.3126"),
])
def test_sign_of_an_argument_sympy_cannot_prove_real_has_derivative_0(expression, point):
    result = check(expression, point)
    (derivative,) = result.derivatives
    assert "Derivative" not in derivative.formula and "DiracDelta" in derivative.formula
    assert (derivative.category, derivative.symbolic, derivative.autograd) == ("ok", 0.0, 0.0)
    assert result.status is Status.PASS


def test_an_underived_piece_is_uncertain_not_undefined() -> None:
    import sympy as sp

    from gradcheck_cli.engine import symbolic

    # What SymPy left as Derivative(...) cannot take a point (SymPy raises "Can't calculate
    # derivative wrt 0"), which the exact route had read as "undefined here".
    y = sp.Symbol("y", real=True, finite=True)
    underived = sp.Derivative(sp.sign(sp.atanh(sp.Rational(13, 20) * sp.cos(y - 1))), y)
    exact = symbolic.exact_value(underived, {y: sp.S.Zero}, y)
    assert (exact.kind.value, exact.text) == ("uncertain", "SymPy left part of the derivative unevaluated")


@pytest.mark.parametrize(("expression", "left", "right"), [
    # SymPy keeps sqrt(log(x)**2) (log(x) is not real for x < 0) and its limit took it as
    # log(x) from both sides: the derivative at 1 was "1". It is |log(x)|, whose slope is
    # sign(log(x))/x: -1 and 1 beside x = 1; softplus'(0) = 1/2 halves them.
    ("sqrt(log(x)**2)", -1.0, 1.0),
    ("softplus(sqrt((log(1 + (x - 1)))**2))", -0.5, 0.5),
])
def test_a_root_of_a_square_has_its_kink(expression, left, right):
    result = check(expression, "x=1")
    (derivative,) = result.derivatives
    assert derivative.category == "not_differentiable", derivative.message
    assert derivative.one_sided == (left, right)


def test_a_limit_the_values_beside_the_point_contradict_is_uncertain() -> None:
    import sympy as sp

    from gradcheck_cli.compare import Exact, Kind
    from gradcheck_cli.engine import symbolic

    x = sp.Symbol("x", real=True, finite=True)
    # From the left of 1 this is -1/x (log(x) < 0); SymPy's limit says 1 there.
    branch = sp.sqrt(sp.log(x) ** 2) / (x * sp.log(x))
    wrong = Exact(1.0, Kind.FINITE, "1")
    left = symbolic._beside(branch, x, sp.S.One, "-", wrong)
    assert left.kind is Kind.UNCERTAIN and "contradicted by the values beside" in left.text
    assert symbolic._beside(branch, x, sp.S.One, "+", wrong) is wrong  # right of 1: 1/x -> 1
    # A right limit that is approached slowly is not contradicted: 1/log(x) -> 0 as
    # x -> 0+, yet is -0.06 and -0.03 at 2**-24 and 2**-48.
    zero = Exact(0.0, Kind.FINITE, "0")
    assert symbolic._beside(1 / sp.log(x), x, sp.S.Zero, "+", zero) is zero


def test_a_log_of_exactly_1_beside_a_tie_is_exact() -> None:
    # log(x/y) at x = y is log(1) = 0 exactly: the certified evaluation must take it as
    # exact (not as a root reached by rounding), or the sign of max's switching quantity,
    # y*log(x/y) - log(x/y), beside the tie is unknown and the left side had no limit.
    # By hand: at the tie both arguments are 0; d/dy log(x/y) = -1/y = -1/3 and
    # d/dy y*log(x/y) = log(x/y) - 1 = -1, so max's slope is -1 on the left, -1/3 on the
    # right, and exp(0) = 1 leaves them so.
    result = check("exp(max(log(x/y), y*(log(x/y))))", "x=3, y=3")
    d_y = next(d for d in result.derivatives if d.wrt == ("y",))
    assert d_y.category == "not_differentiable", d_y.message
    assert d_y.one_sided == pytest.approx((-1.0, -1 / 3), rel=1e-15)
    # log(1 + g**2) has slope 2*g*g'/(1 + g**2) = 0 where g = max(...) = 0.
    result = check("log(1 + (max(log(x/y), y*(log(x/y))))**2)", "x=0.5, y=0.5")
    assert [(d.category, d.symbolic) for d in result.derivatives] == [("ok", 0.0), ("ok", 0.0)]


def test_putting_the_point_in_for_a_limit_is_within_its_budget(monkeypatch) -> None:
    import sympy as sp

    from gradcheck_cli.engine import symbolic

    # x**(x + 2) at the float64 next to -3 is a 53-bit rational to a rational power:
    # SymPy's exact substitution ran for minutes inside a sweep's exact checks. Within
    # the limit's budget (here made 0.05 s), it is given up: no value found there.
    monkeypatch.setattr(symbolic, "LIMIT_SECONDS", 0.05)
    x = sp.Symbol("x", real=True, finite=True)
    near = symbolic.exact_float(-2.9999999999999996)
    assert symbolic._finite_at(x ** (x + 2), x, near) is None
    # An ordinary value is found as before: 2**(2 + 2) = 16.
    found = symbolic._finite_at(x ** (x + 2), x, sp.Integer(2))
    assert found is not None and found.value == 16.0
