"""The CI formats: JSON Lines, JUnit XML and GitHub workflow annotations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from gradcheck_cli.render import REPORTERS, OutputFormat, Style
from gradcheck_cli.render.github import annotation, escape_data, escape_property, render_github
from gradcheck_cli.render.json import check_record
from gradcheck_cli.render.jsonl import record_line, render_jsonl, summary_line
from gradcheck_cli.render.junit import render_junit, xml_text
from gradcheck_cli.results import CheckResult, Comparison, Derivative, Status

Invoke = Callable[..., Result]


def comparison(status: Status = Status.PASS, category: str = "ok", message: str | None = None,
               symbolic: float = 2.0, autograd: float = 2.0) -> Comparison:
    return Comparison(symbolic=symbolic, autograd=autograd, abs_diff=abs(symbolic - autograd),
                      rel_diff=abs(symbolic - autograd) / abs(symbolic), status=status,
                      category=category, message=message)


def result(status: Status, category: str = "ok", message: str | None = None, *,
           expression: str = "x**2", source: str | None = "checks.txt:3",
           point: tuple[tuple[str, float], ...] = (("x", 1.0),)) -> CheckResult:
    derivative = Derivative(**comparison(status if status is not Status.ERROR else Status.PASS,
                                         category, message, 2.0,
                                         2.5 if status is Status.FAIL else 2.0).__dict__,
                            wrt=("x",), formula="2*x")
    computed = status is not Status.ERROR
    return CheckResult(expression=expression, point=point if computed else (), status=status,
                       category=category, message=message,
                       value=comparison() if computed else None,
                       derivatives=(derivative,) if computed else (), source=source)


PASSED = result(Status.PASS)
WARNED = result(Status.WARN, "not_differentiable", "a kink: one-sided derivatives -1 and 1",
                expression="abs(x)", source="checks.txt:4")
FAILED = result(Status.FAIL, "mismatch", "autograd gives 2.5, the exact derivative is 2",
                expression="x**2", source="checks.txt:5")
ERRORED = result(Status.ERROR, "parse_error", "unknown function 'foo' at column 1",
                 expression="foo(x)", source="checks.txt:6")
ALL = [PASSED, WARNED, FAILED, ERRORED]


def test_every_format_has_a_renderer() -> None:
    assert {OutputFormat.JSONL, OutputFormat.JUNIT, OutputFormat.GITHUB} <= set(REPORTERS)
    for output_format in (OutputFormat.JSONL, OutputFormat.JUNIT, OutputFormat.GITHUB):
        assert REPORTERS[output_format].report(ALL, Style()).endswith("\n")


# -- JSON Lines -----------------------------------------------------------------------------


def test_jsonl_is_one_record_per_check_then_the_summary() -> None:
    lines = render_jsonl(ALL).splitlines()
    assert len(lines) == 5
    assert [json.loads(line) for line in lines[:4]] == \
        [json.loads(json.dumps(check_record(r))) for r in ALL]
    assert json.loads(lines[4]) == {"summary": {"total": 4, "pass": 1, "warn": 1, "fail": 1,
                                                "error": 1}}
    assert render_jsonl(ALL) == "".join(record_line(r) for r in ALL) + summary_line(ALL)


def test_jsonl_is_strict_json_with_non_finite_numbers() -> None:
    odd = CheckResult(expression="1/x", point=(("x", 0.0),), status=Status.WARN,
                      category="pole", message="inf", value=comparison(Status.WARN, "pole", None,
                                                                       float("inf"), float("nan")))
    line = record_line(odd)
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line)["value"] == {"symbolic": "inf", "autograd": "nan"}


# -- JUnit ----------------------------------------------------------------------------------


def test_junit_counts_and_testcases() -> None:
    root = ET.fromstring(render_junit(ALL))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == \
            ("4", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["x**2 @ x=1", "abs(x) @ x=1", "x**2 @ x=1",
                                              "foo(x)"]
    assert {c.get("classname") for c in cases} == {"checks.txt"}
    assert [c.get("line") for c in cases] == ["3", "4", "5", "6"]
    passed, warned, failed, errored = cases
    assert list(passed) == []
    (note,) = list(warned)
    assert note.tag == "system-out" and "not_differentiable" in (note.text or "")
    (failure,) = list(failed)
    assert failure.tag == "failure" and failure.get("type") == "mismatch"
    assert failure.get("message") == FAILED.message
    assert "symbolic 2, autograd 2.5" in (failure.text or "")
    (error,) = list(errored)
    assert error.tag == "error" and error.get("type") == "parse_error"
    assert "unknown function 'foo'" in (error.get("message") or "")


def test_junit_without_a_source_uses_a_default_classname() -> None:
    root = ET.fromstring(render_junit([result(Status.PASS, source=None)]))
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("classname") == "gradcheck" and case.get("file") is None


def test_junit_survives_characters_xml_cannot_hold() -> None:
    nasty = result(Status.ERROR, "encoding", "NUL \x00 and ESC \x1b and <&> \"quotes\"\nnewline",
                   expression="x\x00\x1b<y>&", source="a&b.txt:1")
    root = ET.fromstring(render_junit([nasty]))
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == "x\\x00\\x1b<y>&"
    assert case.get("classname") == "a&b.txt"
    error = case.find("error")
    assert error is not None
    assert error.get("message") == "NUL \\x00 and ESC \\x1b and <&> \"quotes\"\nnewline"
    assert xml_text("fine: ü π 😀 \t") == "fine: ü π 😀 \t"


def test_junit_of_nothing_is_an_empty_suite() -> None:
    root = ET.fromstring(render_junit([]))
    assert root.get("tests") == "0" and root.findall("testsuite/testcase") == []


# -- GitHub annotations ------------------------------------------------------------------------


def test_github_annotates_each_line_that_did_not_pass() -> None:
    lines = render_github(ALL).splitlines()
    assert lines == [
        "::warning file=checks.txt,line=4::gradcheck warn (not_differentiable): abs(x) @ x=1: "
        "a kink: one-sided derivatives -1 and 1",
        "::error file=checks.txt,line=5::gradcheck fail (mismatch): x**2 @ x=1: autograd gives "
        "2.5, the exact derivative is 2",
        "::error file=checks.txt,line=6::gradcheck error (parse_error): foo(x): unknown function "
        "'foo' at column 1",
        "gradcheck: 4 checks: 1 pass, 1 warn, 1 fail, 1 error",
    ]
    assert annotation(PASSED) is None


def test_github_escapes_data_and_properties() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("dir,1/a:b%.txt") == "dir%2C1/a%3Ab%25.txt"
    odd = result(Status.FAIL, "mismatch", "line one\nline two: 50%", source="we,ird:na me.txt:9")
    line = annotation(odd)
    assert line == ("::error file=we%2Cird%3Ana me.txt,line=9::gradcheck fail (mismatch): "
                    "x**2 @ x=1: line one%0Aline two: 50%25")
    assert "\n" not in (line or "")


def test_github_without_a_source_has_no_location() -> None:
    line = annotation(result(Status.FAIL, "mismatch", "differs", source=None))
    assert line is not None and line.startswith("::error::gradcheck fail (mismatch)")


# -- end to end -----------------------------------------------------------------------------------


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.txt"
    path.write_text("x**2 @ x=3\nabs(x) @ x=0\nx*sqrt(x) @ x=0\nfoo(x) @ x=1\n"
                    "sin(x) @ x=0 @ x=1\n")
    return path


def test_cli_junit_end_to_end(gradcheck: Invoke, mixed_file: Path) -> None:
    done = gradcheck("--file", str(mixed_file), "--format", "junit")
    assert done.exit_code == 1
    root = ET.fromstring(done.stdout)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")
    cases = root.findall("testsuite/testcase")
    assert [c.get("line") for c in cases] == ["1", "2", "3", "4", "5", "5"]
    assert [[child.tag for child in c] for c in cases] == \
        [[], ["system-out"], ["failure"], ["error"], [], []]


def test_cli_github_end_to_end(gradcheck: Invoke, mixed_file: Path) -> None:
    done = gradcheck("--file", str(mixed_file), "--format", "github")
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert [line.split("::")[1] for line in lines[:-1]] == [
        f"warning file={mixed_file},line=2", f"error file={mixed_file},line=3",
        f"error file={mixed_file},line=4"]
    assert lines[-1] == "gradcheck: 6 checks: 3 pass, 1 warn, 1 fail, 1 error"
