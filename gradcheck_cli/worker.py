"""The body of a worker process: set limits, import SymPy and torch once, serve checks.

:class:`~gradcheck_cli.workers.WorkerPool` starts each worker with :func:`worker_main`
as its target (``forkserver`` or ``spawn``), talks to it over a pipe, and kills it when
it runs past its budget; this module is the other end of that pipe. It imports SymPy and
torch only in :func:`load_check_process`, inside the worker, or once in the fork server
(:mod:`gradcheck_cli.fork_server`) of which every worker is then a fork.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from .check import load_evaluation, run, stopped_results
from .results import Category, CheckResult

#: A worker body: ``(pipe to the supervisor, memory limit in MB, the supervisor's pid)``.
WorkerMain = Callable[[Connection, int, int], None]

#: The pid of the fork server, in the fork server and in every worker forked from it
#: (set by :mod:`gradcheck_cli.fork_server`); ``None`` in a worker that was spawned.
FORK_SERVER_PID: int | None = None
#: This module's file, which the ``ready`` message names: a worker forked from a fork
#: server that loaded another copy of the package is not one to trust with checks.
WORKER_FILE = os.path.realpath(__file__)


def worker_main(conn: Connection, memory_mb: int, parent: int) -> None:
    """The body of a worker process: set limits, import once, then serve requests.

    Messages out: ``("ready", WORKER_FILE)`` once the imports are done,
    ``("done", index, results)`` per request, ``("fatal", text)`` when it cannot start,
    ``("memory",)`` just before it exits after running out of memory.

    ``memory_mb`` is counted on top of what the worker holds once SymPy and torch are
    loaded (a CUDA build of torch alone takes over a gigabyte of data segment): the
    limit is set after the imports, at that footprint plus ``memory_mb``.
    """
    set_up_check_process()
    # Interrupts are the supervisor's business; a Ctrl-C must not print a traceback
    # from every worker. The supervisor starts each worker with SIGINT blocked, so that
    # none arrives before this line; ignored from now on, it can be unblocked.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    try:
        load_check_process()
        footprint = data_segment_bytes()
        _limit_memory(memory_mb, footprint)
    except BaseException as error:  # anything here means: cannot start
        with contextlib.suppress(OSError):
            conn.send(("fatal", f"a worker could not load SymPy and torch while starting: "
                                f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", WORKER_FILE))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the supervisor is gone
        if message is None:
            return
        index, request = message
        try:
            results = run(request)
        except MemoryError:
            conn.send(("memory",))
            os._exit(0)  # the heap may be in pieces: a fresh worker is cheaper
        except Exception as error:  # one bad check must not end the worker
            results = stopped_results(request, Category.INTERNAL_ERROR,
                                      f"the check could not be completed: "
                                      f"{type(error).__name__}: {error}")
        if any(_out_of_memory(r) for r in results):
            conn.send(("memory",))
            os._exit(0)
        if len(results) != len(request.points):
            # The batch's report has one slot per point; never shift the ones after it.
            results = stopped_results(request, Category.INTERNAL_ERROR, f"the check gave {len(results)} "
                                      f"results for {len(request.points)} points")
        conn.send(("done", index, results))


#: SymPy's cache size in a process that runs checks (see :func:`set_up_check_process`).
SYMPY_CACHE_ENTRIES = 10_000


def set_up_check_process() -> None:
    """Settings for a process that imports torch only to run checks: call it first.

    One thread: the supervisor runs one worker per core, and a check of scalars or of
    tensors of at most 64 elements gains nothing from torch's thread pool, which costs
    memory and start-up time. No TorchScript: the first forward-mode dual number would
    otherwise script torch's JVP decompositions (batch norm, softmax, nll_loss; none of
    them an operation of the expression language), 0.3 s of every worker's start.
    """
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    os.environ["PYTORCH_JIT"] = "0"
    # SymPy's cache of constructed expressions and assumption answers, read when SymPy is
    # imported: 1,000 entries by default, fewer than one deep line's derivatives, formulas
    # and certified values ask for again. 10,000 took 4% off the CPU of a check on 1,000
    # distinct lines (bench/README.md); a user's own setting wins.
    os.environ.setdefault("SYMPY_CACHE_SIZE", str(SYMPY_CACHE_ENTRIES))


def load_check_process() -> None:
    """Load SymPy and torch into a process set up by :func:`set_up_check_process`."""
    load_evaluation()
    # What the imports made lives as long as the process: out of the collector's sight,
    # a full collection takes microseconds, not 0.13 s.
    gc.freeze()
    import torch

    torch.set_num_threads(1)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the process that started it dies, however it
    dies; exit at once if the supervisor is already gone.

    A worker stuck in a long computation would otherwise outlive a supervisor that was
    killed (``kill -9``, a CI job cancelled), never reading the end of its pipe. A worker
    forked by the fork server is the server's child: it dies with the server, which dies
    with the supervisor (see :mod:`gradcheck_cli.fork_server`).
    """
    set_parent_death_signal()
    _let_go_of_fork_server()
    if not _started_by(parent):
        os._exit(0)  # the supervisor died before the line above could take effect


def set_parent_death_signal() -> None:
    """Ask the kernel for ``SIGKILL`` when this process's parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _let_go_of_fork_server() -> None:
    """Close this worker's copy of the fork server's "alive" pipe.

    multiprocessing hands every process the fork server starts the write end of the pipe
    whose end of file tells the server that its clients are gone. A worker busy in a long
    computation would keep the server (and so itself) alive after a supervisor killed with
    ``kill -9``; a worker starts no processes and needs no server.
    """
    from multiprocessing import forkserver

    if forkserver.get_inherited_fds() is None:
        return  # not forked by a fork server
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _started_by(parent: int) -> bool:
    """Whether this worker's parent is the supervisor ``parent`` or a fork server of it."""
    ppid = os.getppid()
    if ppid in (parent, FORK_SERVER_PID):
        return True
    # Forked by a fork server this module did not record: its parent must be the supervisor.
    try:
        with open(f"/proc/{ppid}/stat", "rb") as stat:
            # "pid (comm) state ppid ...": the name may hold spaces and parentheses.
            return int(stat.read().rsplit(b")", 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False


def data_segment_bytes() -> int | None:
    """The size of this process's data segment, in bytes: what ``RLIMIT_DATA`` counts
    (``VmData`` of ``/proc/self/status``); ``None`` where there is no ``/proc``."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024  # given in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _limit_memory(memory_mb: int, footprint: int | None) -> None:
    """Cap the data segment at ``footprint`` (what the imports took) + ``memory_mb``."""
    import resource

    if footprint is None:
        # No /proc (macOS): the peak resident size is the nearest measure there is
        # (ru_maxrss is in bytes on macOS, in KiB on Linux).
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        footprint = peak if sys.platform == "darwin" else peak * 1024
    limit = footprint + memory_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    # Where the system will not set it (some macOS versions), the supervisor's poll of
    # /proc, where there is one, is the only cap.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _out_of_memory(result: CheckResult) -> bool:
    # The evaluation turns any exception of a point into an internal_error result,
    # MemoryError and torch's allocation failures included; here they are named for what
    # they are.
    return (result.category == Category.INTERNAL_ERROR and result.message is not None
            and any(sign in result.message for sign in _OUT_OF_MEMORY))


_OUT_OF_MEMORY = (": MemoryError", "can't allocate memory", "std::bad_alloc")
