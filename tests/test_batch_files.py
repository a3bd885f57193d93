"""Several check files in one batch (``--file`` repeated), and ``gradcheck-files``, the
command of the pre-commit hook (``.pre-commit-hooks.yaml``).

The values asserted are derived by hand: d/dx x**2 = 2x (6 at x=3), d/dx sin(x) = cos(x)
(1 at 0), d/dx exp(x) = exp(x) (1 at 0), d/dx x**3 = 3x**2 (12 at x=2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import Result

from gradcheck_cli.cli import app
from gradcheck_cli.files_cli import as_gradcheck_args

REPO = Path(__file__).resolve().parent.parent
Invoke = Callable[..., Result]

FIRST = "# first\nx**2 @ x=3\n\nsin(x) @ x=0\n"
SECOND = "exp(x) @ x=0\n# a comment\nx**3 @ x=2\n"


def run(*args: str, stdin: str = "", module: str = "gradcheck_cli", cwd: Path = REPO
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False)


def records(text: str) -> list[dict[str, Any]]:
    *found, last = [json.loads(line) for line in text.splitlines()]
    assert "summary" in last
    return found


def values(found: list[dict[str, Any]]) -> list[tuple[str, str, float, float] | tuple[str, str]]:
    """(source, status, value, first derivative) per check; (source, category) for an error."""
    return [(r["source"], r["status"], r["value"]["autograd"], r["derivatives"][0]["autograd"])
            if r["status"] != "error" else (r["source"], r["category"]) for r in found]


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "first.gradcheck", tmp_path / "second.gradcheck"
    first.write_text(FIRST)
    second.write_text(SECOND)
    return first, second


def test_several_files_and_stdin_give_one_report_in_order_each_result_with_its_source(
        two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    done = run("--file", str(first), "--file", "-", "--file", str(second), "--format", "jsonl",
               stdin="x**2 @ x=3\nfoo(x) @ x=1\n")
    assert done.returncode == 1, done.stderr  # the unknown function of standard input
    assert "Traceback" not in done.stderr
    assert values(records(done.stdout)) == [
        (f"{first}:2", "pass", 9.0, 6.0), (f"{first}:4", "pass", 0.0, 1.0),
        ("<stdin>:1", "pass", 9.0, 6.0), ("<stdin>:2", "unknown_function"),
        (f"{second}:1", "pass", 1.0, 1.0), (f"{second}:3", "pass", 8.0, 12.0)]


def test_several_files_all_passing_exit_0_and_the_table_names_each_file(
        two_files: tuple[Path, Path], gradcheck: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(two_files[0].parent)  # short names: a row per check at any width
    done = gradcheck("--file", "first.gradcheck", "--file", "second.gradcheck")
    assert done.exit_code == 0, done.output
    rows = [line.split("│")[0].strip() for line in done.stdout.splitlines() if "│" in line]
    # From several files, the first column is each check's file:line, not a line number.
    assert rows == ["first.gradcheck:2", "first.gradcheck:4", "second.gradcheck:1",
                    "second.gradcheck:3"]
    assert "4 checks: 4 pass" in done.stdout


def test_junit_of_several_files_is_one_valid_suite_with_a_classname_per_file(
        two_files: tuple[Path, Path], tmp_path: Path, gradcheck: Invoke) -> None:
    first, second = two_files
    second.write_text(SECOND + "x**2 @ x=oops\n")
    report = tmp_path / "report.xml"
    done = gradcheck("--file", str(first), "--file", str(second), "--format", "junit",
                     "--output", str(report))
    assert done.exit_code == 1, done.output
    root = ET.fromstring(report.read_text())
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("5", "1", "0")
    cases = [(c.get("classname"), c.get("file"), c.get("line"), c.find("error") is not None)
             for c in suite.findall("testcase")]
    assert cases == [(str(first), str(first), "2", False), (str(first), str(first), "4", False),
                     (str(second), str(second), "1", False),
                     (str(second), str(second), "3", False),
                     (str(second), str(second), "4", True)]


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: str(tmp / "missing.gradcheck"), "cannot read {path}: No such file or directory"),
    (lambda tmp: str(tmp), "cannot read {path}: is a directory"),
    (lambda tmp: _write(tmp / "empty.gradcheck", "# nothing here\n\n"), "no checks in {path}"),
])
def test_a_bad_file_among_good_ones_is_a_usage_error_naming_it(
        make: Callable[[Path], str], message: str, two_files: tuple[Path, Path], tmp_path: Path,
        gradcheck: Invoke) -> None:
    first, second = two_files
    bad = make(tmp_path)
    report = tmp_path / "report.json"
    done = gradcheck("--file", str(first), "--file", bad, "--file", str(second), "--format",
                     "json", "--output", str(report))
    assert done.exit_code == 2, done.output
    assert message.format(path=bad) in " ".join(done.stderr.split())
    assert not report.exists() and not Path(f"{report}.partial").exists()


def test_standard_input_may_be_given_once(two_files: tuple[Path, Path], gradcheck: Invoke) -> None:
    done = gradcheck("--file", "-", "--file", str(two_files[0]), "--file", "-")
    assert done.exit_code == 2
    assert "'-' (standard input) can be given to --file only once" in " ".join(done.stderr.split())


def test_a_mistyped_wrt_names_every_file(two_files: tuple[Path, Path], gradcheck: Invoke) -> None:
    first, second = two_files
    done = gradcheck("--file", str(first), "--file", str(second), "--wrt", "y")
    assert done.exit_code == 2
    assert f"which no line of {first} or {second} has" in " ".join(done.stderr.split())


# -- gradcheck-files: the pre-commit hook's command ---------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["a.gradcheck"], ["--file", "a.gradcheck"]),
    (["a.gradcheck", "b.gradcheck"], ["--file", "a.gradcheck", "--file", "b.gradcheck"]),
    # pre-commit puts the hook's args before the file names.
    (["--format", "github", "--timeout", "30", "a.gradcheck"],
     ["--format", "github", "--timeout", "30", "--file", "a.gradcheck"]),
    (["-f", "jsonl", "a.gradcheck", "-v", "b.gradcheck"],
     ["-f", "jsonl", "--file", "a.gradcheck", "-v", "--file", "b.gradcheck"]),
    (["--format=json", "a.gradcheck"], ["--format=json", "--file", "a.gradcheck"]),
    # An option's value is never a file, however it looks.
    (["--output", "out.gradcheck", "a.gradcheck"],
     ["--output", "out.gradcheck", "--file", "a.gradcheck"]),
    (["--file", "c.gradcheck", "a.gradcheck"], ["--file", "c.gradcheck", "--file", "a.gradcheck"]),
    (["-"], ["--file", "-"]),
    # After --, every argument is a file, one that starts with '-' too.
    (["--", "-odd.gradcheck", "a.gradcheck"],
     ["--file", "-odd.gradcheck", "--file", "a.gradcheck"]),
    ([], []),
])
def test_gradcheck_files_turns_each_argument_that_is_no_option_into_a_file(
        args: list[str], expected: list[str]) -> None:
    assert as_gradcheck_args(args, get_command(app).params) == expected


def test_gradcheck_files_runs_the_files_given_as_arguments(two_files: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    first, second = two_files
    passing = run("--format", "jsonl", str(first), str(second), module="gradcheck_cli.files_cli")
    assert passing.returncode == 0, passing.stderr
    assert values(records(passing.stdout)) == [
        (f"{first}:2", "pass", 9.0, 6.0), (f"{first}:4", "pass", 0.0, 1.0),
        (f"{second}:1", "pass", 1.0, 1.0), (f"{second}:3", "pass", 8.0, 12.0)]
    bad = _write(tmp_path / "bad.gradcheck", "x**2 @ x=3\nfoo(x) @ x=1\n")
    failing = run("--format", "github", str(first), bad, module="gradcheck_cli.files_cli")
    assert failing.returncode == 1
    assert failing.stdout.startswith(f"::error file={bad},line=2::gradcheck error "
                                     "(unknown_function): foo(x)")


def test_gradcheck_files_without_files_is_a_usage_error() -> None:
    done = run("--format", "json", module="gradcheck_cli.files_cli")
    assert done.returncode == 2
    assert "give the check files to run" in done.stderr


def test_the_pre_commit_hook_runs_gradcheck_files_on_check_files() -> None:
    # The manifest's fields, read as text (no YAML parser among the test dependencies).
    manifest = (REPO / ".pre-commit-hooks.yaml").read_text()
    fields = dict(re.findall(r"^ *-? *(id|entry|language|files|require_serial): *(.+)$",
                             manifest, re.MULTILINE))
    assert fields == {"id": "gradcheck", "entry": "gradcheck-files", "language": "python",
                      "files": r"\.gradcheck$", "require_serial": "true"}
    pattern = re.compile(fields["files"])
    assert pattern.search("checks/act.gradcheck") and not pattern.search("act.gradcheck.txt")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gradcheck-files"] == "gradcheck_cli.files_cli:main"


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)
