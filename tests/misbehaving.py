"""A worker that misbehaves on purpose, and a ``gradcheck`` that starts only such workers.

The product has no test hooks: the hostile tests run ``python tests/misbehaving.py ARGS``,
which is the ``gradcheck`` command with :data:`gradcheck_cli.workers.DEFAULT_WORKER` set
to :func:`worker_main` below. That worker is the real one, except that when a check's
expression uses one of the variables of :data:`MISBEHAVIOURS`, the check misbehaves as
named, so that the tests can exercise the supervisor.

With the environment variable :data:`FOOTPRINT_VARIABLE` set to a number of MB, each
worker also allocates that much, touches it and keeps it, after loading SymPy and torch
and before it reports ready: the large import footprint of a CUDA build of torch (over a
gigabyte of data segment), which ``--memory-limit`` must not count against a check.
With :data:`BROKEN_VARIABLE` set, each worker fails to load SymPy and torch (an
``ImportError``, as from a broken install), so that no worker ever starts.
"""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from gradcheck_cli import worker

#: A check whose expression uses one of these variables makes its worker misbehave.
MISBEHAVIOURS = {
    "gradcheck_test_hang": "hang",          # sleep forever, ignoring catchable signals
    "gradcheck_test_crash": "crash",        # os._exit(70)
    "gradcheck_test_segfault": "segfault",  # read address 0
    "gradcheck_test_memory": "memory",      # allocate until stopped
}

#: The environment variable that gives workers a large import footprint, in MB.
FOOTPRINT_VARIABLE = "GRADCHECK_TEST_FOOTPRINT_MB"
#: The environment variable that makes every worker fail to start.
BROKEN_VARIABLE = "GRADCHECK_TEST_BROKEN_IMPORT"
#: What a worker given a footprint holds on to, for as long as it lives.
_BALLAST: list[bytearray] = []


def worker_main(conn: Connection, memory_mb: int, parent: int) -> None:
    """The real worker's body, whose checks misbehave on the magic variables.

    Its ``run`` is wrapped in this worker process only: the misbehaviour happens where a
    real check's would, inside the worker's handling of a check.
    """
    real_run = worker.run

    def run(request: Any) -> Any:
        _misbehave(request)
        return real_run(request)

    worker.run = run  # type: ignore[assignment]
    footprint_mb = int(os.environ.get(FOOTPRINT_VARIABLE, "0"))
    broken = bool(os.environ.get(BROKEN_VARIABLE))
    if footprint_mb or broken:
        real_load = worker.load_check_process

        def load() -> None:
            if broken:
                raise ImportError("libtorch_cpu.so: cannot open shared object file")
            real_load()
            _BALLAST.append(_resident(footprint_mb * 2**20))

        worker.load_check_process = load  # type: ignore[assignment]
    worker.worker_main(conn, memory_mb, parent)


def _resident(size: int) -> bytearray:
    """``size`` bytes of heap, every page touched so that it is resident."""
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])
    return block


def _misbehave(request: Any) -> None:
    actions = [MISBEHAVIOURS[name] for name in request.expression.variables
               if name in MISBEHAVIOURS]
    if not actions:
        return
    action = actions[0]
    if action == "hang":
        # Like a C-level computation: deaf to every signal it could catch.
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL,
                                                                       signal.SIGSTOP})
        while True:
            time.sleep(3600)
    if action == "crash":
        os._exit(70)
    if action == "segfault":
        import ctypes

        ctypes.string_at(0)
    if action == "memory":
        hoard = []
        while True:
            hoard.append(_resident(16 * 2**20))


if __name__ == "__main__":
    # Only in the command's own process: a spawned worker imports this module as
    # __mp_main__ and must not run the command again.
    from gradcheck_cli import workers
    from gradcheck_cli.__main__ import main

    workers.DEFAULT_WORKER = worker_main
    main()
