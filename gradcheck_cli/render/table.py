"""The Rich table: both answers side by side, every disagreement in red with its reason."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..compare import fmt
from ..results import CheckResult, Comparison, Derivative, Status, Summary

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red",
          Status.ERROR: "bold red"}
_MARK = {Status.PASS: "✓ pass", Status.WARN: "! warn", Status.FAIL: "✗ fail",
         Status.ERROR: "✗ error"}


def render_table(results: Sequence[CheckResult], *, color: bool = False, width: int = 120) -> str:
    """The human report as text; ANSI colours only when ``color`` is true."""
    buffer = io.StringIO()
    console = _console(buffer, color, width)
    for result in results:
        console.print(check_renderable(result))
        console.print()
    console.print(summary_line(results))
    return buffer.getvalue()


def check_renderable(result: CheckResult) -> RenderableType:
    """One check: a header, the table of partials, and a reason for each non-pass row."""
    header = Text()
    header.append(result.expression, style="bold")
    if result.point:
        header.append("  at  " + ", ".join(f"{n} = {fmt(v)}" for n, v in result.point))
    if result.source:
        header.append(f"  ({result.source})", style="dim")
    if result.status is Status.ERROR and result.value is None:
        return Group(header, error_renderable(result))
    parts: list[RenderableType] = [header]
    if result.value is not None:
        value = Text("value  ")
        value.append(f"symbolic {fmt(result.value.symbolic)}   autograd "
                     f"{fmt(result.value.autograd)}   ")
        value.append(_MARK[result.value.status], style=_STYLE[result.value.status])
        parts.append(value)
    if result.derivatives:
        parts.append(derivative_table(result.derivatives))
        hessian = hessian_table(result.derivatives)
        if hessian is not None:
            parts.append(hessian)
    reasons = [(label, c) for label, c in _labelled(result) if c.message]
    for label, comparison in reasons:
        line = Text(f"  {label}: ", style=_STYLE[comparison.status])
        line.append(comparison.message or "")
        parts.append(line)
    return Group(*parts)


def _labelled(result: CheckResult) -> list[tuple[str, Comparison]]:
    labelled: list[tuple[str, Comparison]] = []
    if result.value is not None:
        labelled.append(("value", result.value))
    labelled.extend((_partial_label(d), d) for d in result.derivatives)
    return labelled


def _partial_label(derivative: Derivative) -> str:
    order = len(derivative.wrt)
    top = "∂" if order == 1 else f"∂{_superscript(order)}"
    return f"{top}/" + "".join(f"∂{name}" for name in derivative.wrt)


def _superscript(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def derivative_table(derivatives: Sequence[Derivative]) -> Table:
    """A row per partial derivative: the exact value and the three computed opinions."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    columns = ("partial", "formula", "symbolic", "autograd", "fin. diff", "forward", "abs diff",
               "rel diff", "verdict")
    for column in columns:
        if column in ("partial", "formula", "verdict"):
            table.add_column(column, overflow="fold", min_width={"formula": 18, "verdict": 7}.get(column),
                             no_wrap=column != "formula")
        else:  # numbers are read whole or not at all: cut them short rather than fold them
            table.add_column(column, justify="right", no_wrap=True, overflow="ellipsis")
    for d in derivatives:
        style = _STYLE[d.status] if d.status in (Status.FAIL, Status.ERROR) else None
        symbolic = fmt(d.symbolic) if d.one_sided is None else \
            f"{fmt(d.one_sided[0])} | {fmt(d.one_sided[1])}"
        table.add_row(
            _partial_label(d), d.formula, symbolic, fmt(d.autograd), fmt(d.finite_difference),
            fmt(d.forward_mode), _diff(d.abs_diff), _diff(d.rel_diff),
            Text(_MARK[d.status], style=_STYLE[d.status]),
            style=style,
        )
    return table


def hessian_table(derivatives: Sequence[Derivative]) -> Table | None:
    """For second partials: the Hessian, each cell ``symbolic / autograd``."""
    if not derivatives or any(len(d.wrt) != 2 for d in derivatives):
        return None
    names = list(dict.fromkeys(name for d in derivatives for name in d.wrt))
    cells = {tuple(sorted(d.wrt, key=names.index)): d for d in derivatives}
    table = Table(title="Hessian (symbolic / autograd)", show_edge=False, pad_edge=False,
                  header_style="bold", title_justify="left")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for row in names:
        entries: list[Text | str] = [row]
        for column in names:
            key = tuple(sorted((row, column), key=names.index))
            d = cells.get(key)
            entries.append("-" if d is None else Text(
                f"{fmt(d.symbolic)} / {fmt(d.autograd)}",
                style=_STYLE[d.status] if d.status is not Status.PASS else ""))
        table.add_row(*entries)
    return table


def _diff(value: float | None) -> str:
    if value is None or value == 0 or not math.isfinite(value):
        return fmt(value)
    return f"{value:.2e}"


def error_renderable(result: CheckResult) -> RenderableType:
    """An input error: the message, then the text with a caret under the column."""
    lines: list[RenderableType] = [Text(f"error ({result.category}): {result.message}",
                                        style="bold red")]
    if result.error_text is not None and result.column is not None:
        lines.append(Text("  " + result.error_text))
        lines.append(Text("  " + " " * (result.column - 1) + "^", style="bold red"))
    return Group(*lines)


def render_error(result: CheckResult, *, color: bool = False, width: int = 120) -> str:
    """An input error alone, for standard error."""
    buffer = io.StringIO()
    _console(buffer, color, width).print(error_renderable(result))
    return buffer.getvalue()


def _console(buffer: io.StringIO, color: bool, width: int) -> Console:
    return Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                   highlight=False, emoji=False, color_system="standard" if color else None)


def summary_line(results: Sequence[CheckResult]) -> Text:
    """``3 checks: 2 pass, 1 fail``."""
    summary = Summary.of(results)
    noun = "check" if summary.total == 1 else "checks"
    text = Text(f"{summary.total} {noun}: ")
    counts = [(summary.passed, Status.PASS), (summary.warned, Status.WARN),
              (summary.failed, Status.FAIL), (summary.errored, Status.ERROR)]
    shown = [(n, s) for n, s in counts if n]
    for index, (count, status) in enumerate(shown):
        if index:
            text.append(", ")
        text.append(f"{count} {status.value}", style=_STYLE[status])
    return text
