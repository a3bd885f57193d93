"""Tolerances, verdicts and categories: is autograd's number the exact one?

The rule, stated once: autograd's value ``a`` agrees with the exact value ``s`` when

    |a - s| <= atol + rtol * |s|

Non-finite values are compared by what they mean, never by ``==``: same-signed
infinities agree, and ``nan`` never silently agrees with anything: at best it is a
warning that says why the point is special.

Nothing here imports SymPy or torch: the inputs are floats and words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .dtypes import DType
from .results import Category, Status, flat, shape_of

#: Default relative tolerance for float64.
DEFAULT_RTOL = 1e-7
#: Default absolute tolerance for float64 (matters near zero).
DEFAULT_ATOL = 1e-12
#: Defaults for float32, whose epsilon (1.2e-7) is 2**29 times float64's.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
#: Defaults (rtol, atol) for the half types: torch.testing.assert_close's own table
#: (``_DTYPE_PRECISIONS`` in torch/testing/_comparison.py). float64 and float32 keep the
#: defaults above, which predate the half types (that table has 1e-7/1e-7 and 1.3e-6/1e-5).
HALF_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}


class Kind(str, Enum):
    """What an exact value turned out to be."""

    FINITE = "finite"            # a real number that float64 can hold
    OVERFLOW = "overflow"        # a real number beyond float64's range
    UNDERFLOW = "underflow"      # a real number, not zero, too small for float64: it rounds to 0
    POS_INF = "pos_inf"          # +oo
    NEG_INF = "neg_inf"          # -oo
    COMPLEX_INF = "complex_inf"  # an infinity of no definite sign (1/x at 0)
    COMPLEX = "complex"          # not real: outside the real domain
    UNDEFINED = "undefined"      # nan, or no value at all (0/0 with no limit)
    UNCERTAIN = "uncertain"      # a real number whose digits could not be certified


#: Kinds that are a definite real number or a signed infinity.
REAL_KINDS = frozenset({Kind.FINITE, Kind.OVERFLOW, Kind.UNDERFLOW, Kind.POS_INF, Kind.NEG_INF})


@dataclass(frozen=True)
class Exact:
    """An exact value rounded to float64, with what it was and how it was found."""

    value: float          # float64 rounding; +-inf or nan where not finite
    kind: Kind
    text: str             # the value at full precision, or SymPy's word for it
    by_limit: bool = False
    #: Why the value is not certain to the digits shown, where it is not: a zero that
    #: was not proved (``0 to within 1e-160``). ``None`` for a certified value.
    doubt: str | None = None


def real_value(exact: Exact) -> float | None:
    """The exact value as a float where it is real (a signed infinity included), else None."""
    return exact.value if exact.kind in REAL_KINDS else None


@dataclass(frozen=True)
class Tolerance:
    """``|a - s| <= atol + rtol * |s|``."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def bound(self, exact: float) -> float:
        return self.atol + self.rtol * abs(exact)

    def close(self, actual: float, exact: float) -> bool:
        return abs(actual - exact) <= self.bound(exact)


def default_tolerance(dtype: str) -> Tolerance:
    """The default tolerance for autograd computed in ``dtype``."""
    if dtype == "float32":
        return Tolerance(rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    if dtype in HALF_TOLERANCES:
        rtol, atol = HALF_TOLERANCES[dtype]
        return Tolerance(rtol=rtol, atol=atol)
    return Tolerance()


def finite_difference_tolerance(order: int, dtype: str) -> Tolerance:
    """How close a central finite difference can be expected to come.

    Its error grows with the order (the step is eps**(1/(order+2))): measured at
    about 1e-11 relative for a first partial in float64, 1e-9 for a second and 1e-7
    for a third; these bounds leave a margin of about 100.
    """
    base = 1e-8 if dtype == "float64" else 1e-3
    if dtype in HALF_TOLERANCES:
        # In a half type the best a central difference can do is about eps**(2/3): 1% in
        # float16, 4% in bfloat16. Ten times that: a rough opinion, never a close one.
        base = 10 * DType(dtype).epsilon ** (2 / 3)
    scale = base * 100.0 ** (order - 1)
    return Tolerance(rtol=scale, atol=scale)


def agree(a: float, b: float, tolerance: Tolerance) -> bool:
    """Whether two computed numbers agree: close, both ``nan``, or the same infinity."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return tolerance.close(a, b)


@dataclass(frozen=True)
class Verdict:
    """A status, its category (a short machine name) and one sentence of why."""

    status: Status
    category: Category
    message: str | None


@dataclass(frozen=True)
class Written:
    """Where the expression as written breaks at the point, in words.

    ``undefined``: "x/x is 0/0", the expression as written has no value here;
    ``overflow``: "exp(x) is 1.97e+434, beyond float64", an intermediate too large for
    the dtype; ``underflow``: "sigmoid(x) is 3.6e-348, which is 0 in float64, so
    log(sigmoid(x)) is computed from 0", a nonzero intermediate the dtype rounds to 0.
    """

    undefined: str | None = None
    overflow: str | None = None
    underflow: str | None = None


class Context:
    """What the exact as-written evaluation found at the point (:class:`Written`), and
    the dtype autograd computed in.

    Finding it walks the whole expression exactly, which only a comparison that does
    not plainly pass needs: given ``compute``, the walk waits until first asked.
    """

    def __init__(self, written: Written | None = None, *, dtype: str = "float64",
                 compute: Callable[[], Written] | None = None) -> None:
        self._found: Written | None = written if compute is None else None
        if self._found is None and compute is None:
            self._found = Written()
        self._compute = compute
        self.dtype = dtype

    def _get(self) -> Written:
        if self._found is None:
            assert self._compute is not None
            self._found = self._compute()
        return self._found

    @property
    def undefined(self) -> str | None:
        return self._get().undefined

    @property
    def overflow(self) -> str | None:
        return self._get().overflow

    @property
    def underflow(self) -> str | None:
        return self._get().underflow


_NOTHING_FOUND = Context()

OK = Verdict(Status.PASS, Category.OK, None)


def fmt(value: float | tuple[Any, ...] | None) -> str:
    """A number for people: 12 significant digits, ``nan``/``inf`` spelled out.

    A tensor (nested tuples) is shown whole when it has at most 4 elements, else by
    its shape: tables stay readable, and JSON carries every element.
    """
    if value is None:
        return "-"
    if isinstance(value, tuple):
        elements = flat(value)
        if len(elements) <= 4:
            return "[" + ", ".join(fmt(v) for v in elements) + "]"
        return "tensor " + "x".join(map(str, shape_of(value)))
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    return f"{value:.12g}"


def differences(exact: float | None, actual: float | None) -> tuple[float | None, float | None]:
    """Absolute and relative difference; ``None`` where either side is missing."""
    if exact is None or actual is None:
        return None, None
    if math.isinf(exact) and exact == actual:
        return 0.0, 0.0
    diff = abs(actual - exact)
    if math.isnan(diff):
        return math.nan, math.nan
    if exact == 0:
        return diff, (0.0 if diff == 0 else math.inf)
    return diff, diff / abs(exact)


def judge(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
          context: Context | None = None) -> Verdict:
    """The verdict on autograd's ``actual`` against the ``exact`` value of ``quantity``."""
    handler = _JUDGES[exact.kind]
    verdict = handler(quantity, exact, actual, tolerance, context or _NOTHING_FOUND)
    if exact.doubt is None:
        return verdict
    if verdict.status is Status.PASS:
        return Verdict(Status.WARN, Category.UNCERTAIN,
                       f"the exact {quantity} is not certain: {exact.doubt}; autograd gives "
                       f"{fmt(actual)}, which agrees with 0")
    return Verdict(verdict.status, verdict.category, f"{verdict.message} ({exact.doubt})")


def _finite(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
            context: Context) -> Verdict:
    s, a = exact.value, actual
    if exact.by_limit and context.undefined:
        # (1+x)**(1/x) at 0: torch's 1**inf is 1, but as written there is no value here.
        if math.isfinite(a) and tolerance.close(a, s):
            return Verdict(Status.WARN, Category.REMOVABLE,
                           f"undefined as written at this point ({context.undefined}); autograd "
                           f"gives {fmt(a)}, which is the limit of the {quantity}")
        return Verdict(Status.WARN, Category.REMOVABLE,
                       f"undefined as written at this point ({context.undefined}), so autograd "
                       f"gives {fmt(a)}; the limit of the {quantity} is {fmt(s)}")
    largest, tiny = DType(context.dtype).largest, DType(context.dtype).tiny
    if abs(s) > largest and a == math.copysign(math.inf, s):
        return Verdict(Status.WARN, Category.OVERFLOW,
                       f"the exact {quantity} {fmt(s)} is beyond {context.dtype}'s range (largest "
                       f"{largest:.6g}); autograd's {fmt(a)} is the nearest {context.dtype} can say")
    if 0 < abs(s) < tiny and a == 0:
        return Verdict(Status.WARN, Category.UNDERFLOW,
                       f"the exact {quantity} {fmt(s)} is too small for {context.dtype} and rounds "
                       f"to 0; autograd gives 0")
    if math.isfinite(a):
        if tolerance.close(a, s):
            return OK
        message = (f"autograd gives {fmt(a)}, the exact {quantity} is {fmt(s)}: they differ by "
                   f"{fmt(abs(a - s))}, more than atol + rtol*|exact| = {fmt(tolerance.bound(s))}")
        if context.overflow:
            return Verdict(Status.FAIL, Category.OVERFLOW, f"{message}; {context.overflow}")
        if context.underflow:
            return Verdict(Status.FAIL, Category.UNDERFLOW, f"{message}; {context.underflow}")
        return Verdict(Status.FAIL, Category.MISMATCH, message)
    if context.undefined:
        return Verdict(Status.WARN, Category.REMOVABLE,
                       f"undefined as written at this point ({context.undefined}), so autograd "
                       f"gives {fmt(a)}; the limit of the {quantity} is {fmt(s)}")
    if context.overflow:
        return Verdict(Status.FAIL, Category.OVERFLOW,
                       f"autograd gives {fmt(a)} because {context.overflow}; "
                       f"the exact {quantity} is {fmt(s)}")
    if context.underflow:
        return Verdict(Status.FAIL, Category.UNDERFLOW,
                       f"autograd gives {fmt(a)} because {context.underflow}; "
                       f"the exact {quantity} is {fmt(s)}")
    if math.isnan(a):
        return Verdict(Status.FAIL, Category.AUTOGRAD_NAN,
                       f"autograd gives nan, but the exact {quantity} is {fmt(s)}")
    return Verdict(Status.FAIL, Category.MISMATCH,
                   f"autograd gives {fmt(a)}, but the exact {quantity} is {fmt(s)}")


def _overflow(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
              context: Context) -> Verdict:
    if actual == exact.value:  # the same-signed infinity
        return Verdict(Status.WARN, Category.OVERFLOW,
                       f"the exact {quantity} {exact.text} is beyond float64's range; "
                       f"autograd's {fmt(actual)} is the nearest float64 can say")
    return Verdict(Status.FAIL, Category.OVERFLOW,
                   f"the exact {quantity} is {exact.text}, beyond float64; autograd "
                   f"gives {fmt(actual)}")


def _underflow(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
               context: Context) -> Verdict:
    if tolerance.close(actual, 0.0):
        return Verdict(Status.WARN, Category.UNDERFLOW,
                       f"the exact {quantity} {exact.text} is too small for float64 (below about "
                       f"4.9e-324) and rounds to 0; autograd gives {fmt(actual)}")
    return Verdict(Status.FAIL, Category.UNDERFLOW,
                   f"the exact {quantity} is {exact.text}, which rounds to 0 in float64, but "
                   f"autograd gives {fmt(actual)}")


def _signed_infinity(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
                     context: Context) -> Verdict:
    if actual == exact.value:
        return Verdict(Status.WARN, Category.POLE,
                       f"the exact {quantity} is infinite here ({exact.text}) and autograd agrees")
    if math.isnan(actual):
        return Verdict(Status.WARN, Category.POLE,
                       f"the exact {quantity} is infinite here ({exact.text}); autograd gives nan")
    return Verdict(Status.FAIL, Category.POLE,
                   f"the exact {quantity} is infinite here ({exact.text}), but autograd gives "
                   f"{fmt(actual)}")


def _complex_infinity(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
                      context: Context) -> Verdict:
    if not math.isfinite(actual):
        return Verdict(Status.WARN, Category.POLE,
                       f"a pole: the {quantity} is infinite with no definite sign (+inf on one "
                       f"side, -inf on the other); autograd gives {fmt(actual)}")
    return Verdict(Status.FAIL, Category.POLE,
                   f"a pole: the exact {quantity} is infinite, but autograd gives {fmt(actual)}")


def _complex(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
             context: Context) -> Verdict:
    where = f" ({context.undefined})" if context.undefined else ""
    if math.isnan(actual):
        return Verdict(Status.WARN, Category.DOMAIN,
                       f"outside the real domain{where}: the exact {quantity} is complex, "
                       f"{exact.text}; autograd gives nan")
    return Verdict(Status.FAIL, Category.DOMAIN,
                   f"outside the real domain{where}: the exact {quantity} is complex, "
                   f"{exact.text}, but autograd gives {fmt(actual)}")


def _undefined(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
               context: Context) -> Verdict:
    if exact.by_limit:  # one-sided limits that differ: a jump
        where = f"{context.undefined}; " if context.undefined else ""
        return Verdict(Status.WARN, Category.UNDEFINED,
                       f"the {quantity} is undefined at this point ({where}{exact.text}), so it "
                       f"has no limit; autograd gives {fmt(actual)}")
    where = context.undefined or f"SymPy finds {exact.text}"
    return Verdict(Status.WARN, Category.UNDEFINED,
                   f"the {quantity} is undefined at this point ({where}), with no limit; "
                   f"autograd gives {fmt(actual)}")


def _uncertain(quantity: str, exact: Exact, actual: float, tolerance: Tolerance,
               context: Context) -> Verdict:
    # A limit that was not found: say where the expression as written has no value.
    where = f" ({context.undefined})" if exact.by_limit and context.undefined else ""
    return Verdict(Status.WARN, Category.UNCERTAIN,
                   f"the exact {quantity} could not be certified{where}: {exact.text}; autograd "
                   f"gives {fmt(actual)}, which is not checked")


_JUDGES = {
    Kind.FINITE: _finite,
    Kind.OVERFLOW: _overflow,
    Kind.UNDERFLOW: _underflow,
    Kind.POS_INF: _signed_infinity,
    Kind.NEG_INF: _signed_infinity,
    Kind.COMPLEX_INF: _complex_infinity,
    Kind.COMPLEX: _complex,
    Kind.UNDEFINED: _undefined,
    Kind.UNCERTAIN: _uncertain,
}


def judge_kink(left: Exact, right: Exact, jump: bool, actual: float, tolerance: Tolerance,
               where: str, convention: str | None) -> Verdict:
    """The verdict at a point where the function is not differentiable.

    ``left`` and ``right`` are the one-sided limits of the derivative; ``jump`` says the
    function itself is discontinuous there. Autograd's value is accepted (with a
    warning) when it lies between the one-sided derivatives: a valid subgradient.
    """
    said = f"; {convention}" if convention else ""
    if jump:
        return Verdict(Status.WARN, Category.NOT_DIFFERENTIABLE,
                       f"{where} jumps here, so no derivative exists; autograd gives "
                       f"{fmt(actual)}{said}")
    sides = f"one-sided derivatives {fmt(left.value)} (left) and {fmt(right.value)} (right)"
    if left.kind in REAL_KINDS and right.kind in REAL_KINDS:
        low, high = sorted((left.value, right.value))
        if low - tolerance.bound(low) <= actual <= high + tolerance.bound(high):
            return Verdict(Status.WARN, Category.NOT_DIFFERENTIABLE,
                           f"not differentiable here ({where}): {sides}; autograd's "
                           f"{fmt(actual)} lies between them, a valid subgradient{said}")
        return Verdict(Status.FAIL, Category.NOT_DIFFERENTIABLE,
                       f"not differentiable here ({where}): {sides}; autograd's "
                       f"{fmt(actual)} lies outside them{said}")
    return Verdict(Status.WARN, Category.NOT_DIFFERENTIABLE,
                   f"not differentiable here ({where}): {sides}; autograd gives "
                   f"{fmt(actual)}{said}")


def second_opinions(verdict: Verdict, exact: Exact, actual: float, *,
                    finite_difference: float | None, forward_mode: float | None,
                    tolerance: Tolerance, fd_tolerance: Tolerance) -> Verdict:
    """Refine a verdict with finite differences and forward mode.

    Autograd alone against the exact value and finite differences: its backward formula
    (or PyTorch's convention) is at fault. Autograd and finite differences together
    against the exact value: the expression as written computes something else here
    than the mathematics. Forward and reverse mode apart: say so, always.
    """
    status, category = verdict.status, verdict.category
    notes = [verdict.message] if verdict.message else []
    if forward_mode is not None and not agree(forward_mode, actual, tolerance):
        notes.append(f"forward mode gives {fmt(forward_mode)} but reverse mode gives "
                     f"{fmt(actual)}")
        if status.rank < Status.FAIL.rank:
            status, category = Status.FAIL, Category.FORWARD_REVERSE_MISMATCH
    fd = finite_difference
    if verdict.status is Status.FAIL and exact.kind is Kind.FINITE and fd is not None \
            and math.isfinite(fd):
        # Finite differences side with whichever they are clearly closer to.
        to_exact, to_autograd = abs(fd - exact.value), _distance(fd, actual)
        if fd_tolerance.close(fd, exact.value) and to_exact * 100 <= to_autograd:
            notes.append(f"finite differences give {fmt(fd)}, agreeing with the exact value: "
                         "autograd's backward formula (or PyTorch's convention) is at fault")
        elif agree(fd, actual, fd_tolerance) and to_autograd * 100 <= to_exact:
            notes.append(f"finite differences give {fmt(fd)}, agreeing with autograd: the "
                         "expression as written (in torch) computes something else here than "
                         "the mathematics")
        else:
            notes.append(f"finite differences give {fmt(fd)}, too coarse to tell which is right")
    return Verdict(status, category, "; ".join(notes) if notes else None)


def _distance(a: float, b: float) -> float:
    distance = abs(a - b)
    return math.inf if math.isnan(distance) else distance
