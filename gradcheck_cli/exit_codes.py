"""Exit codes, as named constants (documented in ``--help`` and the README)."""

from __future__ import annotations

from collections.abc import Sequence

from .results import CheckResult, Status

#: Every check passed (warnings allowed).
OK = 0
#: A check failed (the answers disagree) or could not be done.
CHECK_FAILED = 1
#: Usage error: a bad option, or an expression or point on the command line was refused.
USAGE_ERROR = 2
#: Stopped by Ctrl-C (128 + SIGINT, as shells report it); finished checks are kept.
INTERRUPTED = 130


def exit_code(results: Sequence[CheckResult], *, input_errors_are_usage: bool = True) -> int:
    """The exit code for a run. Refused input on the command line is a usage error."""
    if input_errors_are_usage and any(r.is_input_error for r in results):
        return USAGE_ERROR
    if any(r.status in (Status.FAIL, Status.ERROR) for r in results):
        return CHECK_FAILED
    return OK
