"""Progress of a batch: a bar on a terminal; elsewhere (a log, CI) a one-line note on
standard error every :data:`PROGRESS_INTERVAL` seconds, from a thread of its own so that a
hanging check does not hold it back."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from .results import CheckResult, Status

#: Seconds between two progress notes where there is no progress bar.
PROGRESS_INTERVAL = 10.0
#: The environment variable that sets another interval, in seconds (0: no notes).
PROGRESS_INTERVAL_VARIABLE = "GRADCHECK_PROGRESS_INTERVAL"


def wants_progress(stream: TextIO) -> bool:
    """A progress bar only on a terminal, and never in CI (``CI`` set), whose logs keep it."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("CI")


def progress_interval() -> float:
    """Seconds between progress notes: :data:`PROGRESS_INTERVAL`, or what
    :data:`PROGRESS_INTERVAL_VARIABLE` says (a number >= 0; anything else is ignored)."""
    try:
        interval = float(os.environ.get(PROGRESS_INTERVAL_VARIABLE, PROGRESS_INTERVAL))
    except ValueError:
        return PROGRESS_INTERVAL
    return interval if math.isfinite(interval) and interval >= 0 else PROGRESS_INTERVAL


#: Told the results of each finished line (or point of it) as they come.
Advance = Callable[[Sequence[CheckResult]], None]


@contextlib.contextmanager
def progress(total: int, stream: TextIO, *, bar: bool = True, interval: float | None = None
             ) -> Iterator[Advance]:
    """Progress on ``stream`` while ``total`` checks run; yields ``advance(results)``.

    On a terminal outside CI (:func:`wants_progress`) a Rich progress bar, where ``bar``;
    elsewhere (a log, a pipe, CI) a :class:`ProgressNote` every ``interval`` seconds
    (default: :func:`progress_interval`; 0: none), so that a long run is not silent.
    """
    interval = progress_interval() if interval is None else interval
    if total == 0:
        yield lambda results: None
    elif wants_progress(stream):
        with _progress_bar(total, stream, enabled=bar) as advance:
            yield lambda results: advance(len(results))
    elif interval > 0:
        note = ProgressNote(total, stream, interval)
        note.start()
        try:
            yield note.advance
        finally:
            note.stop()
    else:
        yield lambda results: None


class ProgressNote:
    """A line such as ``gradcheck: 120/1000 checks done, 3 failed, 0 errors (41 s)`` on
    ``stream`` every ``interval`` seconds, from a thread of its own (a check that hangs
    until its timeout must not hold the notes back) until :meth:`stop`."""

    def __init__(self, total: int, stream: TextIO, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.done = self.failed = self.errors = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def advance(self, results: Sequence[CheckResult]) -> None:
        """Count finished results."""
        with self._lock:
            self.done += len(results)
            self.failed += sum(r.status is Status.FAIL for r in results)
            self.errors += sum(r.status is Status.ERROR for r in results)

    def line(self) -> str:
        """The note, as it is now."""
        with self._lock:
            done, failed, errors = self.done, self.failed, self.errors
        return (f"gradcheck: {done}/{self.total} checks done, {failed} failed, {errors} "
                f"error{'' if errors == 1 else 's'} ({_duration(self.clock() - self.started)})\n")

    def write(self) -> None:
        """Write the note now (a closed or broken stream is not the run's problem)."""
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(self.line())
            self.stream.flush()

    def start(self) -> None:
        """Write a note every ``interval`` seconds from now on."""
        self._thread = threading.Thread(target=self._run, name="gradcheck-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No more notes."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.write()


def _duration(seconds: float) -> str:
    """``41 s``, ``12 min 5 s``, ``2 h 3 min``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


@contextlib.contextmanager
def _progress_bar(total: int, stream: TextIO, *, enabled: bool = True
                  ) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on ``stream``; yields ``advance(n)``."""
    if not enabled:
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
