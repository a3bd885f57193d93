"""Imported by the worker pool's fork server, and only there: load SymPy and torch once.

:class:`~gradcheck_cli.workers.WorkerPool` starts its workers with multiprocessing's
``forkserver`` method and names this module in ``set_forkserver_preload``: the fork
server (a fresh interpreter, not a fork of the supervisor) imports it before it forks its
first worker, so that every worker, the replacements after a kill included, is a fork of
a process that has already imported SymPy, torch and the engine, and is ready in
milliseconds instead of the second and a half those imports take.

What is forked must be safe to fork. This module runs no torch operation: torch's
intra-op thread pool starts at the first parallel operation, and threads do not survive a
fork. It never touches ``torch.cuda``: CUDA cannot be initialised again in a forked child
(a check on ``--device cuda`` starts its worker with ``spawn``). With
``OMP_NUM_THREADS=1`` set before torch loads (:func:`~gradcheck_cli.worker.set_up_check_process`),
the server stays one thread.

The server dies with the supervisor: the kernel kills it when its parent dies (Linux), and
multiprocessing stops it when the supervisor's end of its "alive" pipe closes; each
worker dies with the server in turn.
"""

from __future__ import annotations

import os
import signal

from . import worker


def _load() -> None:
    # Set by the supervisor for this process's start only (see workers._safe_path_unless_here).
    if os.environ.pop("GRADCHECK_FORK_SERVER_SAFE_PATH", None):
        os.environ.pop("PYTHONSAFEPATH", None)
    # A Ctrl-C is the supervisor's to handle: blocked here (and so in every fork, until
    # the worker ignores it), it cannot print a traceback from the server's imports.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    worker.set_parent_death_signal()
    worker.FORK_SERVER_PID = os.getpid()
    worker.set_up_check_process()
    try:
        worker.load_check_process()
    except BaseException:
        # A worker forked from here loads again, and tells the supervisor why it cannot.
        return


_load()
