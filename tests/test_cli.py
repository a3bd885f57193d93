"""The ``gradcheck`` command: exit codes, output formats, help, and a lazy start."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from gradcheck_cli import __version__
from gradcheck_cli.functions import FUNCTIONS

Invoke = Callable[..., Result]
REPO = Path(__file__).resolve().parents[1]


def strict_json(text: str) -> Any:
    """Parse JSON, failing on the non-standard NaN / Infinity / -Infinity tokens."""
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON: {token}"))


# -- exit codes --------------------------------------------------------------------------

# (arguments, exit code)
EXIT_CODES = [
    (["5*(x+1)**2", "--at", "x=1"], 0),
    (["abs(x)", "--at", "x=0"], 0),                      # warnings are allowed
    (["sin(x)/x", "--at", "x=0"], 0),
    (["x*sqrt(x)", "--at", "x=0"], 1),
    (["exp(x)/exp(x)", "--at", "x=800"], 1),
    (["abs(x)", "--at", "x=0", "--at", "x=1"], 0),
    (["2x", "--at", "x=1"], 2),                          # parse error
    (["x**2000", "--at", "x=1"], 2),                     # limit
    (["foo(x)", "--at", "x=1"], 2),                      # unknown function
    (["x", "--at", "y=1"], 2),                           # unknown variable
    (["x", "--at", "x=y"], 2),
    (["x+y", "--at", "x=1"], 2),                         # missing value
    (["x"], 2),
    (["x", "--at", "x=1,x=2"], 2),                       # repeated variable
    (["x", "--at", "x=1/0"], 2),                         # non-finite point
    (["x", "--at", "x=1", "--rtol", "-1"], 2),           # bad option
    (["x", "--at", "x=1", "--atol", "-1e-3"], 2),
    (["x", "--at", "x=1", "--rtol", "nan"], 2),
    (["x", "--at", "x=1", "--format", "xml"], 2),
    (["x", "--at", "x=1", "--wrt", "y"], 2),
    (["x", "--at", "x=1", "--no-such-option"], 2),
    ([], 2),                                             # no expression
]


@pytest.mark.parametrize(("args", "code"), EXIT_CODES)
def test_exit_codes(gradcheck: Invoke, args: list[str], code: int) -> None:
    result = gradcheck(*args)
    assert result.exit_code == code, result.output
    if code == 2:
        assert "Traceback" not in result.output
        assert result.stderr.strip()


def test_pass_output(gradcheck: Invoke) -> None:
    result = gradcheck("5*(x+1)**2", "--at", "x=1")
    assert result.exit_code == 0
    assert "10*x + 10" in result.stdout
    assert "20" in result.stdout
    assert "1 check: 1 pass" in result.stdout
    assert "\x1b[" not in result.output                  # not a terminal: no colour


def test_warning_output_explains(gradcheck: Invoke) -> None:
    result = gradcheck("abs(x)", "--at", "x=0")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "not differentiable here" in text
    assert "1 check: 1 warn" in text


def test_failure_output_gives_the_reason(gradcheck: Invoke) -> None:
    result = gradcheck("x*sqrt(x)", "--at", "x=0")
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "autograd gives nan, but the exact derivative in x is 0" in text
    assert "1 check: 1 fail" in text


def test_refused_expression_goes_to_stderr_with_a_caret(gradcheck: Invoke) -> None:
    result = gradcheck("y + 2x", "--at", "x=1,y=2")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error (parse_error): '2x' at column 5 is not an expression; did you mean 2*x?" in \
        result.stderr
    lines = result.stderr.splitlines()
    text_line = next(i for i, line in enumerate(lines) if line.strip() == "y + 2x")
    caret = lines[text_line + 1]
    assert caret.index("^") == lines[text_line].index("2x")


def test_refused_point_names_its_problem(gradcheck: Invoke) -> None:
    result = gradcheck("x", "--at", "x=1/0")
    assert result.exit_code == 2
    assert "error (non_finite_point)" in result.stderr


def test_refused_point_caret_is_under_the_point(gradcheck: Invoke) -> None:
    result = gradcheck("x", "--at", "x=1,y=foo(1)")
    assert result.exit_code == 2
    assert "unknown function 'foo' at column 7" in result.stderr
    lines = result.stderr.splitlines()
    assert lines[1:3] == ["  x=1,y=foo(1)", "  " + " " * 6 + "^"]


def test_several_points(gradcheck: Invoke) -> None:
    result = gradcheck("x**2", "--at", "x=1", "--at", "x=-3", "--format", "json")
    assert result.exit_code == 0
    document = strict_json(result.stdout)
    assert [c["point"] for c in document["checks"]] == [{"x": 1.0}, {"x": -3.0}]
    assert [c["derivatives"][0]["autograd"] for c in document["checks"]] == [2.0, -6.0]
    assert document["summary"] == {"total": 2, "pass": 2, "warn": 0, "fail": 0, "error": 0}


def test_several_points_worst_decides(gradcheck: Invoke) -> None:
    result = gradcheck("x*sqrt(x)", "--at", "x=1", "--at", "x=0")
    assert result.exit_code == 1
    assert "2 checks: 1 pass, 1 fail" in result.stdout


def test_one_bad_point_refuses_the_run(gradcheck: Invoke) -> None:
    result = gradcheck("x", "--at", "x=1", "--at", "y=2")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_wrt(gradcheck: Invoke) -> None:
    result = gradcheck("(x+w)*(w+1)", "--at", "w=1,x=2", "--wrt", "w", "--format", "json")
    assert result.exit_code == 0
    (partial,) = strict_json(result.stdout)["checks"][0]["derivatives"]
    assert (partial["wrt"], partial["symbolic"], partial["autograd"]) == (["w"], 5.0, 5.0)


def test_wrt_order(gradcheck: Invoke) -> None:
    result = gradcheck("w*x + b", "--at", "x=3,w=2,b=5", "--wrt", "b,w", "--format", "json")
    partials = strict_json(result.stdout)["checks"][0]["derivatives"]
    assert [(p["wrt"], p["autograd"]) for p in partials] == [(["b"], 1.0), (["w"], 3.0)]


def test_tolerances_on_the_command_line(gradcheck: Invoke) -> None:
    # softplus is linear in torch above 20: its derivative at 21 is off by exp(-21) = 7.6e-10.
    assert gradcheck("softplus(x)", "--at", "x=21").exit_code == 0
    assert gradcheck("softplus(x)", "--at", "x=21", "--rtol", "1e-12", "--atol", "0").exit_code == 1


def test_expression_starting_with_minus(gradcheck: Invoke) -> None:
    result = gradcheck("--at", "x=3", "--format", "json", "--", "-x**2")
    assert result.exit_code == 0
    check = strict_json(result.stdout)["checks"][0]
    assert (check["value"]["symbolic"], check["derivatives"][0]["symbolic"]) == (-9.0, -6.0)


def test_functions_lists_the_registry(gradcheck: Invoke) -> None:
    result = gradcheck("--functions")
    assert result.exit_code == 0
    for name, function in FUNCTIONS.items():
        assert f"  {name}(" in result.stdout
        assert function.torch_name in result.stdout
    assert "pi, e" in result.stdout


def test_version(gradcheck: Invoke) -> None:
    result = gradcheck("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"gradcheck {__version__}"


def test_help(gradcheck: Invoke) -> None:
    result = gradcheck("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "|autograd - symbolic| <= atol + rtol * |symbolic|" in text
    assert "0 every check passed (warnings allowed)" in text
    assert "1 a check failed" in text
    assert "2 usage error" in text
    for option in ("--at", "--wrt", "--rtol", "--atol", "--format", "--functions"):
        assert option in text
    assert gradcheck("-h").stdout == result.stdout


# -- JSON ------------------------------------------------------------------------------


def test_json_shape(gradcheck: Invoke) -> None:
    result = gradcheck("5*(x+1)**2", "--at", "x=1", "--format", "json")
    assert result.exit_code == 0
    document = strict_json(result.stdout)
    assert document["version"] == 1
    assert document["summary"] == {"total": 1, "pass": 1, "warn": 0, "fail": 0, "error": 0}
    (check,) = document["checks"]
    assert {"expression", "point", "source", "status", "category", "message", "value",
            "derivatives"} <= set(check)
    assert check["expression"] == "5*(x+1)**2"
    assert check["point"] == {"x": 1.0}
    assert check["source"] is None
    assert (check["status"], check["category"], check["message"]) == ("pass", "ok", None)
    assert check["value"] == {"symbolic": 20.0, "autograd": 20.0}
    (partial,) = check["derivatives"]
    assert {"wrt", "formula", "symbolic", "autograd", "abs_diff", "rel_diff", "status",
            "category", "message"} <= set(partial)
    assert partial["wrt"] == ["x"]
    assert partial["formula"] == "10*x + 10"
    assert (partial["symbolic"], partial["autograd"]) == (20.0, 20.0)
    assert (partial["abs_diff"], partial["rel_diff"]) == (0.0, 0.0)
    assert (partial["status"], partial["category"], partial["message"]) == ("pass", "ok", None)


def test_json_format_name_is_case_insensitive(gradcheck: Invoke) -> None:
    result = gradcheck("x", "--at", "x=1", "-f", "JSON")
    assert strict_json(result.stdout)["checks"][0]["status"] == "pass"


def test_json_non_finite_numbers_are_strings(gradcheck: Invoke) -> None:
    result = gradcheck("1/x", "--at", "x=0", "--format", "json")
    assert result.exit_code == 0
    check = strict_json(result.stdout)["checks"][0]
    assert (check["status"], check["category"]) == ("warn", "pole")
    assert check["value"]["autograd"] == "inf"
    (partial,) = check["derivatives"]
    assert (partial["symbolic"], partial["autograd"]) == ("-inf", "-inf")
    assert (partial["abs_diff"], partial["rel_diff"]) == (0.0, 0.0)


def test_json_nan(gradcheck: Invoke) -> None:
    result = gradcheck("x*sqrt(x)", "--at", "x=0", "--format", "json")
    assert result.exit_code == 1
    document = strict_json(result.stdout)
    assert document["summary"] == {"total": 1, "pass": 0, "warn": 0, "fail": 1, "error": 0}
    (partial,) = document["checks"][0]["derivatives"]
    assert (partial["symbolic"], partial["autograd"]) == (0.0, "nan")
    assert (partial["abs_diff"], partial["rel_diff"]) == ("nan", "nan")
    assert (partial["status"], partial["category"]) == ("fail", "autograd_nan")


def test_json_kink(gradcheck: Invoke) -> None:
    result = gradcheck("abs(x)", "--at", "x=0", "--format", "json")
    (partial,) = strict_json(result.stdout)["checks"][0]["derivatives"]
    assert partial["symbolic"] is None
    assert partial["one_sided"] == {"left": -1.0, "right": 1.0}
    assert (partial["status"], partial["category"], partial["autograd"]) == (
        "warn", "not_differentiable", 0.0)


@pytest.mark.parametrize(("args", "category"), [
    (["2x", "--at", "x=1"], "parse_error"),
    (["9**9**9**9"], "limit"),
    (["foo(x)", "--at", "x=1"], "unknown_function"),
    (["x", "--at", "x=1", "--rtol", "-1"], "bad_option"),
    (["x", "--at", "x=log(0)"], "non_finite_point"),
])
def test_json_refused_input(gradcheck: Invoke, args: list[str], category: str) -> None:
    result = gradcheck(*args, "--format", "json")
    assert result.exit_code == 2
    document = strict_json(result.stdout)
    assert document["summary"] == {"total": 1, "pass": 0, "warn": 0, "fail": 0, "error": 1}
    (check,) = document["checks"]
    assert (check["status"], check["category"]) == ("error", category)
    assert check["message"]
    assert (check["value"], check["derivatives"]) == (None, [])


def test_json_values_are_the_mathematics(gradcheck: Invoke) -> None:
    result = gradcheck("x**y", "--at", "x=3,y=4", "--format", "json")
    dx, dy = strict_json(result.stdout)["checks"][0]["derivatives"]
    assert dx["symbolic"] == 108.0
    assert dy["symbolic"] == pytest.approx(81 * math.log(3), rel=1e-15)
    assert dy["rel_diff"] == pytest.approx(abs(dy["autograd"] - dy["symbolic"]) / dy["symbolic"])


# -- the installed entry point, in a fresh interpreter -------------------------------------


def run_module(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, *flags, "-m", "gradcheck_cli", *args], cwd=REPO,
                          capture_output=True, text=True, env=env, check=False)


def imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: 'import time: self | cumulative | name'."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("torch", "sympy")}


def test_import_loads_neither_torch_nor_sympy() -> None:
    code = ("import sys, gradcheck_cli, gradcheck_cli.cli; "
            "assert 'torch' not in sys.modules and 'sympy' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sympy'))[:5]")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_help_is_lazy() -> None:
    done = run_module("--help", importtime=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: gradcheck" in done.stdout
    modules = imported(done.stderr)
    assert "gradcheck_cli.cli" in modules                 # the parse of -X importtime works
    assert heavy(modules) == set()


def test_refused_input_is_lazy() -> None:
    done = run_module("2x", "--at", "x=1", importtime=True)
    assert done.returncode == 2
    assert "did you mean 2*x?" in done.stderr
    assert "Traceback" not in done.stderr
    modules = imported(done.stderr)
    assert "gradcheck_cli.parse" in modules
    assert heavy(modules) == set()


def test_a_real_run_through_the_module() -> None:
    done = run_module("5*(x+1)**2", "--at", "x=1", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    document: dict[str, Any] = strict_json(done.stdout)
    (partial,) = document["checks"][0]["derivatives"]
    assert (partial["formula"], partial["symbolic"], partial["autograd"]) == ("10*x + 10", 20.0, 20.0)

