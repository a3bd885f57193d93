"""Batch mode: many checks from a file, one line each, run in isolated worker processes.

The line format::

    # a comment; blank lines are skipped
    5*(x+1)**2 @ x=1            # a check at one point
    x**y @ x=3, y=4 @ x=2, y=1  # a check at several points: one result per point
    sin(1)                      # no variables: no point needed

Every line gets a result, in input order, with its ``source`` (``path:lineno``). A line
that cannot be checked (it does not parse, breaks a limit, is not UTF-8 or holds a NUL
byte) becomes an ``error`` result there and then, and the run goes on: this module
parses and validates every line with :func:`~gradcheck_cli.check.prepare`, which loads
neither SymPy nor torch, so refused input never reaches a worker. Validated checks go to
:func:`~gradcheck_cli.workers.run_requests`.

This module also holds what a batch needs around the checks: a report written to a
file without a half-written file ever standing at its path, and a progress bar that
shows only on a terminal.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TextIO

from .check import Request, error_result, prepare
from .errors import InputError
from .limits import MAX_LINE_BYTES, MAX_POINTS_PER_LINE
from .results import Category, CheckResult, Status
from .workers import DEFAULT_LIMITS, Limits, WorkerPool, run_requests

#: What ``source`` calls standard input.
STDIN_NAME = "<stdin>"
#: Characters of a refused line kept in its result's ``expression``.
_SHOWN_CHARS = 80

#: One line's outcome once read: a check to run, or the error row that refuses it.
Item = Request | CheckResult


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
        """Raise :class:`InputError` for options no line could use (a bad ``rtol``)."""
        prepare("1", [], rtol=self.rtol, atol=self.atol, order=self.order, dtype=self.dtype,
                vjp=self.vjp)


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


def prepare_lines(lines: Sequence[RawLine], name: str, options: LineOptions = LineOptions()
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


def read_items(stream: IO[bytes], name: str, options: LineOptions = LineOptions()
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


def parse_line(raw: bytes, source: str, options: LineOptions = LineOptions()) -> Item | None:
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
    expression, *points = content.split("@")
    expression = expression.strip()
    if len(points) > MAX_POINTS_PER_LINE:
        return _refused(Category.LIMIT, f"the line gives {len(points)} points; the limit is "
                        f"MAX_POINTS_PER_LINE = {MAX_POINTS_PER_LINE}", source, expression)
    try:
        return prepare(expression, [p.strip() for p in points], wrt=options.wrt,
                       rtol=options.rtol, atol=options.atol, order=options.order,
                       dtype=options.dtype, vjp=options.vjp, source=source)
    except InputError as error:
        if not points and error.category is Category.MISSING_VALUE:
            # x**2 with no '@': the point is what is missing, not a value in it.
            missing = error.message.split(":", 1)[0]  # "no value for x"
            error = InputError(Category.MISSING_VALUE, f"{missing}: the line has no '@ x=...' "
                               f"part; give the point after '@', e.g. {expression} @ "
                               f"{error.message.rsplit('--at ', 1)[-1]}")
        return _printable(error_result(expression, error, source))


def _refused(category: Category, message: str, source: str, expression: str = "") -> CheckResult:
    return CheckResult(expression=_escape(expression)[:_SHOWN_CHARS], point=(),
                       status=Status.ERROR, category=category, message=message, source=source)


def _shown(raw: bytes) -> str:
    return raw[:_SHOWN_CHARS].decode("utf-8", "backslashreplace")


def _escape(text: str) -> str:
    # Control characters would reach terminals and CI logs as they are.
    return "".join(repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c for c in text)


def _printable(result: CheckResult) -> CheckResult:
    """An error row whose text has no raw control characters (the caret is then dropped)."""
    expression = _escape(result.expression)
    if expression == result.expression:
        return result
    return CheckResult(expression=expression, point=(), status=result.status,
                       category=result.category, message=result.message, source=result.source)


# -- running ---------------------------------------------------------------------------


def count_checks(items: Sequence[Item]) -> int:
    """How many results the items will give: one per point, one per error row."""
    return sum(len(item.points) if isinstance(item, Request) else 1 for item in items)


def run_items(items: Sequence[Item], *, jobs: int = 1, limits: Limits = DEFAULT_LIMITS,
              pool: WorkerPool | None = None,
              on_result: Callable[[CheckResult], None] | None = None,
              on_progress: Callable[[int], None] | None = None) -> list[CheckResult]:
    """Run the checks of a batch and return every result, in input order.

    The checks run in ``pool`` where given (already started: see :class:`WorkerPool`),
    else in a pool of ``jobs`` workers under ``limits``. ``on_result`` sees each result
    as soon as it and every one before it are done (to stream them); ``on_progress`` is
    told how many results each finished item gave.
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

    if pool is not None:
        pool.run(requests, done)
    else:
        run_requests(requests, done, jobs=jobs, limits=limits)
    assert emitted == total, "every item is answered"
    return [slot for slot in slots if slot is not None]


def default_jobs() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


# -- progress --------------------------------------------------------------------------


def wants_progress(stream: TextIO) -> bool:
    """A progress bar only on a terminal, and never in CI (``CI`` set), whose logs keep it."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("CI")


@contextlib.contextmanager
def progress_bar(total: int, stream: TextIO, *, enabled: bool = True
                 ) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on ``stream`` where :func:`wants_progress`; yields ``advance(n)``."""
    if not enabled or not wants_progress(stream) or total == 0:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # transient: the bar goes away when done, leaving the terminal to the report. No
    # redirection: Rich would send what is printed to standard output to the bar's stream.
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(file=stream), transient=True, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task("checking", total=total)
        yield lambda n: progress.advance(task, n)


# -- the report ------------------------------------------------------------------------
