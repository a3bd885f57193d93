"""Tree -> SymPy: exact derivatives and their values at a point.

This side is the mathematics: SymPy with real symbols, numbers kept exact (``0.1`` is
1/10), values certified to the digits shown (:mod:`certify`), and a limit taken where
plain substitution is undefined. It never runs ``simplify``: it is unbounded, and the
derivative as SymPy writes it is what the user wants to see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.evalf import PrecisionExhausted
from sympy.core.exprtools import decompose_power
from sympy.core.sorting import default_sort_key
from sympy.printing.str import StrPrinter

from ..compare import REAL_KINDS, Exact, Kind, Written
from ..dtypes import DType
from ..functions import FUNCTIONS
from ..parse import (
    BINARY_OPERATORS,
    Binary,
    Call,
    Constant,
    Index,
    Node,
    Number,
    Unary,
    Variable,
    children,
    index_error,
    unparse,
    walk,
)
from . import certify, differentiate
from .substitute import TooSlowError, at, time_budget

#: Significant digits of an exact value before it is rounded to float64, where it is
#: zero, tiny, huge, non-finite or complex (the hard cases: a cancellation, a pole).
PRECISION = 30
#: Significant digits of an exact value as shown in messages.
SHOWN_DIGITS = 15


def symbols_for(names: tuple[str, ...]) -> dict[str, sp.Symbol]:
    """Real SymPy symbols, one per variable name."""
    return {name: sp.Symbol(name, real=True, finite=True) for name in names}


def exact_float(value: float) -> sp.Expr:
    """The exact rational value of a float64 (0.1 is 3602879701896397/36028797018963968)."""
    return sp.Rational(value) if math.isfinite(value) else sp.nan


def to_sympy(node: Node, symbols: Mapping[str, sp.Symbol], *,
             float64_literals: bool = False) -> sp.Expr:
    """The SymPy expression of a tree; numbers stay exact.

    With ``float64_literals``, each literal is instead the float64 torch computes with
    (99999999999999999999 is 1e20, 0.1 is 0.1000000000000000055...), exactly.
    """
    if isinstance(node, Number):
        if float64_literals:
            return exact_float(float(node.value))
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Rational(node.text)
    if isinstance(node, Constant):
        return sp.pi if node.name == "pi" else sp.E
    if isinstance(node, Variable):
        return symbols[node.name]
    return _combine(node, [to_sympy(child, symbols, float64_literals=float64_literals)
                           for child in children(node)])


def inexact_literals(tree: Node) -> list[Number]:
    """The literals float64 cannot hold exactly, the most changed by rounding first."""
    changes = []
    for number in walk(tree):
        if isinstance(number, Number) and number.value != 0:
            exact, held = to_sympy(number, {}), exact_float(float(number.value))
            if held != exact:
                changes.append((abs(held - exact) / abs(exact), number))
    return [number for _, number in sorted(changes, key=lambda c: c[0], reverse=True)]


def derivative(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> sp.Expr:
    """The partial derivative of ``expr`` with respect to each symbol in turn.

    An expression with ``nan`` in it is ``nan`` everywhere (``x + 0/0``), and so is its
    derivative; SymPy would call ``nan`` a constant and its derivative 0.
    """
    if expr.has(sp.nan):
        return sp.nan
    try:
        for symbol in symbols:
            expr = differentiate.diff(expr, symbol)
    except ValueError:
        # SymPy refuses to build a piece of it: Heaviside or DiracDelta of a value that is
        # not real (max(asin(e)/x, e - 2), where asin(e) is complex, differentiates into
        # Heaviside(asin(e)/x - e + 2)). No real derivative: nan, as of x + 0/0; it had
        # ended the check as an internal error.
        return sp.nan
    return expr


def formula(expr: sp.Expr) -> str:
    """A derivative as SymPy prints it, in the expression language (``**`` for power).

    Exactly ``str(expr)``, by SymPy's own printer; only the text of each sub-expression
    is remembered (:class:`_RememberingPrinter`), so that the factors a derivative
    repeats (``exp(-x**2)`` in each term, the partials of one line, ``x**2 + 1`` of many
    lines) are ordered and printed once.
    """
    if max(len(_PRINTED), len(_COMPLEX), len(_DECOMPOSED)) > _PRINTED_KEPT:
        _PRINTED.clear()
        _COMPLEX.clear()
        _DECOMPOSED.clear()
    return str(_RememberingPrinter({"order": None}).doprint(expr))


class _RememberingPrinter(StrPrinter):  # type: ignore[misc]  # SymPy is untyped
    """SymPy's ``StrPrinter`` with the default settings (those of ``str``), which looks up
    the text of a sub-expression it has printed before.

    The text of a sub-expression is a function of the sub-expression alone (equal
    expressions print alike), with two exceptions that are printed afresh: a call with
    options (``_print_Pow`` passes ``rational=``), and a ``Float``, which is printed with
    all its digits at the top level and stripped below it.
    """

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if kwargs or not isinstance(expr, sp.Basic) or isinstance(expr, sp.Float):
            return str(super()._print(expr, **kwargs))
        text = _PRINTED.get(expr)
        if text is None:
            text = _PRINTED[expr] = str(super()._print(expr))
        return text

    def _as_ordered_terms(self, expr: Any, order: Any = None) -> list[Any]:
        if _ORDERING_COPIED and (order or self.order) is None \
                and type(expr).as_ordered_terms is sp.Expr.as_ordered_terms \
                and type(expr).as_terms is sp.Expr.as_terms:
            return _ordered_terms(expr)
        return list(super()._as_ordered_terms(expr, order))


def _ordered_terms(expr: Any) -> list[Any]:
    """``expr.as_ordered_terms()``: SymPy's code (``Expr.as_ordered_terms`` and
    ``Expr.as_terms`` of SymPy 1.14) with two of its steps remembered, the float value
    of a rational coefficient (``complex(2)`` goes through ``evalf``) and the
    decomposition of a factor into base and exponent. ``tests/test_exact_speed_paths.py``
    holds the order to SymPy's."""
    if expr.is_Add:
        # Add(Number, Mul(Number, expr)), the first number positive and the second
        # negative (1 - x), is printed in its own order.
        def key(term: Any) -> bool:
            return not isinstance(term, sp.Number | sp.NumberSymbol)
        add_args = sorted(sp.Add.make_args(expr), key=key)
        if len(add_args) == 2 and isinstance(add_args[0], sp.Number | sp.NumberSymbol) \
                and isinstance(add_args[1], sp.Mul):
            mul_args = sorted(sp.Mul.make_args(add_args[1]), key=key)
            if len(mul_args) == 2 and isinstance(mul_args[0], sp.Number) \
                    and add_args[0].is_positive and mul_args[0].is_negative:
                return add_args
    if not _ORDER:
        # The sort key of the default order is the same pure function every time.
        _ORDER.append(sp.Expr._parse_order(None))
    order_key, reverse = _ORDER[0]
    terms = _terms(expr)
    if not any(term.is_Order for term, _ in terms):
        ordered = sorted(terms, key=order_key, reverse=reverse)
    else:
        ordered = sorted([t for t in terms if not t[0].is_Order], key=order_key, reverse=True) \
            + sorted([t for t in terms if t[0].is_Order], key=order_key, reverse=True)
    return [term for term, _ in ordered]


def _terms(expr: Any) -> list[tuple[Any, Any]]:
    """``expr.as_terms()[0]``, remembering :func:`_complex` and ``decompose_power``."""
    gens: set[Any] = set()
    found = []
    for term in sp.Add.make_args(expr):
        coeff_expr, rest = term.as_coeff_Mul()
        coeff = _complex(coeff_expr)
        if coeff is None:
            coeff = complex(coeff_expr)  # raises as SymPy's own does
        cpart: dict[Any, Any] = {}
        ncpart = []
        if rest is not sp.S.One:
            for factor in sp.Mul.make_args(rest):
                if factor.is_number:
                    number = _complex(factor)
                    if number is not None:
                        coeff *= number
                        continue
                if factor.is_commutative:
                    decomposed = _DECOMPOSED.get(factor)
                    if decomposed is None:
                        decomposed = _DECOMPOSED[factor] = decompose_power(factor)
                    base, exponent = decomposed
                    cpart[base] = exponent
                    gens.add(base)
                else:
                    ncpart.append(factor)
        found.append((term, ((coeff.real, coeff.imag), cpart, tuple(ncpart))))
    indices = {g: i for i, g in enumerate(sorted(gens, key=default_sort_key))}
    result = []
    for term, (coeff_pair, cpart, ncpart_tuple) in found:
        monom = [0] * len(indices)
        for base, exponent in cpart.items():
            monom[indices[base]] = exponent
        result.append((term, (coeff_pair, tuple(monom), ncpart_tuple)))
    return result


def _complex(number: Any) -> complex | None:
    """``complex(number)``, remembered for rationals; ``None`` where it raises
    ``TypeError`` or ``ValueError`` (as ``as_terms`` then leaves the factor be)."""
    if number.is_Rational:
        found = _COMPLEX.get(number)
        if found is None:
            found = _COMPLEX[number] = complex(number)
        return found
    try:
        return complex(number)
    except (TypeError, ValueError):
        return None


#: Whether :func:`_ordered_terms` is a copy of this SymPy's own ordering: it was copied
#: from 1.14 and is tested against 1.13 (the floor) and 1.14; another version orders terms
#: with its own code (slower, never different).
_ORDERING_COPIED = sp.__version__.startswith(("1.13.", "1.14."))
#: The text of sub-expressions printed by :func:`formula`, and how many are kept
#: before starting afresh (a line's formulas have at most a few hundred); with them,
#: what :func:`_terms` remembers.
_PRINTED: dict[sp.Basic, str] = {}
_PRINTED_KEPT = 4096
_COMPLEX: dict[sp.Basic, complex] = {}
_ORDER: list[tuple[Any, bool]] = []
_DECOMPOSED: dict[sp.Basic, tuple[Any, Any]] = {}


def exact_value(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr],
                along: sp.Symbol | None = None) -> Exact:
    """The certified value of ``expr`` at an exact point, falling back to a limit where
    it is undefined.

    For a partial derivative, ``along`` is its variable: the limit is taken along it
    (in another variable it would be a different quantity).
    """
    certified = certify.value(expr, point)
    if certified is not None:
        return certified
    if expr.has(sp.Derivative):
        # SymPy left a piece underived (a rule it lacks): putting a point into that is an
        # error, not a value, and says nothing of where the function is defined.
        return Exact(math.nan, Kind.UNCERTAIN, "SymPy left part of the derivative unevaluated")
    try:
        # SymPy puts a point in exactly: a float64's digits (1e-300 is a ratio of integers
        # of some 1,000 digits) raised to a rational power can make it work for minutes.
        with time_budget(SUBSTITUTE_SECONDS):
            substituted = at(expr, point)
    except TooSlowError:
        return Exact(math.nan, Kind.UNCERTAIN, "SymPy could not put the point into it within "
                     f"{SUBSTITUTE_SECONDS:g} s, and mpmath could not settle its digits")
    direct = classify(substituted)
    if direct.kind in REAL_KINDS or direct.kind is Kind.UNCERTAIN:
        return direct
    limited = limit_value(expr, point, along)
    return limited if limited is not None else direct


def by_restriction(function: sp.Expr, wrt: tuple[sp.Symbol, ...],
                   point: Mapping[sp.Symbol, sp.Expr]) -> Exact | None:
    """A partial derivative as the derivative of the restricted function.

    df/dy at (x0, y0) is the derivative of y -> f(x0, y) at y0, whatever SymPy's general
    formula gives there: for ``x**y`` at x=0, y=2 the formula ``x**y*log(x)`` is 0*(-oo),
    but f(0, y) = 0 for y > 0, so the partial is 0. The other variables are put in
    first; each variable of the partial becomes a symbol with the sign of its value (a
    derivative sees only a neighbourhood of the point). ``None`` where this gives no
    real number either.
    """
    names = set(wrt)
    restricted = at(function, {s: v for s, v in point.items() if s not in names})
    local: dict[sp.Symbol, sp.Symbol] = {}
    for symbol in names:
        value = classify(point[symbol])
        if value.kind in REAL_KINDS and value.value != 0:
            sign = {"positive": True} if value.value > 0 else {"negative": True}
            local[symbol] = sp.Symbol(symbol.name, real=True, finite=True, **sign)
    try:
        expr = derivative(restricted.xreplace(local), tuple(local.get(s, s) for s in wrt))
    except (ValueError, TypeError, NotImplementedError):
        return None
    here = {local.get(s, s): point[s] for s in names}
    if non_smooth_at(expr, here):
        return None  # sqrt(x**2 + 0**2) is |x|: a kink, for the kink rules to judge
    exact = exact_value(expr, here, local.get(wrt[-1], wrt[-1]))
    return exact if exact.kind in REAL_KINDS else None


def limit_value(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr],
                along: sp.Symbol | None = None) -> Exact | None:
    """A limit at the point, one variable at a time, where one exists.

    The others are substituted first, so this is an iterated limit: it finds removable
    singularities such as ``sin(x)/x`` at 0, not every multivariate limit. Where the
    two-sided limit does not exist but one side is real and the other outside the
    domain (``sqrt(x)`` at 0), the real side is the value, at the domain's edge.
    """
    candidates = [along] if along is not None else \
        sorted(expr.free_symbols & set(point), key=lambda s: s.name)
    unknown: Exact | None = None  # a side whose limit was not found in time
    for symbol in candidates:
        left, right = one_sided(expr, symbol, point)
        if same_value(left, right) and left.kind in REAL_KINDS:
            return Exact(right.value, right.kind, right.text, by_limit=True)
        real = [(side, e) for side, e in (("left", left), ("right", right)) if e.kind in REAL_KINDS]
        if len(real) == 1 and {left.kind, right.kind} & {Kind.COMPLEX, Kind.UNDEFINED}:
            side, edge = real[0]
            return Exact(edge.value, edge.kind, f"{edge.text} from the {side}, the edge of the "
                         "real domain", by_limit=True)
        if len(real) == 2 and {left.kind, right.kind} == {Kind.POS_INF, Kind.NEG_INF}:
            return Exact(math.inf, Kind.COMPLEX_INF, f"{left.text} from the left, {right.text} "
                         "from the right", by_limit=True)
        if len(real) == 2 and left.kind is right.kind is Kind.FINITE:
            # atan2(sin(x), 1 - cos(x)) at 0: a jump, no value and no limit.
            return Exact(math.nan, Kind.UNDEFINED, f"it jumps: it tends to {left.value:.12g} from "
                         f"the left and {right.value:.12g} from the right", by_limit=True)
        if unknown is None:
            unknown = not_found(left, right)
    if unknown is not None:
        # Not "no limit": one may well exist (a machine slower than this one's budget).
        return Exact(math.nan, Kind.UNCERTAIN, "it has no value as written here, and its limit "
                     f"was not found ({unknown.text})", by_limit=True)
    return None


def same_value(a: Exact, b: Exact) -> bool:
    """Whether two exact values (one-sided limits, say) are the same."""
    if a.kind is not b.kind:
        return False
    if a.kind is Kind.FINITE:
        # Relative: -1e-300 and 1e-300 are the two sides of a kink, not one value.
        return abs(a.value - b.value) <= 1e-15 * max(abs(a.value), abs(b.value))
    if a.kind in (Kind.OVERFLOW, Kind.UNDERFLOW):
        return a.text == b.text
    return a.kind in (Kind.POS_INF, Kind.NEG_INF) or a.text == b.text


#: :func:`one_sided`'s results in the check being run, by (expression, symbol, point): a
#: check asks for the same limits more than once (the exact value's fallback, the test for
#: a jump, a kink's sides, the restricted partial), and each may spend LIMIT_SECONDS per
#: side (a pole of csc(sinc(u)) asked four times: 8 s). Forgotten when a check starts
#: (:func:`forget_limits`): what ran into the budget depends on the machine's speed, so no
#: check's answer may come from another's.
_ONE_SIDED: dict[tuple[sp.Expr, sp.Symbol, frozenset[tuple[sp.Symbol, sp.Expr]]],
                 tuple[Exact, Exact]] = {}


def forget_limits() -> None:
    """A check starts: the limits found for the one before are not its (see _ONE_SIDED)."""
    _ONE_SIDED.clear()


def one_sided(expr: sp.Expr, symbol: sp.Symbol, point: Mapping[sp.Symbol, sp.Expr]
              ) -> tuple[Exact, Exact]:
    """The limits of ``expr`` from the left and from the right of the point in ``symbol``."""
    try:
        key = (expr, symbol, frozenset(point.items()))
        found = _ONE_SIDED.get(key)
    except TypeError:  # something unhashable: computed each time
        return _one_sided(expr, symbol, point)
    if found is None:
        found = _ONE_SIDED[key] = _one_sided(expr, symbol, point)
    return found


def _one_sided(expr: sp.Expr, symbol: sp.Symbol, point: Mapping[sp.Symbol, sp.Expr]
               ) -> tuple[Exact, Exact]:
    """:func:`one_sided`, computed."""
    others = {s: v for s, v in point.items() if s != symbol}
    # DiracDelta is 0 on either side of its point (SymPy's limit can hang on it); a
    # jump there is found from the lower derivative instead.
    try:
        # Putting the other variables in is SymPy's exact arithmetic too, as unbounded as in
        # exact_value (lgamma of a sum holding exp(-1e8) at a tensor's element), and part
        # of finding the limit: within the limit's own budget.
        with time_budget(LIMIT_SECONDS):
            reduced = at(expr, others).replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    except TooSlowError:
        unknown = Exact(math.nan, Kind.UNCERTAIN, "no limit found: SymPy could not put the "
                        f"other variables in within {LIMIT_SECONDS:g} s")
        return unknown, unknown
    if reduced.has(sp.atan2):
        # SymPy's limit refuses atan2 ("MRV set ... several variables"); the half-angle
        # form is the same function off the cut, and has the right one-sided limits on it.
        reduced = reduced.replace(
            sp.atan2, lambda y, x: 2 * sp.atan(y / (sp.sqrt(x**2 + y**2) + x)))
    # sqrt(u**2) is |u| wherever u is real, as it is wherever the expression has a real
    # value; SymPy keeps the root where it cannot prove u real (u = log(x)), and its limit
    # then takes it as u on both sides (sqrt(log(x)**2) at 1 had the derivative 1, not a
    # kink). As |u|, the kink is found like any other.
    reduced = reduced.replace(_even_root, lambda e: sp.Abs(e.base.base) ** (e.base.exp * e.exp))
    if not non_smooth_at(reduced, point):
        # Nothing piecewise switches here, so a finite value at the point is the limit
        # from both sides (elementary functions are continuous where they are finite),
        # found without SymPy's series expansions.
        here = _finite_at(reduced, symbol, point[symbol])
        if here is not None:
            return here, here
    sides = []
    for direction in ("-", "+"):
        branch = on_side(reduced, symbol, point[symbol], direction)
        if branch != reduced and not non_smooth_at(branch, point):
            # Every atom that switches here took its side's branch (Min(1, Max(-1, x)) at
            # -1 is Min(1, x) on the right): the rest is continuous, so a finite value is
            # the limit. SymPy's limit refuses Min and Max.
            here = _finite_at(branch, symbol, point[symbol])
            if here is not None:
                sides.append(here)
                continue
        try:
            with time_budget(LIMIT_SECONDS):
                found = classify(sp.limit(branch, symbol, point[symbol], direction))
            sides.append(_beside(branch, symbol, point[symbol], direction, found))
        except TooSlowError:
            # Not "undefined": a side whose limit was not found in time says nothing of the
            # function there. As UNDEFINED it made the other side's limit "the edge of the
            # real domain", and the two sides a jump (atan2(sin(x), 1 - cos(x)) at 0 on a
            # machine where SymPy needs 1.1 s for one side).
            sides.append(Exact(math.nan, Kind.UNCERTAIN,
                               f"no limit found within {LIMIT_SECONDS:g} s"))
        except (ValueError, NotImplementedError, TypeError, ZeroDivisionError, RecursionError,
                AttributeError):
            sides.append(Exact(math.nan, Kind.UNDEFINED, "no limit"))
        except ArithmeticError as error:
            # Nor is a side where SymPy's limit broke: mpmath's OverflowError (a shift of
            # 2**(1e300) bits in atan2(xlogy(exp(x), sqrt(x)), y) at x = -1e300) says
            # nothing of the function; it had ended the whole check as an internal error.
            sides.append(Exact(math.nan, Kind.UNCERTAIN,
                               f"no limit found: SymPy's limit failed ({type(error).__name__})"))
    return sides[0], sides[1]


def _finite_at(expr: sp.Expr, symbol: sp.Symbol, value: sp.Expr) -> Exact | None:
    """The value of ``expr`` at ``symbol = value`` where it is finite, else ``None``;
    within the limit's budget, which putting the point in counts against: SymPy raising
    a float64's exact digits to a rational power (``pow(x, x + 2)`` at x = -2.99...) ran
    for minutes in a sweep's exact checks, which no --timeout bounds."""
    try:
        with time_budget(LIMIT_SECONDS):
            here = classify(at(expr, {symbol: value}))
    except TooSlowError:
        return None
    return here if here.kind is Kind.FINITE else None


def _even_root(expr: sp.Expr) -> bool:
    """``(u**(2k))**(p/q)`` with 2k*p/q not an even integer: a root of an even power."""
    if not (expr.is_Pow and expr.base.is_Pow and expr.exp.is_Rational and not expr.exp.is_Integer):
        return False
    power = expr.base.exp
    return bool(power.is_Integer and power.is_even and power > 0)


#: Distances from the point, relative to max(1, |point|), at which a one-sided limit is
#: held against the function's certified values (see :func:`_beside`).
BESIDE_STEPS = (sp.Rational(1, 2**24), sp.Rational(1, 2**48))


def _beside(branch: sp.Expr, symbol: sp.Symbol, at_value: sp.Expr, direction: str,
            found: Exact) -> Exact:
    """SymPy's one-sided limit, unless the function's certified values beside the point
    contradict it: then ``uncertain``, saying so.

    SymPy's limit can be wrong: from the left of 1, ``sqrt(log(x)**2)/(x*log(x))`` is
    -1/x, but SymPy's limit there is 1 (it takes sqrt(log(x)**2) as log(x)), and the
    derivative of ``sqrt(log(x)**2)`` at 1 was certified as 1 instead of a kink. A limit
    is contradicted when the values at two distances from the point (2**-24 and 2**-48,
    scaled) are both far from it and not closing in on it; values that cannot be
    certified there contradict nothing.
    """
    if found.kind is not Kind.FINITE:
        return found
    scale = max(sp.S.One, abs(at_value))
    sign = -1 if direction == "-" else 1
    gaps = []
    for step in BESIDE_STEPS:
        value = certify.value(branch, {symbol: at_value + sign * step * scale})
        if value is None or value.kind is not Kind.FINITE or value.doubt is not None:
            return found
        gaps.append(abs(value.value - found.value))
    far = 1e-3 * max(1.0, abs(found.value))
    if gaps[1] > far and gaps[1] >= 0.9 * gaps[0]:
        return Exact(math.nan, Kind.UNCERTAIN,
                     f"no limit found: SymPy's limit, {found.text}, is contradicted by the values "
                     f"beside the point ({'left' if sign < 0 else 'right'} of it they stay "
                     f"{gaps[1]:.3g} away)")
    return found


def on_side(expr: sp.Expr, symbol: sp.Symbol, at_value: sp.Expr, direction: str) -> sp.Expr:
    """``expr`` on one side of the point: each piecewise atom that switches there
    (``Heaviside(sin(x))`` at pi) replaced by the branch it takes on that side.

    SymPy's limit evaluates such atoms at the point itself (Heaviside(0) = 1/2), which
    gave relu(sin(x)) at pi the one-sided derivatives -1/2 and -1/2 instead of -1 and 0.
    The branch comes from the sign of the switching quantity s beside the point: the sign
    of its first nonzero derivative there, s^(k)(x0), times (-1)^k on the left (exact, for
    the analytic s of the expression language; up to the 4th derivative, else the atom
    is left to SymPy).
    """
    expr = _settled_extrema(expr, {symbol: at_value})
    for _ in range(3):  # an atom inside another: the outer one first, then what it leaves
        atoms = non_smooth_at(expr, {symbol: at_value})
        branches = {atom: branch for atom in atoms
                    if (branch := _branch(atom, symbol, at_value, direction)) is not None}
        if not branches:
            return expr
        try:
            expr = expr.xreplace(branches)
        except (ValueError, TypeError):
            # A branch SymPy will not build (Min of sqrt(-1), "not comparable"): there is
            # no real value on that side to take a limit of, and SymPy's limit says so.
            return expr
    return expr


def _settled_extrema(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """Each Max or Min of two arguments that differ at the point replaced by the one it
    takes there, which it takes on both sides too.

    clamp(x, lo, hi)'s derivative in lo, Heaviside(hi - Max(lo, x))*Heaviside(lo - x),
    at x = hi = 1, lo = -1 has Heaviside(1 - Max(lo, 1)), whose argument is 0 for every
    lo near -1: no derivative of it tells a side, and SymPy's limit refuses Max. Settled,
    it is Heaviside(0), a constant.
    """
    settled = {}
    for atom in expr.atoms(sp.Max, sp.Min):
        if len(atom.args) != 2 or atom.free_symbols - set(point):
            continue
        first, second = atom.args
        difference = classify(at(first - second, point))
        if difference.kind is Kind.FINITE and difference.value != 0:
            larger, smaller = (first, second) if difference.value > 0 else (second, first)
            settled[atom] = larger if isinstance(atom, sp.Max) else smaller
    if not settled:
        return expr
    try:
        return expr.xreplace(settled)
    except (ValueError, TypeError):
        return expr


def _branch(atom: sp.Expr, symbol: sp.Symbol, at_value: sp.Expr, direction: str) -> sp.Expr | None:
    args = atom.args
    two = isinstance(atom, sp.Max | sp.Min) and len(args) == 2
    if isinstance(atom, sp.Max | sp.Min) and not two:
        return None
    switch = args[0] - args[1] if two else args[0]
    sign = _side_sign(switch, symbol, at_value, direction)
    if sign is None:
        return None
    if isinstance(atom, sp.Heaviside):
        return sp.S.One if sign > 0 else sp.S.Zero
    if isinstance(atom, sp.sign):
        return sp.Integer(sign)
    if isinstance(atom, sp.Abs):
        return sign * args[0]
    if isinstance(atom, sp.DiracDelta):
        return sp.S.Zero
    larger, smaller = (args[0], args[1]) if sign > 0 else (args[1], args[0])
    return larger if isinstance(atom, sp.Max) else smaller


def _side_sign(switch: sp.Expr, symbol: sp.Symbol, at_value: sp.Expr, direction: str) -> int | None:
    """The sign of ``switch`` just beside its zero at ``at_value``, on ``direction``'s side."""
    term = switch
    for order in range(1, 5):
        term = differentiate.diff(term, symbol)
        value = certify.value(term, {symbol: at_value})
        if value is None or value.kind not in REAL_KINDS or value.doubt is not None:
            return None
        if value.value != 0 or value.kind is Kind.UNDERFLOW:
            negative = value.value < 0 or value.text.startswith("-")
            sign = -1 if negative else 1
            return sign if direction == "+" or order % 2 == 0 else -sign
    return None


#: Seconds SymPy may spend on one one-sided limit. Its series expansions can run away
#: (max(1, max(x, 1)) at -1 went on for minutes); past this the limit counts as not
#: found. A computation stuck in C, which no signal interrupts, is for the worker's
#: --timeout to stop.
LIMIT_SECONDS = 1.0
#: CPU seconds for :func:`as_written`'s walk, which only explains a failure: SymPy's
#: automatic evaluation of an exact intermediate can run away (abs(exp(-1e8)**log1p(u))
#: went on past any --timeout), and past this budget nothing is explained.
WRITTEN_SECONDS = 2.0
#: CPU seconds SymPy may spend putting a point into an expression the certified
#: evaluation could not settle (half the default --timeout of a check).
SUBSTITUTE_SECONDS = 5.0


@dataclass(frozen=True)
class Sides:
    """One-sided limits of a derivative, and whether a lower derivative jumps."""

    left: Exact
    right: Exact
    jump: bool

    @property
    def differentiable(self) -> bool:
        return not self.jump and same_value(self.left, self.right)

    @property
    def real_and_apart(self) -> bool:
        """Both one-sided limits are real numbers and they differ: a kink."""
        return (self.left.kind in REAL_KINDS and self.right.kind in REAL_KINDS
                and not same_value(self.left, self.right))


def sides(expr: sp.Expr, lowers: list[sp.Expr], symbol: sp.Symbol,
          point: Mapping[sp.Symbol, sp.Expr]) -> Sides:
    """The one-sided limits of ``expr`` in ``symbol``; ``lowers`` are the function and its
    lower derivatives, any of which jumping there (sign at 0) means no derivative."""
    left, right = one_sided(expr, symbol, point)
    jump = any(_apart(*one_sided(lower, symbol, point)) for lower in lowers)
    return Sides(left, right, jump)


def _apart(left: Exact, right: Exact) -> bool:
    """The two sides differ, as far as is known: a side not found in time is no evidence."""
    return not_found(left, right) is None and not same_value(left, right)


def not_found(left: Exact, right: Exact) -> Exact | None:
    """The one-sided limit that was not found in time (kind ``uncertain``), if either was."""
    for side in (left, right):
        if side.kind is Kind.UNCERTAIN:
            return side
    return None


def classify(value: Any) -> Exact:
    """Evaluate a SymPy value (no free symbols) numerically, certified, and say what it is."""
    if value is sp.zoo:
        return Exact(math.inf, Kind.COMPLEX_INF, "zoo")
    if value is sp.oo:
        return Exact(math.inf, Kind.POS_INF, "oo")
    if value is sp.S.NegativeInfinity:
        return Exact(-math.inf, Kind.NEG_INF, "-oo")
    if value is sp.nan:
        return Exact(math.nan, Kind.UNDEFINED, "nan")
    certified = certify.value(value)
    if certified is not None:
        return certified
    try:
        return _classify_exactly(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, RecursionError,
            AttributeError, NotImplementedError):
        # A truth value SymPy cannot decide (zoo*erf(zoo) compared with 0), a number too
        # large to write out: no real value that SymPy can name.
        return Exact(math.nan, Kind.UNDEFINED, _shown(value))


def _classify_exactly(value: Any) -> Exact:
    """What :func:`certify.value` left: poles, values outside the real domain, and
    functions it has no mpmath form for, by SymPy's own evaluation."""
    number = sp.N(value, PRECISION)
    if number in (sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan):
        return classify(number)
    if not number.is_number or number.has(sp.DiracDelta, sp.AccumBounds):
        return Exact(math.nan, Kind.UNDEFINED, _shown(value))
    real, imag = number.as_real_imag()
    if sp.nan in (real, imag):  # erfc(zoo): a function SymPy cannot evaluate there
        return Exact(math.nan, Kind.UNDEFINED, _shown(value))
    if imag != 0 and abs(imag) > abs(real) * sp.Float(10) ** (4 - PRECISION):
        return Exact(math.nan, Kind.COMPLEX, str(number.evalf(SHOWN_DIGITS)))
    if not real.is_Number:
        return Exact(math.nan, Kind.UNDEFINED, _shown(value))
    # A real number that the certified evaluation could not settle: SymPy's strict
    # evaluation at two precisions must agree on it, or it is uncertain.
    try:
        low = sp.re(value).evalf(PRECISION, strict=True, maxn=1000)
        high = sp.re(value).evalf(2 * PRECISION, strict=True, maxn=2000)
    except PrecisionExhausted:
        low = high = None
    if low is None or high is None or not low.is_Float or \
            abs(low - high) > abs(high) * sp.Float(10) ** (-SHOWN_DIGITS - 2):
        return Exact(math.nan, Kind.UNCERTAIN,
                     f"SymPy's evaluations of {_shown(value)} at {PRECISION} and "
                     f"{2 * PRECISION} digits do not agree")
    as_float = float(high)
    if math.isinf(as_float):
        return Exact(as_float, Kind.OVERFLOW, str(high.evalf(SHOWN_DIGITS)))
    if as_float == 0 and high != 0:
        return Exact(0.0, Kind.UNDERFLOW, str(high.evalf(SHOWN_DIGITS)))
    return Exact(as_float, Kind.FINITE, repr(as_float))


def _shown(value: Any) -> str:
    """A SymPy value in words, short enough for a message."""
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_zero(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr]) -> bool:
    """Whether ``expr`` is exactly zero at the point.

    Exactly: a point 1e-30 away from a kink is an ordinary point. The certified value
    decides: a nonzero value is certified nonzero, and a value that vanishes at every
    precision was put to SymPy for a proof (:mod:`certify`). One that vanishes but was
    not proved counts as 0: it is within 1e-600 or so of the switching point, and the
    kink rules that follow take one-sided limits rather than trust either side.
    """
    # Certified nonzero without substituting first: SymPy building the substituted
    # expression can take minutes (a rational point's float64 digits in a rational power,
    # (4*x**2 + 1)**(x/(x**2 + 4)), makes it factor and expand integers of many digits),
    # where the certified evaluation takes milliseconds. A zero (or no answer) takes the
    # exact route below, which alone asks SymPy for a proof.
    direct = certify.value(expr, point, prove_zero=lambda: None)
    if direct is not None and direct.kind is Kind.FINITE and direct.value != 0:
        return False
    at_point = at(expr, point)
    if at_point == 0:
        return True
    exact = classify(at_point)
    return exact.kind is Kind.FINITE and exact.value == 0


def kink_sites(tree: Node, symbols: Mapping[str, sp.Symbol], point: Mapping[sp.Symbol, sp.Expr]
               ) -> list[tuple[Call, frozenset[str]]]:
    """The calls of non-smooth functions sitting exactly on a kink at this point.

    Each comes with the variables its arguments depend on: only those partials are
    affected.
    """
    sites = []
    for node in walk(tree):
        if not isinstance(node, Call):
            continue
        function = FUNCTIONS[node.function]
        if function.kink is None:
            continue
        args = [to_sympy(a, symbols) for a in node.args]
        if is_zero(function.kink(*args), point):
            names = frozenset(s.name for a in args for s in a.free_symbols)
            sites.append((node, names))
    return sites


_UNDEFINED_WORDS = {"nan": "0/0 or another undefined form", "zoo": "a division by zero"}


def as_written(tree: Node, values: Mapping[str, Any], dtype: str = "float64") -> Written:
    """Evaluate the tree bottom-up with exact numbers, noting where it breaks in ``dtype``.

    SymPy simplifies ``x/x`` to 1 before any point is seen; this walk does not, so it
    finds the sub-expression that is undefined as written (``0/0``, ``log(-1)``), the
    first one whose exact value is beyond the dtype's range, and the first nonzero one
    the dtype rounds to 0 (with what is then computed from that 0).
    """
    largest, tiny = DType(dtype).largest, DType(dtype).tiny
    found: dict[str, str] = {}
    underflowed: list[Node] = []

    def visit(node: Node) -> Any:
        if isinstance(node, Variable):
            return values[node.name]
        if isinstance(node, Number | Constant):
            return to_sympy(node, {})
        kids = children(node)
        operands = [visit(child) for child in kids]
        if any(o is None for o in operands):
            return None  # below an undefined node: nothing more to learn
        if underflowed and "underflow" not in found and underflowed[-1] in kids:
            if isinstance(node, Index):
                # An index selects and computes nothing: the underflow is its own if an
                # element it picks rounds to 0 (found again below), else not there at all.
                underflowed.pop()
                del found["underflow_at"]
            else:
                found["underflow"] = f"{found['underflow_at']}, so {unparse(node)} is computed from 0"
        try:
            value = _combine(node, operands)
        except (ValueError, ArithmeticError, RecursionError):
            # SymPy failed on this intermediate (sin(atan2(-1e-300, 2)) once raised from
            # inside its factorisation): it explains nothing, and must not sink the check.
            return None
        # A tensor breaks where any of its elements does.
        for exact in map(classify, np.ravel(np.asarray(value, dtype=object))):
            if exact.kind in (Kind.UNDEFINED, Kind.COMPLEX, Kind.COMPLEX_INF, Kind.POS_INF,
                              Kind.NEG_INF):
                found.setdefault("undefined", _describe(node, exact.text))
                return None
            if exact.kind is Kind.OVERFLOW or (exact.kind is Kind.FINITE and
                                               abs(exact.value) > largest):
                found.setdefault("overflow", f"{unparse(node)} is {_text(exact)}, beyond {dtype}")
            rounds_to_zero = exact.kind is Kind.UNDERFLOW or \
                (exact.kind is Kind.FINITE and 0 < abs(exact.value) < tiny)
            if rounds_to_zero and "underflow_at" not in found:
                found["underflow_at"] = f"{unparse(node)} is {_text(exact)}, which is 0 in {dtype}"
                underflowed.append(node)
        return value

    try:
        with time_budget(WRITTEN_SECONDS):
            visit(tree)
    except TooSlowError:
        return Written(undefined=None, overflow=None, underflow=None)
    return Written(undefined=found.get("undefined"), overflow=found.get("overflow"),
                   underflow=found.get("underflow", found.get("underflow_at")))


def _text(exact: Exact) -> str:
    return exact.text if exact.kind is not Kind.FINITE else f"{exact.value:.6g}"


def _describe(node: Node, value: str) -> str:
    """A sub-expression that breaks at the point, in words: ``x/x is 0/0``."""
    words = _UNDEFINED_WORDS.get(value, value)
    if isinstance(node, Binary) and node.op == "/" and value == "nan":
        words = "0/0"
    return f"{unparse(node)} is {words}"


def _combine(node: Node, operands: list[Any]) -> Any:
    if isinstance(node, Index):
        return _take(node, operands[0])
    if isinstance(node, Call) and FUNCTIONS[node.function].kind == "reduction":
        return FUNCTIONS[node.function].sympy(sp, *operands)
    if any(isinstance(o, np.ndarray) for o in operands):
        # Tensors: arrays of exact expressions, element by element, broadcasting as
        # torch does. Never mix an array into a SymPy operator: SymPy would turn it
        # into one of its own arrays.
        result = np.vectorize(lambda *xs: _combine(node, list(xs)), otypes=[object])(*operands)
        return result if result.ndim else result.item()
    if isinstance(node, Unary):
        return -operands[0] if node.op == "-" else operands[0]
    if isinstance(node, Binary):
        return BINARY_OPERATORS[node.op](*operands)
    assert isinstance(node, Call)
    function = FUNCTIONS[node.function]
    if function.real_arguments and any(getattr(o, "is_number", False) and
                                       classify(o).kind not in REAL_KINDS for o in operands):
        # max(x, acos(2)): of a number that is not real there is no larger one, so the
        # value is undefined, as torch's nan is. Decided numerically first: SymPy's Max
        # refuses such a number, or spends minutes on it (min(atan2(1, asin(2)), x)).
        return sp.nan
    return function.sympy(sp, *operands)


def _take(node: Index, operand: Any) -> Any:
    """``operand[i, j]``: an element of an array of exact expressions, or a sub-array
    (``A[0]`` is a row); as torch indexes, negative indices counting from the end.

    An index that does not fit (a scalar operand, too many indices, out of range) raises
    the :class:`~gradcheck_cli.errors.InputError` the request gives where it knows the
    shape; here every shape is known (``softmax(z)[5]``, ``sum(x)[0]``).
    """
    shape = tuple(operand.shape) if isinstance(operand, np.ndarray) else ()
    error = index_error(node, shape)
    if error is not None:
        raise error
    return operand[node.indices]


def element_symbols(name: str, shape: tuple[int, ...]) -> Any:
    """A real symbol for a scalar, or an array of them named ``x[0]``, ``x[1, 2]``."""
    if not shape:
        return sp.Symbol(name, real=True, finite=True)
    symbols = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        symbols[index] = sp.Symbol(f"{name}[{', '.join(map(str, index))}]", real=True, finite=True)
    return symbols


_NON_SMOOTH = (sp.sign, sp.Heaviside, sp.Abs, sp.DiracDelta, sp.Max, sp.Min)


def non_smooth_at(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr]) -> list[sp.Expr]:
    """Non-smooth pieces of an exact expression (``sign(x)`` in the derivative of
    ``sqrt(x**2)``) whose switching point is this one: where a kink may hide that no
    single function of the expression as written shows."""
    found = []
    # Sorted: a set's order follows Python's string hashing, which changes from process to
    # process, and the first found is the one a message names.
    for atom in sorted(expr.atoms(*_NON_SMOOTH), key=sp.default_sort_key):
        args = atom.args
        two = isinstance(atom, sp.Max | sp.Min) and len(args) == 2
        switch = args[0] - args[1] if two else args[0]
        if is_zero(switch, point):
            found.append(atom)
    return found
