"""Plots of sweeps (gradcheck_cli/plot.py): files that open, atomic writes, the missing extra.

The tests that draw need matplotlib (the ``plot`` extra, in the ``test`` and ``dev``
extras); where it is not installed (CI's floor venv) they skip and say so. The tests of
the missing extra and of the suffix run everywhere.
"""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck_cli import plot
from gradcheck_cli.plot import Box, PlotUnavailable, Region, Sweep1D, Sweep2D, plot_sweep_1d, plot_sweep_2d

LOG_DBL_MAX = 709.782712893384  # log(DBL_MAX): exp overflows in float64 above it


def _need_matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the plot extra)")


def _softplus() -> Sweep1D:
    """log(1+exp(x)) over -1000..1000 in float64, as autograd computes it and exactly."""
    x = np.linspace(-1000.0, 1000.0, 20001)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        value_autograd = np.log(1 + e)
        derivative_autograd = e / (1 + e)  # inf/inf = nan above log(DBL_MAX)
    value_exact = np.logaddexp(0.0, x)
    derivative_exact = 0.5 * (1 + np.tanh(x / 2))
    bits = np.where(np.isfinite(derivative_autograd), 0.0, 64.0)
    return Sweep1D("x", "log(1+exp(x))", "float64", x, value_exact, value_autograd, derivative_exact,
                   derivative_autograd, bits, [Region(LOG_DBL_MAX, 1000.0, "overflow")])


def _origin() -> Sweep2D:
    """sqrt(x**2+y**2) on a grid through the origin, where autograd's gradient is nan."""
    g = np.linspace(-1.0, 1.0, 41)
    bits = np.zeros((g.size, g.size))
    bits[20, 20] = math.nan
    boxes = [Box(0.0, 0.0, 0.0, 0.0, "autograd_nan")]
    return Sweep2D("x", "y", "sqrt(x**2+y**2)", "float64", g, g, bits, boxes)


def _captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures plot would save, kept for inspection (and still written)."""
    figures: list[Any] = []
    save = plot._save

    def keep(fig: Any, path: str, fmt: str) -> None:
        figures.append(fig)
        save(fig, path, fmt)

    monkeypatch.setattr(plot, "_save", keep)
    return figures


# --- formats -------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".PNG"])
def test_png_has_the_png_signature(tmp_path: Path, suffix: str) -> None:
    _need_matplotlib()
    path = tmp_path / f"softplus{suffix}"
    plot_sweep_1d(str(path), _softplus())
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_parses_as_svg(tmp_path: Path) -> None:
    _need_matplotlib()
    path = tmp_path / "softplus.svg"
    plot_sweep_1d(str(path), _softplus())
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_pdf_has_the_pdf_header(tmp_path: Path) -> None:
    _need_matplotlib()
    path = tmp_path / "softplus.pdf"
    plot_sweep_1d(str(path), _softplus())
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-32:]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_2d_heat_map_in_each_format(tmp_path: Path, suffix: str) -> None:
    _need_matplotlib()
    path = tmp_path / f"origin{suffix}"
    plot_sweep_2d(str(path), _origin())
    head = path.read_bytes()[:8]
    expected = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF-"}[suffix]
    assert head.startswith(expected)


@pytest.mark.parametrize("name", ["plot.jpg", "plot", "plot.png.txt", "plot.svgz"])
def test_an_unknown_suffix_is_a_value_error_naming_the_formats(tmp_path: Path, name: str) -> None:
    # Runs without matplotlib: the suffix is checked before anything is loaded.
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        plot_sweep_1d(str(tmp_path / name), _softplus())
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        plot_sweep_2d(str(tmp_path / name), _origin())
    assert list(tmp_path.iterdir()) == []


def test_lists_are_accepted_as_well_as_arrays(tmp_path: Path) -> None:
    _need_matplotlib()
    path = tmp_path / "small.png"
    data = Sweep1D("t", "t**2", "float32", [-1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0],
                   [-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0], [0.0, 0.0, 0.0], [])
    plot_sweep_1d(str(path), data)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_a_2d_grid_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    _need_matplotlib()
    bad = Sweep2D("x", "y", "x*y", "float64", [0.0, 1.0, 2.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]], [])
    with pytest.raises(ValueError, match=r"expected \(len\(y\), len\(x\)\) = \(2, 3\)"):
        plot_sweep_2d(str(tmp_path / "bad.png"), bad)
    assert list(tmp_path.iterdir()) == []


# --- atomic writes -------------------------------------------------------------------

def test_no_partial_file_is_left_after_a_plot(tmp_path: Path) -> None:
    _need_matplotlib()
    plot_sweep_1d(str(tmp_path / "a.png"), _softplus())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_an_unwritable_path_raises_oserror_and_leaves_nothing(tmp_path: Path) -> None:
    _need_matplotlib()
    with pytest.raises(OSError):
        plot_sweep_1d(str(tmp_path / "no-such-dir" / "a.png"), _softplus())
    with pytest.raises(OSError):
        plot_sweep_2d(str(tmp_path / "no-such-dir" / "a.svg"), _origin())
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_rendering_keeps_the_old_file_and_removes_the_partial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_matplotlib()
    from matplotlib.figure import Figure

    path = tmp_path / "a.png"
    path.write_bytes(b"the previous plot")

    def half_written(self: Any, fname: str, **kwargs: Any) -> None:
        Path(fname).write_bytes(b"\x89PNG half")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(Figure, "savefig", half_written)
    with pytest.raises(RuntimeError, match="renderer died"):
        plot_sweep_1d(str(path), _softplus())
    assert path.read_bytes() == b"the previous plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


# --- matplotlib is optional ------------------------------------------------------------

def test_importing_the_module_does_not_import_matplotlib_or_numpy() -> None:
    code = ("import sys, gradcheck_cli.plot; "
            "print(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_without_matplotlib_plotting_names_the_extra(tmp_path: Path) -> None:
    # A fresh interpreter where importing matplotlib fails, as it does where it is not installed.
    code = f"""
import sys
sys.modules["matplotlib"] = None
from gradcheck_cli.plot import PlotUnavailable, plot_sweep_2d, Sweep2D
try:
    plot_sweep_2d({str(tmp_path / "a.png")!r}, Sweep2D("x", "y", "x*y", "float64", [0.0], [0.0], [[0.0]], []))
except PlotUnavailable as error:
    print("PlotUnavailable:", error)
"""
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == 'PlotUnavailable: plots need matplotlib: pip install "gradcheck-cli[plot]"'
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same where matplotlib is loaded already: the import itself is what fails.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(PlotUnavailable, match=r'pip install "gradcheck-cli\[plot\]"'):
        plot_sweep_1d(str(tmp_path / "a.pdf"), _softplus())
    assert list(tmp_path.iterdir()) == []


# --- what the figures show --------------------------------------------------------------

def test_1d_figure_panels_labels_scales_and_regions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_matplotlib()
    figures = _captured(monkeypatch)
    plot_sweep_1d(str(tmp_path / "s.png"), _softplus())
    (fig,) = figures
    value, derivative, bits = fig.axes
    assert fig.get_suptitle() == "log(1+exp(x))   (float64)"
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "d/dx", "bits of error"]
    assert bits.get_xlabel() == "x"
    # The exact value runs from exp(-1000) = 0 in float64 up to 1000: decades, never negative.
    assert value.get_yscale() == "symlog" and value.get_ylim()[0] == 0
    assert value.get_ylim()[1] >= 1000.0  # log(1+exp(1000)), the largest value, is on the axis
    assert bits.get_yscale() == "linear" and bits.get_ylim() == pytest.approx((0, 64 * 1.05))
    assert bits.get_xlim() == (-1000.0, 1000.0)
    # autograd's +inf value and nan derivative above log(DBL_MAX) are marked, and named.
    assert "autograd +inf" in [t.get_text() for t in value.get_legend().get_texts()]
    assert "autograd nan" in [t.get_text() for t in derivative.get_legend().get_texts()]
    inf_marks = next(line for line in value.get_lines() if line.get_label() == "autograd +inf")
    assert min(inf_marks.get_xdata()) > LOG_DBL_MAX
    # The failing region is shaded on every panel, named on the top one and in the legend.
    assert "overflow" in [t.get_text() for t in value.texts]
    assert "failing: overflow" in [t.get_text() for t in bits.get_legend().get_texts()]
    for ax in fig.axes:
        (span,) = ax.patches
        # A Polygon before matplotlib 3.9, a Rectangle since: its corners, either way.
        xs = span.get_patch_transform().transform(span.get_path().vertices)[:, 0]
        assert min(xs) == pytest.approx(LOG_DBL_MAX) and max(xs) == pytest.approx(1000.0)


def test_1d_point_region_and_x_scales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # x*sqrt(x) on [0, 1] fails only at 0: a region of no width still shows, as a line.
    _need_matplotlib()
    figures = _captured(monkeypatch)
    x = np.linspace(0.0, 1.0, 101)
    zeros = np.zeros_like(x)
    data = Sweep1D("x", "x*sqrt(x)", "float64", x, x * np.sqrt(x), x * np.sqrt(x), 1.5 * np.sqrt(x),
                   np.where(x == 0, np.nan, 1.5 * np.sqrt(x)), np.where(x == 0, 64.0, zeros),
                   [Region(0.0, 0.0, "autograd_nan")])
    plot_sweep_1d(str(tmp_path / "p.png"), data)
    value, _, bits = figures[0].axes
    marks = [line.get_xdata()[0] for line in bits.get_lines() if line.get_label() == "failing: autograd_nan"]
    assert marks == [0]
    assert value.get_yscale() == "linear"  # 0, and values from 1e-3 to 1: three decades
    assert bits.get_xscale() == "linear"


@pytest.mark.parametrize(("lo", "hi", "scale"), [
    (-1000.0, 1000.0, "linear"),
    (1e-300, 1e300, "log"),
    (-1e300, 1e300, "symlog"),
    (1.0, 100.0, "linear"),
])
def test_the_x_scale_follows_the_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        lo: float, hi: float, scale: str) -> None:
    _need_matplotlib()
    figures = _captured(monkeypatch)
    x = np.array([lo, (lo + hi) / 2, hi])
    ones = np.ones(3)
    plot_sweep_1d(str(tmp_path / "x.png"), Sweep1D("x", "x", "float64", x, x, x, ones, ones, 0 * ones, []))
    assert figures[0].axes[2].get_xscale() == scale


def test_2d_figure_colour_bar_and_boxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_matplotlib()
    figures = _captured(monkeypatch)
    plot_sweep_2d(str(tmp_path / "o.png"), _origin())
    fig = figures[0]
    ax, colour_bar = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert colour_bar.get_ylabel() == "bits of error"
    assert "autograd_nan" in [t.get_text() for t in ax.texts]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["failing: autograd_nan", "bits: inf/nan"]
    # The box of one point is marked at the origin.
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()] == [(0.0, 0.0)]


def test_the_envelope_keeps_every_spike() -> None:
    # 10**6 points drawn as at most ~4000, but a single spike and a single dip survive.
    y = np.zeros(10**6)
    y[123_457] = 50.0
    y[876_543] = -7.0
    y[500_000] = np.nan
    x = np.arange(y.size, dtype=float)
    xs, ys = plot._envelope(x, y)
    assert xs.size <= 4002
    assert 123_457.0 in xs and 876_543.0 in xs
    assert np.nanmax(ys) == 50.0 and np.nanmin(ys) == -7.0
    assert np.all(np.diff(xs) > 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_sweep_over_the_whole_finite_range_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   dtype: str) -> None:
    # --sweep x=-inf:inf: from minus the largest float to the largest, values as large.
    _need_matplotlib()
    biggest = float(np.finfo(dtype).max)
    x = np.array([-biggest, -1e10, -1.0, -1e-30, 0.0, 1e-30, 1.0, 1e10, biggest])
    with np.errstate(over="ignore", invalid="ignore"):
        squared = (x.astype(dtype) * x.astype(dtype)).astype(float)
        exact = x * x  # inf beyond sqrt(DBL_MAX): not drawn, as any non-finite exact value
        derivative = 2 * x
    bits = np.where(np.isfinite(squared), 0.0, 32.0)
    data = Sweep1D("x", "x**2", dtype, x, exact, squared, derivative, derivative, bits,
                   [Region(-math.inf, -1e10, "overflow"), Region(1e10, math.inf, "overflow")])
    path = tmp_path / "whole.png"
    figures = _captured(monkeypatch)
    plot_sweep_1d(str(path), data)
    value, derivative, _ = figures[0].axes
    assert value.get_ylim()[1] >= float(np.nanmax(np.where(np.isfinite(exact), exact, np.nan)))
    assert derivative.get_ylim()[0] <= -2e10 and derivative.get_ylim()[1] >= 2e10
    assert figures[0].axes[2].get_xlim() == (-biggest, biggest)
    assert path.read_bytes()[:4] == b"\x89PNG"
    positive = np.array([1e-300, 1e-10, 1.0, 1e300]) if dtype == "float64" else np.array([1e-38, 1.0, 1e38])
    grid = Sweep2D("x", "y", "x*y", dtype, x, positive, np.zeros((positive.size, x.size)),
                   [Box(-biggest, biggest, float(positive[0]), float(positive[-1]), "overflow")])
    plot_sweep_2d(str(tmp_path / "whole2.svg"), grid)
    assert ET.parse(tmp_path / "whole2.svg").getroot().tag.endswith("svg")


# --- warnings are not failures --------------------------------------------------------

def _svg_texts(path: Path) -> list[str]:
    """The texts of an SVG matplotlib wrote: it draws each text as paths, each after a
    comment holding the text itself."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser).getroot()
    return [str(node.text).strip() for node in root.iter() if node.tag is ET.Comment]


def test_the_legend_tells_a_warning_from_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One category as a warning and as a failure, another as an error: three entries,
    # each named by its status.
    _need_matplotlib()
    figures = _captured(monkeypatch)
    x = np.linspace(0.0, 10.0, 101)
    ones = np.ones_like(x)
    regions = [Region(1.0, 2.0, "overflow", "warn"), Region(5.0, 6.0, "overflow", "fail"),
               Region(8.0, 8.0, "autograd_nan", "error"), Region(3.0, 4.0, "overflow", "warn")]
    path = tmp_path / "told_apart.svg"
    plot_sweep_1d(str(path), Sweep1D("x", "f", "float64", x, x, x, ones, ones, 0 * ones, regions))
    named = [t for t in _svg_texts(path) if t.startswith(("warning:", "failing:"))]
    assert named == ["warning: overflow", "failing: overflow", "failing: autograd_nan"]
    # A warning is hatched, a failure is not, on every panel.
    for ax in figures[0].axes:
        spans = sorted(ax.patches, key=lambda p: p.get_path().get_extents(p.get_patch_transform()).x0)
        assert [bool(p.get_hatch()) for p in spans] == [True, True, False]


def test_the_2d_legend_tells_a_warning_from_a_failure(tmp_path: Path) -> None:
    _need_matplotlib()
    g = np.linspace(-1.0, 1.0, 21)
    boxes = [Box(-0.5, -0.2, 0.2, 0.5, "uncertain", "warn"), Box(0.0, 0.0, 0.0, 0.0, "autograd_nan")]
    path = tmp_path / "told_apart_2d.svg"
    plot_sweep_2d(str(path), Sweep2D("x", "y", "f", "float64", g, g, np.zeros((21, 21)), boxes))
    named = [t for t in _svg_texts(path) if t.startswith(("warning:", "failing:"))]
    assert named == ["warning: uncertain", "failing: autograd_nan"]
