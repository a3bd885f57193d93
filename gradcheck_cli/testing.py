"""gradcheck in a test suite: :func:`assert_gradients` and :class:`GradcheckWarning`.

Light: importing this module loads neither SymPy nor torch (the pytest plugin imports
it at start-up); they load at the first check.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from .check import check_points
from .errors import InputError
from .expectations import ExpectLike
from .impl import ImplLike
from .request import PointsLike
from .results import CheckResult, Status


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


def assert_gradients(expression: str, at: PointsLike = None, *, impl: ImplLike | None = None,
                     args: str | Sequence[str] | None = None, expect: ExpectLike = None,
                     wrt: str | Sequence[str] | None = None, rtol: float | None = None,
                     atol: float | None = None, order: int = 1, dtype: str = "float64",
                     device: str = "cpu", vjp: str | None = None,
                     allow_warn: bool = True) -> tuple[CheckResult, ...]:
    """Assert that autograd's derivatives of ``expression`` are the exact ones at ``at``.

    For a test suite::

        from gradcheck_cli.testing import assert_gradients

        def test_swish():
            assert_gradients("x*sigmoid(x)", at={"x": 1.5}, impl=swish)   # your own function
            assert_gradients("x*sigmoid(x)", at=["x=-3", "x=0", "x=40"], impl=swish,
                             dtype="float32")
            assert_gradients("x**3", at="x=2", expect="3*x**2")          # your own derivative

    ``at`` is one point or several. One point is text (``"x=1, y=2"``), a mapping
    (``{"x": 1, "y": "pi/4"}``; a tensor value is a list, ``{"x": [1, 2]}``), or for an
    expression of one variable a bare number; ``None`` for an expression without
    variables. A list (or any other iterable that is not text or a mapping) is several
    points, each one of those: ``["x=-3", "x=0"]`` or ``[-3, 0]``.

    The other options are :func:`~gradcheck_cli.check.check_points`'s: ``impl`` checks
    the caller's own torch code (a callable or a TARGET such as ``"mypkg.ops:swish"``)
    against the exact derivative of ``expression``, with ``args`` giving its parameters'
    order; ``expect`` is the caller's own derivative (``"3*x**2"``, or a mapping by
    variable); ``wrt``, ``rtol``/``atol`` (by default the ``dtype``'s), ``order``,
    ``dtype``, ``device`` and ``vjp`` are as on the command line.

    Raises :class:`AssertionError` when any check fails or cannot be done: its first line
    says how many of the checks did not pass, and the rest is the plain-text table and
    explanation (:func:`plain_report`) of those checks only. Input that cannot be checked
    (an expression that does not parse, a point for another variable, a bad option)
    raises :class:`AssertionError` too, with the refusal message and, where it has one,
    the caret under the offending text: never another exception type.

    A check that passes with a warning (a kink, a pole, rounding) is issued as a
    :class:`GradcheckWarning` pointing at the caller's line, its ``category`` the
    category of the check (``not_differentiable``, ...); with ``allow_warn=False`` it is
    a failure instead.

    Returns the results, one per point, in order, for further assertions.
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this function's
    try:
        results = check_points(expression, at, wrt=wrt, rtol=rtol, atol=atol, order=order,
                               dtype=dtype, vjp=vjp, expect=expect, impl=impl, args=args,
                               device=device)
    except InputError as error:  # check_points returns refusals as results; in case one escapes
        results = (CheckResult(expression=str(expression), point=(), status=Status.ERROR,
                               category=error.category, message=error.message,
                               error_text=error.text, column=error.column),)
    refused = [r for r in results if r.is_input_error]
    if refused:
        # A refusal is about the input, not a point: one message, with its caret.
        first = refused[0]
        raise AssertionError(f"gradcheck cannot check {_name(expression)}: {first.message} "
                             f"({first.category})\n\n{plain_report(refused[:1])}")
    failing_statuses = {Status.FAIL, Status.ERROR} if allow_warn else {
        Status.WARN, Status.FAIL, Status.ERROR}
    failing = [r for r in results if r.status in failing_statuses]
    if allow_warn:
        for result in results:
            if result.status is Status.WARN:
                warnings.warn(GradcheckWarning(_warning_text(result), str(result.category)),
                              stacklevel=2)
    if failing:
        raise AssertionError(f"{_headline(expression, failing, len(results))}\n\n"
                             f"{plain_report(failing)}")
    return results


#: The first line of an assertion names at most this many of the checks that did not pass.
_NAMED = 3


def _headline(expression: object, failing: Sequence[CheckResult], total: int) -> str:
    """``2 of 3 checks of x*sigmoid(x) did not pass: fail at x=-3 (mismatch), ...``: the
    line pytest shows in its short summary, so it says which and why."""
    from .render.names import point_text  # light: no Rich, no SymPy

    named = [f"{r.status.value} at {point_text(r) or 'the point'} ({r.category})"
             for r in failing[:_NAMED]]
    more = f", and {len(failing) - _NAMED} more" if len(failing) > _NAMED else ""
    checks = "check" if total == 1 else "checks"
    return (f"{len(failing)} of {total} {checks} of {_name(expression)} did not pass: "
            f"{', '.join(named)}{more}")


def _name(expression: object) -> str:
    return expression if isinstance(expression, str) else repr(expression)


def _warning_text(result: CheckResult) -> str:
    """``abs(x) at x=0: not differentiable here ... (not_differentiable)``."""
    from .render.names import point_text  # light: no Rich, no SymPy

    point = point_text(result)
    where = f"{result.expression} at {point}" if point else result.expression
    return f"{where}: {result.message or 'passed with a warning'} ({result.category})"
