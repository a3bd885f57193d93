"""A sweep's report: the table (summary, regions, sparkline, worst point) and JSON."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..results import Status
from ..sweep import Region, SweepResult
from .json import SCHEMA_VERSION, check_record, number

if TYPE_CHECKING:
    from rich.console import Console

#: Eight heights of the sparkline, lowest first.
BARS = "▁▂▃▄▅▆▇█"


def sparkline(bits: tuple[float, ...], width: int, most: float) -> str:
    """Bits of error over the range in ``width`` characters: each the largest of its
    stretch of the range, ``█`` at ``most`` bits (every bit wrong; nan and inf count as
    that), a space where no sample fell."""
    if not bits:
        return ""
    count = min(width, len(bits))
    line = []
    for index in range(count):
        stretch = bits[index * len(bits) // count:(index + 1) * len(bits) // count] or \
            (bits[index * len(bits) // count],)
        known = [b for b in stretch if not math.isnan(b)]
        if not known:
            line.append(" ")  # no sample in this stretch of the range
            continue
        worst = min(max(known), most)
        line.append(BARS[int(worst / most * (len(BARS) - 1) + 0.5)])
    return "".join(line)


def _short(value: float) -> str:
    return f"{value:.15g}"


def _boundary_text(region: Region) -> str:
    if not region.boundary:
        return "(the range's end)"
    # Every digit: the two sides are adjacent floats.
    return ", ".join(f"{a!r} | {b!r}" for a, b in region.boundary)


def _table_if_it_fits(console: Console, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                      width: int) -> bool:
    """Print ``rows`` as a table if every cell fits whole in ``width`` columns (the numbers
    are read whole or not at all); return whether it did."""
    from rich.table import Table

    widths = [max(len(column), *(len(str(row[i])) for row in rows))
              for i, column in enumerate(columns)]
    if sum(widths) + 2 * (len(columns) - 1) > width:
        return False
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return True


def render_sweep_table(result: SweepResult, *, color: bool = False, width: int = 120) -> str:
    """The sweep as text: a summary line, the regions, the sparkline, the worst point."""
    from rich.text import Text

    from .table import check_renderable, finish, make_console, status_mark

    buffer = io.StringIO()
    console = make_console(buffer, color, width)
    ranges = ", ".join(f"{r.name} in [{_short(r.low)}, {_short(r.high)}]" for r in result.ranges)
    console.print(Text(f"sweep of {result.expression}  over  {ranges}  ({result.dtype})",
                       style="bold"))
    console.print(summary_text(result))
    if result.regions and len(result.ranges) > 1:
        _print_boxes(console, result, width)
    elif result.regions:
        columns = ("status", "from", "to", "boundary (outside | inside)", "category",
                   "worst point", "max bits")
        rows = []
        for region in result.regions:
            (name,) = region.start
            worst = dict(region.worst.point).get(name)
            rows.append((status_mark(region.status), _short(region.start[name]),
                         _short(region.end[name]), _boundary_text(region),
                         str(region.category),
                         "" if not isinstance(worst, float) else _short(worst),
                         f"{region.max_bits_error:.1f}"))
        if not _table_if_it_fits(console, columns, rows, width):
            # A block per region, a boundary's two adjacent floats a line each.
            for row, region in zip(rows, result.regions, strict=True):
                heading = row[0].copy()
                heading.append(f"  {row[4]}  from {row[1]} to {row[2]}")
                console.print(heading)
                for outside, inside in region.boundary:
                    console.print(Text(f"  boundary: last outside {outside!r}"))
                    console.print(Text(f"            first inside {inside!r}"))
                console.print(Text(f"  worst point {row[5]}   max bits of error {row[6]}"))
    if result.regions:
        for region in result.regions:
            if region.suggestion is not None:
                verdict = "✓" if region.suggestion.passes else "✗"
                console.print(Text(f"suggestion: {region.suggestion.expression}  {verdict} "
                                   f"{region.suggestion.message}"))
                break  # one rewrite of the whole expression: the same for every region
    else:
        console.print("no region fails: every sample passes")
    if result.bits and len(result.ranges) == 1:
        most = {"float64": 64.0, "float32": 32.0}.get(result.dtype, 16.0)
        line = sparkline(result.bits, max(10, width - 20), most)
        console.print(Text(f"bits of error {line}"))
    console.print()
    console.print(Text("the worst point, checked exactly:", style="bold"))
    console.print(check_renderable(result.worst, width))
    return finish(buffer.getvalue(), color)


def _print_boxes(console: Any, result: SweepResult, width: int) -> None:
    """Regions of a sweep over several variables: a table where every number fits whole
    (a row per variable: the box's from and to, the worst point's coordinate), else a
    block per region with a line per corner."""
    from rich.text import Text

    from .table import status_mark

    columns = ("status", "var", "from", "to", "worst point", "max bits", "category")
    rows: list[tuple[Any, ...]] = []
    for region in result.regions:
        worst = dict(region.worst.point)
        for index, (name, low) in enumerate(region.start.items()):
            value = worst.get(name)
            first = index == 0
            rows.append((status_mark(region.status) if first else Text(""), name, _short(low),
                         _short(region.end[name]),
                         _short(value) if isinstance(value, float) else "",
                         f"{region.max_bits_error:.1f}" if first else "",
                         str(region.category) if first else ""))
    if _table_if_it_fits(console, columns, rows, width):
        return
    for region in result.regions:  # narrow: a block per region, every number whole
        heading = status_mark(region.status)
        heading.append(f"  {region.category}  max bits {region.max_bits_error:.1f}")
        console.print(heading)
        worst = dict(region.worst.point)
        for name, low in region.start.items():
            console.print(Text(f"  {name} from {_short(low)}"))
            console.print(Text(f"  {' ' * len(name)}   to {_short(region.end[name])}"))
        for name in region.start:
            value = worst.get(name)
            if isinstance(value, float):
                console.print(Text(f"  worst {name} = {_short(value)}"))


def summary_text(result: SweepResult) -> str:
    """``10,003 samples: 9,274 pass, 729 fail (overflow 729); 1 checked exactly``."""
    counts = ", ".join(f"{n:,} {s}" for s, n in result.by_status.items() if n)
    categories = ", ".join(f"{c} {n:,}" for c, n in result.by_category.items())
    text = f"{result.samples:,} samples"
    if result.special_points:
        text += f" (of which {result.special_points:,} special points)"
    text += f": {counts}"
    if categories:
        text += f" ({categories})"
    text += f"; {result.confirmed_exactly:,} checked exactly"
    if result.unsettled:
        text += (f"; {result.unsettled:,} the reference could not settle and the exact check "
                 "did not reach (counted as uncertain)")
    if result.reference_error > 2.0 ** -40:
        text += (f"; the reference was off by up to {result.reference_error:.2g} (relative) "
                 "where checked against mpmath (a cancellation, or an intermediate overflow "
                 "or underflow, that longdouble cannot hold either): verdicts there rest on "
                 "--atol, and bits of error are understated")
    if not result.wide_reference:
        text += "; reference in float64 only (numpy longdouble is float64 here)"
    if result.forward_mode:
        text += "; forward mode checked too"
    elif result.forward_note:
        text += f"; no forward mode ({result.forward_note})"
    return text


def sweep_record(result: SweepResult) -> dict[str, Any]:
    """The ``"sweep"`` object of the JSON report."""
    return {
        "ranges": {r.name: {"from": number(r.low), "to": number(r.high)} for r in result.ranges},
        "dtype": result.dtype,
        "samples": result.samples,
        "summary": {"by_status": result.by_status, "by_category": result.by_category},
        "confirmed_exactly": result.confirmed_exactly,
        "unsettled": result.unsettled,
        "wide_reference": result.wide_reference,
        "reference_error": None if math.isnan(result.reference_error)
        else result.reference_error,
        "special_points": result.special_points,
        "forward_mode": result.forward_mode,
        "forward_note": result.forward_note,
        "regions": [{
            "from": {k: number(v) for k, v in region.start.items()},
            "to": {k: number(v) for k, v in region.end.items()},
            "boundary": [[number(a), number(b)] for a, b in region.boundary],
            "status": region.status.value,
            "category": str(region.category),
            "max_bits_error": region.max_bits_error,
            "confirmed": region.confirmed,
            "worst": check_record(region.worst),
            "suggestion": None if region.suggestion is None else {
                "expression": region.suggestion.expression,
                "passes": region.suggestion.passes,
                "message": region.suggestion.message},
        } for region in result.regions],
    }


def render_sweep_json(result: SweepResult) -> str:
    """The JSON report: one check (the worst point) that carries the ``"sweep"`` object."""
    record = check_record(result.worst)
    record["sweep"] = sweep_record(result)
    status = result.status
    document = {
        "version": SCHEMA_VERSION,
        "summary": {"total": 1, **{s.value: int(status is s) for s in Status}},
        "checks": [record],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
