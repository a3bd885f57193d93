"""gradcheck in a test suite: :func:`assert_gradients` and :class:`GradcheckWarning`.

Light: importing this module loads neither SymPy nor torch (the pytest plugin imports
it at start-up); they load at the first check.
"""

from __future__ import annotations

from collections.abc import Sequence

from .results import CheckResult


class GradcheckWarning(UserWarning):
    """A check that passed with a warning (a kink, a pole, rounding, ...): ``category``
    and ``message`` say which and why."""

    def __init__(self, message: str, category: str = "") -> None:
        super().__init__(message)
        self.category = category


#: The width of the plain-text report in an assertion or a pytest failure.
REPORT_WIDTH = 100


def plain_report(results: Sequence[CheckResult], width: int = REPORT_WIDTH) -> str:
    """The table and explanation of ``results`` as plain text (no colour codes), as the
    command line prints them: what an assertion or a failed test item shows."""
    from .render.table import render_table

    return render_table(results, color=False, width=width)
