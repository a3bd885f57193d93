"""Isolated worker processes: each imports SymPy and torch once, then runs many checks.

The supervisor (this module's :func:`run_requests`, in the ``gradcheck`` process) never
imports SymPy or torch. It hands each idle worker one validated
:class:`~gradcheck_cli.check.Request` at a time.

Workers start with multiprocessing's ``forkserver`` method where the platform has it: a
fork server, a fresh interpreter started with the first pool, imports SymPy, torch and the
engine (:mod:`gradcheck_cli.fork_server`, which runs no torch operation, so that the
server has no threads and no CUDA to lose in a fork), and every worker, each replacement
after a kill included, is a fork of it, ready in milliseconds; only the first waits for
the imports. Elsewhere (Windows), for a check on another device than the CPU, or with
``GRADCHECK_START_METHOD=spawn``, each worker is a fresh interpreter (``spawn``) that
imports them itself. No worker is ever a fork of the supervisor.

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
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import forkserver, get_all_start_methods, get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .check import Request, stopped_results
from .results import Category, CheckResult
from .worker import WORKER_FILE, WorkerMain, worker_main

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
#: The environment variable that chooses how workers start: ``forkserver`` (the default,
#: where the platform has it) or ``spawn``; any other value is ignored.
START_METHOD_VARIABLE = "GRADCHECK_START_METHOD"
#: What the fork server imports before it forks: the main script, as multiprocessing
#: would have each worker import it, then SymPy, torch and the engine.
FORK_SERVER_PRELOAD = ["__main__", "gradcheck_cli.fork_server"]
#: How often the supervisor looks at a worker that the fork server is still starting.
LAUNCH_POLL_INTERVAL = 0.02


def default_start_method() -> str:
    """How workers start: ``"forkserver"``, unless :data:`START_METHOD_VARIABLE` says
    ``spawn`` or the platform has no fork server (Windows); then ``"spawn"``."""
    wanted = os.environ.get(START_METHOD_VARIABLE, "").strip().lower()
    if wanted == "spawn" or "forkserver" not in get_all_start_methods():
        return "spawn"
    return "forkserver"


class _ForkServer:
    """multiprocessing's fork server (one per process), shared by the pools that use it.

    The pools of this process start it with :data:`FORK_SERVER_PRELOAD` and stop it when
    the last of them closes, so that nothing outlives a pool. A fork server that someone
    else started (without the preload) is left alone: a pool then uses ``spawn``.
    """

    def __init__(self) -> None:
        self.users = 0
        self.lock = threading.Lock()

    def acquire(self) -> bool:
        """Count a pool in and make sure the server runs; ``False`` where it cannot be ours."""
        with self.lock:
            if self.users == 0 and _fork_server_pid() is not None:
                return False  # started by other code of this process, without the preload
            self._ensure_running()
            self.users += 1
            return True

    def ensure_running(self) -> None:
        """Start the server again if it died (a user's process that holds it counted in)."""
        with self.lock:
            self._ensure_running()

    def _ensure_running(self) -> None:
        # Started from the thread of the pool (never a launch thread): the server dies
        # with the thread that started it. The preload list is multiprocessing's, for the
        # whole process: set only while this call may start the server.
        server = getattr(forkserver, "_forkserver", None)
        before = getattr(server, "_preload_modules", ["__main__"])
        forkserver.set_forkserver_preload(FORK_SERVER_PRELOAD)
        try:
            with _safe_path_unless_here():
                forkserver.ensure_running()
        finally:
            forkserver.set_forkserver_preload(before)

    def release(self) -> None:
        """Count a pool out; the last one stops the server (at once: it may be loading)."""
        with self.lock:
            self.users -= 1
            self._stop_if_unused()

    def stop_if_unused(self) -> None:
        """Stop the server if no pool uses it.

        A launch thread that had not yet reached a server stopped under it starts another
        (multiprocessing's connect does), without the preload: stopped here too, once the
        closing pool's launches are over.
        """
        with self.lock:
            self._stop_if_unused()

    def _stop_if_unused(self) -> None:
        if self.users == 0 and _fork_server_pid() is not None:
            self.kill()
            with contextlib.suppress(OSError, TypeError, AttributeError, ChildProcessError):
                forkserver._forkserver._stop()  # type: ignore[attr-defined]

    def kill(self) -> None:
        """Kill the server: stuck loading, or no longer wanted."""
        pid = _fork_server_pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _fork_server_pid() -> int | None:
    """The pid of this process's fork server, ``None`` when none runs (or Python hides it)."""
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None


_FORK_SERVER = _ForkServer()

#: Set, with ``PYTHONSAFEPATH``, while the fork server starts, so that it can take both out
#: of the environment its workers inherit.
SAFE_PATH_MARK = "GRADCHECK_FORK_SERVER_SAFE_PATH"


@contextlib.contextmanager
def _safe_path_unless_here() -> Iterator[None]:
    """Keep the current directory off the fork server's ``sys.path`` where it is not on
    this process's.

    The server is ``python -c ...``, whose ``sys.path`` starts with the current directory;
    the installed ``gradcheck`` command's does not (a spawned worker takes its parent's).
    Run from a checkout of torch or SymPy, the server would load that instead.
    """
    try:
        here: str | None = os.getcwd()
    except OSError:
        here = None
    if os.environ.get("PYTHONSAFEPATH") or any(
            os.path.abspath(entry or os.curdir) == here for entry in sys.path):
        yield
        return
    os.environ["PYTHONSAFEPATH"] = os.environ[SAFE_PATH_MARK] = "1"
    try:
        yield
    finally:
        os.environ.pop("PYTHONSAFEPATH", None)
        os.environ.pop(SAFE_PATH_MARK, None)



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
    # One request has no replacement to wait for: a fork server would only add a process.
    # CUDA (or MPS) is best started in a process that never was a fork of one with torch.
    spawn = len(requests) == 1 or any(request.device != "cpu" for request in requests)
    method = "spawn" if spawn else None
    with WorkerPool(min(jobs, len(requests)), limits, start_method=method) as pool:
        pool.run(requests, on_done)


# -- the supervisor --------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    started: float
    ready: bool = False
    #: Whether ``process`` has started (its pid and sentinel are known). A worker the fork
    #: server starts is launched by a thread, which waits there while the server loads.
    launched: bool = True
    launcher: threading.Thread | None = None
    #: Why the launch failed, if it did.
    launch_error: str | None = None
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
    requests. Leaving the pool kills every worker (and the fork server, unless another
    pool of this process still uses it), whatever happened.

    ``start_method`` is ``"forkserver"`` or ``"spawn"``; by default
    :func:`default_start_method`.
    """

    def __init__(self, jobs: int, limits: Limits = DEFAULT_LIMITS,
                 worker: WorkerMain | None = None, start_method: str | None = None) -> None:
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
        #: How workers start; a pool that cannot use the fork server falls back to spawn.
        self.method = start_method or default_start_method()
        self.context = _context(self.method)
        #: Whether this pool is counted in as a user of the fork server.
        self.holds_server = False
        #: Held while a worker starts and while one is joined: multiprocessing polls the
        #: processes it started, in the launching thread, and two polls of a forked
        #: worker's status pipe at once could lose its exit status.
        self.process_lock = threading.Lock()
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
        # A spawned worker, and the fork server, inherit this thread's signal mask: with
        # SIGINT blocked, a Ctrl-C while they import (before a worker ignores SIGINT)
        # cannot print a traceback there. Here it waits, blocked, until the mask is
        # restored.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            if self.method == "forkserver" and not self._fork_server_running():
                self._use_spawn()
            parent, child = self.context.Pipe(duplex=True)
            process = self.context.Process(target=self.worker, name="gradcheck-worker",
                                           args=(child, self.limits.memory_mb, os.getpid()),
                                           daemon=True)
            worker = _Worker(process, parent, time.monotonic())
            if self.method == "forkserver":
                # The server answers once it has loaded SymPy and torch: the first worker
                # waits there seconds, in a thread, while the caller goes on.
                worker.launched = False
                worker.launcher = threading.Thread(target=self._launch, args=(worker, child),
                                                   name="gradcheck-launch", daemon=True)
                worker.launcher.start()
            else:
                try:
                    process.start()
                finally:
                    child.close()  # the worker's end: the parent keeps only its own
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.workers.append(worker)

    def _fork_server_running(self) -> bool:
        """Count this pool in as a user of the fork server, which runs then; ``False``
        where it cannot be used."""
        try:
            if self.holds_server:
                _FORK_SERVER.ensure_running()
            else:
                self.holds_server = _FORK_SERVER.acquire()
        except Exception:  # no fork server to be had: spawn, as before there was one
            return False
        return self.holds_server

    def _use_spawn(self) -> None:
        """Start every later worker of this pool with ``spawn``."""
        self.method = "spawn"
        self.context = _context("spawn")

    def _launch(self, worker: _Worker, child: Connection) -> None:
        """Start a worker through the fork server (in a thread of its own)."""
        try:
            with self.process_lock:
                worker.process.start()
            worker.launched = True
        except BaseException as error:
            worker.launch_error = f"{type(error).__name__}: {error}"
        finally:
            child.close()

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
        """Forget a worker that has exited or been killed (or never started), answering
        its request."""
        if worker.launched:
            with _holding(self.process_lock, timeout=5) as held:
                if held:
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
        """Stop every worker at once: they hold no state worth a goodbye. The last pool
        to use the fork server stops it too."""
        for worker in self.workers:
            _kill_started(worker)
        held = self.holds_server
        if held:
            self.holds_server = False
            _FORK_SERVER.release()  # a launch that waits on it fails at once
        for worker in self.workers:
            if worker.launcher is not None:
                worker.launcher.join(timeout=5)
                _kill_started(worker)  # launched after all
        if held:
            _FORK_SERVER.stop_if_unused()
        with _holding(self.process_lock, timeout=5) as held:
            for worker in self.workers:
                if held and worker.launched:
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
        # A launch in progress has no sentinel yet: it is looked at every so often.
        launched = [w for w in self.workers if w.launched]
        if len(launched) < len(self.workers):
            timeout = min(timeout, LAUNCH_POLL_INTERVAL)
        handles: list[Any] = [w.conn for w in self.workers]
        handles += [w.process.sentinel for w in launched]
        ready = set(wait(handles, timeout=timeout))
        for worker in list(self.workers):
            if worker.conn in ready:
                self._receive(worker)
            if worker in self.workers and worker in launched and worker.process.sentinel in ready:
                self._drain(worker)
                if worker in self.workers:
                    self._bury(worker)
            elif worker in self.workers and worker.launch_error is not None:
                # The fork server could not start it (it died, or was killed while stuck
                # loading): the next workers are spawned.
                worker.fatal = worker.fatal or (f"the fork server could not start a worker "
                                                f"({worker.launch_error})")
                self._use_spawn()
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
            if worker.launcher is not None:
                worker.launcher.join()  # its pid is known: the launch is ending
            worker.ready = True
            if len(message) > 1 and message[1] != WORKER_FILE:
                # Forked from a server that loaded another copy of gradcheck_cli (another
                # sys.path): its checks would not be this program's. Spawn instead.
                self._use_spawn()
                self._kill(worker, "restart")
                return True
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
                if worker.launched:
                    self._kill(worker, "startup")
                else:
                    _FORK_SERVER.kill()  # stuck loading: the launch fails, and is buried

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


def _context(method: str) -> Any:
    """multiprocessing's context for a start method (``spawn`` unless ``forkserver``)."""
    return get_context("forkserver") if method == "forkserver" else get_context("spawn")


@contextlib.contextmanager
def _holding(lock: threading.Lock, timeout: float) -> Iterator[bool]:
    """Hold ``lock`` if it can be had within ``timeout`` seconds; say whether it was."""
    held = lock.acquire(timeout=timeout)
    try:
        yield held
    finally:
        if held:
            lock.release()


def _kill_started(worker: _Worker) -> None:
    if worker.launched:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(_pid(worker), signal.SIGKILL)


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
