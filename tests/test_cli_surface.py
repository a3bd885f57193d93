"""The everyday command line: what a user types that is not quite what the tool expects.

Expressions that start with ``-``, words asking for help, a check file with no checks,
``-o -`` and a report that cannot be written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from gradcheck_cli.cli import expression_last

Invoke = Callable[..., Result]
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("args", "value", "derivative"), [
    # -x**2 at 1: value -1, derivative -2x = -2
    (["-x**2", "--at", "x=1"], -1.0, -2.0),
    (["--at", "x=1", "-x**2"], -1.0, -2.0),
    # -log(p) at 0.25: value log 4, derivative -1/p = -4
    (["-log(p)", "--at", "p=0.25", "--format", "json"], 1.3862943611198906, -4.0),
    (["-x", "--at", "x=-1", "-f", "json"], 1.0, -1.0),
])
def test_an_expression_that_starts_with_minus_is_the_expression(
        gradcheck: Invoke, args: list[str], value: float, derivative: float) -> None:
    result = gradcheck(*args, "--format", "json") if "json" not in args else gradcheck(*args)
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.stdout)["checks"]
    assert found["value"]["symbolic"] == value
    assert found["derivatives"][0]["symbolic"] == derivative


@pytest.mark.parametrize(("args", "expected"), [
    (["-x**2", "--at", "x=1"], ["--at", "x=1", "--", "-x**2"]),
    (["--rtol", "-1", "x"], ["--rtol", "-1", "x"]),          # an option's value stays
    (["x", "-q"], ["x", "-q"]),                              # a mistyped option stays one
    (["--atx", "1"], ["--atx", "1"]),                        # so does a long one
    (["-h"], ["-h"]),
    (["--file", "-"], ["--file", "-"]),
    (["-fjson", "x"], ["-fjson", "x"]),
])
def test_only_an_argument_that_is_no_option_moves(gradcheck: Invoke, args: list[str],
                                                 expected: list[str]) -> None:
    from typer.main import get_command

    from gradcheck_cli.cli import app

    command = get_command(app)
    assert expression_last(args, command.params, ["-h", "--help"]) == expected


def test_a_mistyped_long_option_is_still_named(gradcheck: Invoke) -> None:
    result = gradcheck("--atx", "1")
    assert result.exit_code == 2
    assert "No such option: --atx" in result.stderr


@pytest.mark.parametrize("word", ["help", "HELP", "?"])
def test_asking_for_help_as_an_expression_points_to_help(gradcheck: Invoke, word: str) -> None:
    result = gradcheck(word)
    assert result.exit_code == 2
    assert "gradcheck --help" in result.stderr


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n   \n# two\n"])
def test_a_file_with_no_checks_is_a_usage_error(gradcheck: Invoke, tmp_path: Path,
                                                text: str) -> None:
    path = tmp_path / "checks.txt"
    path.write_text(text)
    result = gradcheck("--file", str(path))
    assert result.exit_code == 2
    assert f"no checks in {path}" in result.stderr


def test_at_with_a_file_says_where_a_files_points_go(gradcheck: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "checks.txt"
    path.write_text("x**2 @ x=3\n")
    result = gradcheck("--file", str(path), "--at", "x=3")
    assert result.exit_code == 2
    assert "each line gives its own after '@'" in result.stderr
    assert "not both" not in result.stderr


def test_output_dash_is_standard_output(gradcheck: Invoke, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = gradcheck("x**2", "--at", "x=3", "-o", "-", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["checks"][0]["value"]["symbolic"] == 9.0
    assert not (tmp_path / "-").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_report_that_cannot_be_written_is_one_line_and_exit_2() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x**2", "--at", "x=3"],
                              stdout=full, stderr=subprocess.PIPE, text=True, cwd=REPO,
                              timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "gradcheck: cannot write the report: No space left on device"


def test_two_points_of_one_variable_each_are_explained(gradcheck: Invoke) -> None:
    result = gradcheck("x*y", "--at", "x=1", "--at", "y=2")
    assert result.exit_code == 2
    assert "each --at is a separate point" in result.stderr
    assert "--at x=1,y=1" in result.stderr


def test_a_point_without_its_comma_blames_the_point(gradcheck: Invoke) -> None:
    result = gradcheck("x*y", "--at", "x=1 y=2")
    assert result.exit_code == 2
    assert "the point 'x=1 y=2' needs a comma before y=" in result.stderr
    assert "expression" not in result.stderr.split("Usage")[0]


def test_a_trailing_comma_in_a_point_is_accepted(gradcheck: Invoke) -> None:
    # x*y at (1, 2): value 2, d/dx = y = 2, d/dy = x = 1
    result = gradcheck("x*y", "--at", "x=1,y=2,", "--format", "json")
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.stdout)["checks"]
    assert found["value"]["symbolic"] == 2.0
    assert [d["symbolic"] for d in found["derivatives"]] == [2.0, 1.0]


def test_a_file_line_without_its_point_says_the_at_part_is_missing(gradcheck: Invoke,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "checks.txt"
    path.write_text("x**2\nx**3 @ x=2\n")
    result = gradcheck("--file", str(path), "--format", "jsonl")
    assert result.exit_code == 1
    first, second, _ = (json.loads(line) for line in result.stdout.splitlines())
    assert first["category"] == "missing_value"
    assert "the line has no '@ x=...' part" in first["message"]
    assert "x**2 @ x=1" in first["message"]
    assert second["derivatives"][0]["symbolic"] == 12.0  # 3x^2 at 2


@pytest.mark.parametrize("text", ["lambda x: x", "'a'", "x if x else 1"])
def test_a_refusal_is_a_whole_sentence(text: str) -> None:
    from gradcheck_cli.errors import InputError
    from gradcheck_cli.parse import parse_expression

    with pytest.raises(InputError) as raised:
        parse_expression(text)
    assert raised.value.message.endswith("are allowed"), raised.value.message
