"""Special points of a sweep: where an expression of one variable has a kink, a pole or
the edge of its domain, found by SymPy within a small time budget.

Evenly spaced samples and samples spread over the bit patterns both step over an
isolated point such as the kink of ``abs(x - 1/3)`` or the pole of ``tan(x)`` at pi/2,
where autograd is most likely to go wrong. The sweep adds these points to its samples,
each as the float64 nearest to the exact point.

Each point is a real zero of a *condition* read off the SymPy tree (built by the project
itself, never from user text):

- kinks and jumps: the argument of ``Abs``, ``sign``, ``Heaviside``, ``DiracDelta``; the
  difference of any two arguments of ``Max``/``Min`` (``relu``, ``max``, ``min``,
  ``clamp``); ``sin(pi*a)`` for ``floor``/``ceiling``/``frac`` of ``a`` (``a`` an integer);
  the sides of a ``Piecewise`` condition;
- poles: the base of a negative power (every denominator); ``cos(a)`` for ``tan``/``sec``,
  ``sin(a)`` for ``cot``/``csc``; ``a`` for ``coth``/``csch``; ``a`` a non-positive
  integer for ``gamma``, ``lgamma``, ``loggamma``, ``polygamma``;
- domain edges: the base of a fractional or variable power (``sqrt``, ``x**(3/2)``),
  the argument of ``log`` (and of ``xlogy``'s log), ``a`` = ±1 for ``asin``, ``acos``,
  ``atanh``, ``acoth``, ``acosh``, ``asec``, ``acsc``, ``y`` = 0 for ``atan2(y, x)``
  (its jump along the negative x axis).

A point found but not special (a removable singularity, a tie that is no kink) only
adds a sample, so the conditions err on the side of more. A condition SymPy cannot
solve in its share of the budget, or solves only as a ``ConditionSet`` (a transcendental
equation), contributes nothing: the sweep then samples as it would have without it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import sympy as sp

from .substitute import TooSlowError, time_budget

#: Most special points a sweep gets from one expression, and from one condition (the
#: poles of ``tan(x)`` over a wide range are countless).
MAX_SPECIAL_POINTS = 64
#: Significant digits of an exact point before it is rounded to float64 (some 100 bits:
#: rounding twice, to these digits and then to 53 bits, can only differ from rounding
#: once for a point within 2**-100 of the middle between two floats).
DIGITS = 30
#: The smallest share of the budget a condition is given: a profiling timer set to less
#: than its resolution might not be set at all, and SymPy then runs unbounded.
_MIN_SLICE = 1e-3

#: A condition: an expression whose real zeros are special, and, where only some of them
#: are (the poles of gamma are the non-positive integers of its argument), a test of a
#: zero's value as a float.
_Condition = tuple[sp.Expr, Callable[[float], bool] | None]

_KINKS = (sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta)
_STEPS = (sp.floor, sp.ceiling, sp.frac)
_UNIT_EDGES = (sp.asin, sp.acos, sp.atanh, sp.acoth, sp.acosh, sp.asec, sp.acsc)


def special_points(expr: sp.Expr, symbol: sp.Symbol, low: float, high: float, *,
                   budget_s: float = 0.5) -> tuple[float, ...]:
    """The sorted distinct float64 values nearest to the real kinks, poles and domain
    edges of ``expr`` (a SymPy tree of the one free symbol ``symbol``) in [low, high].

    ``budget_s`` is the CPU time SymPy may spend on all of them together, shared among
    the conditions; what runs out of its share, raises, or is not a finite set of real
    numbers (or a few lines of them, as ``tan`` has) is left out. At most
    :data:`MAX_SPECIAL_POINTS` values, taken from every condition in turn.
    """
    if not low <= high:
        return ()
    conditions = _conditions(expr, symbol)
    found: list[list[float]] = []
    start = time.process_time()
    for done, condition in enumerate(conditions):
        left = budget_s - (time.process_time() - start)
        if left <= 0:
            break
        share = max(left / (len(conditions) - done), _MIN_SLICE)
        try:
            with time_budget(share):
                values = _solve(condition, symbol, low, high)
        except (TooSlowError, Exception):  # SymPy raises anything; it only costs a point
            continue
        if values:
            found.append(values)
    # Round robin: the first point of every condition, then the second, ... so that many
    # poles of one tan(x) do not crowd out the one kink of another term.
    chosen: set[float] = set()
    for value in itertools.chain.from_iterable(itertools.zip_longest(*found)):
        if value is not None and len(chosen) < MAX_SPECIAL_POINTS:
            chosen.add(value)
    return tuple(sorted(chosen))


def _conditions(expr: sp.Expr, symbol: sp.Symbol) -> list[_Condition]:
    """Every condition of the tree, once each, in the order the tree has them."""
    found: dict[sp.Expr, Callable[[float], bool] | None] = {}

    def add(condition: sp.Expr, keep: Callable[[float], bool] | None = None) -> None:
        if condition.free_symbols == {symbol} and condition not in found:
            found[condition] = keep

    for node in sp.preorder_traversal(expr):
        args = node.args
        if isinstance(node, _KINKS):
            add(args[0])
        elif isinstance(node, sp.Max | sp.Min):
            for a, b in itertools.combinations(args, 2):
                add(a - b)
        elif isinstance(node, _STEPS):
            add(sp.sin(sp.pi * args[0]))
        elif isinstance(node, sp.Piecewise):
            for _, condition in args:
                for relation in _relations(condition):
                    add(relation.lhs - relation.rhs)
        elif isinstance(node, sp.Pow):
            base, exponent = args
            negative = exponent.is_number and exponent.is_negative
            if negative or not exponent.is_integer:
                add(base)
        elif isinstance(node, sp.log):
            add(args[0])
        elif isinstance(node, sp.tan | sp.sec):
            add(sp.cos(args[0]))
        elif isinstance(node, sp.cot | sp.csc):
            add(sp.sin(args[0]))
        elif isinstance(node, sp.coth | sp.csch):
            add(args[0])
        elif isinstance(node, _UNIT_EDGES):
            add(args[0] - 1)
            add(args[0] + 1)
            if isinstance(node, sp.asec | sp.acsc):
                add(args[0])
        elif isinstance(node, sp.atan2):
            add(args[0])
        elif _is_gamma_like(node):
            argument = args[-1]
            add(sp.sin(sp.pi * argument), _non_positive(argument, symbol))
        elif type(node).__name__ == "xlogy":
            add(args[1])  # the project's x*log(y): the edge of the log
    return list(found.items())


def _relations(condition: Any) -> list[Any]:
    """The relations (``x < 1``) in a Piecewise condition, inside And/Or/Not too."""
    if isinstance(condition, sp.core.relational.Relational):
        return [condition]
    if isinstance(condition, sp.And | sp.Or | sp.Not):
        return [r for arg in condition.args for r in _relations(arg)]
    return []


def _is_gamma_like(node: Any) -> bool:
    """gamma, SymPy's loggamma and polygamma, and the project's lgamma (by name: its
    class lives in sympy_functions, which this module need not import)."""
    return isinstance(node, sp.gamma | sp.loggamma | sp.polygamma) or (
        isinstance(node, sp.Function) and type(node).__name__ == "lgamma")


def _non_positive(argument: sp.Expr, symbol: sp.Symbol) -> Callable[[float], bool]:
    """Whether ``argument`` is <= 0 at a point (the poles of gamma among the integers)."""
    def keep(value: float) -> bool:
        at = sp.N(argument.xreplace({symbol: sp.Rational(value)}), DIGITS)
        return bool(at.is_real and at <= 0.5)  # an integer: 0.5 tells 0 from 1 safely
    return keep


def _solve(condition: _Condition, symbol: sp.Symbol, low: float, high: float) -> list[float]:
    """The float64 values of the real zeros of one condition in [low, high], nearest to
    0 first, at most :data:`MAX_SPECIAL_POINTS`."""
    expr, keep = condition
    # Over the whole real line, not [low, high]: there SymPy lists every zero of a
    # periodic function one by one (2e6 of them for sin(pi*x) on [-1e6, 1e6]); a line
    # of them (an ImageSet) is enumerated here, nearest to 0 first and capped.
    solutions = sp.solveset(expr, symbol, sp.S.Reals)
    values: set[float] = set()
    for exact in _members(solutions, low, high):
        value = _nearest_float(exact)
        if value is not None and low <= value <= high and (keep is None or keep(value)):
            values.add(value)
    return sorted(values, key=abs)[:MAX_SPECIAL_POINTS]


def _members(solutions: Any, low: float, high: float) -> list[Any]:
    """The exact members of a solution set that may lie in [low, high]: those of a
    FiniteSet, and of each ImageSet ``a*n + b`` over the integers; none of a
    ConditionSet or of anything else."""
    if isinstance(solutions, sp.FiniteSet):
        return list(solutions.args)
    if isinstance(solutions, sp.Union):
        return [m for part in solutions.args for m in _members(part, low, high)]
    if isinstance(solutions, sp.ImageSet):
        return _line_members(solutions, low, high)
    return []


def _line_members(image: sp.ImageSet, low: float, high: float) -> list[Any]:
    """The members ``a*n + b`` (``n`` an integer) of an ImageSet in [low, high], the
    :data:`MAX_SPECIAL_POINTS` nearest to 0; none where it is not such a line."""
    (variable,), formula = image.lamda.signature, image.lamda.expr
    if len(image.base_sets) != 1 or image.base_sets[0] != sp.S.Integers:
        return []
    slope = sp.diff(formula, variable)
    if not slope.is_number or slope.is_zero or not slope.is_real:
        return []
    offset = formula.xreplace({variable: sp.S.Zero})
    a, b = float(sp.N(slope, DIGITS)), float(sp.N(offset, DIGITS))
    if not (math.isfinite(a) and math.isfinite(b)):
        return []
    # n over [low, high] (one more each side: the floats are rounded; the caller keeps
    # only values inside), then the ones nearest to the n of 0.
    ends = sorted(((low - b) / a, (high - b) / a))
    if not all(math.isfinite(e) for e in ends):
        ends = [max(ends[0], -1e300), min(ends[1], 1e300)]
    first, last = math.floor(ends[0]) - 1, math.ceil(ends[1]) + 1
    centre = min(max(round(-b / a), first), last)
    span = MAX_SPECIAL_POINTS // 2 + 1
    ns = range(max(first, centre - span), min(last, centre + span) + 1)
    return [formula.xreplace({variable: sp.Integer(n)}) for n in ns]


def _nearest_float(exact: Any) -> float | None:
    """The float64 nearest to an exact real number, or None (not real, not finite)."""
    value = sp.N(exact, DIGITS)
    if not value.is_real or not value.is_finite:
        return None
    result = float(value)
    return result if math.isfinite(result) else None
