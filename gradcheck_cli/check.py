"""The library entry point: ``check(expression, point) -> CheckResult``.

A check runs in two steps, so that bad input is refused before anything heavy loads:

1. :func:`prepare` parses and validates the expression, the points and the options
   into a :class:`Request`, raising :class:`~gradcheck_cli.errors.InputError`. It
   imports neither SymPy nor torch.
2. :func:`run` evaluates a request both ways, independently: SymPy on the exact
   mathematics, torch on the expression as written; then compares.
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .compare import Tolerance, default_tolerance
from .errors import InputError
from .parse import Assignment, Expression, parse_expression, parse_point, parse_value
from .results import CheckResult, Status, Value, nested

#: A point as the library takes it: ``"x=1,y=2"`` or ``{"x": 1, "y": "pi/4"}``.
PointLike = str | Mapping[str, Any]


#: Highest derivative order accepted by ``--order``.
MAX_ORDER = 4
#: Most partial derivatives in one check (all N-th partials of the chosen variables).
MAX_PARTIALS = 64
#: The float types autograd can compute in.
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Request:
    """A validated check, ready to run: nothing in it can be refused any more."""

    expression: Expression
    points: tuple[tuple[Assignment, ...], ...]
    wrt: tuple[str, ...]
    tolerance: Tolerance
    source: str | None = None
    order: int = 1
    dtype: str = "float64"
    #: For a tensor output: the vector of the vector-Jacobian product, ``"ones"`` for
    #: ``ones_like(output)``; ``None`` for the full Jacobian.
    vjp: Assignment | str | None = None

    @property
    def has_tensors(self) -> bool:
        return self.vjp is not None or any(a.is_tensor for p in self.points for a in p)

    @property
    def partials(self) -> tuple[tuple[str, ...], ...]:
        """Every partial of the request's order, each multiset of variables once."""
        return tuple(itertools.combinations_with_replacement(self.wrt, self.order))


def check(expression: str, at: PointLike | None = None, *, wrt: str | Sequence[str] | None = None,
          rtol: float | None = None, atol: float | None = None, order: int = 1,
          dtype: str = "float64", vjp: str | None = None) -> CheckResult:
    """Check the derivatives of ``expression`` at one point.

    >>> check("5*(x+1)**2", "x=1").derivatives[0].symbolic
    20.0

    Input that cannot be checked gives a result with status ``error`` and a category
    such as ``parse_error``; it never raises for bad input.
    """
    results = check_points(expression, [] if at is None else [at], wrt=wrt, rtol=rtol, atol=atol,
                           order=order, dtype=dtype, vjp=vjp)
    return results[0]


def check_points(expression: str, points: Sequence[PointLike], *,
                 wrt: str | Sequence[str] | None = None, rtol: float | None = None,
                 atol: float | None = None, order: int = 1, dtype: str = "float64",
                 vjp: str | None = None, source: str | None = None) -> tuple[CheckResult, ...]:
    """Check ``expression`` at each point; one result per point, in order.

    ``rtol``/``atol`` default by ``dtype`` (float64: 1e-7/1e-12, float32: 1e-5/1e-6).
    """
    try:
        request = prepare(expression, points, wrt=wrt, rtol=rtol, atol=atol, order=order,
                          dtype=dtype, vjp=vjp, source=source)
    except InputError as error:
        return (error_result(expression, error, source),)
    return run(request)


def error_result(expression: str, error: InputError, source: str | None = None) -> CheckResult:
    """The result for input that was refused."""
    return CheckResult(expression=expression, point=(), status=Status.ERROR,
                       category=error.category, message=error.message, source=source,
                       error_text=error.text, column=error.column)


# -- step 1: validate ------------------------------------------------------------------


def prepare(expression: str, points: Sequence[PointLike], *,
            wrt: str | Sequence[str] | None = None, rtol: float | None = None,
            atol: float | None = None, order: int = 1, dtype: str = "float64",
            vjp: str | None = None, source: str | None = None) -> Request:
    """Parse and validate everything; raise :class:`InputError` on the first problem."""
    if dtype not in DTYPES:
        raise InputError("bad_option", f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise InputError("limit", f"order must be a whole number from 1 to MAX_ORDER = "
                         f"{MAX_ORDER}, not {order!r}")
    defaults = default_tolerance(dtype)
    tolerance = _tolerance(defaults.rtol if rtol is None else rtol,
                           defaults.atol if atol is None else atol)
    parsed = parse_expression(expression)
    assignments = tuple(_point(point) for point in points)
    variables = parsed.variables
    if not assignments:
        assignments = ((),)
    for point in assignments:
        given = [a.name for a in point]
        for assignment in point:
            if assignment.name not in variables:
                known = ", ".join(variables) or "none"
                raise InputError("unknown_variable", f"the point gives a value for "
                                 f"{assignment.name}, which is not in the expression "
                                 f"(its variables: {known})")
        missing = [name for name in variables if name not in given]
        if missing:
            example = ",".join(f"{name}=1" for name in variables)
            raise InputError("missing_value", f"no value for {', '.join(missing)}: give every "
                             f"variable a value, e.g. --at {example}")
    vector: Assignment | str | None = None
    if vjp is not None:
        vector = "ones" if vjp.strip() == "ones" else parse_value("vjp", vjp)
    request = Request(parsed, assignments, _wrt(wrt, variables), tolerance, source, order, dtype,
                      vector)
    if request.has_tensors and order != 1:
        raise InputError("bad_option", "--order above 1 works on scalar variables only")
    if len(request.partials) > MAX_PARTIALS:
        raise InputError("limit", f"order {order} in {len(request.wrt)} variables makes "
                         f"{len(request.partials)} partial derivatives; the limit is MAX_PARTIALS = "
                         f"{MAX_PARTIALS} (choose fewer with --wrt)")
    return request


def _tolerance(rtol: float, atol: float) -> Tolerance:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise InputError("bad_option", f"{name} must be a finite number >= 0, not {value!r}")
    return Tolerance(rtol=float(rtol), atol=float(atol))


def _point(point: PointLike) -> tuple[Assignment, ...]:
    if isinstance(point, str):
        return parse_point(point)
    # A mapping: numbers are taken as given, strings parsed like --at values.
    text = ",".join(f"{name}={_value_text(name, value)}" for name, value in point.items())
    return parse_point(text)


def _value_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(name, v) for v in value) + "]"
    number = float(value)
    if not math.isfinite(number):
        raise InputError("non_finite_point", f"{name} = {number} is not a finite number")
    return repr(number)


def _wrt(wrt: str | Sequence[str] | None, variables: tuple[str, ...]) -> tuple[str, ...]:
    if wrt is None:
        return variables
    names = [n.strip() for n in (wrt.split(",") if isinstance(wrt, str) else wrt)]
    chosen: list[str] = []
    for name in names:
        if name not in variables:
            known = ", ".join(variables) or "none"
            raise InputError("unknown_variable", f"--wrt names {name or 'nothing'}, which is not "
                             f"a variable of the expression (its variables: {known})")
        if name in chosen:
            raise InputError("repeated_variable", f"--wrt names {name} twice")
        chosen.append(name)
    return tuple(chosen)


# -- step 2: evaluate and compare -------------------------------------------------------


def run(request: Request) -> tuple[CheckResult, ...]:
    """Evaluate a request both ways and compare, one result per point.

    Never raises for a request: what goes wrong inside SymPy or torch becomes an
    ``internal_error`` result per point, with the exception named.
    """
    load_evaluation()
    if request.has_tensors:
        from .tensors import evaluate_tensor_request as evaluate_request
    else:
        from .evaluate import evaluate_request
    try:
        return evaluate_request(request)
    except Exception as error:
        return stopped_results(request, "internal_error", f"the check could not be completed: "
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
        from . import evaluate, tensors  # noqa: F401
    finally:
        if enabled:
            gc.enable()


def stopped_results(request: Request, category: str, message: str) -> tuple[CheckResult, ...]:
    """One ``error`` result per point of a request whose check could not finish."""
    return tuple(
        CheckResult(expression=request.expression.text, point=point_of(point),
                    status=Status.ERROR, category=category, message=message,
                    source=request.source)
        for point in request.points
    )


def point_of(point: tuple[Assignment, ...]) -> tuple[tuple[str, Value], ...]:
    """A point as results show it: a float per scalar, nested tuples per tensor."""
    return tuple((a.name, nested(a.values, a.shape)) for a in point)
