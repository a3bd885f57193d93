"""An independent reference for the product's exact ("symbolic") column: mpmath.

The product computes its exact values with SymPy; this module never imports SymPy. It
evaluates the product's own parse tree (:mod:`gradcheck_cli.parse`) with mpmath at a
chosen precision, with an mpmath definition of every scalar function of the registry,
and takes derivatives with :func:`mpmath.diff` of that evaluator.

Literals and point values are decimals, exactly as written: ``0.1`` and ``x=0.7`` mean
1/10 and 7/10 (rounded only to the working precision, hundreds of digits), never the
float64 nearest them.

A number is trusted only when two evaluations at different precisions agree
(:func:`stable`), and an evaluation that visibly lost information (a term absorbed
whole by a larger one, ``erf(-30)`` rounding to exactly -1, a kink or branch decision
on a number that is only rounding noise) does not count: the precision is raised
until it no longer happens, or the answer is ``None``. ``None`` also means "no real
value": a complex result, a pole, 0/0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
from mpmath import mp, mpf

from gradcheck_cli.functions import FUNCTIONS
from gradcheck_cli.parse import (
    Binary,
    Call,
    Constant,
    Node,
    Number,
    Unary,
    Variable,
    parse_expression,
    parse_point,
)

#: The first precision of a reference, in decimal digits; :func:`stable` compares it
#: with twice as many, and doubles both while they disagree.
DPS = 300
#: The most digits :func:`stable` goes to before giving up (``None``).
MAX_DPS = 2400
#: How many leading digits two precisions must share for a value to be trusted.
AGREE_DIGITS = 30

#: Beyond this magnitude (in bits, about 10**631000) the reference gives up: the
#: product can only call such numbers overflow, and mpmath gets slow there.
MAX_MAG = 2**21
#: Largest |x| given to exp (and to functions built on it).
MAX_EXP_ARGUMENT = 10**5
#: Largest magnitude (bits) of the argument of a periodic function.
MAX_PERIODIC_MAG = 4000
#: Largest |x| given to erf/erfc: beyond it both are their limits to any precision.
MAX_ERF_ARGUMENT = 10**4

#: Values mpmath rounds to an exact small integer only at these arguments; anywhere
#: else such a result means the argument's information was lost (``erf(-30) == -1``
#: at 300 digits, ``exp(1e-700) == 1``).
_EXACT_AT: dict[str, dict[int, int]] = {
    **{name: {0: 0} for name in ("sin", "tan", "asin", "atan", "sinh", "tanh", "asinh", "atanh",
                                 "erf", "expm1", "log1p")},
    **{name: {0: 1} for name in ("cos", "cosh", "exp", "erfc")},
    "acos": {1: 0}, "acosh": {1: 0}, "log": {1: 0}, "lgamma": {1: 0, 2: 0},
    "log2": {1: 0, 2: 1, 4: 2}, "log10": {1: 0, 10: 1, 100: 2},
}

#: Functions of the registry that take whole tensors: not evaluated here.
REDUCTIONS = frozenset(name for name, f in FUNCTIONS.items() if f.kind == "reduction")


class NotRealError(ArithmeticError):
    """The value is not a real number: complex, a pole, or undefined (0/0)."""


class UnreliableError(ArithmeticError):
    """This precision cannot answer: too large to follow, or information was lost."""


# -- what an evaluation noticed ----------------------------------------------------------


@dataclass
class _Trace:
    #: Numbers a discontinuous decision was taken on (the argument of abs, sign, relu,
    #: the difference of min/max's operands, atan2's operands): compared between two
    #: precisions, so that a decision on rounding noise (sign(sin(pi))) is caught.
    probes: list[mpf] = field(default_factory=list)
    #: Where information was lost at this precision.
    lost: list[str] = field(default_factory=list)
    #: The largest magnitude met on the way: rounding noise is relative to it.
    scale: mpf = field(default_factory=lambda: mpf(0))


_TRACES: list[_Trace] = []


def _probe(value: mpf) -> None:
    if _TRACES:
        _TRACES[-1].probes.append(value)


def _lose(why: str) -> None:
    if _TRACES:
        _TRACES[-1].lost.append(why)


def _seen(value: mpf) -> None:
    if _TRACES and abs(value) > _TRACES[-1].scale:
        _TRACES[-1].scale = abs(value)


# -- the evaluator ------------------------------------------------------------------------


def evaluate(node: Node, env: Mapping[str, mpf]) -> mpf:
    """The value of a tree at the current mpmath precision; raises :class:`NotRealError` or
    :class:`UnreliableError`."""
    if isinstance(node, Number):
        result = _literal(node)
    elif isinstance(node, Constant):
        result = +mp.pi if node.name == "pi" else +mp.e
    elif isinstance(node, Variable):
        result = env[node.name]
    elif isinstance(node, Unary):
        operand = evaluate(node.operand, env)
        result = -operand if node.op == "-" else operand
    elif isinstance(node, Binary):
        result = _binary(node.op, evaluate(node.left, env), evaluate(node.right, env))
    elif isinstance(node, Call):
        if node.function not in SCALAR:
            raise NotImplementedError(f"{node.function}() is not a scalar function")
        result = SCALAR[node.function](*(evaluate(arg, env) for arg in node.args))
    else:  # pragma: no cover - every node type is above
        raise TypeError(node)
    return _checked(result)


def _literal(node: Number) -> mpf:
    if isinstance(node.value, int):
        return mpf(node.value)
    exact = Fraction(node.text)  # the decimal as written, exactly
    with mp.extraprec(64):
        quotient = mpf(exact.numerator) / exact.denominator
    return +quotient


def _checked(value: object) -> mpf:
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            raise NotRealError("complex")
        value = value.real
    if not isinstance(value, mpf):
        value = mpf(value)  # type: ignore[arg-type]
    if not mpmath.isfinite(value):
        raise NotRealError(str(value))
    if value and abs(mpmath.mag(value)) > MAX_MAG:
        raise UnreliableError("magnitude beyond reach")
    _seen(value)
    return value


def _add(a: mpf, b: mpf) -> mpf:
    result = a + b
    if a and b and result in (a, b):
        # One operand vanished entirely: what it carried is lost at this precision.
        _lose("absorbed")
    return result


def _binary(op: str, a: mpf, b: mpf) -> mpf:
    if op == "+":
        return _add(a, b)
    if op == "-":
        return _add(a, -b)
    if op == "*":
        return a * b
    if op == "/":
        if not b:
            raise NotRealError("division by zero")
        return a / b
    return _power(a, b)


def _power(a: mpf, b: mpf) -> mpf:
    if not a:
        if b > 0:
            return mpf(0)
        if b == 0:
            return mpf(1)  # 0**0 = 1, as SymPy and torch have it
        raise NotRealError("0 to a negative power")
    if a < 0 and not mpmath.isint(b):
        if abs(b - mpmath.nint(b)) < mpmath.ldexp(1, -mp.prec // 2):
            raise UnreliableError("an exponent that is an integer only up to rounding")
        raise NotRealError("negative base, non-integer exponent")
    if abs(b * mpmath.log(abs(a), 2)) > MAX_MAG:
        raise UnreliableError("power beyond reach")
    result = mpmath.power(a, b)
    if b and abs(a) != 1 and abs(result) == 1:
        _lose("a power rounds to exactly 1")  # (1e-600)**(1e-300) at 60 digits
    return result


# -- the functions -------------------------------------------------------------------------


def _saturation(name: str, argument: mpf, result: mpf) -> mpf:
    if result in (-2, -1, 0, 1, 2):
        known = _EXACT_AT.get(name, {})
        if not (mpmath.isint(argument) and known.get(int(argument)) == result):
            _lose(f"{name}({mpmath.nstr(argument, 5)}) rounds to exactly {result}")
    return result


def _smooth(name: str, compute: Callable[[mpf], object]) -> Callable[[mpf], mpf]:
    def function(a: mpf) -> mpf:
        return _saturation(name, a, _checked(compute(a)))

    function.__name__ = name
    return function


def _periodic(name: str, compute: Callable[[mpf], object]) -> Callable[[mpf], mpf]:
    inner = _smooth(name, compute)

    def function(a: mpf) -> mpf:
        if a and mpmath.mag(a) > MAX_PERIODIC_MAG:
            raise UnreliableError("periodic function of a huge argument")
        return inner(a)

    return function


def _exp(a: mpf) -> mpf:
    if abs(a) > MAX_EXP_ARGUMENT:
        raise UnreliableError("exp beyond reach")
    return _saturation("exp", a, mpmath.exp(a))


def _cos(a: mpf) -> mpf:
    return _periodic("cos", mpmath.cos)(a)


def _sin(a: mpf) -> mpf:
    return _periodic("sin", mpmath.sin)(a)


def _tan(a: mpf) -> mpf:
    # cos of a nonzero float is never exactly 0: tan has no pole at a number mpmath
    # holds (tan(pi/2) is huge, and not stable between precisions).
    return _periodic("tan", mpmath.tan)(a)


def _cot(a: mpf) -> mpf:
    if not a:
        raise NotRealError("pole of cot")
    return _periodic("cot", mpmath.cot)(a)


def _reciprocal(value: mpf, what: str) -> mpf:
    if not value:
        raise NotRealError(f"pole of {what}")
    return 1 / value


def _domain(condition: bool, what: str) -> None:
    if not condition:
        raise NotRealError(what)


def _asin(a: mpf) -> mpf:
    _domain(-1 <= a <= 1, "asin outside [-1, 1]")
    return _saturation("asin", a, mpmath.asin(a))


def _acos(a: mpf) -> mpf:
    _domain(-1 <= a <= 1, "acos outside [-1, 1]")
    return _saturation("acos", a, mpmath.acos(a))


def _atan2(y: mpf, x: mpf) -> mpf:
    _probe(y)
    _probe(x)
    if not x and not y:
        raise NotRealError("atan2(0, 0)")
    result = mpmath.atan2(y, x)
    if x and y and result in (0, mp.pi / 2, -mp.pi / 2, mp.pi, -mp.pi):
        _lose("atan2 rounds to its limit")  # atan2(1e300, 1e-150) is pi/2 at 60 digits
    return result


def _atan(a: mpf) -> mpf:
    result = _saturation("atan", a, mpmath.atan(a))
    if result in (mp.pi / 2, -mp.pi / 2):
        _lose("atan rounds to its limit")
    return result


def _hyperbolic(name: str, compute: Callable[[mpf], object]) -> Callable[[mpf], mpf]:
    inner = _smooth(name, compute)

    def function(a: mpf) -> mpf:
        if name != "tanh" and abs(a) > MAX_EXP_ARGUMENT:
            raise UnreliableError(f"{name} beyond reach")
        return inner(a)

    return function


def _acosh(a: mpf) -> mpf:
    _domain(a >= 1, "acosh below 1")
    return _saturation("acosh", a, mpmath.acosh(a))


def _atanh(a: mpf) -> mpf:
    _domain(-1 < a < 1, "atanh outside (-1, 1)")
    return _saturation("atanh", a, mpmath.atanh(a))


def _logarithm(name: str, base: int | None) -> Callable[[mpf], mpf]:
    def function(a: mpf) -> mpf:
        _domain(a > 0, f"{name} of a number <= 0")
        value = mpmath.log(a) if base is None else mpmath.log(a, base)
        return _saturation(name, a, _checked(value))

    return function


def _log1p(a: mpf) -> mpf:
    _domain(a > -1, "log1p at or below -1")
    return _saturation("log1p", a, mpmath.log1p(a))


def _expm1(a: mpf) -> mpf:
    if abs(a) > MAX_EXP_ARGUMENT:
        raise UnreliableError("expm1 beyond reach")
    return _saturation("expm1", a, mpmath.expm1(a))


def _sqrt(a: mpf) -> mpf:
    _domain(a >= 0, "sqrt of a negative number")
    return mpmath.sqrt(a)


def _abs(a: mpf) -> mpf:
    _probe(a)
    return abs(a)


def _sign(a: mpf) -> mpf:
    _probe(a)
    return mpf(mpmath.sign(a))


def _relu(a: mpf) -> mpf:
    _probe(a)
    return a if a > 0 else mpf(0)


def _sigmoid(a: mpf) -> mpf:
    return 1 / _add(mpf(1), _exp(-a))


def _softplus(a: mpf) -> mpf:
    if a > 0:
        return _add(a, _log1p(_exp(-a)))
    return _log1p(_exp(a))


def _erf_argument(name: str, a: mpf) -> None:
    if abs(a) > MAX_ERF_ARGUMENT:
        raise UnreliableError(f"{name} beyond reach")


def _erf(a: mpf) -> mpf:
    _erf_argument("erf", a)
    return _saturation("erf", a, mpmath.erf(a))


def _erfc(a: mpf) -> mpf:
    _erf_argument("erfc", a)
    return _saturation("erfc", a, mpmath.erfc(a))


def _lgamma(a: mpf) -> mpf:
    if a <= 0 and mpmath.isint(a):
        raise NotRealError("pole of Gamma")
    if a and mpmath.mag(a) > MAX_PERIODIC_MAG:
        raise UnreliableError("lgamma of a huge argument")
    if abs(a) < 0.5:
        # mpmath's loggamma (and gamma) of a tiny x work through 1 + x and lose its
        # digits: log|Gamma(x)| = log Gamma(1 + x) - log|x|.
        return _saturation("lgamma", a, _checked(_lgamma1p(a) - mpmath.log(abs(a))))
    # The real part of the principal log-Gamma is log|Gamma(x)|, for x < 0 too.
    return _saturation("lgamma", a, _checked(mpmath.re(mpmath.loggamma(a))))


def _lgamma1p(a: mpf) -> mpf:
    """log Gamma(1 + a) for |a| < 1/2, without losing the digits of a tiny a."""
    with mp.extraprec(20):
        terms = mp.prec // max(1, -int(mpmath.mag(a))) + 2
        if terms <= 40:
            # Its Taylor series: -euler*a + sum over k >= 2 of (-a)**k zeta(k) / k.
            total = -mp.euler * a
            for k in range(2, terms + 1):
                total += (-a) ** k * mpmath.zeta(k) / k
            return +total
    with mp.extraprec(max(0, -int(mpmath.mag(a))) + 20):
        return +mpmath.loggamma(1 + a)


def _gelu(a: mpf) -> mpf:
    # x * Phi(x), with Phi(x) = erfc(-x/sqrt(2))/2: the tail of erfc, not 1 + erf.
    _erf_argument("gelu", a)
    return a * mpmath.erfc(-a / mpmath.sqrt(2)) / 2


def _clamp(a: mpf, lo: mpf, hi: mpf) -> mpf:
    _probe(a - lo)
    _probe(a - hi)
    return min(max(a, lo), hi)


def _xlogy(a: mpf, b: mpf) -> mpf:
    _probe(a)
    if not a:
        return mpf(0)  # torch.xlogy: 0 where x is 0, whatever y is
    return a * _logarithm("log", None)(b)


def _sinc(a: mpf) -> mpf:
    # torch.sinc, the normalised one: sin(pi*x)/(pi*x), 1 at 0 and exactly 0 at the
    # other integers.
    if a and mpmath.mag(a) > MAX_PERIODIC_MAG:
        raise UnreliableError("sinc of a huge argument")
    if not a:
        return mpf(1)
    if mpmath.isint(a):
        return mpf(0)
    return mpmath.sin(mp.pi * a) / (mp.pi * a)


def _extremum(pick: Callable[[mpf, mpf], mpf]) -> Callable[[mpf, mpf], mpf]:
    def function(a: mpf, b: mpf) -> mpf:
        _probe(a - b)
        return pick(a, b)

    return function


#: An mpmath definition of every scalar function of the registry.
SCALAR: dict[str, Callable[..., mpf]] = {
    "sin": _sin,
    "cos": _cos,
    "tan": _tan,
    "sec": lambda a: _reciprocal(_cos(a), "sec"),
    "csc": lambda a: _reciprocal(_sin(a), "csc"),
    "cot": _cot,
    "asin": _asin,
    "acos": _acos,
    "atan": _atan,
    "atan2": _atan2,
    "sinh": _hyperbolic("sinh", mpmath.sinh),
    "cosh": _hyperbolic("cosh", mpmath.cosh),
    "tanh": _hyperbolic("tanh", mpmath.tanh),
    "asinh": _smooth("asinh", mpmath.asinh),
    "acosh": _acosh,
    "atanh": _atanh,
    "exp": _exp,
    "log": _logarithm("log", None),
    "log2": _logarithm("log2", 2),
    "log10": _logarithm("log10", 10),
    "log1p": _log1p,
    "expm1": _expm1,
    "sqrt": _sqrt,
    "abs": _abs,
    "sign": _sign,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
    "erf": _erf,
    "erfc": _erfc,
    "lgamma": _lgamma,
    "min": _extremum(min),
    "max": _extremum(max),
    "gelu": _gelu,
    "silu": lambda a: a * _sigmoid(a),
    "mish": lambda a: a * _hyperbolic("tanh", mpmath.tanh)(_softplus(a)),
    "logsigmoid": lambda a: -_softplus(-a),
    "clamp": _clamp,
    "hypot": lambda a, b: _sqrt(_add(a * a, b * b)),
    "xlogy": _xlogy,
    "sinc": _sinc,
    "pow": _power,
}

assert set(SCALAR) == set(FUNCTIONS) - REDUCTIONS, "a registry function has no mpmath form"


# -- two precisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    value: mpf | None
    not_real: bool
    unreliable: bool
    probes: tuple[mpf, ...]
    scale: mpf = field(default_factory=lambda: mpf(0))

    def noise(self, dps: int) -> mpf:
        """How large rounding noise at ``dps`` digits can grow here: the largest
        magnitude met, at nearly the whole precision (a margin of up to 40 digits)."""
        return self.scale * mpf(10) ** -(dps - min(dps // 3, 40))

    def zero_like(self, dps: int) -> bool:
        assert self.value is not None
        return abs(self.value) <= self.noise(dps)


def _run(fn: Callable[[], mpf], dps: int) -> _Outcome:
    trace = _Trace()
    _TRACES.append(trace)
    try:
        with mp.workdps(dps):
            try:
                value = +fn()
            except NotRealError:
                return _Outcome(None, True, False, ())
            except (UnreliableError, ZeroDivisionError, OverflowError, ValueError):
                return _Outcome(None, False, True, ())
    finally:
        _TRACES.pop()
    return _Outcome(value, False, bool(trace.lost), tuple(trace.probes), trace.scale)


def _agree(a: mpf, b: mpf, digits: int) -> bool:
    if a == b:
        return True
    return abs(a - b) <= mpf(10) ** -digits * max(abs(a), abs(b))


#: Below half the smallest subnormal float64: a value this small rounds to 0.0, so
#: calling it 0 cannot change a float64 answer.
_NO_FLOAT = mpf(10) ** -330


def _shrinks(a: mpf, b: mpf, gap: int) -> bool:
    """Whether ``b`` is smaller than ``a`` as rounding noise is with ``gap`` more digits
    (or either is exactly 0), unlike a value that is garbage at both precisions (the
    sine of an argument known to less than one unit)."""
    return not a or not b or abs(b) <= abs(a) * mpf(10) ** -(gap // 2)


def stable(fn: Callable[[], mpf], dps: tuple[int, int] = (DPS, 2 * DPS), *,
           digits: int = AGREE_DIGITS, max_dps: int = MAX_DPS) -> mpf | None:
    """``fn()`` evaluated at two precisions, if they agree to ``digits`` digits.

    ``fn`` computes at mpmath's current precision. Where the two disagree, or either
    lost information, both precisions are doubled (up to ``max_dps``). Two values that
    disagree but are both rounding noise at their precision (far below the largest
    magnitude of the computation, and shrinking as the precision grows) mean exactly 0,
    a cancellation that is an identity; only once the noise is below every float64
    (1e-330), so that a true value hidden in it would round to 0.0 all the same.
    Returns the higher precision's value; ``None`` where the value is not real at both
    precisions, where a kink or jump decides on a number that is 0 up to rounding, or
    where no precision up to ``max_dps`` gives a stable answer.
    """
    low, high = dps
    first = _run(fn, low)
    while True:
        second = _run(fn, high)
        if first.not_real and second.not_real:
            return None
        valued = first.value is not None and second.value is not None \
            and len(first.probes) == len(second.probes)
        apart = [(p, q) for p, q in zip(first.probes, second.probes, strict=True)
                 if not _agree(p, q, digits)] if valued else []
        if any(abs(p) <= first.scale * mpf(10) ** (-low // 2)
               and abs(q) <= second.scale * mpf(10) ** (-high // 2) for p, q in apart):
            # A decision (abs, sign, min, ...) on a number that is 0 up to rounding, or
            # on both sides of 0 (a derivative at a kink): no precision settles it.
            return None
        settled = valued and not apart and not first.unreliable and not second.unreliable
        if settled:
            assert first.value is not None and second.value is not None
            exact_zero = first.value == 0 and second.value == 0
            if _agree(first.value, second.value, digits) and not exact_zero:
                return second.value
            # 0 at both precisions is noise as well (a difference quotient of a flat
            # atan2(-0.9 + h, -1e-300) is 0 at 60 digits, -1.3e-300 at 240).
            if first.zero_like(low) and second.zero_like(high) and _shrinks(
                    first.value, second.value, high - low) and second.noise(high) <= _NO_FLOAT:
                return mpf(0)
        if high * 2 > max_dps:
            return None
        low, high, first = high, high * 2, second


# -- the public helpers -----------------------------------------------------------------------


Point = str | Mapping[str, "str | float | int"]


def point_trees(point: Point) -> dict[str, Node]:
    """Each variable's value as a constant tree, parsed as the product parses it."""
    if not point:
        return {}
    if not isinstance(point, str):
        point = ",".join(f"{name}={value if isinstance(value, str) else repr(float(value))}"
                         for name, value in point.items())
    return {assignment.name: assignment.tree for assignment in parse_point(point)}


def _environment(values: Mapping[str, Node]) -> dict[str, mpf]:
    return {name: evaluate(tree, {}) for name, tree in values.items()}


def value(text: str, point: Point, dps: int = DPS, *, max_dps: int = MAX_DPS) -> mpf | None:
    """The value of ``text`` at ``point``, stable at two precisions; ``None`` if not real."""
    tree = parse_expression(text).tree
    values = point_trees(point)
    return stable(lambda: evaluate(tree, _environment(values)), (dps, 2 * dps), max_dps=max_dps)


def derivative(text: str, point: Point, wrt: str, dps: int = DPS, *,
               max_dps: int = MAX_DPS) -> mpf | None:
    """The partial derivative in ``wrt`` at ``point`` by :func:`mpmath.diff` (a central
    difference at twice the precision, with a step of about 10**-dps relative), stable
    at two precisions; ``None`` if not real or not stable (as at a kink)."""
    tree = parse_expression(text).tree
    values = point_trees(point)

    def once() -> mpf:
        env = _environment(values)
        # No derivative where there is no value: a symmetric difference across a pole
        # of lgamma (or a 0/0) would give one.
        evaluate(tree, env)
        x0 = env[wrt]
        magnitude = int(mpmath.mag(x0)) if x0 else 0
        # A step small against |x| (for tiny x) and against 1 (for huge x); the extra
        # precision keeps x +- h exact however large x is.
        step = mpmath.ldexp(1, -mp.prec - 10 + min(0, magnitude))
        # A step far below 1 (x = 1e-300) changes f ~ 1 only in bits that far down:
        # carry them too. A derivative far below f (d/dy of atan2(y + pi/4, 1e-300) is
        # 1.6e-300) vanishes in the difference too: a slope of exactly 0 is not believed
        # by stable() until the precision is high enough for any such derivative to be
        # below every float64.
        slope = mpmath.diff(lambda x: evaluate(tree, {**env, wrt: x}), x0, h=step,
                            addprec=10 + max(0, magnitude + 1) // 2 - min(0, magnitude))
        # The difference quotient's noise is the function's, divided by the step.
        if _TRACES:
            _TRACES[-1].scale *= mpmath.ldexp(1, -min(0, magnitude))
        return slope

    return stable(once, (dps, 2 * dps), max_dps=max_dps)


def nearest_float(number: mpf) -> float:
    """The float64 nearest ``number`` (±inf beyond its range, 0.0 or a subnormal below)."""
    # 60 correct digits, then Python's correctly rounded decimal-to-float conversion.
    return float(mpmath.nstr(number, 60))

