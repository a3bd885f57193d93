"""The table at every width from 40 columns up: the partial, the verdict and the numbers
are always whole, no line is wider than the terminal, and the output is the one reviewed
(golden files in ``tests/golden``; ``GRADCHECK_UPDATE_GOLDEN=1`` rewrites them after a
deliberate change, to be reviewed in the diff)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from gradcheck_cli.cli import app

GOLDEN = Path(__file__).parent / "golden"
WIDTHS = (40, 60, 80, 120, 200)


def _g12(value: float) -> str:
    return f"{value:.12g}"


# name: (arguments, texts that must appear whole, partial labels with their verdicts)
CASES: dict[str, tuple[list[str], list[str], list[tuple[str, str]]]] = {
    # d/dx x**y = y*x**(y-1) = 108, d/dy = x**y*log(x) = 81*log(3)
    "power": (["x**y", "--at", "x=3,y=4"], ["108", _g12(81 * math.log(3))],
              [("∂/∂x", "✓ pass"), ("∂/∂y", "✓ pass")]),
    # x*sqrt(x) at 0: the derivative 3*sqrt(x)/2 is 0; torch's is nan
    "nan": (["x*sqrt(x)", "--at", "x=0"], ["nan", "SqrtBackward0"], [("∂/∂x", "✗ fail")]),
    # abs at 0: one-sided derivatives -1 and 1
    "kink": (["abs(x)", "--at", "x=0"], ["-1 | 1"], [("∂/∂x", "! warn")]),
    # d(Ax)/dx = A, d(Ax)_i/dA_jk = delta_ij x_k: a row per output element
    "jacobian": (["matmul(A, x)", "--at", "A=[[1, 2], [3, 4]], x=[1, 1]"],
                 ["[3, 7]", "[3, 4]]"], [("∂/∂A", "✓ pass"), ("∂/∂x", "✓ pass")]),
    # x**3*y + sin(x*y): d2/dx2 = 6xy - y**2 sin(xy), d2/dxdy = 3x**2 + cos(xy) - xy sin(xy)
    "hessian": (["x**3*y + sin(x*y)", "--at", "x=1.3,y=0.7", "--order", "2"],
                [_g12(6 * 1.3 * 0.7 - 0.7**2 * math.sin(0.91)),
                 _g12(3 * 1.3**2 + math.cos(0.91) - 0.91 * math.sin(0.91))],
                [("∂²/∂x∂x", "✓ pass"), ("∂²/∂x∂y", "✓ pass"), ("∂²/∂y∂y", "✓ pass")]),
    "batch": (["--file", "batch.txt"], ["autograd_nan", "not_differentiable", "parse_error"],
              []),
}


def _run(arguments: list[str], width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(GOLDEN)  # the batch's source is "batch.txt:N" wherever the tests run
    result = CliRunner().invoke(app, arguments, env={"COLUMNS": str(width), "NO_COLOR": "1"},
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_output_fits_and_keeps_what_matters(case: str, width: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    arguments, whole, verdicts = CASES[case]
    text = _run(arguments, width, monkeypatch)
    for line in text.splitlines():
        assert cell_len(line) <= width, f"wider than {width}: {line!r}"
    for expected in whole:
        assert expected in text, f"{expected!r} is not shown whole at {width} columns"
    for label, mark in verdicts:
        # The partial and its verdict on one line (a table row or a block's heading).
        assert any(label in line and mark in line for line in text.splitlines()), \
            f"{label} {mark} not on one line at {width} columns"
    golden = GOLDEN / f"{case}.{width}.txt"
    if os.environ.get("GRADCHECK_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_piped_output_honours_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = _run(["x**y", "--at", "x=3,y=4"], 60, monkeypatch)
    wide = _run(["x**y", "--at", "x=3,y=4"], 200, monkeypatch)
    assert max(map(cell_len, narrow.splitlines())) <= 60
    assert "fin. diff" in wide.splitlines()[2]  # the full table's header at 200 columns
    assert "fin. diff" not in narrow.splitlines()[2]


def test_a_batch_is_a_row_per_check_and_the_detail_of_what_did_not_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = _run(["--file", "batch.txt"], 120, monkeypatch)
    lines = text.splitlines()
    # Five checks: five rows under the header; the passing ones have no table of their own.
    assert sum(" ✓ pass " in line or line.endswith("✓ pass") for line in lines[:7]) == 2
    assert "x*sqrt(x)  at  x = 0  (batch.txt:2)" in text
    assert "at  x = 4" not in text
    assert "-(y*log(p)" in text and "at  y = 1" not in text
    verbose = _run(["--file", "batch.txt", "--verbose"], 120, monkeypatch)
    assert "x*sqrt(x)  at  x = 4  (batch.txt:2)" in verbose
    assert "line ┃" not in verbose


# Values far from 1 in every format: scientific notation, never a run of digits.
EXTREMES = [
    ("exp(x)", "x=1e300"),          # the exact value is 10^(4.3e299): beyond float64
    ("x**2", "x=1e200"),
    ("1/x", "x=1e-300"),
    ("x*1e15", "x=123456789.123"),
    ("exp(-x)", "x=800"),           # 3.7e-348: below float64's smallest subnormal
]


@pytest.mark.parametrize("output_format", ["table", "json", "junit", "github"])
@pytest.mark.parametrize(("expression", "point"), EXTREMES)
def test_numbers_at_extremes_are_in_scientific_notation(
        expression: str, point: str, output_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    text = _run([expression, "--at", point, "--format", output_format], 120, monkeypatch)
    assert not re.search(r"\d{18}", text), text
    if output_format in ("table", "json"):  # the others show numbers only in messages
        assert re.search(r"\d\.\d+e[+-]\d+", text), text


# Beyond float64's range the table and JSON still show the exact value's digits.
# exp(1000) = 1.970071114017046993888879...e434 and GELU(-40) = -40*erfc(40/sqrt 2)/2 =
# -1.4623574163660...e-348 (both from mpmath at 50 digits, by hand).
BEYOND = [("exp(x)", "x=1000", "1.97007111402e+434", "1.97007111401705e+434"),
          ("gelu(x)", "x=-40", "-1.46235741637e-348", "-1.46235741636601e-348")]


@pytest.mark.parametrize(("expression", "point", "shown", "text"), BEYOND)
def test_exact_values_beyond_float64_keep_their_digits(
        expression: str, point: str, shown: str, text: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import mpmath

    mpmath.mp.dps = 50
    reference = mpmath.exp(1000) if expression == "exp(x)" else \
        -40 * mpmath.erfc(40 / mpmath.sqrt(2)) / 2
    assert mpmath.nstr(reference, 12) == shown
    assert mpmath.nstr(reference, 15) == text
    table = _run([expression, "--at", point], 120, monkeypatch)
    assert f"value  symbolic {shown}" in table
    document = json.loads(_run([expression, "--at", point, "--format", "json"], 120, monkeypatch))
    assert document["checks"][0]["value"]["symbolic_text"] == text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_function_list_fits_the_terminal(width: int) -> None:
    from gradcheck_cli.functions import FUNCTIONS

    result = CliRunner().invoke(app, ["--functions"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    # Every function still starts its own row; what folds goes under its description.
    rows = {line.split()[0].split("(")[0] for line in lines
            if line.startswith("  ") and not line.startswith("   ")}
    assert rows == set(FUNCTIONS)
    if width >= 80:  # where each torch form fits whole on a line, it is whole
        for function in FUNCTIONS.values():
            assert function.torch_name in result.stdout
