"""Sweeps over ranges (``--sweep x=LO:HI``): the request and the result, validated light.

:func:`prepare_sweep` turns the command line's ``--sweep`` texts, ``--at`` and
``--samples`` into a :class:`SweepRequest`, raising :class:`~gradcheck_cli.errors.InputError`
on the first problem; :mod:`gradcheck_cli.engine.sweep` runs it. Light: bounds are read by
the project's own safe parser (:func:`~gradcheck_cli.parse.parse_constant`); nothing here
imports SymPy, torch or numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .dtypes import DTYPES, DType
from .errors import InputError
from .functions import FUNCTIONS
from .limits import MAX_SAMPLES, MAX_SWEEP_VARIABLES
from .parse import (
    NAME,
    Call,
    Index,
    constant_value,
    parse_constant,
    parse_expression,
    parse_point,
    walk,
)
from .request import Request, prepare
from .results import Category, CheckResult, Status

#: Samples of a sweep where ``--samples`` is not given.
DEFAULT_SAMPLES = 10_000


@dataclass(frozen=True)
class SweepRange:
    """One swept variable: ``name`` from ``low`` to ``high`` (floats of the check's dtype
    range; ``inf`` in the text is the dtype's largest finite value)."""

    name: str
    low: float
    high: float
    #: The bounds as the user wrote them, for the report.
    text: str


@dataclass(frozen=True)
class SweepRequest:
    """A validated sweep: a one-point :class:`Request` (the swept variables at their low
    bound, the others at ``--at``), the ranges and the number of samples."""

    request: Request
    ranges: tuple[SweepRange, ...]
    samples: int


@dataclass(frozen=True)
class Suggestion:
    """A rewrite of the expression, swept over the same range."""

    expression: str
    passes: bool
    message: str


@dataclass(frozen=True)
class Region:
    """A maximal run of neighbouring samples of one verdict other than ``pass`` (1-D), or
    a connected set of grid cells holding samples of one such verdict (2-D, 3-D).

    ``start``/``end`` are its first and last samples (1-D), or the low and high corners
    of the bounding box of its samples (every swept variable); ``boundary`` holds, for
    each side with samples beyond it, the pair (last float outside, first float inside):
    adjacent floats of the dtype after bisection (next to passing samples: the last that
    passes and the first that does not). Empty with several variables (no bisection).
    """

    start: dict[str, float]
    end: dict[str, float]
    boundary: tuple[tuple[float, float], ...]
    status: Status
    category: Category
    max_bits_error: float
    #: The exact single-point check of the worst sample (largest bits of error).
    worst: CheckResult
    #: Whether that exact check confirmed the vectorised verdict (not ``pass``).
    confirmed: bool
    suggestion: Suggestion | None = None


@dataclass(frozen=True)
class SweepResult:
    """Everything a sweep found."""

    expression: str
    dtype: str
    ranges: tuple[SweepRange, ...]
    samples: int
    #: Samples by verdict (``pass``, ``fail``, ...), and the non-passing ones by category.
    by_status: dict[str, int]
    by_category: dict[str, int]
    #: Points settled by the exact single-point check (unsettled samples, bisection
    #: midpoints and the worst point of each region).
    confirmed_exactly: int
    regions: tuple[Region, ...]
    #: The worst sample's exact check (the first sample's where all pass).
    worst: CheckResult
    #: Bits of error of each sample, in order of the swept variable (1-D), for the
    #: sparkline; and the sampled values of the swept variable.
    bits: tuple[float, ...] = ()
    where: tuple[float, ...] = ()
    #: Samples that neither the vectorised reference nor the exact check (past its cap)
    #: could settle; counted as ``warn``/``uncertain``.
    unsettled: int = 0
    #: Whether the reference had more precision than float64 (numpy longdouble).
    wide_reference: bool = True
    #: The largest relative error of the reference found by comparing it with mpmath at
    #: some samples (``nan``: none compared).
    reference_error: float = float("nan")
    #: Whether forward mode (dual numbers) was checked beside reverse mode for the first
    #: partials of every sample; ``forward_note`` says why not where it was not.
    forward_mode: bool = False
    forward_note: str | None = None
    #: Samples placed at the special points SymPy found (kinks, poles, domain edges) and
    #: their neighbouring floats.
    special_points: int = 0
    #: With a plot: every sample's values (numpy arrays: ``x``, ``bits``, ``value_exact``,
    #: ``value_autograd``, ``derivative_exact``, ``derivative_autograd``; over several
    #: variables ``axes``, the grid's values of each, and ``grid_bits``, its bits of error,
    #: indexed [i][j] for axes[0][i], axes[1][j]); not reported.
    series: Any = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> Status:
        """The worst status of any region, ``pass`` where there is none."""
        return max((r.status for r in self.regions), key=lambda s: s.rank, default=Status.PASS)


def parse_sweep(text: str, dtype: str = "float64") -> tuple[str, float, float]:
    """``VAR=LO:HI`` as ``(name, low, high)``; ``LO``/``HI`` are constant expressions
    (``-pi``, ``1e-300``) or ``-inf``/``inf``, the dtype's finite range."""
    name, equals, bounds = text.partition("=")
    name = name.strip()
    if not equals or not NAME.match(name):
        raise InputError(Category.BAD_OPTION, f"--sweep {text!r} is not VAR=LO:HI (e.g. "
                         "--sweep x=-10:10)")
    if bounds.count(":") != 1:
        raise InputError(Category.BAD_OPTION, f"--sweep {text!r}: give the range as LO:HI, "
                         "e.g. x=-10:10 (one ':')")
    low_text, high_text = bounds.split(":")
    largest = DType(dtype).largest  # what inf stands for

    def bound(part: str) -> float:
        word = part.strip().lower()
        if word in ("inf", "+inf"):
            return largest
        if word == "-inf":
            return -largest
        if not word:
            raise InputError(Category.BAD_OPTION, f"--sweep {text!r}: a bound is missing "
                             "(e.g. x=-10:10, or x=-inf:inf)")
        value = constant_value(parse_constant(part))
        if not math.isfinite(value):
            raise InputError(Category.NON_FINITE_POINT, f"--sweep {text!r}: {part.strip()} is "
                             f"not a finite number (for the whole range write -inf or inf)")
        return value

    low, high = bound(low_text), bound(high_text)
    if not low < high:
        raise InputError(Category.BAD_OPTION, f"--sweep {text!r}: LO must be below HI "
                         f"({low!r} >= {high!r})")
    if max(abs(low), abs(high)) > largest:
        raise InputError(Category.BAD_OPTION, f"--sweep {text!r}: the range goes beyond "
                         f"{dtype}'s largest finite value {largest:g}")
    return name, low, high


def prepare_sweep(expression: str, sweeps: Sequence[str], at: Sequence[str], *,
                  samples: int | None = None, dtype: str = "float64",
                  **options: object) -> SweepRequest:
    """Validate a sweep; raise :class:`InputError` on the first problem.

    ``options`` are :func:`~gradcheck_cli.request.prepare`'s (``wrt``, ``rtol``, ...).
    """
    count = DEFAULT_SAMPLES if samples is None else samples
    if not isinstance(count, int) or isinstance(count, bool) or count < 2:
        raise InputError(Category.BAD_OPTION, f"--samples must be a whole number >= 2, not "
                         f"{count!r}")
    if count > MAX_SAMPLES:
        raise InputError(Category.LIMIT, f"--samples {count:,} is more than MAX_SAMPLES = "
                         f"{MAX_SAMPLES:,}")
    if dtype not in DTYPES:
        raise InputError(Category.BAD_OPTION, f"dtype must be one of {', '.join(DTYPES)}")
    if len(sweeps) > MAX_SWEEP_VARIABLES:
        raise InputError(Category.LIMIT, f"{len(sweeps)} --sweep options; the limit is "
                         f"MAX_SWEEP_VARIABLES = {MAX_SWEEP_VARIABLES}")
    if len(at) > 1:
        raise InputError(Category.BAD_OPTION, "with --sweep, give at most one --at (the values "
                         "of the variables that are not swept)")
    ranges: list[SweepRange] = []
    for text in sweeps:
        name, low, high = parse_sweep(text, dtype)
        if any(r.name == name for r in ranges):
            raise InputError(Category.REPEATED_VARIABLE, f"--sweep names {name} twice")
        ranges.append(SweepRange(name, low, high, text.partition("=")[2].strip()))
    variables = parse_expression(expression).variables
    for r in ranges:
        if r.name not in variables:
            known = ", ".join(variables) or "none"
            raise InputError(Category.UNKNOWN_VARIABLE, f"--sweep names {r.name}, which is not "
                             f"a variable of the expression (its variables: {known})")
    point = ",".join(f"{r.name}={r.low!r}" for r in ranges)
    fixed = at[0] if at else ""
    given = parse_point(fixed) if fixed.strip() else ()
    for assignment in given:
        if any(r.name == assignment.name for r in ranges):
            raise InputError(Category.BAD_OPTION, f"{assignment.name} is swept (--sweep) and "
                             "given a value by --at: give it one or the other")
        if assignment.is_tensor:
            raise InputError(Category.BAD_OPTION, f"{assignment.name} is a tensor: sweeps are "
                             "of expressions of scalar variables")
    whole = ",".join(p for p in (point, fixed.strip()) if p)
    swept = {r.name for r in ranges}
    missing = [v for v in variables if v not in swept and all(a.name != v for a in given)]
    if missing:
        example = ",".join(f"{name}=1" for name in missing)
        raise InputError(Category.MISSING_VALUE, f"no value for {', '.join(missing)}: a sweep "
                         f"fixes the variables it does not sweep with --at, e.g. --at {example}")
    request = prepare(expression, [whole], dtype=dtype, **options)  # type: ignore[arg-type]
    if request.expect:
        raise InputError(Category.BAD_OPTION, "--expect is not supported in a sweep")
    for node in walk(request.expression.tree):
        if isinstance(node, Index) or (isinstance(node, Call)
                                       and FUNCTIONS[node.function].kind != "elementwise"):
            # Each sample's derivative is read off the gradient of the sum of all outputs:
            # that holds only where every output depends on its own sample alone.
            raise InputError(Category.BAD_OPTION, f"{request.expression.text} is not elementwise "
                             "(it reduces, indexes or mixes tensor elements): a sweep computes "
                             "every sample at once, and needs an elementwise expression")
    return SweepRequest(replace(request, source=None), tuple(ranges), count)
