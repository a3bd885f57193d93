"""Batch mode: many checks from a file, one line each, run in isolated worker processes.

The line format::

    # a comment; blank lines are skipped
    5*(x+1)**2 @ x=1            # a check at one point
    x**y @ x=3, y=4 @ x=2, y=1  # a check at several points: one result per point
    sin(1)                      # no variables: no point needed
    x**3*y @ x=1, y=2 ; order=2, wrt=x   # options of this line, after ';'

A line's options (:data:`LINE_OPTIONS`) override the command line's for that line. A
``--wrt`` of the command line skips, on each line, the variables that line does not
have; a line that has none of them checks its value only.

Every line gets a result, in input order, with its ``source`` (``path:lineno``). A line
that cannot be checked (it does not parse, breaks a limit, is not UTF-8 or holds a NUL
byte) becomes an ``error`` result there and then, and the run goes on: this module
parses and validates every line with :func:`~gradcheck_cli.check.prepare`, which loads
neither SymPy nor torch, so refused input never reaches a worker. Validated checks go to
:func:`~gradcheck_cli.workers.run_requests`.

A line's options are read in :mod:`~gradcheck_cli.line_options`; the progress shown while
a batch runs is :mod:`~gradcheck_cli.progress`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO

from .check import Request, error_result, prepare
from .errors import InputError
from .limits import MAX_LINE_BYTES, MAX_POINTS_PER_LINE
from .line_options import DEFAULT_LINE_OPTIONS, LineOptions, parse_line_options
from .parse import parse_expression
from .results import Category, CheckResult, Status
from .workers import DEFAULT_LIMITS, Limits, WorkerPool, run_requests

#: What ``source`` calls standard input.
STDIN_NAME = "<stdin>"
#: Characters of a refused line kept in its result's ``expression``.
_SHOWN_CHARS = 80

#: One line's outcome once read: a check to run, or the error row that refuses it.
Item = Request | CheckResult


# -- reading ---------------------------------------------------------------------------


@contextlib.contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """The file to read (``-``: standard input, left open), in binary: lines are decoded
    one by one.

    Raises :class:`OSError` when it cannot be opened (a usage error for the caller).
    """
    if path == "-":
        yield sys.stdin.buffer
        return
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    with open(path, "rb") as stream:
        yield stream


def source_name(path: str) -> str:
    """How results name the file: as given, or ``<stdin>``."""
    return STDIN_NAME if path == "-" else path


@dataclass(frozen=True)
class RawLine:
    """A line as read: its number and bytes (no line ending), or its length if too long."""

    lineno: int
    raw: bytes
    #: The length in bytes of a line over :data:`MAX_LINE_BYTES`, whose ``raw`` is
    #: then only its first bytes; ``None`` for every other line.
    too_long: int | None = None

    def may_check(self) -> bool:
        """Whether the line may hold a check (not blank, not only a comment): cheap."""
        return self.too_long is None and bool(self.raw.split(b"#", 1)[0].strip())


def read_lines(stream: IO[bytes]) -> list[RawLine]:
    """Every line of a batch file, undecoded; cheap, so that workers can start early."""
    return [RawLine(lineno, raw, too_long) for lineno, raw, too_long in _raw_lines(stream)]


def prepare_lines(lines: Sequence[RawLine], name: str, options: LineOptions = DEFAULT_LINE_OPTIONS
                  ) -> list[Item]:
    """Each line that is not blank or a comment, validated, in order."""
    items: list[Item] = []
    for line in lines:
        source = f"{name}:{line.lineno}"
        if line.too_long is not None:
            items.append(_refused(Category.LIMIT, f"the line is {line.too_long:,} bytes long; the "
                                  f"limit is MAX_LINE_BYTES = {MAX_LINE_BYTES:,}", source,
                                  _shown(line.raw)))
            continue
        item = parse_line(line.raw, source, options)
        if item is not None:
            items.append(item)
    return items


def read_items(stream: IO[bytes], name: str, options: LineOptions = DEFAULT_LINE_OPTIONS
               ) -> list[Item]:
    """Every non-blank, non-comment line of a batch file, validated, in order."""
    return prepare_lines(read_lines(stream), name, options)


def _raw_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes, int | None]]:
    """(line number, bytes without the line ending, ``None``) for each line.

    A line over :data:`MAX_LINE_BYTES` comes as (number, its first bytes, its length):
    it is read past in chunks, so a file that is one 10 GB line costs no memory.
    """
    lineno = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            head, length, chunk = raw[:_SHOWN_CHARS], len(raw), raw
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(MAX_LINE_BYTES)
                length += len(chunk)
            yield lineno, head, length - (1 if chunk.endswith(b"\n") else 0)
            continue
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
        yield lineno, raw, None


def parse_line(raw: bytes, source: str, options: LineOptions = DEFAULT_LINE_OPTIONS) -> Item | None:
    """One line: ``None`` when blank or a comment, else a request or its error row."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        return _refused(Category.ENCODING, f"the line holds a NUL byte at column {nul + 1} (is this "
                        "a binary file?)", source, _shown(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refused(Category.ENCODING, f"the line is not valid UTF-8 (byte 0x{raw[error.start]:02x} "
                        f"at column {error.start + 1}); save the file as UTF-8", source,
                        _shown(raw))
    content = text.split("#", 1)[0]  # '#' is in no expression: the rest is a comment
    if not content.strip():
        return None
    # ';' is in no expression or point either: what follows it is the line's options.
    body, semicolon, option_text = content.partition(";")
    expression, *points = body.split("@")
    expression = expression.strip()
    if len(points) > MAX_POINTS_PER_LINE:
        return _refused(Category.LIMIT, f"the line gives {len(points)} points; the limit is "
                        f"MAX_POINTS_PER_LINE = {MAX_POINTS_PER_LINE}", source, expression)
    try:
        chosen, wrt = options, None
        if semicolon:
            chosen, wrt = parse_line_options(options, option_text, len(body) + 1, content.rstrip(),
                                        expression)
        if wrt is None and options.wrt is not None:
            # --wrt of a whole file: each line is differentiated by those it has.
            wrt = _present(options.wrt_names(), expression)
        return prepare(expression, [p.strip() for p in points], wrt=wrt,
                       rtol=chosen.rtol, atol=chosen.atol, order=chosen.order,
                       dtype=chosen.dtype, vjp=chosen.vjp, source=source)
    except InputError as error:
        if not points and error.category is Category.MISSING_VALUE:
            # x**2 with no '@': the point is what is missing, not a value in it.
            missing = error.message.split(":", 1)[0]  # "no value for x"
            error = InputError(Category.MISSING_VALUE, f"{missing}: the line has no '@ x=...' "
                               f"part; give the point after '@', e.g. {expression} @ "
                               f"{error.message.rsplit('--at ', 1)[-1]}")
        return _printable(error_result(expression, error, source))


def _present(names: Sequence[str], expression: str) -> tuple[str, ...]:
    """The names that are variables of the expression (the expression's own error if it
    does not parse: the same that :func:`prepare` would give)."""
    variables = parse_expression(expression).variables
    return tuple(name for name in names if name in variables)


def _refused(category: Category, message: str, source: str, expression: str = "") -> CheckResult:
    return CheckResult(expression=_escape(expression)[:_SHOWN_CHARS], point=(),
                       status=Status.ERROR, category=category, message=message, source=source)


def _shown(raw: bytes) -> str:
    return raw[:_SHOWN_CHARS].decode("utf-8", "backslashreplace")


def _escape(text: str) -> str:
    # Control characters would reach terminals and CI logs as they are.
    return "".join(repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c for c in text)


def _printable(result: CheckResult) -> CheckResult:
    """An error row whose texts have no raw control characters: each is escaped (``\\x1b``),
    and the caret's column moved to match."""
    text, column = result.error_text, result.column
    if text is not None and column is not None:
        column = len(_escape(text[:column - 1])) + 1
    printable = replace(result, expression=_escape(result.expression),
                        message=None if result.message is None else _escape(result.message),
                        error_text=None if text is None else _escape(text), column=column)
    return result if printable == result else printable


# -- running ---------------------------------------------------------------------------


def count_checks(items: Sequence[Item]) -> int:
    """How many results the items will give: one per point, one per error row."""
    return sum(len(item.points) if isinstance(item, Request) else 1 for item in items)


def unused_wrt(items: Sequence[Item], options: LineOptions) -> list[str]:
    """The names of the command line's ``--wrt`` that are a variable of no line.

    A line skips the ``--wrt`` variables it does not have, and one with none of them
    checks its value only: a mistyped ``--wrt`` would pass every line that way. Only
    where every line was read (a refused line fails the run anyway, and might have been
    the one with the variable).
    """
    names = options.wrt_names()
    if not names or any(isinstance(item, CheckResult) for item in items):
        return []
    used = {name for item in items if isinstance(item, Request)
            for name in item.expression.variables}
    return [name for name in names if name not in used]


class Interrupted(KeyboardInterrupt):
    """A batch stopped by Ctrl-C, with the results ``finished`` by then (in input order)
    out of ``total``."""

    def __init__(self, finished: list[CheckResult], total: int) -> None:
        super().__init__()
        self.finished = finished
        self.total = total


def run_items(items: Sequence[Item], *, jobs: int = 1, limits: Limits = DEFAULT_LIMITS,
              pool: WorkerPool | None = None,
              on_result: Callable[[CheckResult], None] | None = None,
              on_progress: Callable[[int], None] | None = None,
              on_settle: Callable[[Sequence[CheckResult]], None] | None = None
              ) -> list[CheckResult]:
    """Run the checks of a batch and return every result, in input order.

    The checks run in ``pool`` where given (already started: see :class:`WorkerPool`),
    else in a pool of ``jobs`` workers under ``limits``. ``on_result`` sees each result
    as soon as it and every one before it are done (to stream them); ``on_progress`` is
    told how many results each finished item gave, and ``on_settle`` what they are.

    A Ctrl-C (:class:`KeyboardInterrupt`) while the checks run comes out as
    :class:`Interrupted`, which holds every result finished by then.
    """
    starts: list[int] = []
    total = 0
    for item in items:
        starts.append(total)
        total += len(item.points) if isinstance(item, Request) else 1
    slots: list[CheckResult | None] = [None] * total
    emitted = 0

    def settle(item_index: int, results: Sequence[CheckResult]) -> None:
        nonlocal emitted
        start = starts[item_index]
        slots[start:start + len(results)] = results
        if on_progress is not None:
            on_progress(len(results))
        if on_settle is not None:
            on_settle(results)
        while emitted < total and slots[emitted] is not None:
            if on_result is not None:
                result = slots[emitted]
                assert result is not None
                on_result(result)
            emitted += 1

    requests: list[Request] = []
    request_items: list[int] = []
    for index, item in enumerate(items):
        if isinstance(item, Request):
            requests.append(item)
            request_items.append(index)
    # Error rows at the top of the file stream out before any worker has started.
    for index, item in enumerate(items):
        if isinstance(item, CheckResult):
            settle(index, (item,))
    def done(index: int, results: tuple[CheckResult, ...]) -> None:
        settle(request_items[index], results)

    try:
        if pool is not None:
            pool.run(requests, done)
        else:
            run_requests(requests, done, jobs=jobs, limits=limits)
    except KeyboardInterrupt:
        raise Interrupted([slot for slot in slots if slot is not None], total) from None
    assert emitted == total, "every item is answered"
    return [slot for slot in slots if slot is not None]


def default_jobs() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


# -- progress --------------------------------------------------------------------------
