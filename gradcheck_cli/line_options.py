"""The options of a check, as the command line gives them to every line of a check file,
and as one line sets its own after ``;`` (``x**3*y @ x=1, y=2 ; order=2, wrt=x``).

Light: the values are read by the project's own parser or plain patterns; nothing here
imports SymPy or torch.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .dtypes import DTYPES
from .errors import InputError
from .limits import MAX_ORDER
from .parse import NAME, parse_expression, parse_value
from .request import prepare
from .results import Category


@dataclass(frozen=True)
class LineOptions:
    """The options of a single check, applied to every line of a batch.

    ``rtol``/``atol`` ``None`` means the default for ``dtype``, as in a single check.
    """

    wrt: str | None = None
    rtol: float | None = None
    atol: float | None = None
    order: int = 1
    dtype: str = "float64"
    vjp: str | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` for options no line could use (a bad ``rtol``, a
        ``wrt`` that names no variable or one twice)."""
        prepare("1", [], rtol=self.rtol, atol=self.atol, order=self.order, dtype=self.dtype,
                vjp=self.vjp)
        names = self.wrt_names()
        for index, name in enumerate(names):
            if not NAME.match(name):
                shown = repr(name) if name else "nothing"
                raise InputError(Category.BAD_OPTION, f"--wrt names {shown}, which is not a "
                                 "variable name (write --wrt x,y)")
            if name in names[:index]:
                raise InputError(Category.REPEATED_VARIABLE, f"--wrt names {name} twice")

    def wrt_names(self) -> list[str]:
        """The names of ``wrt``, in order (none where it is not given)."""
        return [] if self.wrt is None else [name.strip() for name in self.wrt.split(",")]


#: The command line's options where it gives none.
DEFAULT_LINE_OPTIONS = LineOptions()

#: The options a line of a check file may set after ';' (``x*y @ x=1, y=2 ; wrt=x``),
#: each overriding the command line's option of the same name for that line only.
LINE_OPTIONS = ("wrt", "order", "dtype", "rtol", "atol", "vjp")
#: ``name=`` at the start of one comma-separated piece of a line's options.
_OPTION_START = re.compile(r"\s*(-*[A-Za-z_][\w-]*)\s*=")
#: A tolerance: a plain decimal number, as in an expression (no sign, no nan or inf).
_TOLERANCE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def parse_line_options(options: LineOptions, text: str, start: int, line: str, expression: str
                  ) -> tuple[LineOptions, tuple[str, ...] | None]:
    """``options`` with those of a line (``text``, after its ';') put in their place, and
    the line's own ``wrt``, checked against the expression's variables (``None`` where
    the line sets none).

    ``start`` is where ``text`` begins in ``line`` (0-based); every error points at its
    column in ``line``, the line as written without its comment.
    """
    def fail(category: Category, message: str, column: int) -> InputError:
        return InputError(category, message, text=line, column=column)

    second = text.find(";")
    if second >= 0:
        column = start + second + 1
        raise fail(Category.PARSE_ERROR, f"a second ';' at column {column}: a line has one ';', "
                   "and its options are separated by commas (x*y @ x=1, y=2 ; order=2, wrt=x)",
                   column)
    # name -> [start of its value, end of its value] in line, 0-based, in order of appearance.
    found: dict[str, list[int]] = {}
    columns: dict[str, int] = {}
    last: str | None = None
    pieces = _top_level_pieces(text)
    for number, (offset, piece) in enumerate(pieces):
        at = start + offset + len(piece) - len(piece.lstrip())  # its first character
        if not piece.strip():
            if number == len(pieces) - 1:
                continue  # nothing after ';', or a trailing comma
            raise fail(Category.PARSE_ERROR, f"an empty option at column {at + 1}: options are "
                       "name=value, separated by commas", at + 1)
        match = _OPTION_START.match(piece)
        if match is None:
            if last == "wrt":  # wrt=x,y: the names after the first, one per piece
                found["wrt"][1] = start + offset + len(piece)
                continue
            raise fail(Category.PARSE_ERROR, f"'{piece.strip()}' at column {at + 1} is not an "
                       f"option: write name=value after ';', e.g. order=2 (a line can set "
                       f"{_listed(LINE_OPTIONS, 'and')})", at + 1)
        name = match.group(1)
        if name not in LINE_OPTIONS:
            bare = name.lstrip("-")
            known = f"a line can set {_listed(LINE_OPTIONS, 'and')}"
            if bare in LINE_OPTIONS:
                hint = f": write {bare}=..., without the dashes of the command line"
            else:
                close = difflib.get_close_matches(name, LINE_OPTIONS, n=1)
                hint = f"; did you mean {close[0]}? ({known})" if close else f" ({known})"
            raise fail(Category.BAD_OPTION, f"'{name}' at column {at + 1} is not a line option"
                       f"{hint}", at + 1)
        if name in found:
            raise fail(Category.BAD_OPTION, f"{name} is set twice in the line's options: at "
                       f"column {columns[name]} and again at column {at + 1}", at + 1)
        found[name] = [start + offset + match.end(), start + offset + len(piece)]
        columns[name] = at + 1
        last = name

    changes: dict[str, Any] = {}
    wrt: tuple[str, ...] | None = None
    for name, (begin, end) in found.items():
        raw = line[begin:end]
        value = raw.strip()
        column = begin + len(raw) - len(raw.lstrip()) + 1  # of the value's first character
        if not value:
            raise fail(Category.BAD_OPTION, f"{name} at column {columns[name]} has no value "
                       f"(write e.g. {name}={_EXAMPLES[name]})", columns[name])
        shown = f"{name}={value}"
        if name == "order":
            if not value.isdigit():
                raise fail(Category.BAD_OPTION, f"{shown} at column {column} is not a whole number "
                           f"from 1 to MAX_ORDER = {MAX_ORDER}", column)
            if not 1 <= int(value) <= MAX_ORDER:
                raise fail(Category.LIMIT, f"{shown} at column {column}: the order is a whole "
                           f"number from 1 to MAX_ORDER = {MAX_ORDER}", column)
            changes["order"] = int(value)
        elif name == "dtype":
            if value.lower() not in DTYPES:
                raise fail(Category.BAD_OPTION, f"{shown} at column {column} is not a dtype that "
                           f"gradcheck computes in: choose {_listed(DTYPES, 'or')}", column)
            changes["dtype"] = value.lower()
        elif name in ("rtol", "atol"):
            if not _TOLERANCE.match(value) or not math.isfinite(float(value)):
                raise fail(Category.BAD_OPTION, f"{shown} at column {column} is not a tolerance: "
                           "give a finite number >= 0 such as 1e-6", column)
            changes[name] = float(value)
        elif name == "vjp":
            if value != "ones":
                # Parsed here too so that an error points into the line; the safe parser only.
                parse_value("vjp", raw, offset=begin, context=line)
            changes["vjp"] = value
        else:
            wrt = _line_wrt(raw, begin, line, expression, fail)
    return replace(options, **changes), wrt


#: An example value of each line option, for messages.
_EXAMPLES = {"wrt": "x", "order": "2", "dtype": "float32", "rtol": "1e-6", "atol": "1e-9",
             "vjp": "ones"}


def _line_wrt(raw: str, begin: int, line: str, expression: str,
              fail: Callable[[Category, str, int], InputError]) -> tuple[str, ...]:
    """The names of a line's ``wrt=x,y``, each a variable of the expression, once."""
    variables = parse_expression(expression).variables
    names: list[str] = []
    offset = begin
    for part in raw.split(","):
        name = part.strip()
        column = offset + len(part) - len(part.lstrip()) + 1
        offset += len(part) + 1
        if not name:
            raise fail(Category.PARSE_ERROR, f"wrt names nothing at column {column} (write "
                       "wrt=x or wrt=x,y)", column)
        if name in names:
            raise fail(Category.REPEATED_VARIABLE, f"wrt={raw.strip()} names {name} twice "
                       f"(column {column})", column)
        if name not in variables:
            known = ", ".join(variables) or "none"
            raise fail(Category.UNKNOWN_VARIABLE, f"wrt={raw.strip()} names {name} at column "
                       f"{column}, which is not a variable of {expression} (its variables: "
                       f"{known})", column)
        names.append(name)
    return tuple(names)


def _top_level_pieces(text: str) -> list[tuple[int, str]]:
    """``text`` split at the commas outside brackets (``vjp=[1, 0]`` stays whole), each
    piece with its offset in ``text``."""
    pieces: list[tuple[int, str]] = []
    depth = begin = 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            pieces.append((begin, text[begin:index]))
            begin = index + 1
    pieces.append((begin, text[begin:]))
    return pieces


def _listed(names: Sequence[str], last: str) -> str:
    """``a, b and c``: names as a sentence lists them."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
