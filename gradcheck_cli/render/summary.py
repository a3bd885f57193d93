"""A batch at a glance: one row per check (line, expression, point, verdict, category,
largest difference), so that 46 passing checks take 46 lines, not 400.

The full table of each check that did not pass follows it (see :func:`render_table`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ..results import CheckResult, Comparison, Status
from . import cells
from .table import check_renderable, finish, make_console, status_mark, summary_line


def largest_difference(result: CheckResult) -> float | None:
    """The largest absolute difference of the check's comparisons; nan if any is nan."""
    comparisons: list[Comparison] = [c for c in (result.value, *result.derivatives) if c]
    found = [c.abs_diff for c in comparisons if c.abs_diff is not None]
    if any(math.isnan(d) for d in found):
        return math.nan
    return max(found, default=None)


def _where(results: Sequence[CheckResult]) -> tuple[str, list[str]]:
    """The header of the first column and its cells: line numbers when every check comes
    from the same file, else each check's ``file:line``."""
    sources = [r.source or "" for r in results]
    files = {s.rpartition(":")[0] for s in sources}
    if len(files) == 1 and all(s.rpartition(":")[2].isdigit() for s in sources):
        return "line", [s.rpartition(":")[2] for s in sources]
    return "source", sources


def _point(result: CheckResult) -> str:
    return ", ".join(f"{name}={cells.point_value(value)}" for name, value in result.point)


def summary_renderable(results: Sequence[CheckResult], width: int) -> RenderableType:
    """A row per check, or where such a table does not fit, two lines per check."""
    header, where = _where(results)
    rows = [(place, r.expression, _point(r), status_mark(r.status), str(r.category),
             cells.diff(largest_difference(r))) for place, r in zip(where, results, strict=True)]
    fixed = sum(max(cell_len(header if i == 0 else _FIXED[i]), *(cell_len(str(row[i])) for row in rows))
                for i in (0, 3, 4, 5))
    if fixed + _WRAPPED_MIN + _GAP * 5 > width:
        return _lines(rows)
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column(header, justify="right", no_wrap=True)
    table.add_column("expression", overflow="fold")
    table.add_column("point", overflow="fold")
    table.add_column(_FIXED[3], no_wrap=True)
    table.add_column(_FIXED[4], no_wrap=True)
    table.add_column(_FIXED[5], justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


#: Headers of the columns that are never wrapped (by position).
_FIXED = {3: "verdict", 4: "category", 5: "max diff"}
#: The expression and the point keep at least this many columns between them.
_WRAPPED_MIN = 24
_GAP = 3


def _lines(rows: Sequence[tuple[str, str, str, Text, str, str]]) -> RenderableType:
    """Two lines per check: where, verdict and category; then the check itself."""
    table = Table.grid(padding=(0, 1), pad_edge=False)
    table.add_column(no_wrap=True, justify="right")
    table.add_column(overflow="fold")
    for place, expression, point, mark, category, _ in rows:
        first = mark.copy()
        first.append(f"  {category}")
        table.add_row(place, first)
        table.add_row("", Text(f"{expression} @ {point}" if point else expression, style="dim"))
    return table


def render_batch(results: Sequence[CheckResult], *, color: bool = False, width: int = 120) -> str:
    """A batch for people: the row per check, then the full table of each check that did
    not pass, then the counts."""
    buffer = io.StringIO()
    console = make_console(buffer, color, width)
    console.print(summary_renderable(results, width))
    console.print()
    detailed = [r for r in results if r.status is not Status.PASS]
    for result in detailed:
        console.print(check_renderable(result, width))
        console.print()
    if len(detailed) < len(results):
        console.print(Text("(--verbose shows the table of every check)", style="dim"))
    console.print(summary_line(results))
    return finish(buffer.getvalue(), color)
