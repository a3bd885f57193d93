"""The pytest plugin (gradcheck_cli/pytest_plugin.py), run by pytest's own ``pytester``.

Each test writes a small project in a temporary directory (check files, an ini file) and
runs pytest on it: in this process where that is enough, in a fresh one where what is
loaded or xdist's workers matter. The check files live only there: no file under tests/
is a ``*.gradcheck`` file, so the project's own run collects none.

The verdicts the check files expect are the mathematics', worked out by hand:

- ``x**2 @ x=3``: 9 and 6, passes; ``x**2 @ x=1 @ x=2``: two points, both pass.
- ``abs(x) @ x=0``: a kink (one-sided derivatives -1 and 1): a warning, not a failure.
- ``x*sqrt(x) @ x=0``: d/dx = 3*sqrt(x)/2 = 0, but autograd multiplies x = 0 by
  sqrt's backward 1/(2*sqrt(0)) = inf: nan, a failure.
- ``sin(x @ x=1``: unbalanced parentheses, refused.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from importlib.util import find_spec
from pathlib import Path

import pytest

from gradcheck_cli.limits import MAX_LINE_BYTES

pytest_plugins = ["pytester"]

CHECKS = """\
# a check file: one item per point
x**2 @ x=3
abs(x) @ x=0
x*sqrt(x) @ x=0   # fails: nan
sin(x @ x=1
x**2 @ x=1 @ x=2
"""

#: Node ids of CHECKS, in order, with their outcome.
NODES = [
    ("checks.gradcheck::line 2: x**2 @ x=3", "passed"),
    ("checks.gradcheck::line 3: abs(x) @ x=0", "passed"),
    ("checks.gradcheck::line 4: x*sqrt(x) @ x=0", "failed"),
    ("checks.gradcheck::line 5: sin(x @ x=1", "failed"),
    ("checks.gradcheck::line 6: x**2 @ x=1", "passed"),
    ("checks.gradcheck::line 6: x**2 @ x=2", "passed"),
]

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True, scope="module")
def _engine_loaded() -> None:
    """SymPy and torch loaded in this process before any in-process run.

    ``pytester.runpytest`` puts ``sys.modules`` back as it was after each run: modules
    first imported during a run are dropped, and torch imported a second time crashes.
    """
    from gradcheck_cli.check import load_evaluation

    load_evaluation()


def outcomes_by_node(result: pytest.RunResult) -> list[tuple[str, str]]:
    """(node id, outcome) from ``-rA``'s short summary, in the order of NODES."""
    found = {node: outcome.lower() for outcome, node in
             re.findall(r"^(PASSED|FAILED) (checks\.gradcheck::line \d+: .*?)(?: - .*)?$",
                        result.stdout.str(), flags=re.MULTILINE)}
    return [(node, found.get(node, "missing")) for node, _ in NODES]


def test_outcomes_and_counts(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=4, failed=2, warnings=1)
    assert outcomes_by_node(result) == NODES
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_node_ids_select_with_k(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [node for node, _ in NODES]
    chosen = pytester.runpytest("-p", "no:cacheprovider", "-k", "abs or sqrt")
    chosen.assert_outcomes(passed=1, failed=1, deselected=4, warnings=1)


def test_a_warning_names_its_category_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "abs")
    result.assert_outcomes(passed=1, warnings=1, deselected=5)
    result.stdout.fnmatch_lines(["*checks.gradcheck:3: GradcheckWarning: not_differentiable: "
                                 "not differentiable here (abs(x) has a kink)*"])


def test_the_failure_shows_the_plain_report(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "sqrt or sin")
    result.assert_outcomes(failed=2, deselected=4)
    text = result.stdout.str()
    assert not ANSI.search(text)
    # The table and the reason, as the command line prints them.
    result.stdout.fnmatch_lines([
        "*_ line 4: x*sqrt(x) @ x=0 _*",
        "x*sqrt(x)  at  x = 0  (checks.gradcheck:4)",
        "*3*sqrt(x)/2*0*nan*fail*",
        "*autograd gives nan, but the exact derivative in x is 0*",
        "1 check: 1 fail",
    ])
    # The refused line: its own failure, with the parser's message.
    result.stdout.fnmatch_lines(["*_ line 5: sin(x @ x=1 _*",
                                 "error (parse_error): unbalanced parentheses*"])
    # No traceback of pytest's or gradcheck's internals.
    assert "Traceback" not in text
    assert "pytest_plugin.py" not in text
    assert "CheckFailedError" not in text


def test_a_refusal_shows_its_caret(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks="x @ x=1 ; rtol=abc\nx**2 @ x=2\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*rtol=abc at column 16 is not a tolerance*",
                                 "  x @ x=1 ; rtol=abc",
                                 " " * 17 + "^"])


def test_a_broken_file_does_not_stop_the_others(pytester: pytest.Pytester) -> None:
    long_line = b"x + " * (MAX_LINE_BYTES // 4 + 1) + b"x @ x=1"
    pytester.path.joinpath("binary.gradcheck").write_bytes(
        b"x**2 @ x=3\n\x00\xff\xfe\n\xff @ x=1\n" + long_line + b"\n")
    pytester.makefile(".gradcheck", good="x**3 @ x=2\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["*NUL byte at column 1*", "*not valid UTF-8 (byte 0xff at column 1)*",
                                 f"*the line is {len(long_line):,} bytes long; the limit is "
                                 f"MAX_LINE_BYTES = {MAX_LINE_BYTES:,}*"])
    result.stdout.fnmatch_lines([f"FAILED binary.gradcheck::line 4: x + x + *... ({len(long_line):,} "
                                 f"bytes > {MAX_LINE_BYTES:,})*"])
    result.stdout.fnmatch_lines(["PASSED good.gradcheck::line 1: x**3 @ x=2"])


def test_a_file_without_checks_fails(pytester: pytest.Pytester) -> None:
    # As --file refuses one: a mistyped or emptied check file must not pass as "0 checks".
    pytester.makefile(".gradcheck", empty="# only a comment\n\n   \n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["no checks in empty.gradcheck: every line is blank or a comment "
                                 "(a check is a line such as 'x**2 @ x=3')",
                                 "FAILED empty.gradcheck::no checks - no checks in empty.gradcheck*"])
    assert "Traceback" not in result.stdout.str()


def test_gradcheck_files_collects_other_names(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngradcheck_files = examples.txt docs/*.checks\n")
    pytester.makefile(".txt", examples="# like examples.txt\n5*(x+1)**2 @ x=1\n", notes="x @ x=1\n")
    pytester.mkdir("docs").joinpath("more.checks").write_text("exp(x) @ x=0 @ x=1\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    assert sorted(line for line in result.outlines if "::" in line) == [
        "docs/more.checks::line 1: exp(x) @ x=0",
        "docs/more.checks::line 1: exp(x) @ x=1",
        "examples.txt::line 2: 5*(x+1)**2 @ x=1",
    ]
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_ini_dtype_and_tolerance_change_the_outcome(pytester: pytest.Pytester) -> None:
    # float32 cannot hold e to 1e-12: its nearest value is 8.3e-8 away.
    assert abs(float.fromhex("0x1.5bf0a8p+1") - math.e) > 1e-8
    checks = "exp(x) @ x=1\nexp(x) @ x=1 ; dtype=float64\n"
    pytester.makefile(".gradcheck", checks=checks)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.makeini("[pytest]\ngradcheck_dtype = float32\ngradcheck_rtol = 1e-12\n"
                     "gradcheck_atol = 0\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    # The line's own dtype wins over the ini file's; the ini's tolerance still applies.
    result.assert_outcomes(passed=1, failed=1)
    assert "PASSED checks.gradcheck::line 2: exp(x) @ x=1" in result.outlines
    assert any(line.startswith("FAILED checks.gradcheck::line 1: exp(x) @ x=1 - ")
               for line in result.outlines)
    result.stdout.fnmatch_lines(["*float32 rounding*"])


@pytest.mark.parametrize(("option", "value", "message"), [
    ("gradcheck_rtol", "-1", "gradcheck_rtol = '-1' is not a finite number >= 0"),
    ("gradcheck_atol", "lots", "gradcheck_atol = 'lots' is not a finite number >= 0"),
    ("gradcheck_rtol", "nan", "gradcheck_rtol = 'nan' is not a finite number >= 0"),
    ("gradcheck_dtype", "float8", "gradcheck_dtype = 'float8' is not a dtype that gradcheck "
                                  "computes in: choose float64, float32, float16, bfloat16"),
    ("gradcheck_timeout", "0", "gradcheck_timeout = '0' is not a number of seconds > 0"),
    ("gradcheck_timeout", "inf", "gradcheck_timeout = 'inf' is not a number of seconds > 0"),
])
def test_a_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester, option: str, value: str,
                                          message: str) -> None:
    pytester.makeini(f"[pytest]\n{option} = {value}\n")
    pytester.makefile(".gradcheck", checks="x**2 @ x=3\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: ini option {message}*"])
    assert "Traceback" not in result.stderr.str()


def test_no_gradcheck_collects_nothing(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:gradcheck")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.assert_outcomes()


#: A conftest that records, at the end of the session, which heavy modules pytest's own
#: process has loaded.
LOADED = """\
import sys
from pathlib import Path

def pytest_sessionfinish(session):
    heavy = [name for name in ("torch", "sympy", "mpmath", "rich") if name in sys.modules]
    Path("loaded.txt").write_text(" ".join(heavy) or "none")
"""


def test_startup_loads_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOADED)
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "gradcheck" in result.stdout.str()  # the plugin was loaded: "plugins: ... gradcheck"
    assert (pytester.path / "loaded.txt").read_text() == "none"


def test_a_timeout_runs_the_checks_in_a_worker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOADED)
    pytester.makeini("[pytest]\ngradcheck_timeout = 60\n")
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=4, failed=2, warnings=1)
    assert outcomes_by_node(result) == NODES
    # The checks ran, and not in pytest's process: that one never loaded SymPy or torch
    # (rich it does: the failures' tables are drawn with it).
    loaded = (pytester.path / "loaded.txt").read_text().split()
    assert not {"torch", "sympy", "mpmath"} & set(loaded), loaded


@pytest.mark.skipif(find_spec("xdist") is None, reason="pytest-xdist is not installed "
                    "(pip install -e '.[test]')")
def test_xdist_gives_the_same_outcomes(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-rA")
    result.assert_outcomes(passed=4, failed=2, warnings=1)
    assert outcomes_by_node(result) == NODES


def test_junitxml_is_readable(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    report = pytester.path / "report.xml"
    pytester.runpytest("-p", "no:cacheprovider", f"--junitxml={report}")
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "2", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == [node.split("::", 1)[1] for node, _ in NODES]
    failure = cases["line 4: x*sqrt(x) @ x=0"].find("failure")
    assert failure is not None
    assert "autograd gives nan, but the exact derivative in x is 0" in (failure.text or "")
    assert cases["line 2: x**2 @ x=3"].find("failure") is None


def test_last_failed_reruns_only_the_failures(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    pytester.runpytest()
    again = pytester.runpytest("--lf", "-rA")
    # pytest 9 filters at collection: the items that passed are not collected at all.
    outcomes = again.parseoutcomes()
    assert outcomes["failed"] == 2
    assert "passed" not in outcomes
    assert [line.split(" - ")[0] for line in again.outlines if line.startswith("FAILED")] == [
        f"FAILED {node}" for node, outcome in NODES if outcome == "failed"]


def test_stop_at_the_first_failure(pytester: pytest.Pytester) -> None:
    pytester.makefile(".gradcheck", checks=CHECKS)
    pytester.runpytest("-p", "no:cacheprovider", "-x").assert_outcomes(passed=2, failed=1,
                                                                       warnings=1)


def test_no_check_file_under_tests() -> None:
    # The plugin is active in this project's own run: a stray check file would be collected.
    assert not list(Path(__file__).parent.rglob("*.gradcheck"))
