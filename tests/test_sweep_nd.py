"""Sweeps over two and three variables, forward mode in sweeps, special points as samples.

Expected values are derived here independently: overflow boundaries by numpy's own exp
(the float whose exp is finite and the next one up whose exp is inf), math.log of the
largest float, torch's own sigmoid for where a Function's branches change, and
fractions.Fraction for which side of a kink a float lies on.
"""

from __future__ import annotations

import json
import math
import sys
import types
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner, Result

from gradcheck_cli.cli import app
from gradcheck_cli.engine.sweep import _components, grid_samples, run_sweep
from gradcheck_cli.errors import InputError
from gradcheck_cli.results import Category, Status
from gradcheck_cli.sweep import SweepRange, SweepResult, prepare_sweep

#: log(DBL_MAX): exp overflows float64 just above it.
LOG_DBL_MAX = math.log(sys.float_info.max)


def sweep(expression: str, specs: list[str], count: int = 1_000, at: list[str] | None = None,
          **options: Any) -> SweepResult:
    return run_sweep(prepare_sweep(expression, specs, at or [], samples=count, **options))


def overflows_from(first: float) -> bool:
    """``first`` is the smallest float64 whose exp overflows (numpy, independently)."""
    below = float(np.nextafter(first, -np.inf))
    with np.errstate(over="ignore"):
        return bool(np.isinf(np.exp(first)) and np.isfinite(np.exp(below)))


# -- 2-D -------------------------------------------------------------------------------------

def test_the_origin_of_the_2d_norm_is_found_and_the_rest_passes() -> None:
    result = sweep("sqrt(x**2+y**2)", ["x=-1:1", "y=-1:1"])
    # One region: around the origin (where autograd gives nan and the point check says
    # fail), and the points so close to it that x**2 + y**2 underflows to 0 (autograd inf).
    (region,) = result.regions
    assert region.status is Status.FAIL and region.confirmed
    assert region.boundary == ()
    for name in ("x", "y"):
        assert region.start[name] <= 0.0 <= region.end[name]
        # Squares underflow below about 1.5e-162 and lose bits below 1.5e-154: the box is
        # there, nowhere near the grid's next value (2/31 away).
        assert region.start[name] > -1e-150 and region.end[name] < 1e-150
    assert result.by_status["fail"] == result.samples - result.by_status["pass"]
    assert result.by_status["fail"] >= 1
    # The origin itself, as the point check judges it: not differentiable, autograd nan.
    assert result.by_category.get("not_differentiable") == 1


def test_the_tiny_region_around_the_origin_is_real() -> None:
    # Independently: torch's gradient of sqrt(x**2 + y**2) at x = y = 1e-170 (squares
    # underflow to 0), while the exact derivative there is x/|(x, y)| = 1/sqrt(2).
    x = torch.tensor(1e-170, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(1e-170, dtype=torch.float64)
    (grad,) = torch.autograd.grad(torch.sqrt(x**2 + y**2), [x])
    assert not math.isclose(float(grad), 1 / math.sqrt(2))


def test_a_2d_range_without_failure(gradcheck: Callable[..., Result]) -> None:
    result = sweep("x*y+sin(x)", ["x=-2:2", "y=-2:2"])
    assert result.regions == ()
    assert result.by_status == {"pass": result.samples, "warn": 0, "fail": 0, "error": 0}
    printed = gradcheck("x*y+sin(x)", "--sweep", "x=-2:2", "--sweep", "y=-2:2",
                        "--samples", "500")
    assert printed.exit_code == 0, printed.output
    assert "no region fails" in printed.stdout


def test_softplus_times_y_overflows_from_log_dbl_max() -> None:
    result = sweep("log(1+exp(x))*y", ["x=-1000:1000", "y=1:2"])
    (region,) = [r for r in result.regions if r.status is Status.FAIL]
    assert region.category is Category.OVERFLOW and region.confirmed
    # The box's x edge is bisected to the first float whose exp overflows.
    assert region.start["x"] == pytest.approx(LOG_DBL_MAX, rel=1e-15)
    assert overflows_from(region.start["x"])
    assert region.end["x"] == 1000.0
    assert (region.start["y"], region.end["y"]) == (1.0, 2.0)
    # On the left the derivative y*exp(x)/(1+exp(x)) underflows: a warning, as at a point,
    # below about log(2**-1075) (half the smallest subnormal).
    (left,) = [r for r in result.regions if r.status is Status.WARN]
    assert left.category is Category.UNDERFLOW
    assert left.start["x"] == -1000.0
    assert left.end["x"] == pytest.approx(math.log(2.0**-1074) - math.log(2), abs=1.0)


def test_grid_samples_put_the_special_values_on_the_grid() -> None:
    ranges = (SweepRange("x", -1.0, 1.0, "-1:1"), SweepRange("y", -3.0, 0.5, "-3:0.5"))
    axes, points = grid_samples(ranges, 1_000, "float64", [np.array([0.25]), np.empty(0)])
    x_axis, y_axis = axes
    assert {-1.0, 0.0, 0.25, 1.0} <= set(x_axis.tolist())
    assert {-3.0, -1.0, 0.0, 0.5} <= set(y_axis.tolist())
    assert (0.0, 0.0) in {tuple(p) for p in points.tolist()}  # the origin is a sample
    grid = len(x_axis) * len(y_axis)
    # The grid first (C order), then about half random points (less those on the grid).
    assert np.array_equal(points[:grid], np.stack(np.meshgrid(x_axis, y_axis, indexing="ij"),
                                                  axis=-1).reshape(-1, 2))
    assert 400 <= len(points) - grid <= 500
    assert np.all((points[:, 0] >= -1) & (points[:, 0] <= 1))
    assert np.all((points[:, 1] >= -3) & (points[:, 1] <= 0.5))
    # Uniform over bit patterns: tiny magnitudes get samples too.
    assert np.any((np.abs(points[grid:, 0]) > 0) & (np.abs(points[grid:, 0]) < 1e-200))


@pytest.mark.parametrize(("cells", "labels"), [
    ([[1, 1, 0], [0, 1, 0], [1, 0, 1]], [[0, 0, -1], [-1, 0, -1], [6, -1, 8]]),
    ([[1, 0, 1], [1, 0, 1], [1, 1, 1]], [[0, -1, 0], [0, -1, 0], [0, 0, 0]]),  # a U
    ([[0, 1], [1, 0]], [[-1, 1], [2, -1]]),  # diagonal cells are not face neighbours
])
def test_components_join_face_neighbours(cells: list[list[int]], labels: list[list[int]]
                                         ) -> None:
    found = _components(np.array(cells, dtype=bool))
    assert found.tolist() == np.array(labels).ravel().tolist()


def test_components_in_3d() -> None:
    cells = np.zeros((3, 3, 3), dtype=bool)
    cells[0, 0, 0] = cells[0, 0, 1] = cells[1, 0, 1] = True  # a bent line
    cells[2, 2, 2] = True
    found = _components(cells).reshape(cells.shape)
    assert found[0, 0, 0] == found[0, 0, 1] == found[1, 0, 1] == 0
    assert found[2, 2, 2] == 26
    assert int(np.sum(found >= 0)) == 4


# -- 3-D -------------------------------------------------------------------------------------

def test_a_3d_sweep_finds_the_same_overflow() -> None:
    result = sweep("log(1+exp(x))*y*z", ["x=-1000:1000", "y=1:2", "z=1:2"], count=1_500)
    (region,) = [r for r in result.regions if r.status is Status.FAIL]
    assert region.category is Category.OVERFLOW
    assert overflows_from(region.start["x"]) and region.end["x"] == 1000.0
    assert (region.start["y"], region.end["y"], region.start["z"], region.end["z"]) == \
        (1.0, 2.0, 1.0, 2.0)
    assert sum(result.by_status.values()) == result.samples
    point = dict(region.worst.point)
    assert set(point) == {"x", "y", "z"}
    assert isinstance(point["x"], float) and point["x"] > LOG_DBL_MAX


def test_a_3d_sweep_with_a_fixed_variable(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("x*y*z + w", "--sweep", "x=-1:1", "--sweep", "y=-1:1", "--sweep",
                       "z=-1:1", "--at", "w=0.5", "--samples", "600", "--format", "json")
    assert result.exit_code == 0, result.output
    swept = json.loads(result.stdout)["checks"][0]["sweep"]
    assert set(swept["ranges"]) == {"x", "y", "z"}
    # Nothing fails; where y and z are both tiny, the partial in x (y*z) is below the
    # smallest subnormal and autograd's 0 is the best float64 has: warnings, as at a point.
    assert swept["regions"]
    for region in swept["regions"]:
        assert (region["status"], region["category"]) == ("warn", "underflow")
        worst = dict(region["worst"]["point"])
        assert abs(worst["y"] * worst["z"]) < 2.0**-1074


# -- forward mode ----------------------------------------------------------------------------

def forward_only(result: SweepResult) -> bool:
    """Every failing sample that the exact check did not see fails forward against reverse
    mode, and none as a plain mismatch (reverse mode against the exact derivative)."""
    fails = result.by_status["fail"]
    return fails > 0 and "mismatch" not in result.by_category and \
        result.by_category.get("forward_reverse_mismatch", 0) >= fails - result.confirmed_exactly


def test_forward_mode_finds_a_wrong_jvp_that_reverse_mode_misses() -> None:
    result = sweep("sigmoid(x)", ["x=-10:10"], impl="tests.impls:WrongJvpSigmoid.apply")
    assert result.forward_mode and result.forward_note is None
    # Reverse mode is right everywhere: every failing sample is forward against reverse
    # (those the exact check saw count as it names them).
    assert forward_only(result)
    (region,) = result.regions
    assert region.status is Status.FAIL and region.confirmed
    assert region.start == {"x": -10.0}
    ((outside, inside),) = region.boundary
    # Where torch's own sigmoid reaches 1/2: the jvp's branch changes between them.
    assert float(torch.sigmoid(torch.tensor(inside, dtype=torch.float64))) < 0.5
    assert float(torch.sigmoid(torch.tensor(outside, dtype=torch.float64))) >= 0.5
    assert outside == float(np.nextafter(inside, np.inf))


def test_forward_mode_in_a_2d_sweep() -> None:
    result = sweep("sigmoid(x)*y", ["x=-10:10", "y=1:2"], count=600,
                   impl="tests.impls:wrong_jvp_sigmoid_times")
    assert result.forward_mode
    assert forward_only(result)
    (region,) = result.regions
    assert region.start["x"] == -10.0 and region.end["x"] < 0 < region.end["x"] + 1e-6
    assert (region.start["y"], region.end["y"]) == (1.0, 2.0)


def test_a_function_without_jvp_is_swept_in_reverse_mode_only(
        gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("sigmoid(x)", "--impl", "tests.impls:BadSigmoid.apply", "--sweep",
                       "x=-10:10", "--samples", "300", "--format", "json")
    assert result.exit_code == 1, result.output
    swept = json.loads(result.stdout)["checks"][0]["sweep"]
    assert swept["forward_mode"] is False
    assert swept["forward_note"] == "forward mode not supported by this Function"
    # Its wrong backward is still found (reverse mode).
    assert [r["category"] for r in swept["regions"]] == ["impl_backward_mismatch"]


def test_forward_mode_is_checked_for_expressions(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("sin(x)*y", "--sweep", "x=-3:3", "--at", "y=2", "--samples", "300")
    assert result.exit_code == 0, result.output
    assert "forward mode checked too" in result.stdout
    assert sweep("x*y", ["x=-1:1", "y=-1:1"], count=300).forward_mode


def test_forward_mode_is_not_a_second_order_check() -> None:
    # Forward mode is for first partials: with only second ones it is not run.
    result = sweep("sin(x)", ["x=-3:3"], count=300, order=2)
    assert not result.forward_mode and result.forward_note is None


# -- special points ----------------------------------------------------------------------------

@pytest.fixture
def special_points(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, float]]:
    """A stand-in for gradcheck_cli.engine.sweep_points (written separately) that finds the
    kink of abs(x - 3/10) at 3/10 and records what it was asked."""
    asked: list[tuple[str, float, float]] = []

    def find(expr: Any, symbol: Any, low: float, high: float, *, budget_s: float = 0.5
             ) -> tuple[float, ...]:
        asked.append((str(expr), low, high))
        return (0.3,)

    module = types.ModuleType("gradcheck_cli.engine.sweep_points")
    module.special_points = find  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gradcheck_cli.engine.sweep_points", module)
    return asked


def test_special_points_and_their_neighbours_are_sampled(
        special_points: list[tuple[str, float, float]]) -> None:
    result = sweep("abs(x - 3/10)", ["x=-1:1"], count=400)
    assert special_points == [("Abs(x - 3/10)", -1.0, 1.0)]
    assert result.special_points == 3  # 0.3 and the floats either side of it
    # At the float 0.3 torch computes 0.3 - 0.3 = 0 (3/10 rounds to that float) and abs's
    # backward gives sign(0) = 0: the kink as float64 sees it, which only a sample at that
    # very float shows (the point check: not differentiable). Its neighbours pass.
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert float(torch.autograd.grad(abs(x - 0.3), [x])[0]) == 0.0
    assert Fraction(0.3) != Fraction(3, 10)  # the float is not the kink itself
    (region,) = result.regions
    assert (region.start, region.end) == ({"x": 0.3}, {"x": 0.3})
    assert region.category is Category.NOT_DIFFERENTIABLE and region.status is not Status.PASS
    assert region.boundary == ((float(np.nextafter(0.3, -1)), 0.3),
                               (float(np.nextafter(0.3, 2)), 0.3))


def test_special_points_are_counted_in_the_summary(
        special_points: list[tuple[str, float, float]], gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("abs(x - 3/10)", "--sweep", "x=-1:1", "--samples", "400")
    assert result.exit_code == 0, result.output  # a warning (the kink), nothing fails
    assert " samples (of which 3 special points): " in result.stdout


def test_special_points_are_asked_with_the_other_variables_fixed(
        special_points: list[tuple[str, float, float]]) -> None:
    sweep("abs(x - y)", ["x=-1:1"], count=200, at=["y=0.5"])
    assert special_points == [("Abs(x - 1/2)", -1.0, 1.0)]
    special_points.clear()
    # Two swept variables in it: a kink is a curve, not a point of one axis; not asked.
    sweep("abs(x - y)", ["x=-1:1", "y=-1:1"], count=200)
    assert special_points == []


# -- output ------------------------------------------------------------------------------------

def test_the_json_has_every_variable(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("log(1+exp(x))*y", "--sweep", "x=-1000:1000", "--sweep", "y=1:2",
                       "--samples", "600", "--format", "json")
    assert result.exit_code == 1, result.output
    swept = json.loads(result.stdout)["checks"][0]["sweep"]
    assert swept["ranges"] == {"x": {"from": -1000.0, "to": 1000.0},
                               "y": {"from": 1.0, "to": 2.0}}
    assert swept["forward_mode"] is True and swept["special_points"] == 0
    assert sum(swept["summary"]["by_status"].values()) == swept["samples"]
    for region in swept["regions"]:
        assert set(region["from"]) == set(region["to"]) == {"x", "y"}
        assert region["boundary"] == []
        assert set(region["worst"]["point"]) == {"x", "y"}
    (failing,) = [r for r in swept["regions"] if r["status"] == "fail"]
    assert overflows_from(failing["from"]["x"])


@pytest.mark.parametrize("width", [40, 80, 120])
def test_the_2d_table_fits_and_keeps_numbers_whole(width: int) -> None:
    printed = CliRunner().invoke(app, ["log(1+exp(x))*y", "--sweep", "x=-1000:1000",
                                       "--sweep", "y=1:2", "--samples", "600"],
                                 env={"COLUMNS": str(width), "NO_COLOR": "1"}).stdout
    assert all(len(line) <= width for line in printed.splitlines()), printed
    assert "…" not in printed
    start = next(r.start["x"] for r in sweep("log(1+exp(x))*y", ["x=-1000:1000", "y=1:2"],
                                             count=600).regions if r.status is Status.FAIL)
    assert f"{start:.15g}" in printed  # the box's edge, every digit shown
    assert "bits of error ▁" not in printed  # no sparkline over two variables


# -- usage errors and plots --------------------------------------------------------------------

def test_four_sweeps_are_refused(gradcheck: Callable[..., Result]) -> None:
    result = gradcheck("a+b+c+d", "--sweep", "a=0:1", "--sweep", "b=0:1", "--sweep", "c=0:1",
                       "--sweep", "d=0:1")
    assert result.exit_code == 2, result.output
    assert "MAX_SWEEP_VARIABLES" in result.stderr
    with pytest.raises(InputError, match="twice"):
        prepare_sweep("x*y", ["x=0:1", "x=1:2"], [])


def test_a_3d_plot_is_a_usage_error(gradcheck: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "cube.png"
    result = gradcheck("x*y*z", "--sweep", "x=0:1", "--sweep", "y=0:1", "--sweep", "z=0:1",
                       "--plot", str(path))
    assert result.exit_code == 2, result.output
    assert "--plot draws a sweep over one variable" in result.stderr
    assert not path.exists()


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_the_2d_plot_is_written(gradcheck: Callable[..., Result], tmp_path: Path,
                                suffix: str) -> None:
    pytest.importorskip("matplotlib", reason="the floor venv (.ci/run) has no matplotlib")
    path = tmp_path / f"map.{suffix}"
    result = gradcheck("log(1+exp(x))*y", "--sweep", "x=-1000:1000", "--sweep", "y=1:2",
                       "--samples", "400", "--plot", str(path))
    assert result.exit_code == 1, result.output
    if suffix == "png":
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    else:
        root = ElementTree.parse(path).getroot()
        assert root.tag.endswith("svg")
        assert "overflow" in path.read_text("utf-8")  # the failing box is labelled
