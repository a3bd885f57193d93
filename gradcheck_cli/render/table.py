"""The Rich table: both answers side by side, every disagreement in red with its reason.

The table fits the width it is given, from 40 columns up. The partial, the exact value,
autograd's value and the verdict are always shown whole; the other columns give way in
order of importance (see :data:`LAYOUTS`): the formula wraps, then finite differences
and forward mode fold into a detail line under the table, then the formula and the
differences do. Where not even the four essential columns fit, each partial is printed
as a block of its own.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import CheckResult, Comparison, Derivative, Status, Summary, Value, flat, shape_of
from . import cells

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red",
          Status.ERROR: "bold red"}
_MARK = {Status.PASS: "✓ pass", Status.WARN: "! warn", Status.FAIL: "✗ fail",
         Status.ERROR: "✗ error"}

#: Every column of a partial's row, in the order of the widest table.
COLUMNS = ("partial", "formula", "symbolic", "autograd", "spec autograd", "fin. diff", "forward",
           "abs diff", "rel diff", "verdict")
#: Shown only where a check has it (``--impl``: the spec as written in torch).
OPTIONAL = ("spec autograd",)
#: A wrapped formula keeps at least this many characters a line.
FORMULA_MIN = 12
#: Columns are separated by `` │ ``.
_GAP = 3


@dataclass(frozen=True)
class Layout:
    """The columns a table shows; the rest of :data:`COLUMNS` go to a detail line."""

    columns: tuple[str, ...]
    wrap_formula: bool = False

    @property
    def folded(self) -> tuple[str, ...]:
        return tuple(c for c in COLUMNS if c not in self.columns)


#: From the widest table to the narrowest; the first that fits the width is used.
LAYOUTS = (
    Layout(COLUMNS),
    Layout(COLUMNS, wrap_formula=True),
    Layout(("partial", "formula", "symbolic", "autograd", "abs diff", "rel diff", "verdict"),
           wrap_formula=True),
    Layout(("partial", "symbolic", "autograd", "abs diff", "rel diff", "verdict")),
    Layout(("partial", "symbolic", "autograd", "verdict")),
)

#: The forward column of a torch.autograd.Function that has no jvp (``--impl``).
_NO_JVP = "no jvp"

#: What a ``-`` in a column means, for the legend under a table that shows one.
_DASH_MEANS = {
    # None exists (0/0 with no limit), or it could not be certified (uncertain).
    "symbolic": "no exact value to show (the reason says why)",
    "fin. diff": "finite differences could not be evaluated",
    "forward": "forward mode runs for first partials of scalar variables only",
    "abs diff": "no difference without both values",
    "rel diff": "no difference without both values",
}


def render_table(results: Sequence[CheckResult], *, color: bool = False, width: int = 120) -> str:
    """The full table of every check as text, ``width`` columns wide; ANSI colours only
    when ``color`` is true."""
    buffer = io.StringIO()
    console = make_console(buffer, color, width)
    for result in results:
        console.print(check_renderable(result, width))
        console.print()
    console.print(summary_line(results))
    return finish(buffer.getvalue(), color)


def finish(text: str, color: bool) -> str:
    """Plain text without the spaces Rich pads cells with at the ends of lines."""
    if color:
        return text
    return "\n".join(line.rstrip() for line in text.split("\n"))


def check_renderable(result: CheckResult, width: int = 120) -> RenderableType:
    """One check: a header, the table of partials, and a reason for each non-pass row."""
    header = Text()
    header.append(result.expression, style="bold")
    if result.point:
        header.append("  at  " + ", ".join(f"{n} = {cells.point_value(v)}"
                                           for n, v in result.point))
    if result.source:
        header.append(f"  ({result.source})", style="dim")
    if result.status is Status.ERROR and result.value is None:
        return Group(header, error_renderable(result))
    parts: list[RenderableType] = [header]
    if result.impl is not None:  # --impl: autograd, fin. diff and forward are the user's code
        parts.append(flow(Text("impl   "), [Text(result.impl, style="bold"),
                                            Text("(autograd, fin. diff and forward are its own)",
                                                 style="dim")], width))
    if result.value is not None:
        parts.append(_value_line(result.value, width))
    if result.derivatives:
        parts.extend(partials_renderables(result.derivatives, width, jacobian_rows(result)))
        hessian = hessian_table(result.derivatives)
        if hessian is not None and _measured_fit(hessian, width):
            parts.append(hessian)
        parts.extend(_expected_line(d, width) for d in result.derivatives if d.expected)
    for label, comparison in _labelled(result):
        if comparison.message:
            line = Text(f"{label}: ", style=_STYLE[comparison.status])
            line.append(comparison.message)
            parts.append(_indent(line))  # wrapped lines stay under the first
    for d in result.derivatives:  # --expect: the reason where it did not pass
        if d.expected is not None and d.expected.message:
            line = Text(f"{_partial_label(d)} expected: ", style=_STYLE[d.expected.status])
            line.append(d.expected.message)
            parts.append(_indent(line))
    return Group(*parts)


def _expected_line(d: Derivative, width: int) -> RenderableType:
    """``∂/∂x  expected 3*x**2 = 12   ✓ pass   equivalent (symbolic)``."""
    expected = d.expected
    assert expected is not None
    same = {True: "equivalent", False: "not equivalent", None: "equivalence not settled"}
    items = [Text(f"expected {expected.formula} = {_one_line(expected.value)}"),
             Text(_MARK[expected.status], style=_STYLE[expected.status]),
             Text(f"{same[expected.equivalent]} ({expected.proof})" if expected.proof
                  else same[expected.equivalent])]
    return flow(Text(f"  {_partial_label(d)}  "), items, width)


def _value_line(value: Comparison, width: int) -> RenderableType:
    mark = Text(_MARK[value.status], style=_STYLE[value.status])
    symbolic = _one_line(value.symbolic) if isinstance(value.symbolic, tuple) else \
        cells.exact(value.symbolic, value.symbolic_text)
    items = [Text(f"symbolic {symbolic}"), Text(f"autograd {_one_line(value.autograd)}")]
    if value.spec_autograd is not None:  # --impl: the spec as written in torch
        items.append(Text(f"spec autograd {_one_line(value.spec_autograd)}"))
    return flow(Text("value  "), [*items, mark], width)


def flow(prefix: Text, items: Sequence[Text], width: int, gap: str = "   ") -> RenderableType:
    """``prefix`` then ``items`` separated by ``gap``, wrapped between items only (a label
    and its number stay together); wrapped lines stay indented under the first item, and
    an item longer than a line folds there."""
    room = max(width - prefix.cell_len, 1)
    text = Text()
    column = 0
    for index, item in enumerate(items):
        if index and column + len(gap) + item.cell_len > room:
            text.append("\n")
            column = 0
        elif index:
            text.append(gap)
            column += len(gap)
        text.append_text(item)
        column += item.cell_len
    grid = Table.grid(pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(prefix, text)
    return grid


def _one_line(value: Value) -> str:
    whole = cells.inline(value)
    return whole if len(flat(value)) <= cells.MAX_POINT_ELEMENTS else cells.compact(value)


def jacobian_rows(result: CheckResult) -> dict[tuple[str, ...], int]:
    """For each partial that is a Jacobian (output shape + input shape), its number of
    rows: the output's elements. A gradient or a vector-Jacobian product has the input's
    shape and is shown in it."""
    if result.value is None or not isinstance(result.value.autograd, tuple):
        return {}
    output = shape_of(result.value.autograd)
    point = result.point_dict
    rows: dict[tuple[str, ...], int] = {}
    for d in result.derivatives:
        inputs = [shape_of(point.get(name)) for name in d.wrt]
        if d.shape is not None and d.shape == output + sum(inputs, ()):
            rows[d.wrt] = len(flat(result.value.autograd))
    return rows


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


#: How tensors are written in a table's cells, from the most telling: a matrix (a vector
#: as a row), a matrix with a vector upright (an element a line), or by shape alone.
TENSOR_FORMS = ("rows", "upright", "shape")


def _cells(d: Derivative, rows: Mapping[tuple[str, ...], int], form: str = "rows"
           ) -> dict[str, str]:
    """The text of every column for one partial, tensors in ``form``."""
    def tensor(value: Value) -> str:
        shown = None if form == "shape" else cells.matrix(value, rows.get(d.wrt),
                                                          upright=form == "upright")
        return shown if shown is not None else cells.compact(value)

    if d.one_sided is not None:
        symbolic = f"{cells.number(d.one_sided[0])} | {cells.number(d.one_sided[1])}"
    elif isinstance(d.symbolic, tuple):
        symbolic = tensor(d.symbolic)
    else:  # beyond float64's range the exact value is still shown, from its text
        symbolic = cells.exact(d.symbolic, d.symbolic_text)
    return {
        "partial": _partial_label(d), "formula": d.formula or "-", "symbolic": symbolic,
        "autograd": tensor(d.autograd),
        "spec autograd": "" if d.spec_autograd is None else tensor(d.spec_autograd),
        "fin. diff": tensor(d.finite_difference),
        "forward": _NO_JVP if d.forward_note else cells.number(d.forward_mode),
        "abs diff": cells.diff(d.abs_diff),
        "rel diff": cells.diff(d.rel_diff), "verdict": _MARK[d.status],
    }


def _width(text: str) -> int:
    return max(cell_len(line) for line in text.split("\n"))


#: A wrapped formula may take at most this many lines.
FORMULA_LINES = 3


def _fits(layout: Layout, texts: Sequence[dict[str, str]], width: int) -> bool:
    """Whether ``layout`` fits ``width``, a wrapped formula in at most FORMULA_LINES."""
    columns = shown_columns(layout.columns, texts)
    total = _GAP * (len(columns) - 1)
    formula = 0
    for column in columns:
        natural = max(_width(column), *(_width(text[column]) for text in texts))
        if column == "formula" and layout.wrap_formula:
            formula = natural
        else:
            total += natural
    if not formula:
        return total <= width
    needed = min(formula, max(FORMULA_MIN, -(-formula // FORMULA_LINES)))
    return total + needed <= width


def shown_columns(columns: Sequence[str], texts: Sequence[dict[str, str]]) -> tuple[str, ...]:
    """``columns`` less the optional ones that no partial has."""
    return tuple(c for c in columns if c not in OPTIONAL or any(t[c] for t in texts))


def choose_layout(derivatives: Sequence[Derivative], width: int,
                  rows: Mapping[tuple[str, ...], int]) -> tuple[Layout, str] | None:
    """The widest layout that fits, and the form of its tensors (:data:`TENSOR_FORMS`):
    the numbers shown whole come before the columns beside them.

    ``None`` when even the narrowest table does not fit: print blocks instead.
    """
    for form in TENSOR_FORMS:
        texts = [_cells(d, rows, form) for d in derivatives]
        if form != "rows" and texts == [_cells(d, rows, "rows") for d in derivatives]:
            continue  # no tensor, or none that this form writes differently
        for layout in LAYOUTS:
            if _fits(layout, texts, width):
                return layout, form
    return None


def partials_renderables(derivatives: Sequence[Derivative], width: int = 120,
                         rows: Mapping[tuple[str, ...], int] | None = None
                         ) -> list[RenderableType]:
    """The partials as a table that fits ``width`` (with detail lines), or as blocks."""
    rows = rows or {}
    chosen = choose_layout(derivatives, width, rows)
    if chosen is None:
        blocks: list[RenderableType] = [_block(d, rows, width) for d in derivatives]
        legend = _legend([_cells(d, rows) for d in derivatives], rows, False)
        return blocks if legend is None else [*blocks, legend]
    layout, form = chosen
    texts = [_cells(d, rows, form) for d in derivatives]
    parts: list[RenderableType] = [derivative_table(derivatives, texts, layout)]
    folded = shown_columns(layout.folded, texts)
    if folded:
        parts.extend(_detail_line(d, t, folded, width) for d, t in zip(
            derivatives, texts, strict=True))
    legend = _legend(texts, rows, form != "shape")
    if legend is not None:
        parts.append(legend)
    return parts


def derivative_table(derivatives: Sequence[Derivative], texts: Sequence[dict[str, str]],
                     layout: Layout = LAYOUTS[0]) -> Table:
    """A row per partial derivative, with the columns of ``layout``."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    columns = shown_columns(layout.columns, texts)
    for column in columns:
        if column == "formula":
            table.add_column(column, overflow="fold", no_wrap=not layout.wrap_formula,
                             min_width=min(FORMULA_MIN, max(_width(t[column]) for t in texts)))
        elif column in ("partial", "verdict"):
            table.add_column(column, no_wrap=True)
        else:  # numbers are read whole: the layout guarantees they fit
            table.add_column(column, justify="right", no_wrap=True)
    for d, text in zip(derivatives, texts, strict=True):
        style = _STYLE[d.status] if d.status in (Status.FAIL, Status.ERROR) else None
        table.add_row(*(Text(text[c], style=_STYLE[d.status]) if c == "verdict" else text[c]
                        for c in columns), style=style)
    return table


def _detail_line(d: Derivative, text: dict[str, str], folded: Sequence[str], width: int
                 ) -> RenderableType:
    """What the table left out for one partial, on a line of its own."""
    def shown(column: str) -> str:
        value = {"fin. diff": d.finite_difference, "symbolic": d.symbolic}.get(column)
        return _one_line(value) if isinstance(value, tuple) else text[column]

    # A "-" is said once, in the legend, not on every line.
    return flow(Text(f"  {text['partial']}  ", style="dim"),
                [Text(f"{column} {shown(column)}") for column in folded
                 if text[column] not in ("-", "")],
                width)


def _legend(texts: Sequence[dict[str, str]], rows: Mapping[tuple[str, ...], int],
            whole_tensors: bool
            ) -> RenderableType | None:
    """What a ``-`` means where one is shown (or left out of a detail line), and how a
    Jacobian is laid out."""
    dashed: dict[str, list[str]] = {}  # meaning -> the columns that show a "-" for it
    for column, meaning in _DASH_MEANS.items():
        if any(t[column] == "-" for t in texts):
            dashed.setdefault(meaning, []).append(column)
    notes = [f"{', '.join(columns)}: - = {meaning}" for meaning, columns in dashed.items()]
    if any(t["forward"] == _NO_JVP for t in texts):
        notes.append(f"forward: {_NO_JVP} = forward mode not supported by this Function (its "
                     "jvp is not written), not a failure")
    if rows and whole_tensors and any("\n" in t["autograd"] for t in texts):
        notes.append("a Jacobian has a row per output element")
    return _indent(Text("; ".join(notes), style="dim")) if notes else None


def _block(d: Derivative, rows: Mapping[tuple[str, ...], int], width: int) -> RenderableType:
    """One partial as a block: a heading with the verdict, then a line per opinion."""
    text = _cells(d, rows)
    heading = Text(f"{text['partial']}  ")
    heading.append(_MARK[d.status], style=_STYLE[d.status])
    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    room = width - 2 - max(map(len, COLUMNS)) - 2
    values = {"symbolic": d.symbolic, "autograd": d.autograd, "fin. diff": d.finite_difference}
    for column in shown_columns(COLUMNS, [text]):
        if column not in ("partial", "verdict"):
            shown = text[column]
            if _width(shown) > room and isinstance(values.get(column), tuple):
                shown = _one_line(values[column])  # a line that wraps between elements
            grid.add_row(column, shown)
    return Group(heading, _indent(grid))


def _indent(renderable: RenderableType) -> RenderableType:
    from rich.padding import Padding

    return Padding(renderable, (0, 0, 0, 2), expand=False)


def hessian_table(derivatives: Sequence[Derivative]) -> Table | None:
    """For second partials: the Hessian, each cell ``symbolic / autograd``."""
    if not derivatives or any(len(d.wrt) != 2 or d.shape for d in derivatives):
        return None  # a tensor's blocks are in the table already, each a matrix
    names = list(dict.fromkeys(name for d in derivatives for name in d.wrt))
    cells_by_pair = {tuple(sorted(d.wrt, key=names.index)): d for d in derivatives}
    table = Table(title="Hessian (symbolic / autograd)", show_edge=False, pad_edge=False,
                  header_style="bold", title_justify="left")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for row in names:
        entries: list[Text | str] = [row]
        for column in names:
            key = tuple(sorted((row, column), key=names.index))
            d = cells_by_pair.get(key)
            entries.append("-" if d is None else Text(
                f"{_one_line(d.symbolic)} / {_one_line(d.autograd)}",
                style=_STYLE[d.status] if d.status is not Status.PASS else ""))
        table.add_row(*entries)
    return table


def _measured_fit(renderable: RenderableType, width: int) -> bool:
    console = Console(width=10_000, file=io.StringIO())
    return console.measure(renderable).maximum <= width


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
    make_console(buffer, color, width).print(error_renderable(result))
    return finish(buffer.getvalue(), color)


def make_console(buffer: io.StringIO, color: bool, width: int) -> Console:
    """A console that writes plain text (or ANSI colours) of exactly ``width`` columns."""
    return Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                   highlight=False, emoji=False, color_system="standard" if color else None)


def status_mark(status: Status) -> Text:
    """``✓ pass`` in green, ``✗ fail`` in red, and so on."""
    return Text(_MARK[status], style=_STYLE[status])


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
