"""Plots of a sweep (``--plot FILE``): matplotlib, an optional extra, loaded only here.

The light core never imports matplotlib (nor numpy) at module level: both are imported
inside the functions, so ``import gradcheck_cli.plot`` costs nothing and works without
the extra. Figures use the object-oriented API (``Figure`` with the Agg canvas), never
pyplot: no display, no global state, no backend to select.

The file is written atomically, as ``--output`` is: to ``PATH.partial``, then renamed.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = 'pip install "gradcheck-cli[plot]"'
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

# Bits of a dtype's whole encoding: the ceiling of Herbie's bits-of-error measure.
_DTYPE_BITS = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 16}
# Shading per category; categories not listed take the fallback.
_CATEGORY_COLOURS = {
    "overflow": "#d62728",
    "underflow": "#9467bd",
    "autograd_nan": "#e377c2",
    "cancellation": "#ff7f0e",
    "uncertain": "#7f7f7f",
}
_FALLBACK_COLOUR = "#bcbd22"
# A warning (the verdict ``warn``: uncertain, an overflow both sides agree on) is shaded
# lighter and hatched, a failure solid: the eye tells them apart without the legend.
_WARN_HATCH = "//"
# Above this many samples a series is drawn as its min/max envelope per bin: the same
# picture (every spike survives), a fraction of the drawing time and file size.
_MAX_DRAWN = 4000
# A y axis whose |values| span more than this ratio gets a log or symlog scale.
_DECADES_RATIO = 1e4


class PlotUnavailable(Exception):  # noqa: N818 (the name the sweep's CLI catches)
    """matplotlib is not installed: the message names the extra that brings it."""


@dataclass(frozen=True)
class Region:
    """A failing region of a 1-D sweep, to shade and label: [lo, hi], its category and
    its status (``warn`` is drawn and named as a warning, ``fail``/``error`` as failing)."""

    lo: float
    hi: float
    category: str
    status: str = "fail"


@dataclass(frozen=True)
class Sweep1D:
    """What a 1-D plot shows; sequences may be lists or numpy arrays, all as long as ``x``."""

    variable: str
    expression: str
    dtype: str
    x: Sequence[float]
    value_exact: Sequence[float]
    value_autograd: Sequence[float]
    derivative_exact: Sequence[float]
    derivative_autograd: Sequence[float]
    bits_error: Sequence[float]
    regions: Sequence[Region]


@dataclass(frozen=True)
class Box:
    """A failing region of a 2-D sweep: its bounding box, category and status (as
    :class:`Region`'s)."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    category: str
    status: str = "fail"


@dataclass(frozen=True)
class Sweep2D:
    """What a 2-D plot shows: ``bits_error[i][j]`` is at ``(x[j], y[i])``."""

    x_variable: str
    y_variable: str
    expression: str
    dtype: str
    x: Sequence[float]
    y: Sequence[float]
    bits_error: Sequence[Sequence[float]]
    boxes: Sequence[Box]


def plot_format(path: str) -> str:
    """The format named by the path's suffix (``png``, ``svg`` or ``pdf``).

    Raises :class:`ValueError` for any other suffix, before any work is done.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot plot to {path!r}: the file name must end in .png, .svg or .pdf")
    return FORMATS[suffix]


def plot_sweep_1d(path: str, data: Sweep1D) -> None:
    """Write the plot of a 1-D sweep to ``path``: value, derivative and bits of error.

    Raises :class:`ValueError` for an unknown suffix, :class:`PlotUnavailable` without
    matplotlib, :class:`OSError` when the file cannot be written (nothing is left behind).
    """
    _render(_draw_1d, path, data)


def _render(draw: Callable[[Any, str, str, Any], None], path: str, data: Any) -> None:
    """The steps both plots share: the format (first: a wrong suffix costs nothing),
    matplotlib, then ``draw``."""
    fmt = plot_format(path)
    figure_class = _matplotlib()
    import numpy as np

    # matplotlib's transforms overflow harmlessly for a range that ends at the largest float.
    with np.errstate(over="ignore", invalid="ignore"):
        draw(figure_class, path, fmt, data)


def _draw_1d(figure_class: Any, path: str, fmt: str, data: Sweep1D) -> None:
    import numpy as np

    x = np.asarray(data.x, dtype=float)
    fig = figure_class(figsize=(10, 9), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, height_ratios=(3, 3, 2))
    fig.suptitle(f"{data.expression}   ({data.dtype})")
    var = data.variable
    for ax in axes:
        # The x axis is the range itself (and a margin past a range that ends at the
        # largest float would overflow).
        ax.set_xmargin(0)
    _set_x_scale(axes[2], x)
    panels = (
        (axes[0], data.value_exact, data.value_autograd, "value", "exact (SymPy)", "autograd"),
        (axes[1], data.derivative_exact, data.derivative_autograd, f"d/d{var}",
         "exact derivative (SymPy)", "autograd derivative"),
    )
    for ax, exact, autograd, ylabel, exact_label, autograd_label in panels:
        exact_a = np.asarray(exact, dtype=float)
        autograd_a = np.asarray(autograd, dtype=float)
        from_zero = _set_y_scale(ax, np.concatenate([exact_a, autograd_a]))
        _line(ax, x, exact_a, color="#1f77b4", lw=2.2, alpha=0.6, label=exact_label)
        _line(ax, x, autograd_a, color="#ff7f0e", lw=1.0, ls="--", label=autograd_label)
        if from_zero:
            ax.set_ylim(bottom=0)  # after the lines: the top stays autoscaled
        _mark_non_finite(ax, x, autograd_a, "autograd")
        ax.set_ylabel(ylabel)

    bits = np.asarray(data.bits_error, dtype=float)
    ceiling = _DTYPE_BITS.get(data.dtype)
    ax_bits = axes[2]
    _line(ax_bits, x, bits, color="#2ca02c", lw=1.0, label="bits of error")
    _mark_non_finite(ax_bits, x, bits, "bits")
    finite_bits = bits[np.isfinite(bits)]
    top = ceiling if ceiling is not None else (float(finite_bits.max()) if finite_bits.size else 1.0)
    ax_bits.set_ylim(0, max(top, 1.0) * 1.05)
    ax_bits.set_ylabel("bits of error")
    ax_bits.set_xlabel(var)

    if x.size and x[0] < x[-1]:
        ax_bits.set_xlim(float(x[0]), float(x[-1]))
    _shade_regions(axes, data.regions, x)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        _legend(ax)
    _save(fig, path, fmt)


def plot_sweep_2d(path: str, data: Sweep2D) -> None:
    """Write the plot of a 2-D sweep to ``path``: a heat map of bits of error with boxes.

    Raises as :func:`plot_sweep_1d` does.
    """
    _render(_draw_2d, path, data)


def _draw_2d(figure_class: Any, path: str, fmt: str, data: Sweep2D) -> None:
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    x = np.asarray(data.x, dtype=float)
    y = np.asarray(data.y, dtype=float)
    bits = np.asarray(data.bits_error, dtype=float)
    if bits.shape != (y.size, x.size):
        raise ValueError(f"bits_error has shape {bits.shape}, expected (len(y), len(x)) = {(y.size, x.size)}")
    fig = figure_class(figsize=(8, 6.5), layout="constrained")
    ax = fig.add_subplot()
    fig.suptitle(f"{data.expression}   ({data.dtype})")
    ceiling = _DTYPE_BITS.get(data.dtype)
    finite = bits[np.isfinite(bits)]
    vmax = ceiling if ceiling is not None else (float(finite.max()) if finite.size else 1.0)
    cmap = colormaps["viridis"].with_extremes(bad="#ff00ff")
    x_edges = _edges(x, geometric=_set_x_scale(ax, x) == "log")
    y_edges = _edges(y, geometric=_set_x_scale(ax, y, axis="y") == "log")
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(bits), shading="flat", cmap=cmap,
                         vmin=0, vmax=max(vmax, 1.0), rasterized=True)
    fig.colorbar(mesh, ax=ax, label="bits of error")
    if x.size > 1:
        ax.set_xlim(float(x_edges[0]), float(x_edges[-1]))
    if y.size > 1:
        ax.set_ylim(float(y_edges[0]), float(y_edges[-1]))
    ax.set_xlabel(data.x_variable)
    ax.set_ylabel(data.y_variable)

    handles: list[Any] = []
    seen: set[str] = set()
    for box in data.boxes:
        colour = _CATEGORY_COLOURS.get(box.category, _FALLBACK_COLOUR)
        warning = box.status == "warn"
        style: dict[str, Any] = {"ls": "--", "hatch": _WARN_HATCH} if warning else {}
        ax.add_patch(Rectangle((box.x_lo, box.y_lo), box.x_hi - box.x_lo, box.y_hi - box.y_lo,
                               fill=False, edgecolor=colour, lw=2, **style))
        cx, cy = (box.x_lo + box.x_hi) / 2, (box.y_lo + box.y_hi) / 2
        corners = ax.transData.transform([(box.x_lo, box.y_lo), (box.x_hi, box.y_hi)])
        if min(abs(corners[1] - corners[0])) < 6:
            # A box of (almost) no area (one failing sample, or a region a few floats
            # wide around 0): a rectangle would not show.
            ax.plot([cx], [cy], marker="D" if warning else "s", ms=12, mfc="none", mec=colour, mew=2)
        ax.annotate(box.category, (box.x_hi, box.y_hi), xytext=(4, 4), textcoords="offset points",
                    fontsize=9, fontweight="bold", **_tag_style(colour, warning))
        label = _region_label(box.category, box.status)
        if label not in seen:
            seen.add(label)
            handles.append(Patch(fill=False, edgecolor=colour, lw=2, label=label, **style))
    if not np.all(np.isfinite(bits)):
        handles.append(Line2D([], [], ls="none", marker="s", mfc="#ff00ff", mec="none",
                              label="bits: inf/nan"))
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8)
    _save(fig, path, fmt)


def _matplotlib() -> Any:
    """matplotlib's ``Figure`` class, or :class:`PlotUnavailable` naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotUnavailable(f"plots need matplotlib: {INSTALL_HINT}") from error
    return Figure


def _save(fig: Any, path: str, fmt: str) -> None:
    """Render to ``PATH.partial`` and rename it to ``path``; remove it on any failure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # a canvas that needs no display; savefig switches it for svg/pdf
    partial = path + ".partial"
    try:
        fig.savefig(partial, format=fmt, dpi=120)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _edges(v: Any, geometric: bool) -> Any:
    """Cell edges around sorted grid samples: midpoints, the outer cells ending at the
    first and last sample (so that a range to the largest float stays finite).

    Geometric midpoints between samples of one sign on a log axis, where an arithmetic one
    would give the lower cell nearly all the decades between them.
    """
    import numpy as np

    if v.size < 2:
        half = abs(float(v[0])) / 2 or 0.5 if v.size else 0.5
        centre = float(v[0]) if v.size else 0.0
        return np.array([centre - half, centre + half])
    a, b = v[:-1], v[1:]
    middle = a / 2 + b / 2  # never overflows, unlike (a + b) / 2
    if geometric:
        same_sign = (a * b) > 0
        middle = np.where(same_sign, np.sign(a) * np.sqrt(np.abs(a)) * np.sqrt(np.abs(b)), middle)
    return np.concatenate([v[:1], middle, v[-1:]])


def _envelope(x: Any, y: Any) -> tuple[Any, Any]:
    """``(x, y)`` thinned to at most about ``_MAX_DRAWN`` points, keeping each bin's min and max."""
    import numpy as np

    n = x.size
    if n <= _MAX_DRAWN:
        return x, y
    per_bin = math.ceil(n / (_MAX_DRAWN // 2))
    bins = math.ceil(n / per_bin)
    padded = bins * per_bin
    yy = np.full(padded, np.nan)
    yy[:n] = y
    yy = yy.reshape(bins, per_bin)
    finite = np.isfinite(yy)
    low = np.where(finite, yy, np.inf).argmin(axis=1)
    high = np.where(finite, yy, -np.inf).argmax(axis=1)
    base = np.arange(bins) * per_bin
    index = np.unique(np.concatenate([base + low, base + high]))
    index = index[index < n]
    return x[index], y[index]


def _line(ax: Any, x: Any, y: Any, **style: Any) -> None:
    """Draw the finite part of a series (gaps where it is not finite)."""
    import numpy as np

    y = np.where(np.isfinite(y), y, np.nan)
    xs, ys = _envelope(x, y)
    ax.plot(xs, ys, **style)


def _mark_non_finite(ax: Any, x: Any, y: Any, what: str) -> None:
    """Markers at the top (+inf, nan) or bottom (-inf) edge where ``y`` is not finite."""
    import numpy as np

    transform = ax.get_xaxis_transform()  # x in data, y in axes coordinates
    for mask, edge, marker, colour, label in (
        (np.isposinf(y), 0.97, "^", "#d62728", f"{what} +inf"),
        (np.isneginf(y), 0.03, "v", "#d62728", f"{what} -inf"),
        (np.isnan(y), 0.97, "x", "#8c564b", f"{what} nan"),
    ):
        where = x[mask]
        if where.size == 0:
            continue
        if where.size > 80:
            # Enough markers to show where, few enough to stay markers and not a bar.
            where = where[np.linspace(0, where.size - 1, 80).astype(int)]
        ax.plot(where, np.full(where.size, edge), ls="none", marker=marker, ms=5, color=colour,
                transform=transform, clip_on=False, label=label)


def _set_y_scale(ax: Any, values: Any) -> bool:
    """Linear, log or symlog, by how many decades the finite |values| span; whether the
    axis should then start at 0 (a symlog axis of values never negative)."""
    import numpy as np

    finite = values[np.isfinite(values)]
    nonzero = np.abs(finite[finite != 0])
    if nonzero.size == 0:
        return False
    top, bottom = float(nonzero.max()), float(nonzero.min())
    if top / bottom <= _DECADES_RATIO:
        return False
    low, high = float(finite.min()), float(finite.max())
    if top > 1e100:
        # A margin of 5% of hundreds of decades would put the limit past the largest float.
        ax.set_ymargin(0)
    if low > 0:
        ax.set_yscale("log")
        _decade_ticks(ax.yaxis, bottom, top)
        return False
    # Linear below the smallest nonzero |value|, so that zeros show, and logarithmic above;
    # but over at most 250 decades: near 300 (with the margins), matplotlib's symlog
    # inverse overflows (exp of more than 709) and the axis limits come out wrong.
    linthresh = max(bottom, top * 1e-250)
    ax.set_yscale("symlog", linthresh=linthresh)
    _decade_ticks(ax.yaxis, low, high, linthresh=linthresh)
    # No negative decades to show for values that are never negative.
    return low >= 0


def _decade_ticks(axis: Any, lo: float, hi: float, linthresh: float | None = None) -> None:
    """About 8 ticks at powers of ten (and their negatives, and 0) within [lo, hi], on a log
    axis or (with ``linthresh``) a symlog one.

    matplotlib's own locators round their stride of decades outwards, and near the largest
    float their ticks become inf (and the drawing fails): these stay inside the range.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    def decades(a: float, b: float) -> list[int]:
        return list(range(math.ceil(math.log10(a)), math.floor(math.log10(b)) + 1)) if a <= b else []

    if linthresh is None:
        positive, negative, zero = decades(lo, hi), [], False
    else:
        positive = decades(max(linthresh, lo), hi) if hi >= linthresh else []
        negative = decades(max(linthresh, -hi), -lo) if -lo >= linthresh else []
        zero = lo <= 0 <= hi
    stride = max(1, math.ceil((len(positive) + len(negative)) / 8))

    def every(ks: list[int]) -> list[int]:
        # From the largest decade down, and none within a stride of 0's tick, which
        # would print over it.
        kept = ks[::-1][::stride]
        return [k for k in kept if not (zero and stride > 1 and k - ks[0] < stride)]

    ticks = [-(10.0**k) for k in every(negative)] + ([0.0] if zero else [])
    ticks += [10.0**k for k in reversed(every(positive))]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_minor_locator(NullLocator())


def _set_x_scale(ax: Any, x: Any, axis: str = "x") -> str:
    """Log for a positive range over many decades, symlog for a signed range reaching far out.

    Decided from the range's ends, not the samples: samples near 0 (uniform over the bit
    patterns) would otherwise turn -1000..1000 into 300 decades of nearly nothing.
    """
    import numpy as np

    finite = x[np.isfinite(x)]
    if finite.size < 2:
        return "linear"
    lo, hi = float(finite.min()), float(finite.max())
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if max(abs(lo), abs(hi)) > 1e100:
        # The axis ends at the range's ends: a margin (of decades, on a log axis) would put
        # the limits past the largest float.
        (ax.set_xmargin if axis == "x" else ax.set_ymargin)(0)
    if lo > 0 and hi / lo > _DECADES_RATIO:
        setter("log")
        _decade_ticks(ax.xaxis if axis == "x" else ax.yaxis, lo, hi)
    elif hi < 0 and lo / hi > _DECADES_RATIO:
        setter("symlog", linthresh=-hi)
        _decade_ticks(ax.xaxis if axis == "x" else ax.yaxis, lo, hi, linthresh=-hi)
    elif lo < 0 < hi and max(-lo, hi) > 1e6:
        setter("symlog", linthresh=1.0)
        _decade_ticks(ax.xaxis if axis == "x" else ax.yaxis, lo, hi, linthresh=1.0)
    else:
        return "linear"
    return "log"


def _region_label(category: str, status: str) -> str:
    """The legend's name of a region: a warning is not a failure."""
    return f"{'warning' if status == 'warn' else 'failing'}: {category}"


def _tag_style(colour: str, warning: bool) -> dict[str, Any]:
    """The category tag on a region: white on the colour for a failure, the colour on
    white (outlined, dashed) for a warning."""
    if warning:
        return {"color": colour, "bbox": {"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour,
                                          "ls": "--", "alpha": 0.9}}
    return {"color": "white", "bbox": {"boxstyle": "round,pad=0.2", "fc": colour, "ec": "none",
                                       "alpha": 0.9}}


def _shade_regions(axes: Any, regions: Sequence[Region], x: Any) -> None:
    """Shade each failing region on every panel (a warning lighter and hatched) and name
    its category on the top one."""
    if x.size == 0:
        return
    x_lo, x_hi = float(x[0]), float(x[-1])
    seen: set[str] = set()
    for region in regions:
        lo, hi = max(region.lo, x_lo), min(region.hi, x_hi)
        colour = _CATEGORY_COLOURS.get(region.category, _FALLBACK_COLOUR)
        warning = region.status == "warn"
        name = _region_label(region.category, region.status)
        for i, ax in enumerate(axes):
            label = name if i == len(axes) - 1 and name not in seen else None
            if hi > lo and warning:
                # The hatch takes the edge colour; a zero line width leaves no outline.
                ax.axvspan(lo, hi, facecolor=colour, edgecolor=colour, alpha=0.45, lw=0, fill=False,
                           hatch=_WARN_HATCH, label=label)
            elif hi > lo:
                ax.axvspan(lo, hi, color=colour, alpha=0.15, lw=0, label=label)
            else:
                # One failing point: a span of no width would not show.
                ax.axvline(lo, color=colour, alpha=0.6, lw=2, ls="--" if warning else "-", label=label)
        seen.add(name)
        axes[0].annotate(region.category, ((lo + hi) / 2, 1.0), xycoords=axes[0].get_xaxis_transform(),
                         xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                         fontsize=9, fontweight="bold", annotation_clip=False,
                         **_tag_style(colour, warning))


def _legend(ax: Any) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="best", fontsize=8)
