"""The special points of the trust issue, each with its expected category.

Every expected number is worked out by hand (or by mpmath in the comment's formula),
not taken from the product.
"""

from __future__ import annotations

import math

import mpmath
import pytest

from gradcheck_cli import Status, check

PASS, WARN, FAIL, ERROR = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR


def _derivative(result, name):  # type: ignore[no-untyped-def]
    return next(d for d in result.derivatives if d.wrt == (name,))


def test_a_jump_has_no_derivative_and_says_so() -> None:
    # atan2(sin x, 1 - cos x) is (pi - x)/2 just right of 0 and -(pi + x)/2 just left of
    # it: the formula's -1/2 holds on each side, but the function jumps by pi at 0.
    result = check("atan2(sin(x), 1 - cos(x))", "x=0")
    d = _derivative(result, "x")
    assert (d.status, d.category) == (WARN, "not_differentiable")
    assert d.symbolic is None
    assert d.message is not None and "jumps" in d.message
    assert "-1.57079632679" in d.message and "1.57079632679" in d.message


def test_a_value_undefined_as_written_with_a_limit_is_removable() -> None:
    # (1+x)**(1/x) at 0: 1/x is 1/0 as written; the limit is e. Torch's 1**inf is 1.
    result = check("(1+x)**(1/x)", "x=0")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "removable")
    assert result.value.symbolic == math.e
    assert result.status is WARN


def test_float32_overflow_is_overflow_not_rounding() -> None:
    # exp(89) = 4.4896e38 > float32's largest 3.4028e38: no tolerance helps.
    result = check("exp(x)", "x=89", dtype="float32")
    for comparison in (result.value, *result.derivatives):
        assert comparison is not None
        assert (comparison.status, comparison.category) == (WARN, "overflow")
        assert comparison.symbolic == pytest.approx(float(mpmath.exp(89)), rel=1e-15)
        assert comparison.message is not None and "float32" in comparison.message


def test_an_intermediate_underflow_is_named() -> None:
    # sigmoid(-800) = 1/(1 + e^800), about 3.67e-348: 0 in float64, so log gives -inf.
    result = check("log(sigmoid(x))", "x=-800")
    assert result.value is not None
    assert result.value.symbolic == -800.0  # log(sigmoid(x)) = -log(1 + e^800) = -800 - 1e-348
    assert (result.value.status, result.value.category) == (FAIL, "underflow")
    assert "sigmoid(x) is 3.66787458417769e-348, which is 0 in float64" in result.value.message
    d = _derivative(result, "x")
    assert (d.status, d.category) == (FAIL, "underflow")
    assert d.symbolic == 1.0  # 1 - sigmoid(-800)


def test_a_partial_derivative_by_restriction() -> None:
    # f(0, y) = 0**y = 0 for y > 0, so df/dy at (0, 2) is 0; the general formula
    # x**y*log(x) is 0*(-oo) there.
    result = check("x**y", "x=0,y=2")
    d = _derivative(result, "y")
    assert (d.status, d.category, d.symbolic) == (PASS, "ok", 0.0)
    assert result.status is PASS


def test_a_kink_seen_through_restriction_is_still_a_kink() -> None:
    # sqrt(x**2 + y**2) along y = 0 is |x|: restriction must not make sign(0) = 0 of it.
    d = _derivative(check("sqrt(x**2 + y**2)", "x=0,y=0"), "x")
    assert d.symbolic is None
    assert d.category == "not_differentiable"


def test_gelu_far_in_the_tail_is_an_underflow_not_an_internal_error() -> None:
    # 0.5*x*erfc(-x/sqrt(2)) at -1e300: about -10^(-2.17e599), far below float64.
    result = check("0.5*x*(1+erf(x/sqrt(2)))", "x=-1e300")
    assert result.category != "internal_error"
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "underflow")
    assert result.value.symbolic == 0.0
    # log10 of the value's magnitude: log10(x/2) + log10(erfc(z)), z = x/sqrt(2), where
    # erfc(z) = exp(-z**2)/(z sqrt(pi)) (1 + O(1/z**2)) (mpmath's erfc overflows there).
    with mpmath.workdps(700):
        x = mpmath.mpf(10) ** 300
        z = x / mpmath.sqrt(2)
        log_erfc = (-z * z - mpmath.log(z * mpmath.sqrt(mpmath.pi))) / mpmath.log(10)
        magnitude = mpmath.log10(x / 2) + log_erfc
    assert f"10^({mpmath.nstr(magnitude, 15)})" in (result.value.symbolic_text or "")


def test_a_relational_sympy_cannot_decide_is_not_an_internal_error() -> None:
    # erf(1/x)/x at 0: +oo from both sides (erf(+-oo) = +-1, divided by 0+-).
    result = check("erf(1/x)/x", "x=0")
    assert result.category != "internal_error"
    assert result.value is not None
    assert result.value.category == "pole"


@pytest.mark.parametrize(("expression", "point", "wrt"), [
    ("sin(x)**2 + cos(x)**2 - 1", "x=0.7", None),
    ("m + log(exp(a-m) + exp(b-m))", "m=1,a=2,b=3", "m"),
    ("cosh(x)**2 - sinh(x)**2", "x=3", "x"),
])
def test_an_exact_zero_is_reported_as_0_not_as_residue(expression: str, point: str,
                                                       wrt: str | None) -> None:
    result = check(expression, point)
    numbers = [result.value] if wrt is None else [_derivative(result, wrt)]
    for comparison in numbers:
        assert comparison is not None
        assert comparison.symbolic == 0.0, comparison.symbolic_text
        assert comparison.category in ("ok", "uncertain")
        if comparison.category == "uncertain":
            assert comparison.message is not None and "not proved" in comparison.message


def _log_erfc_30() -> mpmath.mpf:
    return mpmath.log(mpmath.erfc(30))


def _its_derivative() -> mpmath.mpf:
    # d/dx log(erfc(-x)) = 2 exp(-x**2) / (sqrt(pi) erfc(-x)), at x = -30
    return 2 * mpmath.exp(-900) / (mpmath.sqrt(mpmath.pi) * mpmath.erfc(30))


@pytest.mark.parametrize("expression", ["log(erfc(-x))", "log(1 + erf(x))"])
def test_cancellation_in_the_tail_is_certified(expression: str) -> None:
    with mpmath.workdps(60):
        true_value, true_derivative = float(_log_erfc_30()), float(_its_derivative())
    result = check(expression, "x=-30")
    assert result.value is not None
    assert result.value.symbolic == true_value  # -903.974117110643878...
    assert _derivative(result, "x").symbolic == true_derivative  # 60.0332963987562...


def test_the_value_row_at_a_jump_gives_both_sides() -> None:
    # atan2(sin x, 1 - cos x) tends to -pi/2 from the left of 0 and pi/2 from the right.
    result = check("atan2(sin(x), 1 - cos(x))", "x=0")
    assert result.value is not None
    assert (result.value.status, result.value.category) == (WARN, "undefined")
    assert result.value.symbolic is None
    assert f"{-math.pi / 2:.12g} from the left and {math.pi / 2:.12g} from the right" in \
        (result.value.message or "")


def test_one_sided_derivatives_of_a_composed_kink_take_each_sides_branch() -> None:
    # relu(sin(x)) at pi: just left, sin > 0 and the derivative is cos(pi) = -1; just
    # right, sin < 0 and it is 0. SymPy's limit took Heaviside(0) = 1/2 on both sides.
    d = _derivative(check("relu(sin(x))", "x=pi"), "x")
    assert d.category == "not_differentiable"
    assert d.symbolic is None
    assert d.one_sided == (-1.0, 0.0)


def test_the_kink_named_does_not_depend_on_the_hash_seed() -> None:
    # The derivative holds both sign(v[1]) and Abs(v[1]), both switching at v[1] = 0; which
    # one the message named followed the iteration order of a set (string hashing).
    import os
    import subprocess
    import sys

    program = ("from gradcheck_cli import check; print(check('log_softmax(mish(xlogy(pow("
               "(0.824 + abs(v)), v), (0.23 + abs(3.3*v)))))[0]', "
               "'v=[-1.506, 0.0, -1.409]').derivatives[0].message)")
    messages = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                               check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
                for seed in ("1", "2", "6")}
    assert len(messages) == 1
    (message,) = messages
    assert "not differentiable here" in message
