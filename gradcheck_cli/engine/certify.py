"""Certified exact values: a SymPy expression at an exact point, to the digits shown.

SymPy's ``evalf`` is fast but not always right. A function of an argument that lost
its digits to cancellation is evaluated as though the argument were exact, even with
``strict=True``: ``erf(log(1 + erf(-30))/1000)`` comes out as -0.395 at 30 digits and as
-0.441 at 50, where the truth is -0.799. A fixed precision is no better: at 30 digits
``1 + erf(-30)`` (about 2.6e-393) is noise, and so is its logarithm.

So this module evaluates the expression itself, node by node with mpmath, at one
working precision for the whole tree, and raises the precision until two evaluations
in a row (at P and 2P bits) give the same float64 and the same :data:`SHOWN_DIGITS`
significant digits. That is how Herbie computed its ground truth before Rival: each
doubling of the precision shrinks every rounding error by a factor of 2**P, so two
results that agree to the digits shown have converged to them. mpmath's functions are
accurate to the working precision for exact inputs, and its exponent range is
unbounded: 1e434 and 1e-393 are ordinary numbers to it.

Two exact identities keep tails that no working precision reaches as a difference:
``k*erf(u) + k`` is computed as ``k*erfc(-u)`` (and ``k*erf(u) - k`` as ``-k*erfc(u)``),
even inside a longer sum (GELU and its derivative), and ``log(1 + u)`` with |u| < 1/2 as
``log1p(u)`` (softplus, logsigmoid and log_softmax far in their tails).

A function at an argument that is its root only by rounding (``log`` of ``2**y`` at
y = 1e-300, which rounds to 1) is evaluated again with more bits: its 0 would be the same
at every precision too low to see the difference, and two such zeros agree (``_ROOTS``).

What it does not settle, it leaves to the caller (``None``), which then takes SymPy's
exact route (substitution, limits):

* a pole or an undefined form (a division by zero, ``log(0)``) and a value that is not
  real: the exact route classifies them;
* a discontinuous function (``sign``, ``Heaviside``, ``atan2`` across its cut) of an
  argument so small that it may be exactly 0: only exact arithmetic can tell;
* a node it has no mpmath form for.

A value that keeps shrinking as the precision grows is probably exactly 0
(``sin(x)**2 + cos(x)**2 - 1``): SymPy is asked to prove it (``equals(0)``, within
:data:`ZERO_PROOF_SECONDS`). Proved, it is 0. Not proved, it is reported as 0 *to
within* the last bound, with a doubt attached: never as residue like 1e-165.
A value whose digits do not settle within :data:`MAX_BITS` is uncertain.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import sympy as sp

from ..compare import Exact, Kind
from .substitute import at, time_budget
from .sympy_functions import lgamma, sinc, sinc_derivative, sinc_mpmath, xlogy

#: Significant digits of an exact value as shown in messages and JSON ``symbolic_text``
#: where float64 cannot hold it; the certified evaluation settles at least these.
SHOWN_DIGITS = 15
#: The first working precision, in bits (float64 has 53).
START_BITS = 96
#: The highest working precision tried, in bits (about 2,470 decimal digits): enough
#: for ``1 + erf(-30)`` (2.6e-393 out of 1), and cheap enough to try on every line.
MAX_BITS = 8192
#: Seconds SymPy may spend proving that a value which vanishes at every precision is 0.
ZERO_PROOF_SECONDS = 1.0

#: Arguments of exp, sin and their kin beyond 2**HUGE_ARGUMENT_BITS (about 1e78913) in
#: magnitude make the value uncertain rather than computed: mpmath reduces such an argument
#: with ln 2 or pi to as many bits as the argument's exponent, a cost that grows as its
#: square: 0.7 s at 2^18 bits, 11 s at 2^20, and for exp(1e8) = 10^(4.3e7) inside a sin or
#: a tanh's derivative, hours. Below it every value is computed as before: softplus of
#: 10^57414 (exp of an exponent of 190,000 bits) is certified as an overflow in 1.6 s.
HUGE_ARGUMENT_BITS = 2**18
_FLOAT64_MAX = mpmath.mpf("1.7976931348623157e308")
_FLOAT64_TINY = mpmath.mpf(2) ** -1075  # half the smallest subnormal: below it, 0


class _UnsettledError(Exception):
    """This evaluation cannot give a certified real number: take SymPy's exact route."""


class _TooLargeError(Exception):
    """An argument too large for mpmath to evaluate the function at any reasonable cost."""

    def __init__(self, function: str) -> None:
        super().__init__(function)
        self.function = function


class _NeedsPrecisionError(Exception):
    """A decision (a sign, a domain edge, a pole) hangs on a number within this precision's
    rounding of 0: try again with more bits, and at the last, take the exact route."""


def value(expr: Any, point: Mapping[Any, Any] | None = None,
          prove_zero: Callable[[], bool | None] | None = None) -> Exact | None:
    """The certified value of ``expr`` with the ``point``'s symbols given their exact values.

    Returns ``None`` where mpmath cannot settle it (see the module's docstring).
    ``prove_zero`` tells whether the value is exactly 0 (``None``: not known); by default
    SymPy's ``equals(0)`` on the substituted expression, within a time budget.
    """
    point = point or {}
    if prove_zero is not None:
        return _value(expr, point, prove_zero)
    # A check asks for the same value several times (the function's value, then again
    # for each partial, to see that it does not jump there): the answer is a function
    # of the expression and the point alone, so it is computed once.
    try:
        key = (expr, frozenset(point.items()))
        found = _RESULTS.get(key, _MISSING)
    except TypeError:  # something unhashable: not worth a cache
        return _value(expr, point, None)
    if found is not _MISSING:
        with contextlib.suppress(KeyError):  # another thread's check may have dropped it
            _RESULTS.move_to_end(key)
        return found  # type: ignore[return-value]
    mark = len(_UNREPEATABLE)
    result = _value(expr, point, None)
    if len(_UNREPEATABLE) == mark:
        _RESULTS[key] = result
        if len(_RESULTS) > _RESULTS_KEPT:
            with contextlib.suppress(KeyError):
                _RESULTS.popitem(last=False)
    if mark == 0:
        _UNREPEATABLE.clear()
    return result


#: Results of :func:`value` by (expression, point), the most recently used last.
_RESULTS: OrderedDict[tuple[Any, frozenset[tuple[Any, Any]]], Exact | None] = OrderedDict()
#: How many results are kept: a check needs a few dozen; lines seldom share any.
_RESULTS_KEPT = 512
_MISSING = object()
#: Set while an evaluation's result depends on more than the expression and the point
#: (a zero proof within a CPU-time budget, Python's recursion limit): not kept.
_UNREPEATABLE: list[bool] = []


def _value(expr: Any, point: Mapping[Any, Any],
           prove_zero: Callable[[], bool | None] | None) -> Exact | None:
    """:func:`value`, computed."""
    # Evaluations that went through, at rising precision: (bits, value).
    tried: list[tuple[int, Any]] = []
    bits = START_BITS
    try:
        while bits <= MAX_BITS:
            try:
                current, cancelled = _evaluate(expr, point, bits)
            except _NeedsPrecisionError:
                tried.clear()  # a precision too low to decide cannot be compared with
            else:
                if current == 0 and not tried and _exactly_zero(expr, point):
                    return Exact(0.0, Kind.FINITE, "0")
                # A 0 is no evidence that digits settled: 1 + erf(-30) is 0 at any
                # precision below 1,300 bits. Only exactness (above) or a proof makes it 0.
                # Nor is a sum whose terms cancelled beyond the precision (see _sum).
                if tried and current != 0 and not cancelled and \
                        _settled(tried[-1][1], current):
                    return _exact(current)
                tried.append((bits, current))
            bits *= 2
    except _UnsettledError:
        return None
    except _TooLargeError as error:
        return Exact(math.nan, Kind.UNCERTAIN, f"mpmath cannot evaluate it: {error.function} "
                     f"of a number beyond 2^{HUGE_ARGUMENT_BITS} (about 1e"
                     f"{int(HUGE_ARGUMENT_BITS * math.log10(2))}) would need more digits of "
                     f"{'pi' if error.function in _NEEDS_PI else 'ln 2'} than the number has")
    except RecursionError:
        _UNREPEATABLE.append(True)
        # cos(expm1(1e300)): reducing an argument of 10^(4e299) modulo 2*pi needs more
        # digits of pi than any precision holds; mpmath recurses until Python stops it.
        return Exact(math.nan, Kind.UNCERTAIN, "mpmath cannot evaluate it (an argument too "
                     "large to reduce, such as cos of 10^(4e299))")
    except (ValueError, TypeError, ZeroDivisionError, OverflowError, ArithmeticError):
        if not tried:
            return None  # mpmath cannot evaluate it at all: the exact route
        # A higher precision that mpmath cannot reach (exp(-5e599) at 3,072 bits): judge
        # by what was reached.
    if len(tried) < 2:
        return None  # a decision near 0 that no precision settled: the exact route
    (_, before), (last_bits, last) = tried[-2], tried[-1]
    if _vanishing(before, last, last_bits):
        # The value shrank with the rounding: a zero the arithmetic cannot see (its
        # terms cancel exactly). Ask SymPy for a proof.
        _UNREPEATABLE.append(True)
        proved = (prove_zero or _prover(expr, point))()
        if proved:
            return Exact(0.0, Kind.FINITE, "0")
        bound = max(abs(before), abs(last)) * 4
        exponent = int(mpmath.floor(mpmath.log10(bound))) + 1 if bound else -int(last_bits * 0.3)
        return Exact(0.0, Kind.FINITE, f"0 (to within 1e{exponent}, not proved)",
                     doubt=f"it is 0 to within 1e{exponent} at every precision tried, but not "
                           "proved to be exactly 0")
    return Exact(math.nan, Kind.UNCERTAIN,
                 f"its digits did not settle at up to {MAX_BITS} bits of working precision "
                 f"(about {int(MAX_BITS * math.log10(2))} digits)")


def _settled(a: Any, b: Any) -> bool:
    """Two evaluations at P and 2P bits agree on everything that is reported."""
    if a == b:
        return True
    if mpmath.sign(a) != mpmath.sign(b):
        return False
    if _float(a) != _float(b):
        return False
    if _huge_exponent(a) or _huge_exponent(b):
        return shown(a) == shown(b)  # all that is shown of 10^(-2.17e599) is its exponent
    # The arithmetic test first: it is what settles nearly every value, and it is far
    # cheaper than writing both out in decimal (either test suffices).
    return bool(abs(a - b) <= abs(b) * mpmath.mpf(10) ** -(SHOWN_DIGITS + 3)) or \
        mpmath.nstr(a, SHOWN_DIGITS + 2) == mpmath.nstr(b, SHOWN_DIGITS + 2)


def _vanishing(before: Any, last: Any, bits: int) -> bool:
    """The value fell with the doubling of the precision, to near the last one's noise
    (or stayed exactly 0)."""
    return bool(abs(last) < mpmath.mpf(2) ** (-bits // 2) and
                abs(before) < mpmath.mpf(2) ** (-bits // 4))


def _float(x: Any) -> float:
    """The float64 nearest to ``x`` (inf beyond the range, 0 below it)."""
    if abs(x) > _FLOAT64_MAX:
        return math.copysign(math.inf, float(mpmath.sign(x)))
    return float(x)


def _huge_exponent(x: Any) -> bool:
    """A decimal exponent with more than 15 digits itself (erfc(1e300))."""
    if not x:
        return False
    # |log2|x|| <= |mag(x)| + 1, so below 3e15 bits the decimal exponent is under 9.1e14:
    # no log10 needed (it was 1.4% of a check's time, asked of every settled value).
    if abs(mpmath.mag(x)) < 3 * 10**15:
        return False
    return bool(abs(mpmath.log10(abs(x))) >= 10**15)


def shown(x: Any) -> str:
    """An mpmath number at :data:`SHOWN_DIGITS` digits; a power of ten whose exponent
    has more than 15 digits itself (erfc(1e300)) as ``10^(exponent)``."""
    if not _huge_exponent(x):
        return str(mpmath.nstr(x, SHOWN_DIGITS, min_fixed=1, max_fixed=0))
    sign = "-" if x < 0 else ""
    return f"{sign}10^({mpmath.nstr(mpmath.log10(abs(x)), SHOWN_DIGITS)})"


def _exact(x: Any) -> Exact:
    as_float = _float(x)
    if math.isinf(as_float):
        return Exact(as_float, Kind.OVERFLOW, shown(x))
    if x != 0 and abs(x) <= _FLOAT64_TINY:
        return Exact(0.0, Kind.UNDERFLOW, shown(x))
    if as_float == 0 and x != 0:
        # Between half the smallest subnormal and it: float64's nearest is not 0.
        as_float = math.copysign(5e-324, float(mpmath.sign(x)))
    return Exact(as_float, Kind.FINITE, repr(as_float))


def _exactly_zero(expr: Any, point: Mapping[Any, Any]) -> bool:
    """SymPy's own substitution gives exactly 0 (``2*x`` at 0, ``sin(pi)``)."""
    try:
        return bool(at(expr, point) == 0)
    except Exception:  # a value SymPy cannot build is not an exact 0
        return False


def _prover(expr: Any, point: Mapping[Any, Any]) -> Callable[[], bool | None]:
    def prove() -> bool | None:
        try:
            with time_budget(ZERO_PROOF_SECONDS):
                here = at(expr, point)
                return True if here == 0 else here.equals(0)
        except Exception:  # the proof is optional: any failure leaves it unproved
            return None
    return prove


# -- evaluation at one working precision ------------------------------------------------


def _evaluate(expr: Any, point: Mapping[Any, Any], bits: int) -> tuple[Any, bool]:
    """The value at one working precision, and whether a sum in it cancelled beyond
    that precision (its value then cannot be taken as settled)."""
    with mpmath.workprec(bits):
        memo: dict[Any, Any] = {}
        _CANCELLED.clear()
        try:
            result = _node(expr, point, memo)
            return +result, bool(_CANCELLED)
        finally:
            _CANCELLED.clear()


def _node(expr: Any, point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    if expr in memo:
        return memo[expr]
    result = _compute(expr, point, memo)
    if isinstance(result, mpmath.mpc) or not mpmath.isfinite(result):
        raise _UnsettledError  # not real, or a pole: the exact route says which
    memo[expr] = result
    return result


def _compute(expr: Any, point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    if expr.is_Symbol:
        if expr not in point:
            raise _UnsettledError
        return _node(point[expr], {}, memo)
    if expr.is_Integer:
        return mpmath.mpf(int(expr))
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(expr._mpf_)
    constant = _CONSTANTS.get(expr)
    if constant is not None:
        return +constant()
    if isinstance(expr, sp.Add):
        pair = _erf_pair(expr)
        if pair is not None:
            rest, factor, argument = pair
            return _sum([_node(a, point, memo) for a in rest] +
                        [factor * _erfc(_node(argument, point, memo))])
    if isinstance(expr, sp.log):
        small = _log1p(expr.args[0], point, memo)
        if small is not None:
            return small
    args = [_node(a, point, memo) for a in expr.args]
    if isinstance(expr, sp.Add):
        return _sum(args)
    if isinstance(expr, sp.Mul):
        return mpmath.fprod(args)
    if isinstance(expr, sp.Pow):
        return _power(expr, *args)
    function = _FUNCTIONS.get(type(expr)) or _DISCONTINUOUS.get(type(expr))
    if function is None:
        raise _UnsettledError
    for index, roots in _ROOTS.get(type(expr), ()):
        if args[index] in roots and not _exactly_equal(expr.args[index], point, args[index]):
            raise _NeedsPrecisionError
    if all(_exactly_known(a, point) for a in expr.args):
        # lgamma(1e-300): the argument is an exact nonzero number, so no rounding can
        # hide a 0 in it; only an exact 0 is a decision for the exact route.
        _EXACT_ARGUMENTS.append(True)
        try:
            return function(*args)
        finally:
            _EXACT_ARGUMENTS.pop()
    return function(*args)


def _exactly_equal(argument: Any, point: Mapping[Any, Any], value: Any) -> bool:
    """Whether ``argument`` at the point is exactly ``value`` (a small integer), not only
    after rounding: ``3/y`` at y = 3 is 1, ``2**y`` at y = 1e-300 is not, though mpmath's
    2**y is 1 at any precision below 1,000 bits. Asked only where the rounded value is
    ``value``, which is seldom; SymPy's exact substitution decides."""
    if _exactly_known(argument, point):
        return True
    try:
        exact = at(argument, point)
    except Exception:  # anything SymPy cannot build there: not known exact
        return False
    return bool(exact.is_Rational and exact == int(value))


#: Set while a function of exactly known arguments runs: see :func:`_decide`.
_EXACT_ARGUMENTS: list[bool] = []


def _exactly_known(arg: Any, point: Mapping[Any, Any]) -> bool:
    """A rational number, given or as a point's value: its sign and size are exact."""
    if arg.is_Symbol:
        arg = point.get(arg, arg)
    return bool(arg.is_Rational)


#: Bits of a sum that must survive cancellation for its digits to count (15 digits
#: are 50 bits).
_SIGNIFICANT_BITS = 64


def _sum(terms: list[Any]) -> Any:
    """A sum, refused where cancellation left fewer than :data:`_SIGNIFICANT_BITS` of it.

    Agreement between two precisions cannot see a term that is below the rounding of
    the others at both (in ``x*exp(-x**2/2)/sqrt(2*pi) + erf(x/sqrt(2))/2 + 1/2`` at
    -30, ``erf/2 + 1/2`` is 0 at 96 and at 192 bits, and the sum then agrees on the
    first term alone). So a sum far smaller than its largest term asks for more bits,
    up to half the highest precision; the last two precisions are then compared as
    they are, and a sum that is still 0 goes to the zero proof.

    Terms of opposite signs are also refused while any of them is too far beyond
    float64's range for the precision to know its leading bits: exp(-z**2) at
    z = 7e299 is computed from z**2 rounded to the working precision, off by a factor
    e**(5e599 * 2**-P), so at 96 bits either of two such terms may come out the
    larger, and the sign of the sum is noise (though each term's exponent, all that
    is shown of it, is right).
    """
    total = mpmath.fsum(terms)
    # Binary exponents (mag) are enough to count the bits lost, and cheap.
    mags = [mpmath.mag(t) for t in terms if t]
    largest = max(mags, default=None)
    blurred = len({mpmath.sign(t) for t in terms if t}) > 1 and \
        max((abs(m) for m in mags), default=0) >= 2 ** (mpmath.mp.prec - _SIGNIFICANT_BITS)
    if largest is not None and (blurred or not total or
                                mpmath.mp.prec - (largest - mpmath.mag(total)) < _SIGNIFICANT_BITS):
        if mpmath.mp.prec <= MAX_BITS // 4:
            raise _NeedsPrecisionError
        if total:
            # What is left is below the rounding of the terms that cancelled: it may be
            # all of the truth, or none of it (a term rounded away entirely, as erf/2 +
            # 1/2 is 0 at any precision at erf(-707)), or its sign is noise. Not a
            # settled value; the caller may still find it vanishing.
            _CANCELLED.append(True)
    return total


#: Set while an evaluation holds a sum that cancelled beyond its precision (:func:`_sum`).
_CANCELLED: list[bool] = []


def _erf_pair(expr: Any) -> tuple[list[Any], Any, Any] | None:
    """A sum holding ``k*erf(u)`` and the constant ``k`` or ``-k``, as the other terms,
    a factor and an argument of erfc: ``k*erf(u) + k = k*erfc(-u)`` and
    ``k*erf(u) - k = -k*erfc(u)``, the exact identities that keep erf's tail.

    ``1 + erf(-1e300)`` is about 10^(-4e599), beyond any working precision as a
    difference, but erfc computes it directly (GELU's tail); and in GELU's derivative,
    ``x*exp(-x**2/2)/sqrt(2*pi) + erf(x/sqrt(2))/2 + 1/2``, ``erf/2 + 1/2`` is 0 at every
    precision at x = -1000, where it is 1e-6 of the whole.
    """
    constant = next((a for a in expr.args if a.is_Rational), None)
    if constant is None:
        return None
    for term in expr.args:
        factor, inner = (term.args[0], term.args[1]) if isinstance(term, sp.Mul) and \
            len(term.args) == 2 and term.args[0].is_Rational else (sp.S.One, term)
        if not isinstance(inner, sp.erf) or abs(factor) != abs(constant):
            continue
        rest = [a for a in expr.args if a is not term and a is not constant]
        u = inner.args[0]
        if constant == factor:
            return rest, mpmath.mpf(int(factor.p)) / int(factor.q), -u
        return rest, -mpmath.mpf(int(factor.p)) / int(factor.q), u
    return None


def _log1p(argument: Any, point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    """``log(1 + u)`` as ``log1p(u)`` where |u| < 1/2, else ``None``.

    1 + u rounds to 1 when u is below the working precision, and the log of it to 0,
    at every precision: ``log(1 + exp(-1e300))`` (softplus, logsigmoid, log_softmax
    far in their tails) would be a 0 that no doubling settles, where log1p gives
    exp(-1e300) itself. With |u| < 1/2 there is no cancellation in 1 + u to guard.
    """
    if not isinstance(argument, sp.Add) or sp.S.One not in argument.args:
        return None
    u = _sum([_node(a, point, memo) for a in argument.args if a != sp.S.One])
    return mpmath.log1p(u) if abs(u) < 0.5 else None


#: Beyond this, mpmath's erfc overflows a float inside (z**2 past 1.8e308).
_ERFC_ASYMPTOTIC = mpmath.mpf(10) ** 100


def _erfc(z: Any) -> Any:
    """erfc, also where mpmath's overflows (z = 7e299): there its asymptotic series,
    exp(-z**2)/(z*sqrt(pi)) * sum of (-1)**k (2k-1)!! / (2 z**2)**k, whose terms shrink
    by a factor of at least 1e199 each, summed to below the working precision."""
    if z < 0:
        return 2 - _erfc(-z)
    if z < mpmath.mpf(2) ** (mpmath.mp.prec // 2 + 8) and z < _ERFC_ASYMPTOTIC:
        return mpmath.erfc(z)
    ratio = 1 / (2 * z * z)
    term, series, k = mpmath.mpf(1), mpmath.mpf(1), 1
    while abs(term) > mpmath.mpf(2) ** (-mpmath.mp.prec - 8):
        term *= -(2 * k - 1) * ratio
        series += term
        k += 1
    return mpmath.exp(-z * z) / (z * mpmath.sqrt(mpmath.pi)) * series


def _erf(z: Any) -> Any:
    """erf, also where mpmath's overflows: there it is +-1 to far beyond the precision."""
    if abs(z) < mpmath.mpf(2) ** (mpmath.mp.prec // 2 + 8) and abs(z) < _ERFC_ASYMPTOTIC:
        return mpmath.erf(z)
    return mpmath.sign(z) * (1 - _erfc(abs(z)))


def _power(expr: Any, base: Any, exponent: Any) -> Any:
    if expr.exp.is_Integer:
        if expr.exp < 0:
            _decide(base)  # 1/0 is a pole: the exact route
        return mpmath.power(base, int(expr.exp))
    _decide(base)
    if base < 0:
        raise _UnsettledError  # not real (or a real root SymPy takes as complex): exact route
    if expr.exp == sp.S.Half:
        return mpmath.sqrt(base)
    return mpmath.power(base, exponent)


def _near_zero(x: Any) -> bool:
    """Small enough that it may be an exact 0 seen through rounding."""
    return bool(abs(x) < mpmath.mpf(2) ** (-mpmath.mp.prec // 2))


def _decide(x: Any) -> None:
    """A branch is taken on the sign of ``x``: it must be clear of rounding's 0."""
    if _EXACT_ARGUMENTS and _EXACT_ARGUMENTS[-1]:
        if x == 0:
            raise _UnsettledError  # exactly on the branch point: the exact route decides
        return
    if _near_zero(x):
        raise _NeedsPrecisionError


def _sign(x: Any) -> Any:
    _decide(x)
    return mpmath.sign(x)


def _heaviside(x: Any, *at_zero: Any) -> Any:
    _decide(x)
    return mpmath.mpf(1 if x > 0 else 0)


def _atan2(y: Any, x: Any) -> Any:
    if x <= 0 or _near_zero(x):
        _decide(y)  # on the cut, or at the origin, only an exact 0 can tell
    return mpmath.atan2(y, x)


def _extremum(pick: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *xs: pick(xs)


def _domain(function: Callable[[Any], Any], low: int | None, high: int | None
            ) -> Callable[[Any], Any]:
    """A function real only on [low, high]: outside, or at an edge within rounding, the
    exact route decides (acos(1 + 1e-40) is complex, acos(1) is 0)."""
    def guarded(x: Any) -> Any:
        for edge in (low, high):
            if edge is not None:
                _decide(x - edge)
        if (low is not None and x < low) or (high is not None and x > high):
            raise _UnsettledError
        return function(x)
    return guarded


def _log(x: Any, *base: Any) -> Any:
    _decide(x)
    if x < 0:
        raise _UnsettledError
    return mpmath.log(x) if not base else mpmath.log(x, base[0])


def _xlogy(x: Any, y: Any) -> Any:
    # xlogy(0, y) is 0 for every y, but x*log(y) is not real for y <= 0 otherwise: a
    # number that may be an exact 0 is for the exact route (SymPy's xlogy) to decide.
    _decide(x)
    return x * _log(y)


def _pole_free(x: Any) -> None:
    """Gamma and its kin have poles at 0, -1, -2, ...: near one, more bits or exact."""
    if x <= 0.5:
        _decide(x - mpmath.nint(x))


def _lgamma(x: Any) -> Any:
    _pole_free(x)
    return mpmath.log(abs(mpmath.gamma(x)))


def _polygamma(n: Any, x: Any) -> Any:
    _pole_free(x)
    return mpmath.psi(int(n), x)


def _gamma(x: Any) -> Any:
    _pole_free(x)
    return mpmath.gamma(x)


def _tangent(function: Callable[[Any], Any], pole_at: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """tan, sec, cot, csc: a pole where ``pole_at`` vanishes; near one, the exact route."""
    def guarded(x: Any) -> Any:
        _decide(pole_at(x))
        return function(x)
    return guarded


def _bounded(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function``, refusing a last argument beyond 2^HUGE_ARGUMENT_BITS (see there)."""
    def guarded(*args: Any) -> Any:
        if mpmath.mag(args[-1]) > HUGE_ARGUMENT_BITS:
            raise _TooLargeError(name)
        return function(*args)
    return guarded


def _saturating_tanh(x: Any) -> Any:
    """tanh, at once where it is +-1 to any precision: mpmath's own answer there, without
    the integer of 2^mag(x) bits that mpmath builds to see it (mag(x) = 2.5e8 at
    tanh(cosh(1.7e8)))."""
    if mpmath.mag(x) > HUGE_ARGUMENT_BITS:
        x = mpmath.sign(x) * mpmath.mpf(2) ** HUGE_ARGUMENT_BITS  # the same branch of mpmath
    return mpmath.tanh(x)


#: Functions whose huge arguments need digits of pi (the others': of ln 2).
_NEEDS_PI = frozenset({"sin", "cos", "tan", "sec", "cot", "csc", "sinc"})

_CONSTANTS: dict[Any, Callable[[], Any]] = {
    sp.pi: lambda: mpmath.pi,
    sp.E: lambda: mpmath.e,
    sp.EulerGamma: lambda: mpmath.euler,
}

_FUNCTIONS: dict[type, Callable[..., Any]] = {
    sp.exp: _bounded(mpmath.exp, "exp"),
    sp.log: _log,
    sp.sin: _bounded(mpmath.sin, "sin"),
    sp.cos: _bounded(mpmath.cos, "cos"),
    sp.tan: _bounded(_tangent(mpmath.tan, mpmath.cos), "tan"),
    sp.sec: _bounded(_tangent(mpmath.sec, mpmath.cos), "sec"),
    sp.cot: _bounded(_tangent(mpmath.cot, mpmath.sin), "cot"),
    sp.csc: _bounded(_tangent(mpmath.csc, mpmath.sin), "csc"),
    sp.asin: _domain(mpmath.asin, -1, 1),
    sp.acos: _domain(mpmath.acos, -1, 1),
    sp.atan: mpmath.atan,
    sp.sinh: _bounded(mpmath.sinh, "sinh"),
    sp.cosh: _bounded(mpmath.cosh, "cosh"),
    sp.tanh: _saturating_tanh,
    sp.asinh: mpmath.asinh,
    sp.acosh: _domain(mpmath.acosh, 1, None),
    sp.atanh: _domain(mpmath.atanh, -1, 1),
    sp.erf: _erf,
    sp.erfc: _erfc,
    sp.gamma: _bounded(_gamma, "gamma"),
    sp.polygamma: _polygamma,
    lgamma: _bounded(_lgamma, "lgamma"),
    xlogy: lambda x, y: _xlogy(x, y),
    sinc: _bounded(lambda x: sinc_mpmath(0, x), "sinc"),
    sinc_derivative: _bounded(lambda n, x: sinc_mpmath(int(n), x), "sinc"),
    sp.Abs: abs,
    sp.Max: _extremum(max),
    sp.Min: _extremum(min),
}

#: Where a function is 0 at an argument that is a small integer (log at 1, lgamma at 1 and
#: 2): (argument index, roots). An argument that is a root only by rounding gives the same
#: 0 at every precision too low to tell them apart, and two such zeros agree:
#: ``x + 1e300*log(2**y)`` at y = 1e-300 was certified as 1, not 1 + ln 2. So there the
#: precision is raised (1,000 bits tell 2**1e-300 from 1), unless the argument is exactly
#: the root (``log(3/y)`` at y = 3).
_ROOTS: dict[type, tuple[tuple[int, frozenset[int]], ...]] = {
    sp.log: ((0, frozenset({1})),),
    lgamma: ((0, frozenset({1, 2})),),
    xlogy: ((1, frozenset({1})),),
}

#: Functions that jump: evaluated only away from their jump.
_DISCONTINUOUS: dict[type, Callable[..., Any]] = {
    sp.sign: _sign,
    sp.Heaviside: _heaviside,
    sp.atan2: _atan2,
}
