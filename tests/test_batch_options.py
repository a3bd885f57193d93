"""Per-line options in check files (``EXPR @ point ; order=2, wrt=x``) and ``--wrt`` on a
whole file: the spec, as tables.

Values asserted here are derived by hand in the comments, never by the code under test.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from gradcheck_cli.batch import parse_line, read_items, unused_wrt
from gradcheck_cli.check import Request
from gradcheck_cli.errors import InputError
from gradcheck_cli.line_options import LINE_OPTIONS, LineOptions
from gradcheck_cli.results import CheckResult, Status

Invoke = Callable[..., Result]


def item_of(line: str, options: LineOptions | None = None) -> Request | CheckResult:
    item = parse_line(line.encode(), "f.txt:1", options or LineOptions())
    assert item is not None
    return item


def request_of(line: str, options: LineOptions | None = None) -> Request:
    item = item_of(line, options)
    assert isinstance(item, Request), item.message
    return item


# -- what a line may set ------------------------------------------------------------------

#: (line, wrt, order, dtype, rtol, atol): what the line's check runs with.
VALID: list[tuple[str, tuple[str, ...], int, str, float, float]] = [
    ("x**3*y @ x=1, y=2 ; order=2, wrt=x", ("x",), 2, "float64", 1e-7, 1e-12),
    ("x**3*y @ x=1, y=2 ; wrt=y", ("y",), 1, "float64", 1e-7, 1e-12),
    # wrt of several variables: the names after the first are pieces without '='.
    ("x**3*y @ x=1, y=2 ; wrt=y,x, order=2", ("y", "x"), 2, "float64", 1e-7, 1e-12),
    ("x**3*y @ x=1, y=2 ; wrt = y , x", ("y", "x"), 1, "float64", 1e-7, 1e-12),
    # float32's default tolerances come with dtype=float32 (1e-5, 1e-6: docs/reference.md).
    ("exp(x) @ x=1 ; dtype=float32", ("x",), 1, "float32", 1e-5, 1e-6),
    ("exp(x) @ x=1 ; dtype=FLOAT32, rtol=1e-3", ("x",), 1, "float32", 1e-3, 1e-6),
    ("exp(x) @ x=1 ; rtol=0.5, atol=0", ("x",), 1, "float64", 0.5, 0.0),
    ("exp(x) @ x=1 ; atol=.25e-2", ("x",), 1, "float64", 1e-7, 0.0025),
    # Several points before the ';'.
    ("x*y @ x=1, y=2 @ x=3, y=4 ; order=2", ("x", "y"), 2, "float64", 1e-7, 1e-12),
    # Nothing after ';', a trailing comma, no space before ';', a comment after the options.
    ("x*y @ x=1, y=2 ;", ("x", "y"), 1, "float64", 1e-7, 1e-12),
    ("x*y @ x=1, y=2 ; order=2,", ("x", "y"), 2, "float64", 1e-7, 1e-12),
    ("x*y @ x=1, y=2 ; wrt=x,", ("x",), 1, "float64", 1e-7, 1e-12),
    ("x*y @ x=1,y=2; order=3  # a comment ; order=9", ("x", "y"), 3, "float64", 1e-7, 1e-12),
    ("sin(1) ; atol=1e-3", (), 1, "float64", 1e-7, 1e-3),
]


@pytest.mark.parametrize(("line", "wrt", "order", "dtype", "rtol", "atol"), VALID)
def test_a_line_sets_its_own_options(line: str, wrt: tuple[str, ...], order: int, dtype: str,
                                     rtol: float, atol: float) -> None:
    request = request_of(line)
    assert (request.wrt, request.order, request.dtype) == (wrt, order, dtype)
    assert (request.tolerance.rtol, request.tolerance.atol) == (rtol, atol)


def test_vjp_on_a_line_keeps_its_brackets_and_commas() -> None:
    request = request_of("(x+1)**2 @ x=[1, 2] ; vjp=[1, 0], rtol=1e-3")
    assert request.vjp is not None and not isinstance(request.vjp, str)
    assert request.vjp.values == (1.0, 0.0)
    assert request.tolerance.rtol == 1e-3
    assert request_of("(x+1)**2 @ x=[1, 2] ; vjp=ones").vjp == "ones"


def test_a_line_overrides_the_command_line_for_that_line_only() -> None:
    command_line = LineOptions(order=2, dtype="float32", rtol=0.1)
    text = b"x**3*y @ x=1, y=2\nx**3*y @ x=1, y=2 ; order=1, dtype=float64\n"
    first, second = read_items(io.BytesIO(text), "f.txt", command_line)
    assert isinstance(first, Request) and isinstance(second, Request)
    assert (first.order, first.dtype, first.tolerance.rtol) == (2, "float32", 0.1)
    # --rtol 0.1 still holds; atol is float64's default again, as dtype=float64 asks.
    assert (second.order, second.dtype, second.tolerance.rtol) == (1, "float64", 0.1)
    assert second.tolerance.atol == 1e-12


# -- refusals: one line's, with the option named and a caret -------------------------------

#: (line, category, words of the message, the text the caret points at)
REFUSED: list[tuple[str, str, str, str]] = [
    ("x*y @ x=1, y=2 ; ordr=2", "bad_option", "did you mean order?", "ordr=2"),
    ("x*y @ x=1, y=2 ; --order=2", "bad_option", "without the dashes", "--order=2"),
    ("x*y @ x=1, y=2 ; colour=red", "bad_option",
     "a line can set wrt, order, dtype, rtol, atol and vjp", "colour"),
    ("x*y @ x=1, y=2 ; order=2, order=3", "bad_option", "order is set twice", "order=3"),
    ("x*y @ x=1, y=2 ; order=7", "limit", "MAX_ORDER = 4", "7"),
    ("x*y @ x=1, y=2 ; order=0", "limit", "from 1 to MAX_ORDER = 4", "0"),
    ("x*y @ x=1, y=2 ; order=two", "bad_option", "not a whole number", "two"),
    ("x*y @ x=1, y=2 ; order=1.5", "bad_option", "not a whole number", "1.5"),
    ("x*y @ x=1, y=2 ; dtype=float8", "bad_option",
     "choose float64, float32, float16 or bfloat16", "float8"),
    ("x*y @ x=1, y=2 ; rtol=-1", "bad_option", "finite number >= 0", "-1"),
    ("x*y @ x=1, y=2 ; rtol=nan", "bad_option", "finite number >= 0", "nan"),
    ("x*y @ x=1, y=2 ; atol=1e999", "bad_option", "finite number >= 0", "1e999"),
    ("x*y @ x=1, y=2 ; atol=1/2", "bad_option", "finite number >= 0", "1/2"),
    ("x*y @ x=1, y=2 ; wrt=z", "unknown_variable", "its variables: x, y", "z"),
    ("x*y @ x=1, y=2 ; wrt=x,x", "repeated_variable", "names x twice", "x"),
    ("x*y @ x=1, y=2 ; wrt= , y", "parse_error", "wrt names nothing", ", y"),
    ("x*y @ x=1, y=2 ; order=", "bad_option", "has no value", "order="),
    ("x*y @ x=1, y=2 ; 2", "parse_error", "write name=value", "2"),
    ("x*y @ x=1, y=2 ; order=2,, wrt=x", "parse_error", "an empty option", ", wrt"),
    ("x*y @ x=1, y=2 ; order=2 ; wrt=x", "parse_error", "a second ';'", "; wrt"),
    ("(x+1)**2 @ x=[1, 2] ; vjp=[1, foo]", "unknown_variable", "must be a constant", "foo"),
]


@pytest.mark.parametrize(("line", "category", "words", "at"), REFUSED)
def test_a_bad_option_refuses_its_line_with_a_caret(line: str, category: str, words: str,
                                                    at: str) -> None:
    result = item_of(line)
    assert isinstance(result, CheckResult) and result.status is Status.ERROR
    assert result.category == category
    assert words in (result.message or "")
    assert result.error_text == line  # the caret points into the line as written
    # The caret's column: where the text it points at begins, counted from the right
    # (the last occurrence), or the end of the line for a value that is missing.
    expected = line.rindex(at) + 1 if at else len(line) + 1
    assert result.column == expected
    assert f"column {expected}" in (result.message or "")
    assert result.expression == line.split("@")[0].strip()


def test_a_refused_line_costs_no_other_line_its_options() -> None:
    text = (b"x**3*y @ x=1, y=2 ; order=2, wrt=x\n"
            b"x*y @ x=1, y=2 ; ordr=2\n"
            b"x**3*y @ x=1, y=2 ; wrt=y\n")
    first, refused, third = read_items(io.BytesIO(text), "f.txt")
    assert isinstance(refused, CheckResult) and refused.source == "f.txt:2"
    assert isinstance(first, Request) and (first.wrt, first.order) == (("x",), 2)
    assert isinstance(third, Request) and (third.wrt, third.order) == (("y",), 1)


def test_control_characters_in_options_are_escaped_and_the_caret_follows() -> None:
    line = "x**2 @ x=1 ; \x1b[2J=1"
    result = item_of(line)
    assert isinstance(result, CheckResult)
    assert "\x1b" not in (result.message or "") and "\x1b" not in (result.error_text or "")
    assert result.error_text == "x**2 @ x=1 ; \\x1b[2J=1"
    assert result.column == len("x**2 @ x=1 ; ") + 1
    # A control character before the caret moves it by the width of its escape.
    result = item_of("x**2\t @ x=1 ; order=9")
    assert isinstance(result, CheckResult)
    assert result.error_text == "x**2\\t @ x=1 ; order=9"
    assert result.column == len("x**2\\t @ x=1 ; order=") + 1


def test_the_names_line_options_lists_are_what_a_line_accepts() -> None:
    assert set(LINE_OPTIONS) == {"wrt", "order", "dtype", "rtol", "atol", "vjp"}
    for name in LINE_OPTIONS:
        value = {"wrt": "x", "order": "1", "dtype": "float64", "rtol": "1e-7", "atol": "1e-12",
                 "vjp": "ones"}[name]
        point = "x=[1, 2]" if name == "vjp" else "x=1"
        assert isinstance(item_of(f"x**2 @ {point} ; {name}={value}"), Request)


# -- --wrt of a whole file ------------------------------------------------------------------

#: (line, --wrt, the line's wrt): a variable the line does not have is skipped.
WRT_SKIPPED: list[tuple[str, str, tuple[str, ...]]] = [
    ("x*y @ x=1, y=2", "x", ("x",)),
    ("x*z @ x=1, z=2", "y,x", ("x",)),           # in the order --wrt gives
    ("x*y @ x=1, y=2", "y,x", ("y", "x")),
    ("y*z @ y=1, z=2", "x", ()),                  # none of them: its value only
    ("sin(1)", "x", ()),
    ("y*z @ y=1, z=2 ; wrt=z", "x", ("z",)),     # the line's own wrt wins
    ("x*y @ x=1, y=2 ; order=2", "x", ("x",)),
]


@pytest.mark.parametrize(("line", "wrt", "expected"), WRT_SKIPPED)
def test_wrt_of_a_file_skips_the_variables_a_line_lacks(line: str, wrt: str,
                                                       expected: tuple[str, ...]) -> None:
    assert request_of(line, LineOptions(wrt=wrt)).wrt == expected


def test_wrt_of_a_file_that_no_line_has_is_found() -> None:
    items = read_items(io.BytesIO(b"x*y @ x=1, y=2\ny**2 @ y=3\n"), "f.txt")
    assert unused_wrt(items, LineOptions(wrt="x")) == []
    assert unused_wrt(items, LineOptions(wrt="x,z")) == ["z"]
    assert unused_wrt(items, LineOptions()) == []
    # A refused line might have been the one with z, and fails the run anyway.
    items = read_items(io.BytesIO(b"x*y @ x=1, y=2\nz**2 +* 1 @ z=1\n"), "f.txt")
    assert unused_wrt(items, LineOptions(wrt="z")) == []


@pytest.mark.parametrize(("wrt", "category"), [("x,x", "repeated_variable"),
                                               ("1x", "bad_option"), ("x,", "bad_option")])
def test_a_malformed_wrt_of_a_file_is_refused_once(wrt: str, category: str) -> None:
    with pytest.raises(InputError) as raised:
        LineOptions(wrt=wrt).validate()
    assert raised.value.category == category


# -- the command line -------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "checks.txt"
    path.write_text(text)
    return path


def checks_of(result: Result) -> list[dict[str, Any]]:
    return list(json.loads(result.stdout)["checks"])


def test_cli_per_line_options_reach_the_checks(gradcheck: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "x**3*y @ x=1, y=2 ; order=2, wrt=x\n"
                           "x**3*y @ x=1, y=2 ; wrt=y\n"
                           "exp(x) @ x=1 ; dtype=float32\n"
                           "x*y @ x=1, y=2 ; ordr=2\n"
                           "x**2 @ x=3\n")
    result = gradcheck("--file", str(path), "--format", "json")
    assert result.exit_code == 1, result.stdout  # the refused line
    hessian, by_y, single, refused, plain = checks_of(result)
    # d2/dx2 of x^3*y = 6*x*y = 12 at (1, 2): one partial, shown by its wrt.
    assert [(d["wrt"], d["symbolic"], d["autograd"]) for d in hessian["derivatives"]] == \
        [(["x", "x"], 12.0, 12.0)]
    # d/dy of x^3*y = x^3 = 1.
    assert [(d["wrt"], d["symbolic"]) for d in by_y["derivatives"]] == [(["y"], 1.0)]
    # float32: autograd's e is the nearest float32, not float64's e (float32 cannot hold it).
    (derivative,) = single["derivatives"]
    assert derivative["autograd"] != math.e and abs(derivative["autograd"] - math.e) < 3e-7
    assert single["status"] == "pass"
    assert (refused["status"], refused["category"]) == ("error", "bad_option")
    assert refused["source"] == f"{path}:4"
    assert plain["derivatives"][0]["symbolic"] == 6.0


def test_cli_wrt_on_a_file_skips_what_a_line_lacks(gradcheck: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "x*y @ x=2, y=5\ny**2 @ y=3\n")
    result = gradcheck("--file", str(path), "--wrt", "x", "--format", "json")
    assert result.exit_code == 0, result.stdout
    with_x, without_x = checks_of(result)
    # d/dx of x*y = y = 5; the line without x checks its value, 3^2 = 9, and no derivative.
    assert [(d["wrt"], d["symbolic"]) for d in with_x["derivatives"]] == [(["x"], 5.0)]
    assert without_x["derivatives"] == []
    assert without_x["value"] == {"symbolic": 9.0, "autograd": 9.0}
    assert without_x["status"] == "pass"


def test_cli_wrt_that_no_line_of_a_file_has_is_a_usage_error(gradcheck: Invoke,
                                                           tmp_path: Path) -> None:
    path = write(tmp_path, "x*y @ x=2, y=5\ny**2 @ y=3\n")
    result = gradcheck("--file", str(path), "--wrt", "x,z")
    assert result.exit_code == 2
    assert "--wrt names z, which no line of" in result.stderr
    assert result.stdout == ""


def test_cli_a_single_check_still_refuses_an_unknown_wrt(gradcheck: Invoke) -> None:
    result = gradcheck("y**2", "--at", "y=1", "--wrt", "x", "--format", "json")
    assert result.exit_code == 2
    (check,) = checks_of(result)
    assert check["category"] == "unknown_variable"
