"""The library entry point: ``check(expression, point) -> CheckResult``.

A check runs in two steps, so that bad input is refused before anything heavy loads:

1. :func:`~gradcheck_cli.request.prepare` parses and validates the expression, the
   points and the options into a :class:`~gradcheck_cli.request.Request`, raising
   :class:`~gradcheck_cli.errors.InputError`. It imports neither SymPy nor torch.
2. :func:`run` evaluates a request both ways, independently: SymPy on the exact
   mathematics, torch on the expression as written; then compares. This is the one
   place that loads :mod:`gradcheck_cli.engine`.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from .dtypes import unsupported
from .errors import InputError
from .expectations import ExpectLike
from .impl import ImplLike
from .request import PointLike, PointsLike, Request, point_of, prepare
from .results import Category, CheckResult, Status

__all__ = ["PointLike", "PointsLike", "Request", "check", "check_points", "error_result",
           "load_evaluation", "point_of", "prepare", "run", "stopped_results"]


def check(expression: str, at: PointLike | None = None, *, wrt: str | Sequence[str] | None = None,
          rtol: float | None = None, atol: float | None = None, order: int = 1,
          dtype: str = "float64", vjp: str | None = None,
          expect: ExpectLike = None, impl: ImplLike | None = None,
          args: str | Sequence[str] | None = None, device: str = "cpu") -> CheckResult:
    """Check the derivatives of ``expression`` at one point.

    >>> check("5*(x+1)**2", "x=1").derivatives[0].symbolic
    20.0
    >>> check("x**2", {"x": 3}).derivatives[0].autograd
    6.0

    ``at`` is text (``"x=1,y=pi/4"``), or a mapping from variable names (strings) to
    values, or ``None`` for an expression without variables. For an expression of exactly
    one variable a bare number is that variable's value: ``check("x**2", 3)``.

    A value in a mapping is a number (``int``, ``float``, ``fractions.Fraction``, NumPy
    scalars and 0-d arrays), text parsed like ``--at`` (``"pi/4"``), or a tensor: a list
    or tuple, nested up to 4 deep, or a NumPy array. Floats are taken with every digit
    (their ``repr``), integers and fractions exactly. ``True``/``False``, ``None``,
    complex numbers and ``nan``/``inf`` are refused: a bool is a number to Python but
    almost surely a mistake in a point.

    Input that cannot be checked gives a result with status ``error`` and a category
    such as ``parse_error``; it never raises for bad input.

    ``impl`` checks the caller's own torch code against the exact derivative of
    ``expression`` (the spec): a callable, or a TARGET such as ``"mypkg.ops:swish"`` or
    ``"src/ops.py:MySigmoid.apply"``. It is called with one tensor per variable, matched
    to its parameters by name, or in the order ``args`` gives (``"x,y"``). A callable runs
    in this process (the library has no time limit to enforce). ``device`` is where
    torch computes: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    ``expect`` is the caller's own derivative, compared with the exact one (each
    derivative's ``expected``): a formula such as ``"3*x**2"`` where one variable is
    differentiated (its ``order``-th derivative), or a mapping ``{"x": "2*x*y", "y": "x**2"}``.
    """
    results = check_points(expression, [] if at is None else [at], wrt=wrt, rtol=rtol, atol=atol,
                           order=order, dtype=dtype, vjp=vjp, expect=expect, impl=impl,
                           args=args, device=device)
    return results[0]


def check_points(expression: str, points: PointsLike, *,
                 wrt: str | Sequence[str] | None = None, rtol: float | None = None,
                 atol: float | None = None, order: int = 1, dtype: str = "float64",
                 vjp: str | None = None, source: str | None = None,
                 expect: ExpectLike = None, impl: ImplLike | None = None,
                 args: str | Sequence[str] | None = None,
                 device: str = "cpu") -> tuple[CheckResult, ...]:
    """Check ``expression`` at each point; one result per point, in order.

    Each point is as :func:`check` takes it. A single point, text (``"x=1"``), a mapping
    or a number, is taken as the one point, not as a sequence of them; a point that is
    ``None`` is refused.

    ``rtol``/``atol`` default by ``dtype`` (float64: 1e-7/1e-12, float32: 1e-5/1e-6,
    float16: 1e-3/1e-5, bfloat16: 1.6e-2/1e-5).
    ``expect`` (the caller's own derivative) is as :func:`check` takes it, judged at
    every point.
    """
    try:
        request = prepare(expression, points, wrt=wrt, rtol=rtol, atol=atol, order=order,
                          dtype=dtype, vjp=vjp, source=source, expect=expect, impl=impl,
                          args=args, device=device)
    except InputError as error:
        return (error_result(expression, error, source),)
    return run(request)


def error_result(expression: str, error: InputError, source: str | None = None) -> CheckResult:
    """The result for input that was refused."""
    return CheckResult(expression=expression if isinstance(expression, str) else repr(expression),
                       point=(), status=Status.ERROR,
                       category=error.category, message=error.message, source=source,
                       error_text=error.text, column=error.column)


# -- step 2: evaluate and compare -------------------------------------------------------


def run(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request both ways and compare, one result per point.

    Never raises for a request: what goes wrong inside SymPy or torch becomes an
    ``internal_error`` result per point, with the exception named.
    """
    load_evaluation()
    if request.has_tensors:
        from .engine.tensors import evaluate_tensor_request as evaluate_request
    else:
        from .engine.evaluate import evaluate_request
    try:
        return evaluate_request(request)
    except Exception as error:
        no_kernel = unsupported(error)
        if no_kernel is not None:  # --dtype float16 with an op torch has no half kernel for
            return stopped_results(request, Category.BAD_OPTION, no_kernel)
        return stopped_results(request, Category.INTERNAL_ERROR, f"the check could not be completed: "
                                                          f"{type(error).__name__}: {error}")


def load_evaluation() -> None:
    """Import SymPy, torch and the evaluation modules (once), the garbage collector paused.

    This is where SymPy and torch load, and the only place. The imports create some
    200,000 objects that live as long as the process: collecting while they are made
    frees nothing and costs a quarter of a second.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .engine import evaluate, tensors  # noqa: F401
    finally:
        if enabled:
            gc.enable()


def stopped_results(request: Request, category: Category, message: str) -> tuple[CheckResult, ...]:
    """One ``error`` result per point of a request whose check could not finish."""
    return tuple(
        CheckResult(expression=request.expression.text, point=point_of(point),
                    status=Status.ERROR, category=category, message=message,
                    source=request.source)
        for point in request.points
    )
