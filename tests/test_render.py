"""Output formats are pure functions of the results: every format is wired in, and the
table and JSON say what the results say."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from gradcheck_cli.render import REPORTERS, OutputFormat, Style
from gradcheck_cli.render.json import number, render_json
from gradcheck_cli.render.table import render_error, render_table
from gradcheck_cli.results import CheckResult, Comparison, Derivative, Status

REASON = "autograd gives nan, but the exact derivative in x is 0"


def strict_json(text: str) -> Any:
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON: {token}"))


def passing() -> CheckResult:
    value = Comparison(symbolic=9.0, autograd=9.0, abs_diff=0.0, rel_diff=0.0, status=Status.PASS,
                       category="ok", message=None)
    derivative = Derivative(symbolic=6.0, autograd=6.0, abs_diff=0.0, rel_diff=0.0,
                            status=Status.PASS, category="ok", message=None, wrt=("x",),
                            formula="2*x")
    return CheckResult(expression="x**2", point=(("x", 3.0),), status=Status.PASS, category="ok",
                       message=None, value=value, derivatives=(derivative,))


def failing() -> CheckResult:
    value = Comparison(symbolic=0.0, autograd=0.0, abs_diff=0.0, rel_diff=0.0, status=Status.PASS,
                       category="ok", message=None)
    derivative = Derivative(symbolic=0.0, autograd=math.nan, abs_diff=math.nan, rel_diff=math.nan,
                            status=Status.FAIL, category="autograd_nan", message=REASON,
                            wrt=("x",), formula="3*sqrt(x)/2")
    return CheckResult(expression="x*sqrt(x)", point=(("x", 0.0),), status=Status.FAIL,
                       category="autograd_nan", message=REASON, value=value,
                       derivatives=(derivative,))


def kink() -> CheckResult:
    value = Comparison(symbolic=0.0, autograd=0.0, abs_diff=0.0, rel_diff=0.0, status=Status.PASS,
                       category="ok", message=None)
    derivative = Derivative(symbolic=None, autograd=0.0, abs_diff=None, rel_diff=None,
                            status=Status.WARN, category="not_differentiable",
                            message="a kink", one_sided=(-1.0, 1.0), wrt=("x",), formula="sign(x)")
    return CheckResult(expression="abs(x)", point=(("x", 0.0),), status=Status.WARN,
                       category="not_differentiable", message="a kink", value=value,
                       derivatives=(derivative,))


def pole() -> CheckResult:
    derivative = Derivative(symbolic=-math.inf, autograd=-math.inf, abs_diff=0.0, rel_diff=0.0,
                            status=Status.WARN, category="pole", message="infinite",
                            wrt=("x",), formula="-1/x**2")
    value = Comparison(symbolic=math.inf, autograd=math.inf, abs_diff=0.0, rel_diff=0.0,
                       status=Status.WARN, category="pole", message="infinite")
    return CheckResult(expression="1/x", point=(("x", 0.0),), status=Status.WARN, category="pole",
                       message="infinite", value=value, derivatives=(derivative,))


def refused() -> CheckResult:
    return CheckResult(expression="y + 2x", point=(), status=Status.ERROR, category="parse_error",
                       message="'2x' at column 5 is not an expression; did you mean 2*x?",
                       error_text="y + 2x", column=5)


def test_every_format_has_a_renderer() -> None:
    assert set(REPORTERS) == set(OutputFormat)
    assert all(REPORTERS[f].format is f for f in OutputFormat)


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_every_renderer_reports_the_failure(output_format: OutputFormat) -> None:
    text = REPORTERS[output_format].report([passing(), failing(), refused()], Style())
    assert isinstance(text, str)
    assert "x*sqrt(x)" in text
    assert REASON in " ".join(text.split())
    assert "did you mean 2*x?" in text


@pytest.mark.parametrize(("value", "expected"), [
    (math.nan, "nan"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (None, None),
    (0.0, 0.0),
    (-2.5, -2.5),
    (1e308, 1e308),
    (5e-324, 5e-324),
])
def test_json_number(value: float | None, expected: float | str | None) -> None:
    assert number(value) == expected
    assert type(number(value)) is type(expected)


def test_json_document() -> None:
    document = strict_json(render_json([passing(), failing(), kink(), pole(), refused()]))
    assert document["version"] == 1
    assert document["summary"] == {"total": 5, "pass": 1, "warn": 2, "fail": 1, "error": 1}
    ok, bad, at_kink, at_pole, error = document["checks"]
    assert ok["value"] == {"symbolic": 9.0, "autograd": 9.0}
    assert ok["derivatives"][0]["wrt"] == ["x"]
    assert bad["derivatives"][0]["autograd"] == "nan"
    assert bad["derivatives"][0]["message"] == REASON
    assert at_kink["derivatives"][0]["symbolic"] is None
    assert at_kink["derivatives"][0]["one_sided"] == {"left": -1.0, "right": 1.0}
    assert at_pole["value"] == {"symbolic": "inf", "autograd": "inf"}
    assert at_pole["derivatives"][0]["symbolic"] == "-inf"
    assert (error["status"], error["category"], error["value"], error["derivatives"]) == (
        "error", "parse_error", None, [])
    assert error["point"] == {}


def test_table_gives_the_reason_of_a_failure() -> None:
    text = render_table([failing()], width=200)
    assert REASON in text
    assert "3*sqrt(x)/2" in text
    assert "nan" in text
    assert "1 check: 1 fail" in text


def test_table_shows_one_sided_derivatives_at_a_kink() -> None:
    text = render_table([kink()], width=200)
    assert "-1 | 1" in text
    assert "1 check: 1 warn" in text


def test_table_summary_counts() -> None:
    text = render_table([passing(), failing(), kink(), refused()], width=200)
    assert text.rstrip().endswith("4 checks: 1 pass, 1 warn, 1 fail, 1 error")


def test_table_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_table([passing(), failing(), refused()], color=False)
    assert "\x1b[" in render_table([passing(), failing(), refused()], color=True)


def test_error_caret_under_the_column() -> None:
    lines = render_error(refused()).splitlines()
    assert lines[0] == "error (parse_error): '2x' at column 5 is not an expression; did you mean 2*x?"
    assert lines[1] == "  y + 2x"
    assert lines[2] == "  " + " " * 4 + "^"


def test_the_legend_says_what_a_dash_means_for_an_exact_value_not_certified() -> None:
    # An uncertain exact value exists but is not shown: the legend must not say that none
    # exists. (A kink's symbolic "-" has one-sided values instead, and no such legend.)
    uncertain = Derivative(symbolic=None, autograd=math.nan, abs_diff=None, rel_diff=None,
                           status=Status.WARN, category="uncertain",
                           message="the exact derivative in x could not be certified",
                           wrt=("x",), formula="exp(x)*exp(exp(x))*cos(exp(exp(x)))")
    result = CheckResult(expression="sin(exp(exp(x)))", point=(("x", 20.0),),
                         status=Status.WARN, category="uncertain", message=None,
                         derivatives=(uncertain,))
    text = " ".join(render_table([result], width=80).split())
    assert "symbolic: - = no exact value to show (the reason says why)" in text
    assert "exists" not in text
