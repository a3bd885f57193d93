"""Values as people read them in the table: numbers, tensors as tensors, point values.

Numbers come from :func:`~gradcheck_cli.compare.fmt` (12 significant digits, scientific
notation beyond 1e12 and below 1e-4), so a message and a cell never disagree. Tensors keep
their shape: a vector is ``[1, 2]``, a matrix has a line per row with its columns aligned,
and a Jacobian has a row per output element. What is too big for that is named by its
shape (``8×8 ones``, ``4×16 tensor``), and the reason line names the worst element.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from ..compare import fmt
from ..results import Value, flat, shape_of

#: A tensor is written out in a cell up to this many rows and columns.
MAX_ROWS = 8
MAX_COLUMNS = 6
#: A point value is written out whole up to this many elements and characters.
MAX_POINT_ELEMENTS = 16
MAX_POINT_CHARS = 60


def dims(shape: Sequence[int]) -> str:
    """``2×3``; a scalar is ``()``."""
    return "×".join(map(str, shape)) if shape else "()"


def number(value: float | None) -> str:
    """One number, as everywhere in gradcheck."""
    return fmt(value)


def beyond_float64(value: Value, text: str | None) -> str | None:
    """The exact value as text where float64 cannot hold it (it rounded to 0 or to an
    infinity), else ``None``: ``-1.46235741636601e-348``, ``10^(4.34294481903252e+299)``."""
    if text is None or isinstance(value, tuple) or value is None:
        return None
    if value != 0 and not math.isinf(value):
        return None
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return text if text.startswith("10^(") else None
    return None if not exact.is_finite() or exact == 0 else text


def exact(value: Value, text: str | None) -> str:
    """An exact value: as a number of 12 significant digits, also beyond float64's range
    (where the float is 0 or inf and only ``text`` has the digits)."""
    beyond = beyond_float64(value, text)
    if beyond is None:
        return number(value) if not isinstance(value, tuple) else inline(value)
    try:
        return format(Decimal(beyond), ".12g")
    except InvalidOperation:
        return beyond


def diff(value: float | None) -> str:
    """A difference: three significant digits are all a difference needs."""
    if value is None or value == 0 or not math.isfinite(value):
        return fmt(value)
    return f"{value:.2e}"


def inline(value: Value) -> str:
    """A value on one line: a number, or nested lists (``[[1, 2], [3, 4]]``)."""
    if not isinstance(value, tuple):
        return number(value)
    return "[" + ", ".join(inline(item) for item in value) + "]"


def matrix(value: Value, rows: int | None = None, *, upright: bool = False) -> str | None:
    """A tensor as text with a line per row and aligned columns, or ``None`` if too big.

    ``rows`` is the number of output elements of a Jacobian (its rows); by default a
    vector is one row (``upright``: one element a line) and a tensor of more dimensions
    has a row per first index.
    """
    if not isinstance(value, tuple):
        return number(value)
    elements = [number(v) for v in flat(value)]
    shape = shape_of(value)
    if rows is None or rows <= 0 or len(elements) % rows:
        rows = (len(elements) if upright else 1) if len(shape) <= 1 else shape[0]
    columns = len(elements) // rows if rows else 0
    if rows > MAX_ROWS or columns > MAX_COLUMNS:
        return None
    if rows == 1:
        return "[" + ", ".join(elements) + "]"
    if len(shape) == 1:  # a vector upright: still a vector, an element a line
        width = max(map(len, elements))
        return "\n".join(("[" if r == 0 else " ") + e.rjust(width) + ("]" if r == rows - 1 else ",")
                         for r, e in enumerate(elements))
    grid = [elements[r * columns:(r + 1) * columns] for r in range(rows)]
    widths = [max(len(row[c]) for row in grid) for c in range(columns)]
    lines = [", ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in grid]
    return "\n".join(("[[" if r == 0 else " [") + line + ("]]" if r == rows - 1 else "],")
                     for r, line in enumerate(lines))


def compact(value: Value) -> str:
    """A tensor by its shape (``tensor 2×2×2``); a number as itself."""
    if not isinstance(value, tuple):
        return number(value)
    return f"tensor {dims(shape_of(value))}"


def point_value(value: Value) -> str:
    """A point's value: whole when small (``[[1, 1], [1, 1]]``), else ``8×8 ones``."""
    if not isinstance(value, tuple):
        return number(value)
    elements = flat(value)
    whole = inline(value)
    if len(elements) <= MAX_POINT_ELEMENTS and len(whole) <= MAX_POINT_CHARS:
        return whole
    shape = shape_of(value)
    if all(e == elements[0] for e in elements):
        name = {0.0: "zeros", 1.0: "ones"}.get(elements[0] or 0.0, f"full {number(elements[0])}")
        return f"{dims(shape)} {name}"
    if len(shape) == 2 and shape[0] == shape[1] and all(
            e == (1.0 if i % (shape[0] + 1) == 0 else 0.0) for i, e in enumerate(elements)):
        return f"{dims(shape)} identity"
    finite = [e for e in elements if e is not None and not math.isnan(e)]
    span = f" from {number(min(finite))} to {number(max(finite))}" if finite else ""
    return f"{dims(shape)} tensor{span}"
