"""One judge for every number a check compares: a value, a partial derivative, or one
element of a tensor value, gradient or Jacobian.

A scalar check is a tensor check of shape ``()``: both paths describe each number as an
:class:`Entry` and the point as a :class:`Place`, and get back a :class:`Judged`. So
every rule (kinks and jumps, limits and partials by restriction, the point or a literal
that the dtype cannot hold, overflow, underflow, float32 rounding, the real domain)
holds for tensor elements exactly as for scalars. What only one path has (forward mode
and finite differences per scalar partial) comes in through ``refine``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ..compare import (
    Context,
    Exact,
    Kind,
    Tolerance,
    Verdict,
    default_tolerance,
    fmt,
    judge,
    judge_kink,
)
from ..functions import FUNCTIONS
from ..parse import Call, Number, unparse
from ..results import Category, Status
from . import certify, symbolic


@dataclass(frozen=True)
class Entry:
    """One number to judge, with what the rules need to know about it."""

    #: In words, for messages: ``value``, ``derivative in x``, ``partial d^2/dxy``.
    quantity: str
    #: The exact SymPy expression of the number.
    expr: Any
    #: What autograd computed.
    actual: float
    #: The variables differentiated by, one symbol per order; empty for a value.
    wrt: tuple[Any, ...] = ()
    #: The function and its lower derivatives along the way: any of them jumping at the
    #: point means the derivative does not exist.
    lowers: tuple[Any, ...] = ()
    #: Calls of the expression as written that sit on a kink for this partial.
    kink_calls: tuple[Call, ...] = ()
    #: The same number computed in float64 (for a float32 check), or ``None``.
    wide: Callable[[], float | None] | None = None
    #: The exact expression with the literals as float64 holds them (``None``: the same).
    held: Callable[[], Any] | None = None

    @property
    def along(self) -> Any:
        """The symbol of the last differentiation: limits are taken along it."""
        return self.wrt[-1] if self.wrt else None


@dataclass(frozen=True)
class Place:
    """What every number at one point shares."""

    point: Mapping[Any, Any]
    #: The point as the dtype holds it, exactly; ``None`` where that is the point.
    rounded_point: Mapping[Any, Any] | None
    tolerance: Tolerance
    dtype: str
    context: Context
    #: The literal float64 changes the most (``99999999999999999999``), if any.
    inexact_literal: Callable[[], Number | None]
    #: The value is outside the real domain: no derivative exists here.
    outside_domain: bool = False


@dataclass(frozen=True)
class Judged:
    """The verdict on one number, and the exact value it was judged against."""

    exact: Exact | None  # None where no exact value exists (a kink, a jump)
    verdict: Verdict
    #: The one-sided limits of the derivative, where the point is a kink.
    one_sided: tuple[float, float] | None = None
    #: The point is a kink, a tie or a jump for this number.
    at_kink: bool = False


Refine = Callable[[Verdict, Exact], Verdict]


def judge_entry(entry: Entry, place: Place, refine: Refine | None = None) -> Judged:
    """The verdict on one number."""
    judged = _judge(entry, place, refine)
    if place.outside_domain and entry.wrt and judged.verdict.status is Status.PASS:
        # log(x) at -1: 1/x gives -1, but there is no function there to differentiate.
        judged = replace(judged, verdict=Verdict(
            Status.WARN, Category.DOMAIN, "the expression is outside its real domain here, so this "
            f"derivative does not exist; autograd gives {fmt(entry.actual)}, the formula continued"))
    return judged


def _judge(entry: Entry, place: Place, refine: Refine | None) -> Judged:
    if entry.wrt:
        hidden = [] if entry.kink_calls else symbolic.non_smooth_at(entry.expr, place.point)
        if entry.kink_calls or hidden:
            return _at_kink(entry, place, hidden)
        jump = _jump(entry, place)
        if jump is not None:
            return jump
    exact = symbolic.exact_value(entry.expr, place.point, entry.along)
    if entry.wrt and exact.kind is Kind.UNDEFINED:
        restricted = symbolic.by_restriction(entry.lowers[0], entry.wrt, place.point) \
            if entry.lowers else None
        if restricted is not None:
            exact = restricted
        elif symbolic.sides(entry.expr, [], entry.along, place.point).real_and_apart:
            # No value and no limit, but real one-sided ones: a kink no function names
            # (sqrt(x**2 + y**2) at the origin).
            return _at_kink(entry, place, [])
    verdict = _verdict(entry, exact, place)
    if refine is not None:
        verdict = refine(verdict, exact)
    return Judged(exact, _rounding(verdict, exact, entry, place))


def _verdict(entry: Entry, exact: Exact, place: Place) -> Verdict:
    quantity, actual = entry.quantity, entry.actual
    verdict = judge(quantity, exact, actual, place.tolerance, place.context)
    if verdict.status is not Status.PASS and place.rounded_point is not None:
        # The dtype cannot hold the point (pi/2): autograd computed at the nearest
        # float. Near a pole that matters, so ask what the exact answer is there.
        nearest = symbolic.exact_value(entry.expr, place.rounded_point, entry.along)
        if judge(quantity, nearest, actual, place.tolerance, place.context).status is Status.PASS:
            shown = ", ".join(f"{s}={float(v)!r}" for s, v in place.rounded_point.items())
            verdict = Verdict(Status.WARN, Category.ROUNDED_POINT,
                              f"{place.dtype} cannot hold this point exactly ({verdict.message}); "
                              f"at the nearest {place.dtype} point {shown}, the exact {quantity} is "
                              f"{fmt(nearest.value)} and autograd agrees")
    literal = place.inexact_literal() if verdict.status is not Status.PASS and \
        place.dtype == "float64" and entry.held is not None else None
    if literal is not None and entry.held is not None:
        # sin(99999999999999999999): torch computes with the literal 1e20, as Python
        # reads it. Ask what the exact answer is with the literals torch has.
        point = place.point if place.rounded_point is None else place.rounded_point
        held = symbolic.exact_value(entry.held(), point, entry.along)
        if judge(quantity, held, actual, place.tolerance, place.context).status is Status.PASS:
            verdict = Verdict(Status.WARN, Category.ROUNDED_LITERAL,
                              f"the literal {literal.text} is not a float64; torch computes with "
                              f"{_as_held(float(literal.value))} ({verdict.message}); with the literals "
                              f"as float64 holds them, the exact {quantity} is "
                              f"{fmt(held.value)} and autograd agrees")
    return verdict


def _as_held(value: float) -> str:
    """A float64 written out far enough to show how it differs from the literal."""
    if value.is_integer() and abs(value) < 1e22:
        return str(int(value))
    return f"{Decimal(value):.20g}"


#: Categories a float64 rerun may explain as float32, float16 or bfloat16 rounding; an overflow or an
#: underflow is never "rounding": no tolerance helps there.
_ROUNDING_EXPLAINS = frozenset({"mismatch", "autograd_nan", "forward_reverse_mismatch"})


def _rounding(verdict: Verdict, exact: Exact, entry: Entry, place: Place) -> Verdict:
    """For a dtype below float64: is a failure explained by rounding? Ask float64."""
    if place.dtype == "float64" or verdict.status is not Status.FAIL or \
            exact.kind is not Kind.FINITE or verdict.category not in _ROUNDING_EXPLAINS or \
            entry.wide is None:
        return verdict
    wide = entry.wide()
    if wide is not None and math.isfinite(entry.actual) and \
            default_tolerance("float64").close(wide, exact.value):
        return Verdict(Status.FAIL, Category.ROUNDING,
                       f"{verdict.message}; the same computation in float64 gives {fmt(wide)}, "
                       f"which agrees: the difference is {place.dtype} rounding (loosen "
                       "--rtol/--atol or compute in float64)")
    return verdict


#: A jump is between two finite one-sided limits; +-inf on the two sides is a pole.
_FINITE_KINDS = frozenset({Kind.FINITE, Kind.OVERFLOW, Kind.UNDERFLOW})


def _jump(entry: Entry, place: Place) -> Judged | None:
    """No derivative where the function (or a lower derivative) jumps at the point.

    Only a lower that has no plain finite value here can jump: elementary functions are
    continuous where they are finite, and the certified evaluation refuses to decide a
    sign, a cut or a step at its switching point (it leaves that to the exact route).
    """
    for order, lower in enumerate(entry.lowers):
        if certify.value(lower, place.point) is not None:
            continue  # a plain value: continuous here
        left, right = symbolic.one_sided(lower, entry.along, place.point)
        if left.kind in _FINITE_KINDS and right.kind in _FINITE_KINDS and \
                not symbolic.same_value(left, right):
            what = "the function" if order == 0 else f"its derivative of order {order}"
            where = (f"{what} jumps here (it tends to {fmt(left.value)} from the left and "
                     f"{fmt(right.value)} from the right)")
            verdict = Verdict(Status.WARN, Category.NOT_DIFFERENTIABLE,
                              f"{where}, so no derivative exists; autograd gives "
                              f"{fmt(entry.actual)}")
            return Judged(None, verdict, at_kink=True)
    return None


def _at_kink(entry: Entry, place: Place, hidden: Sequence[Any]) -> Judged:
    symbol = entry.along
    found = symbolic.sides(entry.expr, list(entry.lowers), symbol, place.point)
    left, right, jump = found.left, found.right, found.jump
    if found.differentiable:
        # Every kink on the way is smoothed out (abs(x)**2 at 0): an ordinary point.
        exact = Exact(left.value, left.kind, left.text, by_limit=True)
        return Judged(exact, judge(entry.quantity, exact, entry.actual, place.tolerance,
                                   place.context))
    unknown = symbolic.not_found(left, right)
    if not jump and unknown is not None:
        # A side whose limit was not found in time: neither a kink nor a value is known.
        exact = Exact(math.nan, Kind.UNCERTAIN, f"its one-sided limits are not known "
                      f"({unknown.text})")
        return Judged(exact, judge(entry.quantity, exact, entry.actual, place.tolerance,
                                   place.context))
    order = len(entry.wrt)
    if entry.kink_calls:
        call = entry.kink_calls[0]
        function = FUNCTIONS[call.function]
        convention = function.convention
        kind = function.kink_kind
        where = f"{unparse(call)} has {kind}"
        if jump:
            where = unparse(call) if order == 1 else \
                f"the derivative of order {order - 1} (through {unparse(call)})"
    elif hidden:
        convention = None
        where = f"the exact derivative contains {hidden[0]}, which switches at this point"
    else:
        convention = None
        where = "the one-sided derivatives differ"
    verdict = judge_kink(left, right, jump, entry.actual, place.tolerance, where, convention)
    return Judged(None, verdict, (left.value, right.value), at_kink=True)
