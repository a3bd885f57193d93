"""``--expect``: the user's own derivative against the exact one (issue 11).

Every expected number here is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from gradcheck_cli import check
from gradcheck_cli.check import check_points
from gradcheck_cli.cli import app
from gradcheck_cli.results import Category, CheckResult, Derivative, Expected, Status


def expected_of(result: CheckResult, wrt: tuple[str, ...]) -> Expected:
    (derivative,) = [d for d in result.derivatives if d.wrt == wrt]
    assert derivative.expected is not None, result.message
    return derivative.expected


def invoke(*arguments: str) -> Any:
    env = {"COLUMNS": "80", "NO_COLOR": "1"}
    return CliRunner().invoke(app, list(arguments), env=env, catch_exceptions=False)


# -- the verdict at the point ------------------------------------------------------------

# (expression, point, expect, order, partial, formula's value there, status, category,
#  equivalent)
VERDICTS = [
    # d/dx x**3 = 3*x**2 = 12 at x=2.
    ("x**3", "x=2", "3*x**2", 1, ("x",), 12.0, Status.PASS, Category.OK, True),
    # The same function written otherwise: x*3*x.
    ("x**3", "x=2", "x*3*x", 1, ("x",), 12.0, Status.PASS, Category.OK, True),
    # Forgot the power rule's exponent drop: 3*x = 6, not 12.
    ("x**3", "x=2", "3*x", 1, ("x",), 6.0, Status.FAIL, Category.EXPECTED_MISMATCH, False),
    # x**2 + 8 = 12 at x=2 too, but it is another function.
    ("x**3", "x=2", "x**2 + 8", 1, ("x",), 12.0, Status.WARN,
     Category.EXPECTED_NOT_EQUIVALENT, False),
    # d2/dx2 x**3 = 6*x = 6 at x=1.
    ("x**3", "x=1", "6*x", 2, ("x", "x"), 6.0, Status.PASS, Category.OK, True),
    # The first derivative given for the second: 3*x**2 = 3 at x=1, not 6.
    ("x**3", "x=1", "3*x**2", 2, ("x", "x"), 3.0, Status.FAIL, Category.EXPECTED_MISMATCH, False),
    # d/dx sin(x)**2 = 2*sin(x)*cos(x) = sin(2*x): sin(0.6) at x=0.3.
    ("sin(x)**2", "x=0.3", "sin(2*x)", 1, ("x",), 0.5646424733950354, Status.PASS, Category.OK,
     True),
    # d/dx sqrt(x) = 1/(2*sqrt(x)) = 1 at x=1/4.
    ("sqrt(x)", "x=1/4", "1/(2*sqrt(x))", 1, ("x",), 1.0, Status.PASS, Category.OK, True),
    # A formula outside its real domain where the derivative is real: log(x - 3) at x=2.
    ("x**2", "x=2", "4 + log(x - 3)", 1, ("x",), None, Status.FAIL, Category.EXPECTED_MISMATCH,
     False),
]


@pytest.mark.parametrize(("expression", "point", "expect", "order", "wrt", "value", "status",
                          "category", "equivalent"), VERDICTS)
def test_the_expected_derivative_is_judged_against_the_exact_one(
        expression: str, point: str, expect: str, order: int, wrt: tuple[str, ...],
        value: float | None, status: Status, category: Category, equivalent: bool) -> None:
    result = check(expression, point, expect=expect, order=order)
    expected = expected_of(result, wrt)
    assert expected.formula == expect
    if value is None:
        assert expected.value is None
    else:
        assert expected.value == pytest.approx(value, rel=1e-15)
    assert (expected.status, expected.category, expected.equivalent) == \
        (status, category, equivalent)
    # The check rolls up: it is as bad as its expected comparison, with that one's reason.
    assert result.status is status
    if status is not Status.PASS:
        assert result.category is category
        assert result.message == expected.message


def test_a_mismatch_says_both_values() -> None:
    expected = expected_of(check("x**3", "x=2", expect="3*x"), ("x",))
    assert expected.message == "your derivative in x, 3*x, is 6 here, and the exact one is 12"
    assert expected.proof == "differs at the point"


def test_agreeing_only_at_the_point_names_a_point_where_they_differ() -> None:
    # At x=3: x**2 + 8 = 17, and 3*x**2 = 27.
    expected = expected_of(check("x**3", "x=2", expect="x**2 + 8"), ("x",))
    assert expected.message == ("your derivative in x, x**2 + 8, agrees at the point (12) but is "
                                "not the same function: at x=3 it gives 17, and the exact "
                                "derivative 27")
    assert expected.proof == "counterexample at x=3"


def test_a_proof_that_sympy_cannot_give_falls_back_to_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck_cli.engine import expect

    monkeypatch.setattr(expect, "_proved_zero", lambda difference: None)
    # 3*x**2 against itself: equal at the 4 points next to x=2 (3, 1, 4, 1) and at the
    # 20 random ones, all inside the domain of a polynomial.
    expected = expected_of(check("x**3", "x=2", expect="3*x**2"), ("x",))
    assert (expected.status, expected.equivalent, expected.proof) == \
        (Status.PASS, True, "numeric at 24 points")
    # And a difference is still found by the numbers: at x=3, 17 against 27.
    expected = expected_of(check("x**3", "x=2", expect="x**2 + 8"), ("x",))
    assert (expected.status, expected.equivalent, expected.proof) == \
        (Status.WARN, False, "counterexample at x=3")


def test_points_outside_the_domain_are_not_counterexamples() -> None:
    # d/dx log(x) = 1/x; 1/abs(x) is the same for x > 0, the whole domain of log, and
    # differs only where log has no real value. No point near x=2 tells them apart, and
    # SymPy cannot prove 1/abs(x) - 1/x zero (it is not, for x < 0): a numeric verdict.
    expected = expected_of(check("log(x)", "x=2", expect="1/abs(x)"), ("x",))
    assert expected.status is Status.PASS
    assert expected.equivalent is True
    assert expected.proof is not None and expected.proof.startswith("numeric at ")


def test_the_dtype_does_not_loosen_the_comparison_of_two_exact_values() -> None:
    # 3*x**2 + 1e-5 is 12.00001 at x=2: within float32's tolerance of 12 (1e-6 + 1e-5*12),
    # not within float64's (1e-12 + 1e-7*12), and both sides are exact.
    expected = expected_of(check("x**3", "x=2", expect="3*x**2 + 1e-5", dtype="float32"), ("x",))
    assert expected.status is Status.FAIL
    assert expected.value == pytest.approx(12.00001, rel=1e-15)


def test_beyond_float64_the_values_are_compared_by_their_certified_digits() -> None:
    # e**1000 = 1.97007111401704699...e434 (mpmath at 40 digits); twice it 3.94014222803409...e434.
    # Both are inf in float64, and still not the same number.
    expected = expected_of(check("exp(x)", "x=1000", expect="2*exp(x)"), ("x",))
    assert (expected.status, expected.category) == (Status.FAIL, Category.EXPECTED_MISMATCH)
    assert expected.message == ("your derivative in x, 2*exp(x), is 3.94014222803409e+434 here, "
                                "and the exact one is 1.97007111401705e+434")
    assert expected_of(check("exp(x)", "x=1000", expect="exp(x)"), ("x",)).status is Status.PASS


def test_at_a_kink_the_formula_cannot_be_checked_at_the_point() -> None:
    # d/dx abs(x) does not exist at 0; sign(x) is the derivative everywhere else.
    result = check("abs(x)", "x=0", expect="sign(x)")
    expected = expected_of(result, ("x",))
    assert (expected.status, expected.category, expected.equivalent) == \
        (Status.WARN, Category.NOT_DIFFERENTIABLE, True)
    assert expected.value == 0.0


# -- several variables -------------------------------------------------------------------


def test_each_variable_gets_its_own_formula() -> None:
    # x**2*y at (1, 2): d/dx = 2*x*y = 4, d/dy = x**2 = 1.
    result = check("x**2*y", "x=1,y=2", expect={"x": "2*x*y", "y": "x**2"})
    assert result.status is Status.PASS
    assert expected_of(result, ("x",)).value == 4.0
    assert expected_of(result, ("y",)).value == 1.0


def test_a_bare_formula_is_for_the_one_variable_of_wrt() -> None:
    # --wrt y: d/dy x**2*y = x**2 = 1 at (1, 2); 2*x*y (the x-derivative) is 4.
    assert expected_of(check("x**2*y", "x=1,y=2", wrt="y", expect="x**2"), ("y",)).status \
        is Status.PASS
    assert expected_of(check("x**2*y", "x=1,y=2", wrt="y", expect="2*x*y"), ("y",)).status \
        is Status.FAIL


def test_a_variable_without_a_formula_has_none() -> None:
    result = check("x**2*y", "x=1,y=2", expect=["y=x**2"])
    (dx,) = [d for d in result.derivatives if d.wrt == ("x",)]
    assert dx.expected is None
    assert expected_of(result, ("y",)).status is Status.PASS


def test_a_wrong_partial_among_right_ones_fails_the_check() -> None:
    # d/dy x**2*y = x**2 = 1 at (1, 2); 2*x is 2.
    result = check("x**2*y", "x=1,y=2", expect=["x=2*x*y", "y=2*x"])
    assert expected_of(result, ("x",)).status is Status.PASS
    assert expected_of(result, ("y",)).status is Status.FAIL
    assert (result.status, result.category) == (Status.FAIL, Category.EXPECTED_MISMATCH)


def test_every_point_is_judged() -> None:
    # x**2 + 8 agrees with 3*x**2 at x=2 only (and at x=-2); at x=1 it is 9 against 3.
    results = check_points("x**3", ["x=2", "x=1"], expect="x**2 + 8")
    assert [expected_of(r, ("x",)).status for r in results] == [Status.WARN, Status.FAIL]


# -- refused input -----------------------------------------------------------------------

# (expression, point, expect, keyword options, category, message, error text, column)
REFUSED: list[tuple[str, str, Any, dict[str, Any], Category, str, str | None, int | None]] = [
    ("x**3", "x=2", "3*z**2", {}, Category.UNKNOWN_VARIABLE,
     "--expect 3*z**2: 'z' at column 3 is not a variable of the expression (its variables: x)",
     "3*z**2", 3),
    ("x**2*y", "x=1,y=2", ["x=2*x*z"], {}, Category.UNKNOWN_VARIABLE,
     "--expect x=2*x*z: 'z' at column 7 is not a variable of the expression (its variables: x, y)",
     "x=2*x*z", 7),
    ("x**3", "x=2", "3x**2", {}, Category.PARSE_ERROR,
     "--expect 3x**2: '3x' at column 1 is not an expression; did you mean 3*x?", "3x**2", 1),
    ("x**3", "x=2", "x=3x**2", {}, Category.PARSE_ERROR,
     "--expect x=3x**2: '3x' at column 3 is not an expression; did you mean 3*x?", "x=3x**2", 3),
    ("x**3", "x=2", "__import__('os').system('true')", {}, Category.PARSE_ERROR,
     "--expect __import__('os').system('true'): only plain function names can be called; "
     "'__import__('os').system' at column 1 is not one", "__import__('os').system('true')", 1),
    ("x**3", "x=2", "__import__(x)", {}, Category.UNKNOWN_FUNCTION,
     "--expect __import__(x): unknown function '__import__' at column 1; 'gradcheck "
     "--functions' lists the supported ones", "__import__(x)", 1),
    ("x**3", "x=2", "x.real", {}, Category.PARSE_ERROR,
     "--expect x.real: attribute access ('.') not allowed at column 1: only numbers, variables, "
     "+ - * / ** and supported functions are allowed", "x.real", 1),
    ("x**2*y", "x=1,y=2", "2*x*y", {}, Category.BAD_OPTION,
     "--expect 2*x*y: this check differentiates by several variables (x, y), so say which "
     "derivative it is, as --expect VAR=FORMULA (e.g. --expect x=2*x*y)", None, None),
    ("x**2*y", "x=1,y=2", ["y=x**2"], {"wrt": "x"}, Category.UNKNOWN_VARIABLE,
     "--expect y=x**2: y is not differentiated here (--wrt x)", "y=x**2", 1),
    ("x**2*y", "x=1,y=2", ["z=x**2"], {}, Category.UNKNOWN_VARIABLE,
     "--expect z=x**2: z is not a variable of the expression (its variables: x, y)", "z=x**2", 1),
    ("x**2*y", "x=1,y=2", ["x=2*x*y", "x=2*x*y"], {}, Category.REPEATED_VARIABLE,
     "--expect gives the derivative in x twice", None, None),
    ("x**2*y", "x=1,y=2", ["x=2*y"], {"order": 2}, Category.BAD_OPTION,
     "--expect with --order 2 needs a single variable differentiated, and this check "
     "differentiates by x, y: choose one with --wrt", None, None),
    ("sum(x**2)", "x=[1, 2]", "2*x", {}, Category.BAD_OPTION, None, None, None),
    ("2", None, "0", {}, Category.BAD_OPTION,
     "--expect 0: the expression has no variable to differentiate", None, None),
    ("x**3", "x=2", {"x": 3}, {}, Category.BAD_OPTION, None, None, None),
    ("x**3", "x=2", 3, {}, Category.BAD_OPTION, None, None, None),
]


@pytest.mark.parametrize(("expression", "point", "expect", "options", "category", "message",
                          "text", "column"), REFUSED)
def test_refused_formulas_are_input_errors(
        expression: str, point: str | None, expect: Any, options: dict[str, Any],
        category: Category, message: str | None, text: str | None, column: int | None) -> None:
    result = check(expression, point, expect=expect, **options)
    assert result.is_input_error
    assert result.category is category
    if message is not None:
        assert result.message == message
    assert (result.error_text, result.column) == (text, column)


def test_tensor_variables_are_refused_in_words() -> None:
    result = check("sum(x**2)", {"x": [1, 2]}, expect="2*x")
    assert result.message is not None and "scalar variables only" in result.message


# -- output and the command line -----------------------------------------------------------


def test_json_carries_the_expected_comparison() -> None:
    outcome = invoke("x**3", "--expect", "x**2 + 8", "--at", "x=2", "--format", "json")
    assert outcome.exit_code == 0
    document = json.loads(outcome.stdout)
    (record,) = document["checks"][0]["derivatives"]
    assert record["expected"] == {
        "formula": "x**2 + 8", "value": 12.0, "status": "warn",
        "category": "expected_not_equivalent", "equivalent": False,
        "proof": "counterexample at x=3",
        "message": "your derivative in x, x**2 + 8, agrees at the point (12) but is not the "
                   "same function: at x=3 it gives 17, and the exact derivative 27"}
    assert document["checks"][0]["category"] == "expected_not_equivalent"


def test_json_has_no_expected_key_without_expect() -> None:
    outcome = invoke("x**3", "--at", "x=2", "--format", "json")
    assert "expected" not in json.loads(outcome.stdout)["checks"][0]["derivatives"][0]


# (arguments, exit code)
EXIT_CODES = [
    (["x**3", "--expect", "3*x**2", "--at", "x=2"], 0),
    (["x**3", "--expect", "x**2 + 8", "--at", "x=2"], 0),          # a warning
    (["x**3", "--expect", "3*x", "--at", "x=2"], 1),
    (["x**2*y", "--expect", "x=2*x*y", "--expect", "y=x**2", "--at", "x=1,y=2"], 0),
    (["x**2*y", "--expect", "x=2*x*y", "--expect", "y=x", "--at", "x=1,y=2"], 0),
    (["x**2*y", "--expect", "x=2*x*y", "--expect", "y=2", "--at", "x=1,y=2"], 1),
    (["x**3", "--expect", "6*x", "--order", "2", "--at", "x=1"], 0),
    (["x**3", "--expect", "3*z**2", "--at", "x=2"], 2),
    (["x**3", "--expect", "3x**2", "--at", "x=2"], 2),
    (["x**2*y", "--expect", "2*x*y", "--at", "x=1,y=2"], 2),
    (["--file", "examples.txt", "--expect", "2*x"], 2),
    (["x**3", "--expect", "3*x", "--at", "x=2", "--format", "junit"], 1),
]


@pytest.mark.parametrize(("arguments", "code"), EXIT_CODES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else str(v))
def test_exit_codes(arguments: list[str], code: int) -> None:
    outcome = invoke(*arguments)
    assert outcome.exit_code == code, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr


def test_the_table_shows_each_expected_formula_and_the_reason() -> None:
    outcome = invoke("x**3", "--expect", "3*x", "--at", "x=2")
    lines = outcome.stdout.splitlines()
    assert "  ∂/∂x  expected 3*x = 6   ✗ fail   not equivalent (differs at the point)" in lines
    assert "  ∂/∂x expected: your derivative in x, 3*x, is 6 here, and the exact one is 12" \
        in lines


def test_a_refused_formula_shows_a_caret() -> None:
    outcome = invoke("x**3", "--expect", "3*z**2", "--at", "x=2")
    assert outcome.exit_code == 2
    # The caret is under z, the formula's third character.
    assert (outcome.stdout + outcome.stderr).splitlines()[-2:] == ["  3*z**2", "    ^"]


def test_expect_with_file_is_a_usage_error() -> None:
    outcome = invoke("--file", "examples.txt", "--expect", "2*x")
    assert "--expect applies to a single expression" in outcome.stderr


def test_junit_fails_a_check_whose_expected_derivative_is_wrong() -> None:
    outcome = invoke("x**3", "--expect", "3*x", "--at", "x=2", "--format", "junit")
    assert "<failure" in outcome.stdout
    assert "expected_mismatch" in outcome.stdout


def test_a_derivative_record_defaults_to_no_expected() -> None:
    derivative = check("x**2", "x=1").derivatives[0]
    assert isinstance(derivative, Derivative) and derivative.expected is None
