"""Isolated worker processes: each imports SymPy and torch once, then runs many checks.

The supervisor (this module's :func:`run_requests`, in the ``gradcheck`` process) never
imports SymPy or torch. It starts workers with the ``spawn`` start method, so that no
worker is a ``fork`` of a process with torch's threads in it, and hands each idle worker
one validated :class:`~gradcheck_cli.check.Request` at a time.

A worker that runs past its wall-clock budget, or whose memory grows past the cap, is
killed with ``SIGKILL`` and replaced: a signal handler inside the worker is not enough,
because SymPy can spend minutes in one C-level big-integer operation where no Python
signal handler ever runs. A worker that dies on its own (a segfault, ``os._exit``) is
replaced too. The line being checked gets an ``error`` result (category ``timeout``,
``memory`` or ``crash``) and the other lines go on.

Memory is capped twice, each time on top of what the worker holds once SymPy and torch
are loaded (its footprint, measured when it is ready: over a gigabyte of data segment
with a CUDA build of torch, none of it the check's doing): the worker sets
``RLIMIT_DATA`` on itself at its footprint plus the cap (``RLIMIT_AS`` would break
torch's import, which maps large libraries and thread stacks), so that an allocation past
the cap fails at once; and the supervisor polls the worker's anonymous resident memory in
``/proc``, for allocations the limit does not see, against the same cap above what it
was when the worker said it was ready.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .check import Request, stopped_results
from .results import Category, CheckResult
from .worker import WorkerMain, worker_main

#: The worker body a pool starts when it is given none.
DEFAULT_WORKER: WorkerMain = worker_main

#: Default wall-clock budget of one check, in seconds.
DEFAULT_TIMEOUT = 10.0
#: Default memory cap of one check, in MiB, on top of what its worker holds after
#: loading SymPy and torch.
DEFAULT_MEMORY_MB = 2048
#: The smallest cap accepted: room for SymPy and torch to run a check.
MIN_MEMORY_MB = 256
#: How long a worker may take to import SymPy and torch before it counts as failed.
STARTUP_TIMEOUT = 120.0
#: Workers that fail to start, in a row, before the remaining checks are given up.
MAX_STARTUP_FAILURES = 3
#: How often the supervisor looks at the memory of busy workers, in seconds.
MEMORY_POLL_INTERVAL = 0.05
#: A worker that dies with this share of its memory cap in use is taken to have run
#: out of memory, not to have crashed.
MEMORY_NEAR_LIMIT = 0.9
#: Requests a worker holds at once: the one it runs and the next, queued in its pipe, so
#: that it never waits for the supervisor between two checks.
REQUESTS_PER_WORKER = 2
#: A request queued behind another must fit in the pipe's buffer (64 KiB on Linux) with
#: room to spare: a send that blocks would stop the supervisor from watching the clock.
MAX_QUEUED_BYTES = 16_384



@dataclass(frozen=True)
class Limits:
    """What one check may use before its worker is stopped."""

    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB

    def budget(self, request: Request) -> float:
        """The wall-clock budget of a request: ``timeout`` per point it checks."""
        return self.timeout * max(1, len(request.points))


#: The defaults.
DEFAULT_LIMITS = Limits()

#: Called with the index of a request and its results, as each one finishes.
OnDone = Callable[[int, tuple[CheckResult, ...]], None]


def run_requests(requests: Sequence[Request], on_done: OnDone, *, jobs: int,
                 limits: Limits = DEFAULT_LIMITS) -> None:
    """Run every request in a pool of up to ``jobs`` worker processes.

    ``on_done(index, results)`` is called once per request, in the order they finish,
    with one result per point: what the check found, or an ``error`` result saying why
    the check was stopped. It returns when every request has been answered; the
    workers are gone by then, whatever happened.
    """
    if not requests:
        return
    with WorkerPool(min(jobs, len(requests)), limits) as pool:
        pool.run(requests, on_done)


# -- the supervisor --------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    started: float
    ready: bool = False
    #: The requests sent to it, in order: it runs the first; the rest wait in its pipe.
    jobs: deque[int] = field(default_factory=deque)
    #: When the first of ``jobs`` must be done by.
    deadline: float = 0.0
    #: Set when the supervisor killed it, so that its death is not called a crash.
    killed_for: str | None = None
    fatal: str | None = None
    #: The largest anonymous resident memory seen while it ran its request, in bytes.
    peak_memory: int = 0
    #: Its anonymous resident memory when it said it was ready (SymPy and torch loaded):
    #: the cap counts on top of it.
    baseline_memory: int = 0


class WorkerPool:
    """Up to ``jobs`` worker processes, and the supervision of the checks they run.

    The workers start (and begin importing SymPy and torch) when the pool is entered,
    so that the caller can parse its input meanwhile; :meth:`run` then hands out the
    requests. Leaving the pool kills every worker, whatever happened.
    """

    def __init__(self, jobs: int, limits: Limits = DEFAULT_LIMITS,
                 worker: WorkerMain | None = None) -> None:
        #: Workers started on entering; 0 starts none until there is work, then one.
        self.initial = max(0, jobs)
        self.jobs = max(1, jobs)
        self.limits = limits
        #: The body of each worker process (by default :func:`~gradcheck_cli.worker.worker_main`;
        #: the tests start misbehaving ones). Looked up when the pool is made.
        self.worker = worker or DEFAULT_WORKER
        self.requests: Sequence[Request] = ()
        self.on_done: OnDone = lambda index, results: None
        self.pending: deque[int] = deque()
        self.workers: list[_Worker] = []
        self.startup_failures = 0
        #: Why the last worker that failed to start did.
        self.last_fatal: str | None = None
        self.context = get_context("spawn")
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        #: The last request pickled for sending, by index.
        self._pickled: tuple[int, bytes] | None = None

    def __enter__(self) -> WorkerPool:
        try:
            for _ in range(self.initial):
                self._start_worker()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def run(self, requests: Sequence[Request], on_done: OnDone) -> None:
        """Run every request; ``on_done(index, results)`` as each one is answered."""
        self.requests, self.on_done = requests, on_done
        self._pickled = None
        self.pending = deque(range(len(requests)))
        if not self.workers and self.pending:
            self._start_worker()
        while self.pending or any(w.jobs for w in self.workers):
            self._dispatch()
            self._wait()
            self._enforce_limits()
            self._replace_workers()

    # -- workers coming and going ---------------------------------------------------

    def _start_worker(self) -> None:
        parent, child = self.context.Pipe(duplex=True)
        process = self.context.Process(target=self.worker, name="gradcheck-worker",
                                       args=(child, self.limits.memory_mb, os.getpid()),
                                       daemon=True)
        # The worker inherits this thread's signal mask: with SIGINT blocked, a Ctrl-C
        # while it imports (before it ignores SIGINT) cannot print a traceback there. Here
        # it waits, blocked, until the mask is restored.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()  # the worker's end: the parent keeps only its own
        self.workers.append(_Worker(process, parent, time.monotonic()))

    def _replace_workers(self) -> None:
        """Start workers for pending work, up to ``jobs``; give up if none can start."""
        if self.startup_failures >= MAX_STARTUP_FAILURES:
            # Start no more; while some worker still runs, the work goes on there.
            if not self.workers:
                self._give_up(self.last_fatal or "the worker processes failed to start")
            return
        idle_or_starting = sum(1 for w in self.workers if not w.jobs)
        wanted = min(len(self.pending) - idle_or_starting, self.jobs - len(self.workers))
        for _ in range(max(0, wanted)):
            self._start_worker()

    def _give_up(self, reason: str) -> None:
        while self.pending:
            index = self.pending.popleft()
            self.on_done(index, stopped_results(
                self.requests[index], Category.CRASH, f"the check could not be run: {reason}"))

    def _bury(self, worker: _Worker) -> None:
        """Forget a worker that has exited or been killed, answering its request."""
        worker.process.join(timeout=5)
        worker.conn.close()
        self.workers.remove(worker)
        if not worker.ready:
            self.startup_failures += 1
            self.last_fatal = worker.fatal or (
                f"a worker process exited while loading SymPy and torch "
                f"({_exit_reason(worker)})")
        if not worker.jobs:
            return
        index = worker.jobs.popleft()
        # The ones queued behind it never started: they go first to the next worker.
        self.pending.extendleft(reversed(worker.jobs))
        worker.jobs.clear()
        request = self.requests[index]
        if worker.killed_for == "timeout":
            message = (f"the check ran for more than {self.limits.budget(request):g} s and was "
                       f"stopped (--timeout {self.limits.timeout:g} per point)")
            self.on_done(index, stopped_results(request, Category.TIMEOUT, message))
        elif worker.killed_for == "memory":
            message = (f"the check used more than {self.limits.memory_mb} MB of memory (beyond "
                       f"what its worker holds with SymPy and torch loaded) and was stopped "
                       f"(--memory-limit)")
            self.on_done(index, stopped_results(request, Category.MEMORY, message))
        elif (worker.peak_memory - worker.baseline_memory
              > MEMORY_NEAR_LIMIT * self.limits.memory_mb * 2**20):
            # Native code that cannot get memory often aborts rather than raising.
            message = (f"the worker process running this check died ({_exit_reason(worker)}) "
                       f"with its memory near the cap of {self.limits.memory_mb} MB "
                       f"(--memory-limit)")
            self.on_done(index, stopped_results(request, Category.MEMORY, message))
        else:
            message = f"the worker process running this check crashed ({_exit_reason(worker)})"
            self.on_done(index, stopped_results(request, Category.CRASH, message))

    def _kill(self, worker: _Worker, reason: str) -> None:
        worker.killed_for = reason
        with contextlib.suppress(ProcessLookupError):
            os.kill(_pid(worker), signal.SIGKILL)
        self._bury(worker)

    def shutdown(self) -> None:
        """Stop every worker at once: they hold no state worth a goodbye."""
        for worker in list(self.workers):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(_pid(worker), signal.SIGKILL)
        for worker in self.workers:
            worker.process.join(timeout=5)
            worker.conn.close()
        self.workers.clear()

    # -- the loop ---------------------------------------------------------------------

    def _dispatch(self) -> None:
        for worker in self.workers:
            while worker.ready and len(worker.jobs) < REQUESTS_PER_WORKER and self.pending:
                index = self.pending[0]
                message = self._message(index)
                if worker.jobs and len(message) > MAX_QUEUED_BYTES:
                    break  # sent when the worker is idle and reading
                try:
                    worker.conn.send_bytes(message)
                except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                    break  # its death shows in _wait
                self.pending.popleft()
                worker.jobs.append(index)
                if len(worker.jobs) == 1:
                    self._started(worker)

    def _message(self, index: int) -> bytes:
        """The request as sent, pickled once however often it waits to be queued."""
        if self._pickled is None or self._pickled[0] != index:
            self._pickled = (index, bytes(ForkingPickler.dumps((index, self.requests[index]))))
        return self._pickled[1]

    def _started(self, worker: _Worker) -> None:
        """The worker has begun on the first of its jobs: its clock starts now."""
        worker.deadline = time.monotonic() + self.limits.budget(self.requests[worker.jobs[0]])
        worker.peak_memory = 0

    def _wait(self) -> None:
        now = time.monotonic()
        deadlines = [w.deadline for w in self.workers if w.jobs]
        deadlines += [w.started + STARTUP_TIMEOUT for w in self.workers if not w.ready]
        timeout = max(0.0, min(deadlines, default=now + 1.0) - now)
        if any(w.jobs for w in self.workers):
            timeout = min(timeout, MEMORY_POLL_INTERVAL)
        handles: list[Any] = [w.conn for w in self.workers]
        handles += [w.process.sentinel for w in self.workers]
        ready = set(wait(handles, timeout=timeout))
        for worker in list(self.workers):
            if worker.conn in ready:
                self._receive(worker)
            if worker in self.workers and worker.process.sentinel in ready:
                self._drain(worker)
                if worker in self.workers:
                    self._bury(worker)

    def _drain(self, worker: _Worker) -> None:
        # A worker may send its last message and exit in the same breath.
        with contextlib.suppress(OSError):
            while worker in self.workers and worker.conn.poll() and self._receive(worker):
                pass

    def _receive(self, worker: _Worker) -> bool:
        """Handle one message; ``False`` at the end of the stream (the worker is gone)."""
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return False  # it died; the sentinel says so
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            # It waits for its first request now: what it holds is the imports' alone.
            worker.baseline_memory = anonymous_resident_bytes(_pid(worker), self.page_size) or 0
            self.startup_failures = 0
        elif kind == "done":
            _, index, results = message
            if worker.jobs and worker.jobs[0] == index:
                worker.jobs.popleft()
                if worker.jobs:
                    self._started(worker)
                self.on_done(index, results)
        elif kind == "fatal":
            worker.fatal = message[1]
        elif kind == "memory":
            worker.killed_for = "memory"
        return True

    def _enforce_limits(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.jobs and (now > worker.deadline or self._over_memory(worker)):
                reason = "timeout" if now > worker.deadline else "memory"
                running = worker.jobs[0]
                # Its answer may have come in since the wait: then it made it in time,
                # and the check it runs now is another, whose clock has just started.
                self._drain(worker)
                if worker in self.workers and worker.jobs and worker.jobs[0] == running:
                    self._kill(worker, reason)
            elif not worker.ready and now > worker.started + STARTUP_TIMEOUT:
                worker.fatal = f"a worker took more than {STARTUP_TIMEOUT:g} s to start"
                self._kill(worker, "startup")

    def _over_memory(self, worker: _Worker) -> bool:
        resident = anonymous_resident_bytes(_pid(worker), self.page_size)
        if resident is None:
            return False
        worker.peak_memory = max(worker.peak_memory, resident)
        return resident - worker.baseline_memory > self.limits.memory_mb * 2**20


def anonymous_resident_bytes(pid: int, page_size: int) -> int | None:
    """Resident memory of a process that is not file-backed (its heap), from ``/proc``.

    Shared libraries are left out: torch's are large, resident, and not the check's doing.
    ``None`` where ``/proc`` cannot say (not Linux, or the process is gone).
    """
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            fields = statm.read().split()
        return (int(fields[1]) - int(fields[2])) * page_size
    except (OSError, ValueError, IndexError):
        return None


def _pid(worker: _Worker) -> int:
    pid = worker.process.pid
    assert pid is not None  # started before it is recorded
    return pid


def _exit_reason(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
