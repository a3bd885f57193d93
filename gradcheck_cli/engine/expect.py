"""``--expect``: the user's own derivative against the exact one.

The user's formula is built into SymPy from the parser's tree (never from text), its
value at the point is certified as the exact column's is (:func:`symbolic.exact_value`),
and the two values are compared with the check's rule ``|a - b| <= atol + rtol*|b|``.
Agreeing at the point is not the same as being the derivative: ``x**2 + 8`` and ``3*x**2``
are both 12 at x=2. So the formula is also compared as a function: SymPy is asked to
prove the difference 0 within a time budget, and otherwise (or when it is not 0) both are
evaluated, certified, at points near the given one and at random points around it; a point
where they differ is named.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sympy as sp

from ..compare import Exact, Kind, Tolerance, agree, fmt, real_value
from ..expectations import Expectation
from ..results import Category, Expected, Status
from . import certify, symbolic
from .substitute import TooSlowError, time_budget

#: Seconds SymPy may spend proving the user's formula equal to the exact derivative.
EQUIVALENCE_SECONDS = 2.0
#: Random points tried, after those next to the given point, when SymPy proves nothing.
RANDOM_POINTS = 20
#: Seconds the comparison at those points may take in all (each value is certified).
NUMERIC_SECONDS = 3.0
#: The random points are reproducible: the same check gives the same report.
SEED = 20261127


@dataclass(frozen=True)
class _Witness:
    """A point where the formula and the exact derivative differ, and both values there."""

    point: str
    formula_value: float
    exact_value: float


def compare_expected(expectation: Expectation, derivative: Any, exact: Exact | None,
                     category: Category, symbols: Mapping[str, Any],
                     point: Mapping[Any, Any], tolerance: Tolerance) -> Expected:
    """The verdict on the user's ``expectation`` of a partial derivative.

    ``derivative`` is the exact SymPy derivative, ``exact`` its value at the (exact)
    ``point`` as the check judged it (``None`` where it does not exist, a kink), and
    ``category`` the check's verdict on that partial.
    """
    text = expectation.formula.text.strip()
    wrt = expectation.wrt
    quantity = f"derivative in {wrt[0]}" if len(wrt) == 1 else \
        f"partial d^{len(wrt)}/d{''.join(wrt)}"
    user = symbolic.to_sympy(expectation.formula.tree, symbols)
    mine = symbolic.exact_value(user, point, symbols[wrt[-1]])
    value = real_value(mine)

    def result(status: Status, found: Category, equivalent: bool | None, message: str | None,
               proof: str | None) -> Expected:
        return Expected(formula=text, value=value, status=status, category=found,
                        equivalent=equivalent, message=message, proof=proof)

    exact_real = exact is not None and real_value(exact) is not None
    if exact_real and value is None:
        assert exact is not None
        return result(Status.FAIL, Category.EXPECTED_MISMATCH, False,
                      f"your {quantity}, {text}, has no real value here ({mine.text}), and the "
                      f"exact one is {_shown(exact)}", "differs at the point")
    if exact_real and value is not None:
        assert exact is not None
        if not _agree(mine, exact, tolerance):
            return result(Status.FAIL, Category.EXPECTED_MISMATCH, False,
                          f"your {quantity}, {text}, is {_shown(mine)} here, and the exact one is "
                          f"{_shown(exact)}", "differs at the point")
    equivalent, proof, witness = equivalence(user, derivative, symbols, point, tolerance)
    if equivalent is False:
        where = f": at {witness.point} it gives {fmt(witness.formula_value)}, and the exact " \
            f"derivative {fmt(witness.exact_value)}" if witness is not None else \
            " (SymPy proves their difference is not 0)"
        here = f"agrees at the point ({_shown(mine)})" if exact_real else \
            "cannot be compared at the point"
        return result(Status.WARN, Category.EXPECTED_NOT_EQUIVALENT, False,
                      f"your {quantity}, {text}, {here} but is not the same function{where}", proof)
    if not exact_real:
        shown = exact.text if exact is not None else "none: the point is a kink"
        return result(Status.WARN, category, equivalent,
                      f"the exact {quantity} has no real value here ({shown}), so {text} "
                      f"({fmt(value) if value is not None else mine.text}) cannot be checked at "
                      "the point", proof)
    if mine.doubt is not None or (exact is not None and exact.doubt is not None):
        doubt = mine.doubt or (exact.doubt if exact is not None else None)
        return result(Status.WARN, Category.UNCERTAIN, equivalent,
                      f"your {quantity}, {text}, agrees with the exact one, but a value is not "
                      f"certain: {doubt}", proof)
    return result(Status.PASS, Category.OK, equivalent, None, proof)


def equivalence(user: Any, derivative: Any, symbols: Mapping[str, Any], point: Mapping[Any, Any],
                tolerance: Tolerance) -> tuple[bool | None, str, _Witness | None]:
    """Whether ``user`` and ``derivative`` are the same function, how that was found, and a
    point where they differ (if one was found)."""
    proved = _proved_zero(user - derivative)
    if proved is True:
        return True, "symbolic", None
    agreeing = 0
    deadline = time.monotonic() + NUMERIC_SECONDS
    for candidate in _candidates(point, symbols):
        if time.monotonic() > deadline:
            break  # what was compared so far is the evidence, and the message counts it
        mine, theirs = certify.value(user, candidate), certify.value(derivative, candidate)
        if not _usable(mine) or not _usable(theirs):
            continue  # outside the domain of either, or not certified: no evidence
        assert mine is not None and theirs is not None
        if not agree(mine.value, theirs.value, tolerance):
            shown = ", ".join(f"{s}={fmt(float(v))}" for s, v in candidate.items())
            return False, f"counterexample at {shown}", _Witness(shown, mine.value, theirs.value)
        agreeing += 1
    if proved is False:
        return False, "symbolic", None
    if not agreeing:
        return None, "not settled: neither SymPy nor any nearby point could decide", None
    return True, f"numeric at {agreeing} points", None


def _proved_zero(difference: Any) -> bool | None:
    """SymPy's word on whether ``difference`` is identically 0, within the time budget:
    ``True``, ``False`` (a nonzero number), or ``None`` (not settled)."""
    try:
        with time_budget(EQUIVALENCE_SECONDS):
            simplified = sp.simplify(difference)
    except (TooSlowError, RecursionError, TypeError, ValueError, ArithmeticError):
        return None
    if simplified == 0:
        return True
    if simplified.is_number and simplified.is_zero is False:
        return False
    return None


def _candidates(point: Mapping[Any, Any], symbols: Mapping[str, Any]) -> list[dict[Any, Any]]:
    """Points to compare at: each variable moved by 1 and scaled by 2 and 1/2, nearest
    first, then random points around the given one (the same each run)."""
    ordered = [symbols[name] for name in symbols if symbols[name] in point]
    found: list[dict[Any, Any]] = []
    for symbol in ordered:
        here = point[symbol]
        for moved in (here + 1, here - 1, here * 2, here / 2):
            if moved != here:
                found.append({**point, symbol: moved})
    rng = random.Random(SEED)
    for _ in range(RANDOM_POINTS):
        shifted = {}
        for symbol in ordered:
            centre = float(point[symbol])
            scale = max(1.0, abs(centre))
            shifted[symbol] = sp.Rational(f"{centre + rng.uniform(-scale, scale):.4g}")
        found.append({**point, **shifted})
    return found


def _agree(mine: Exact, exact: Exact, tolerance: Tolerance) -> bool:
    """The check's rule on two exact values; beyond float64's range (both ``inf`` there) by
    their certified digits, so that ``2*exp(x)`` is not ``exp(x)`` at x=1000."""
    if Kind.OVERFLOW in (mine.kind, exact.kind):
        if mine.kind is not exact.kind:
            return False
        try:
            a, b = Decimal(mine.text), Decimal(exact.text)
        except InvalidOperation:  # 10^(4.3e+299): no digits to compare but the text's
            return mine.text == exact.text
        # The texts carry 15 digits: closer than that is the same number as far as known.
        return abs(a - b) <= max(Decimal(tolerance.rtol), Decimal("1e-14")) * abs(b)
    return agree(mine.value, exact.value, tolerance)


def _shown(exact: Exact) -> str:
    """An exact value for a message: as the table shows numbers, or its text beyond float64."""
    return fmt(exact.value) if exact.kind is Kind.FINITE else exact.text


def _usable(value: Exact | None) -> bool:
    return value is not None and value.kind is Kind.FINITE and value.doubt is None
