"""Two tools of the exact route that both the symbolic side and the certified values
need: putting a point into an expression, and a time budget for SymPy.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import sympy as sp


def at(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """``expr`` with the point's values put in, exactly; ``nan`` where SymPy refuses to
    build it there (``Max`` of a complex number, a comparison with ``nan``), or breaks
    building it (its assumptions overflow a float on ``erfc(-1e300)**3``). Callers ask
    the certified evaluation first, which needs no substitution; this is the exact route
    for what that leaves."""
    try:
        return expr.xreplace(dict(point))
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        return sp.nan


class TooSlowError(Exception):
    """The time budget of a SymPy computation ran out."""


#: CPU seconds between repeated expiries of a time budget that has run out.
RAISE_AGAIN_SECONDS = 0.05


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise :class:`TooSlowError` in the block once it has used ``seconds`` of this
    process's CPU time, where a profiling timer is ours to use: the main thread, no other
    SIGPROF handler, no timer running. Elsewhere (a library caller's thread, a profiler)
    the block runs unbounded.

    CPU time, not wall-clock time: on a machine busy with other work a SymPy limit that
    takes 0.5 s must not run out of a 1 s budget and change a verdict (a jump found on a
    quiet machine was a forward/reverse mismatch on a loaded one).
    """
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGPROF) in (signal.SIG_DFL, signal.SIG_IGN, None)
              and signal.getitimer(signal.ITIMER_PROF)[0] == 0)
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TooSlowError

    previous = signal.signal(signal.SIGPROF, expire)
    # Raised again every RAISE_AGAIN_SECONDS past the budget: an exception raised where
    # Python only reports it (a garbage-collector callback, a __del__) is swallowed, and a
    # one-shot timer then left SymPy running unbounded (seen under pytest, whose gc callback
    # took one inside SymPy's limit).
    signal.setitimer(signal.ITIMER_PROF, seconds, RAISE_AGAIN_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
