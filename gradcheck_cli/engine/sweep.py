"""Sweeps: every sample at once, against a vectorised exact reference.

torch computes the expression for all samples in one forward pass and every sample's
derivative in one reverse pass of the sum (the expression is elementwise, so the
gradient of the sum is each sample's own derivative). The reference is SymPy's exact
derivative (and value), of the tree the project built itself, turned into a numpy
function by ``sympy.lambdify`` and evaluated on ``numpy.longdouble`` arrays: on x86 a
64-bit mantissa and exponents to ±4932, so it stays finite and accurate where the dtype
under test overflows. Where it cannot settle a sample's verdict (a non-finite value, or
a difference within its own estimated error of the tolerance) the sample goes to the
exact single-point check (:func:`gradcheck_cli.check.run`), up to
:data:`~gradcheck_cli.limits.MAX_EXACT_POINTS` of them; the worst sample of every region
is checked exactly too, and the report says how many were.

The reference's error estimate is empirical, not a proof: the larger of its difference
from the same function evaluated in float64 divided by 2**7 (longdouble has 11 more
bits, so its rounding error is some 2**11 times smaller) and 2**-48 of its magnitude.
Where ``longdouble`` is float64 (ARM, Windows) the estimate is 2**-30 of the magnitude,
and many more samples go to the exact check.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp
import torch
import torch.autograd.forward_ad as fwad

from ..dtypes import DType
from ..errors import InputError
from ..limits import MAX_EXACT_POINTS
from ..parse import Assignment, parse_value
from ..request import Request
from ..results import Category, CheckResult, Status
from ..sweep import Region, Suggestion, SweepRange, SweepRequest, SweepResult
from . import autograd, symbolic, sympy_functions

#: Whether numpy's longdouble is wider than float64 (x86: 80-bit extended precision).
WIDE = bool(np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant)
#: Relative error assumed of the reference beside its float64 comparison.
_FUZZ = 2.0 ** -48 if WIDE else 2.0 ** -30
#: numpy float and integer types of each dtype's bits (bfloat16: the top half of float32).
_BITS = {"float64": (np.float64, np.int64), "float32": (np.float32, np.int32),
         "float16": (np.float16, np.int16), "bfloat16": (np.float32, np.int32)}
#: Samples at which the reference is compared with mpmath (a diagnostic, reported).
SPOT_CHECKS = 64
#: Stretches of the range in the bits-of-error profile (the sparkline, the plot).
PROFILE_BINS = 400
#: Seed of the random half of the samples: the same command gives the same samples.
SEED = 20261127

# Verdict codes of a sample, ordered as Status ranks; UNSETTLED: for the exact check.
PASS, WARN, FAIL, ERROR = 0, 1, 2, 3
UNSETTLED = -1
_STATUS = {PASS: Status.PASS, WARN: Status.WARN, FAIL: Status.FAIL, ERROR: Status.ERROR}
#: Category codes: the index in this tuple.
_CATEGORIES = tuple(Category)
_OK, _MISMATCH, _NAN, _OVERFLOW, _UNDERFLOW, _UNCERTAIN, _FORWARD = (
    _CATEGORIES.index(c) for c in (
        Category.OK, Category.MISMATCH, Category.AUTOGRAD_NAN, Category.OVERFLOW,
        Category.UNDERFLOW, Category.UNCERTAIN, Category.FORWARD_REVERSE_MISMATCH))


def run_sweep(sweep: SweepRequest, *, suggest: bool = True, series: bool = False
              ) -> SweepResult:
    """Run a validated sweep (one to three variables) and return what it found.

    With ``suggest``, a region that fails with overflow, underflow or autograd_nan gets
    the first known rewrite of the expression (:mod:`gradcheck_cli.rewrites`), swept over
    the same range. With ``series``, the result keeps every sample's values for a plot.
    """
    request = sweep.request
    names = tuple(r.name for r in sweep.ranges)
    judge = _Judge(request, names)
    specials = [_special_values(judge, r) for r in sweep.ranges]
    if len(names) == 1:
        (swept,) = sweep.ranges
        x = samples(swept.low, swept.high, sweep.samples, request.dtype, specials[0])
        axes = [x]
    else:
        axes, x = grid_samples(sweep.ranges, sweep.samples, request.dtype, specials)
    special_count = int(np.sum(np.any([np.isin(column, extra) for column, extra in
                                       zip(judge.columns(x).values(), specials, strict=True)],
                                      axis=0)))
    if judge.impl is not None:
        _check_elementwise(judge, x)
    actual, reference = judge.torch_side(x), judge.reference(x)
    status, category, bits = judge.judge(x, actual, reference)
    exact = _ExactChecks(request, names)
    unsettled = np.flatnonzero(status == UNSETTLED)
    # The exact check for as many unsettled samples as the cap allows, spread evenly.
    chosen = unsettled[np.linspace(0, len(unsettled) - 1, min(len(unsettled), MAX_EXACT_POINTS // 2)
                                   ).astype(np.int64)] if len(unsettled) else unsettled
    for index in np.unique(chosen):
        result = exact(_point(x, int(index)))
        status[index] = result.status.rank
        category[index] = _category_code(result)
    leftover = status == UNSETTLED
    left = int(np.sum(leftover))
    status[status == UNSETTLED] = WARN
    category[(status == WARN) & (category == _OK)] = _UNCERTAIN
    if len(names) == 1:
        regions = _regions(x, status, bits, judge, exact, names[0], leftover)
    else:
        regions = _regions_nd(axes, x, status, bits, judge, exact)
    worst_index = int(np.nanargmax(np.where(np.isnan(bits), np.inf, bits))) if len(bits) else 0
    if regions:
        worst = max(regions, key=lambda r: (r.status.rank, r.max_bits_error)).worst
    else:
        worst = exact(_point(x, worst_index))
    # Samples checked exactly (each region's worst) count as that check says, so that the
    # summary's counts agree with the regions (a kink the vectorised rule calls underflow).
    for index, result in exact.samples.items():
        status[index] = result.status.rank
        category[index] = _category_code(result)
    by_status = {s.value: int(np.sum(status == code)) for code, s in _STATUS.items()}
    failing = status != PASS
    by_category = {str(c): int(np.sum(failing & (category == i)))
                   for i, c in enumerate(_CATEGORIES) if np.any(failing & (category == i))}
    if suggest:
        regions = _with_suggestions(sweep, regions)
    kept: dict[str, Any] | None
    if len(names) == 1:
        kept = _series(judge, x, bits, actual, reference) if series else None
        profile = _profile(x, bits, swept.low, swept.high)
        where = tuple(float(v) for v in np.linspace(swept.low / 2, swept.high / 2,
                                                    PROFILE_BINS) * 2)
    else:
        # The grid's bits of error (the first prod(len(axes)) samples, in C order).
        grid = bits[:math.prod(len(a) for a in axes)].reshape([len(a) for a in axes])
        kept = {"axes": axes, "grid_bits": grid, "x": x, "bits": bits} if series else None
        profile, where = (), ()
    return SweepResult(expression=request.expression.text, dtype=request.dtype,
                       ranges=sweep.ranges, samples=len(x), by_status=by_status,
                       by_category=by_category, confirmed_exactly=exact.count,
                       regions=tuple(regions), worst=worst, bits=profile, where=where,
                       unsettled=left, wide_reference=WIDE, series=kept,
                       reference_error=judge.spot_check(x), forward_mode=judge.forward,
                       forward_note=judge.forward_note, special_points=special_count)


def _special_values(judge: _Judge, swept: SweepRange) -> np.ndarray:
    """The special points SymPy finds for one swept variable (kinks, poles, domain edges:
    :func:`gradcheck_cli.engine.sweep_points.special_points`), rounded to the dtype, with
    the floats just below and above each, inside the range. Only where the expression
    with the variables not swept fixed depends on this one variable alone (with two swept
    variables in it, a kink is a curve, not a point of this axis)."""
    try:
        from .sweep_points import special_points
    except ImportError:  # the finder is not part of this build
        return np.empty(0)
    dtype = judge.request.dtype
    symbol = judge.symbols[swept.name]
    fixed = {judge.symbols[n]: symbolic.exact_float(v) for n, v in judge.fixed.items()}
    try:
        expr = judge.exprs[()].subs(fixed)
        if expr.free_symbols != {symbol}:
            return np.empty(0)
        found = special_points(expr, symbol, swept.low, swept.high, budget_s=0.5)
    except Exception:  # a search that breaks finds nothing; the sweep goes on
        return np.empty(0)
    values = np.array([float(v) for v in found], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.empty(0)
    places = ordered(_in_dtype(values, dtype), dtype)
    around = from_ordered(np.concatenate([places - 1, places, places + 1]), dtype)
    return np.unique(around[(around >= swept.low) & (around <= swept.high)])


def grid_samples(ranges: tuple[SweepRange, ...], count: int, dtype: str,
                 specials: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Samples of a box: ``(axes, points)``. Half of ``count`` on a grid, each axis some
    (count/2)**(1/d) evenly spaced floats of the dtype (ends included) and its special
    values (0, ±1 where inside, and ``specials``); half uniform over each coordinate's bit
    patterns, as :func:`samples` draws them, less those that fall on the grid. ``points``
    has shape (samples, d): the grid first (C order: the last axis fastest), then the
    random points, sorted."""
    per_axis = max(2, round((count - count // 2) ** (1 / len(ranges))))
    axes = []
    for swept, extra in zip(ranges, specials, strict=True):
        low, high = swept.low, swept.high
        with np.errstate(over="ignore"):  # as in samples()
            halves = np.linspace(low / 2, high / 2, per_axis)
        even = _in_dtype(2 * halves, dtype)
        even[0], even[-1] = _in_dtype(np.array([low, high]), dtype)
        special = np.array([v for v in (-1.0, 0.0, 1.0) if low <= v <= high])
        axis = np.unique(np.concatenate([even, special, extra]))
        axes.append(axis[(axis >= low) & (axis <= high)])
    mesh = np.meshgrid(*axes, indexing="ij")
    grid = np.stack([m.ravel() for m in mesh], axis=1)
    rng = np.random.default_rng(SEED)
    columns = []
    for swept in ranges:
        lo, hi = (ordered(_in_dtype(np.array([v]), dtype), dtype)[0]
                  for v in (swept.low, swept.high))
        columns.append(from_ordered(rng.integers(lo, hi, size=count // 2, endpoint=True), dtype))
    spread = np.unique(np.stack(columns, axis=1), axis=0)
    on_grid = np.all([np.isin(spread[:, i], axis) for i, axis in enumerate(axes)], axis=0)
    return axes, np.concatenate([grid, spread[~on_grid]])


def _check_elementwise(judge: _Judge, x: np.ndarray) -> None:
    """Refuse a user's function (--impl) that does not compute each sample by itself: at
    a few samples, the values and derivatives given all samples at once must be those it
    gives that sample alone (the gradient of the sum is each sample's derivative only
    for an elementwise function)."""
    together = judge.torch_side(x)
    for index in np.unique(np.linspace(0, len(x) - 1, min(len(x), 5)).astype(np.int64)):
        alone = judge.torch_side(x[index:index + 1])
        for key, values in alone.items():
            a, b = float(values[0]), float(together[key][index])
            same = (math.isnan(a) and math.isnan(b)) or a == b or \
                abs(a - b) <= 1e-12 * max(abs(a), abs(b))
            if not same:
                what = "value" if key == () else "derivative in " + "".join(key)
                where = ", ".join(f"{n} = {v!r}" for n, v in
                                  zip(judge.names, _point(x, int(index)), strict=True))
                raise InputError(Category.BAD_OPTION, f"{judge.impl[2] if judge.impl else ''} "
                                 f"is not elementwise: at {where} its "
                                 f"{what} is {a!r} alone and {b!r} among the other samples; a "
                                 "sweep computes every sample at once, so it needs a function "
                                 "that treats each element by itself (check it at points with "
                                 "--at)")


#: Categories for which a rewrite of the expression is worth sweeping.
_REWRITABLE = (Category.OVERFLOW, Category.UNDERFLOW, Category.AUTOGRAD_NAN)


def _with_suggestions(sweep: SweepRequest, regions: list[Region]) -> list[Region]:
    """Regions failing for a reason a rewrite can fix, each with the first rewrite's
    own result over the same range (reported only with that result)."""
    if not any(r.status is Status.FAIL and r.category in _REWRITABLE for r in regions):
        return regions
    try:
        from ..rewrites import suggest
    except ImportError:  # the rules module is not part of this build
        return regions
    from ..parse import parse_expression

    found = suggest(sweep.request.expression.tree)
    if not found:
        return regions
    rewrite = found[0]
    tree = parse_expression(rewrite.expression)
    if not set(tree.variables) <= set(sweep.request.expression.variables):
        return regions
    request = replace(sweep.request, expression=tree,
                      wrt=tuple(v for v in sweep.request.wrt if v in tree.variables))
    other = run_sweep(replace(sweep, request=request), suggest=False)
    failing = [r for r in other.regions if r.status in (Status.FAIL, Status.ERROR)]
    if not failing:
        message = f"{rewrite.rule}: passes on the whole range ({other.samples:,} samples)"
    else:
        where = "; ".join(f"{_span(r)} ({r.category})" for r in failing[:3])
        message = f"{rewrite.rule}: still fails: {where}"
    suggestion = Suggestion(rewrite.expression, not failing, message)
    return [replace(r, suggestion=suggestion)
            if r.status is Status.FAIL and r.category in _REWRITABLE else r for r in regions]


def _span(region: Region) -> str:
    return ", ".join(f"{name} from {start!r} to {region.end[name]!r}"
                     for name, start in region.start.items())


def _series(judge: _Judge, x: np.ndarray, bits: np.ndarray,
            actual: dict[tuple[str, ...], np.ndarray],
            exact: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every sample's value and derivative, both ways, for a plot (from the judge's own
    evaluations of the samples)."""
    key = (judge.name,) if (judge.name,) in actual else next(
        (k for k in actual if k), ())
    return {"x": x, "bits": bits,
            "value_exact": exact[()][0].astype(np.float64), "value_autograd": actual[()],
            "derivative_exact": exact[key][0].astype(np.float64),
            "derivative_autograd": actual[key]}


def samples(low: float, high: float, count: int, dtype: str,
            extra: np.ndarray | None = None) -> np.ndarray:
    """``count`` sorted distinct float64 values of ``dtype`` in ``[low, high]``: half evenly
    spaced (both ends included), half uniform over the dtype's bit patterns in the range
    (so that 1e-300 and 1e300 both get samples), and 0, ±1 where inside; and ``extra``
    values (special points, already floats of the dtype)."""
    # Halved and doubled (exactly): high - low overflows for -inf:inf. (linspace's last
    # step may still overflow on the way; it then sets the end to high / 2 itself.)
    with np.errstate(over="ignore"):
        halves = np.linspace(low / 2, high / 2, max(2, count - count // 2))
    even = _in_dtype(2 * halves, dtype)
    even[0], even[-1] = _in_dtype(np.array([low, high]), dtype)
    lo, hi = (ordered(_in_dtype(np.array([v]), dtype), dtype)[0] for v in (low, high))
    rng = np.random.default_rng(SEED)
    spread = from_ordered(rng.integers(lo, hi, size=count // 2, endpoint=True), dtype)
    special = np.array([v for v in (-1.0, 0.0, 1.0) if low <= v <= high])
    every = np.concatenate([even, spread, special,
                            np.empty(0) if extra is None else np.asarray(extra, np.float64)])
    every = every[(every >= low) & (every <= high)] if len(every) else every
    return np.unique(every)  # sorted; 0.0 and -0.0 are one sample


def _in_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values rounded to ``dtype`` (and back to float64, exactly)."""
    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(
        autograd.DTYPES[dtype]).to(torch.float64).numpy()


def ordered(values: np.ndarray, dtype: str) -> np.ndarray:
    """Each value's place on the number line of ``dtype`` as an int64: adjacent floats
    differ by 1, -0.0 and 0.0 are both 0 (Herbie's ordinal representation)."""
    floats, ints = _BITS[dtype]
    bits = np.asarray(values).astype(floats).view(ints).astype(np.int64)
    if dtype == "bfloat16":
        bits = bits >> 16  # rounded to bfloat16 already: the low half is zero
    width = 8 * np.dtype(ints).itemsize - (16 if dtype == "bfloat16" else 0)
    magnitude = bits & ((1 << (width - 1)) - 1)
    return np.where(bits < 0, -magnitude, magnitude)


def from_ordered(places: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 values of :func:`ordered` places."""
    floats, ints = _BITS[dtype]
    width = 8 * np.dtype(ints).itemsize
    shift = 16 if dtype == "bfloat16" else 0
    magnitude = np.abs(places) << shift
    sign = np.int64(np.iinfo(np.int64).min) if width == 64 else np.int64(1 << (width - 1))
    bits = np.where(places < 0, magnitude | sign, magnitude)
    unsigned = bits.astype(np.uint64)
    if width != 64:
        unsigned = unsigned.astype(np.dtype(f"uint{width}"))
    result: np.ndarray = unsigned.view(floats).astype(np.float64)
    return result


def bits_of_error(actual: np.ndarray, exact: np.ndarray, dtype: str) -> np.ndarray:
    """log2(1 + ulps between autograd's value and the exact value rounded to ``dtype``),
    as Herbie counts them; a nan on one side only is every bit wrong."""
    width = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 16}[dtype]
    rounded = _round_reference(exact, dtype)
    a, b = ordered(actual, dtype), ordered(rounded, dtype)
    same_sign = (a >= 0) == (b >= 0)
    with np.errstate(over="ignore"):
        # Across zero the distance may pass 2**63: as floats (its low bits do not matter).
        distance = np.where(same_sign, np.abs(a - np.where(same_sign, b, 0)).astype(np.float64),
                            np.abs(a.astype(np.float64)) + np.abs(b.astype(np.float64)))
    bits = np.log2(1.0 + distance)
    nan_a, nan_b = np.isnan(actual), np.isnan(rounded)
    bits = np.where(nan_a | nan_b, float(width), bits)
    return np.where(nan_a & nan_b, 0.0, bits)


def _round_reference(exact: np.ndarray, dtype: str) -> np.ndarray:
    """The longdouble reference rounded once to ``dtype`` (bfloat16: through float32,
    which can round twice), as float64."""
    if dtype == "float64":
        return exact.astype(np.float64)
    if dtype in ("float32", "float16"):
        with np.errstate(over="ignore"):
            return exact.astype(_BITS[dtype][0]).astype(np.float64)
    with np.errstate(over="ignore"):
        single = exact.astype(np.float32)
    return _in_dtype(single.astype(np.float64), dtype)


class _Judge:
    """Vectorised verdicts: torch on all samples, the longdouble reference beside it.

    Samples are a 1-D array (one swept variable) or an array of shape (samples, variables)
    (several, in the order of ``names``); the variables not swept are fixed.
    """

    def __init__(self, request: Request, names: str | tuple[str, ...]) -> None:
        self.request = request
        self.names = (names,) if isinstance(names, str) else tuple(names)
        self.name = self.names[0]
        self.dtype = autograd.DTYPES[request.dtype]
        variables = request.expression.variables
        symbols = symbolic.symbols_for(variables)
        exact = symbolic.to_sympy(request.expression.tree, symbols)
        self.exprs: dict[tuple[str, ...], Any] = {(): exact}
        # Each partial from the one of order n-1 before it, as the point check builds them.
        for partial in sorted({p[:k] for p in request.partials for k in range(1, len(p) + 1)},
                              key=len):
            self.exprs[partial] = symbolic.derivative(self.exprs[partial[:-1]],
                                                      (symbols[partial[-1]],))
        self.partials = request.partials
        self.impl: tuple[Any, tuple[str, ...], str] | None = None
        if request.impl is not None:
            from ..impl import resolve

            resolved = resolve(request.impl, request.expression.variables, request.impl_args)
            self.impl = (resolved.function, resolved.order, resolved.name)
        self.fixed = {a.name: a.value for a in request.points[0] if a.name not in self.names}
        self.symbols = symbols
        self.order = [symbols[v] for v in variables]
        self.variables = variables
        self.function = _reference(list(self.exprs.values()), self.order)
        self.largest = DType(request.dtype).largest
        #: Forward mode for the first partials, until it raises (then why, in ``note``).
        self.forward = any(len(p) == 1 for p in request.partials)
        self.forward_note: str | None = None

    def columns(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each swept variable's values in ``x``."""
        if x.ndim == 1:
            return {self.name: x}
        return {name: x[:, i] for i, name in enumerate(self.names)}

    def _inputs(self, x: np.ndarray, grad: bool) -> dict[str, torch.Tensor]:
        columns = self.columns(x)
        inputs = {}
        for variable in self.variables:
            data = torch.from_numpy(np.ascontiguousarray(columns[variable])) \
                if variable in columns else \
                torch.full((len(x),), self.fixed[variable], dtype=torch.float64)
            inputs[variable] = data.to(device=self.request.device, dtype=self.dtype
                                       ).requires_grad_(grad and variable in self.request.wrt)
        return inputs

    def torch_side(self, x: np.ndarray) -> dict[tuple[str, ...], np.ndarray]:
        """Value and first partials of every sample: one forward, one reverse pass."""
        inputs = self._inputs(x, grad=True)
        if self.impl is not None:  # --impl: the user's function, given every sample at once
            function, parameters, label = self.impl
            output = autograd.Impl(function, parameters, label, (len(x),))(inputs)
        else:
            output = autograd.evaluate(self.request.expression.tree, inputs, self.dtype)
        output = output.expand(len(x)) if output.dim() == 0 else output
        # Every sample's partial is the gradient of the sum of the partials of one order
        # lower: each output depends on its own sample only (the expression is elementwise).
        known: dict[tuple[str, ...], torch.Tensor | None] = {(): output}
        order = max((len(p) for p in self.partials), default=0)
        for partial in sorted({p[:k] for p in self.partials for k in range(1, len(p) + 1)},
                              key=len):
            parent = known[partial[:-1]]
            if parent is None or not parent.requires_grad:
                known[partial] = None
                continue
            (known[partial],) = torch.autograd.grad(
                parent.sum(), [inputs[partial[-1]]], allow_unused=True, retain_graph=True,
                create_graph=len(partial) < order)
        found: dict[tuple[str, ...], np.ndarray] = {(): _numpy(output)}
        for partial in self.partials:
            tensor = known[partial]
            found[partial] = np.zeros(len(x)) if tensor is None else _numpy(tensor)
        return found

    def forward_side(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every sample's first partials by forward mode (dual numbers, tangent one on the
        variable: the expression is elementwise, so that is each sample's derivative).
        Empty where forward mode is off or raises (it is then off for the sweep, and
        ``forward_note`` says why)."""
        if not self.forward:
            return {}
        names = sorted({p[0] for p in self.partials if len(p) == 1})
        plain = self._inputs(x, grad=False)
        try:
            return {name: np.broadcast_to(self._tangents(plain, name), (len(x),))
                    for name in names}
        except Exception as error:  # a second opinion that cannot be had is left out
            from .evaluate import _no_jvp

            self.forward = False
            self.forward_note = "forward mode not supported by this Function" \
                if self.impl is not None and _no_jvp(error) else \
                f"forward mode raised {type(error).__name__}: {error}"
            return {}

    def _tangents(self, plain: dict[str, torch.Tensor], name: str) -> np.ndarray:
        """autograd.forward_mode's way (the same warning filter, the same retry without
        zero tangents where they made nan), for every sample at once."""
        with warnings.catch_warnings(), fwad.dual_level():
            # torch's JVP decompositions call the deprecated torch.jit.script (see
            # autograd._tangent): torch's own warnings only.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
            seeded = fwad.make_dual(plain[name], torch.ones_like(plain[name]))  # type: ignore[no-untyped-call]
            if self.impl is not None:
                function, parameters, label = self.impl
                output = autograd.Impl(function, parameters, label, (len(plain[name]),))(
                    {**plain, name: seeded})
                return _tangent_of(output)
            tree = self.request.expression.tree
            duals = _SweepDuals(plain, torch.zeros((), dtype=self.dtype,
                                                   device=plain[name].device),
                                autograd._independent(tree, name))
            fast = _tangent_of(autograd.evaluate(tree, {name: seeded}, self.dtype, duals))
            if np.any(np.isnan(fast)):
                # A zero tangent meeting an infinite value makes 0*inf = nan where torch,
                # given only the one dual input, would not: ask it that way there.
                slow = _tangent_of(autograd.evaluate(tree, {**plain, name: seeded}, self.dtype))
                fast = np.where(np.isnan(fast), np.broadcast_to(slow, fast.shape), fast)
            return fast

    def spot_check(self, x: np.ndarray) -> float:
        """The largest relative error of the longdouble reference at :data:`SPOT_CHECKS`
        samples spread over the sweep, against mpmath at 50 digits (nan where none
        could be compared). A diagnostic: the error estimate does not see a cancellation
        that float64 and longdouble both suffer (``log(1+exp(x))`` for x < -44)."""
        import mpmath

        picked = np.unique(np.linspace(0, len(x) - 1, min(len(x), SPOT_CHECKS)).astype(np.int64))
        values = self.reference(x[picked])
        try:
            # Without cancellation here too: at 50 digits 1 + exp(-110) is 1 as well.
            # dummify: the user's variable names never reach the generated code (a
            # variable named mpf would have shadowed mpmath's mpf there).
            precise = sp.lambdify(self.order, [_without_cancellation(_printable(e)) for e in
                                               self.exprs.values()],
                                  modules=[_SINC_MPMATH, "mpmath"], dummify=True)
        except Exception:
            return float("nan")

        columns = self.columns(x)

        def truths(index: int, digits: int) -> Any:
            with mpmath.workdps(digits):
                point = [mpmath.mpf(float(columns[v][index])) if v in columns else
                         mpmath.mpf(self.fixed[v]) for v in self.variables]
                try:
                    return precise(*point)
                except Exception:  # any failure of the reference: unsettled
                    return None

        worst = float("nan")
        info = np.finfo(np.longdouble)
        smallest, largest = mpmath.mpf(str(info.tiny)), mpmath.mpf(str(info.max))
        for row, index in enumerate(picked):
            exact, finer = truths(index, 50), truths(index, 100)
            if exact is None or finer is None:
                continue
            for (wide, _), truth, check in zip(values.values(), exact, finer, strict=True):
                if not isinstance(truth, mpmath.mpf) or not mpmath.isfinite(truth) \
                        or truth == 0 or not np.isfinite(wide[row]):
                    continue
                if abs(check - truth) > abs(check) * mpmath.mpf(10) ** -25:
                    continue  # mpmath itself has not settled this one: no truth to compare
                if not smallest <= abs(truth) <= largest:
                    # Beyond longdouble's normal range (sigmoid's derivative at x = 1e4 is
                    # about e**-10000): a range limit, which the verdict handles as it handles
                    # the dtype's, not the loss of precision this diagnostic is looking for.
                    continue
                with mpmath.workdps(50):  # the longdouble's every digit
                    error = abs((mpmath.mpf(str(wide[row])) - truth) / truth)
                worst = float(error) if math.isnan(worst) else max(worst, float(error))
        return worst

    def reference(self, x: np.ndarray) -> dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
        """The reference and its error estimate for each quantity."""
        columns = self.columns(x)
        wide = {v: (columns[v].astype(np.longdouble) if v in columns else
                    np.full(len(x), self.fixed[v], dtype=np.longdouble)) for v in self.variables}
        narrow = {v: a.astype(np.float64) for v, a in wide.items()}
        found = {}
        with np.errstate(all="ignore"):
            values = self.function(wide, np.longdouble, len(x))
            checks = self.function(narrow, np.float64, len(x)) if WIDE else values
            for key, value, check in zip(self.exprs, values, checks, strict=True):
                gap = np.abs(value - check.astype(np.longdouble)) / 128
                gap = np.where(np.isfinite(gap), gap, 0)
                found[key] = (value, np.maximum(gap, _FUZZ * np.abs(value)))
        return found

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample: verdict code, category code and bits of error (the largest over the
        value and the partials)."""
        return self.judge(x, self.torch_side(x), self.reference(x))

    def judge(self, x: np.ndarray, actual: dict[tuple[str, ...], np.ndarray],
              exact: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`__call__` given torch's values (:meth:`torch_side`) and the reference's
        (:meth:`reference`), which a plot reuses rather than computing again."""
        tol = self.request.tolerance
        # Half the smallest subnormal: a nonzero value below it rounds to 0 (float64's is
        # not a float64; in longdouble it is).
        tiny = DType(self.request.dtype).tiny or np.longdouble(2.0) ** -1075
        count = len(x)
        failed, unsure_any, warned = (np.zeros(count, dtype=bool) for _ in range(3))
        fail_category = np.zeros(count, dtype=np.int64)
        warn_category = np.zeros(count, dtype=np.int64)
        bits = np.zeros(count)
        with np.errstate(all="ignore"):
            for key, a in actual.items():
                r, error = exact[key]
                bits = np.maximum(bits, bits_of_error(a, r, self.request.dtype))
                diff = np.abs(a.astype(np.longdouble) - r)
                bound = tol.atol + tol.rtol * np.abs(r)
                # The verdict moves if the reference is off by its error: the exact check.
                close_call = np.abs(diff - bound) <= error * (1 + tol.rtol)
                magnitude = np.abs(r)
                # As the point check judges them (compare._finite): an exact value beyond
                # the dtype's range given as the same-signed inf, or below its smallest
                # subnormal given as 0, is a warning, not a failure.
                over = np.isfinite(r) & (magnitude - error > self.largest) & \
                    (a == np.copysign(np.inf, r.astype(np.float64)))
                under = (r != 0) & (magnitude + error < tiny) & (a == 0)
                settled = np.isfinite(r) & (magnitude <= self.largest) & ~under
                fails = settled & (np.isnan(a) | np.isinf(a) | (diff > bound))
                unsure = ~(settled | over | under) | (settled & np.isfinite(a) & close_call)
                code = np.where(np.isnan(a), _NAN, np.where(np.isinf(a), _OVERFLOW, np.where(
                    (a == 0) & (r != 0), _UNDERFLOW, _MISMATCH)))
                sure_fail = fails & ~unsure
                fail_category = np.where(sure_fail & ~failed, code, fail_category)
                failed |= sure_fail
                unsure_any |= unsure
                warn_category = np.where((over | under) & ~warned,
                                         np.where(over, _OVERFLOW, _UNDERFLOW), warn_category)
                warned |= over | under
        # Forward mode against reverse mode, as the point check's second opinion: apart,
        # the sample fails (forward_reverse_mismatch unless it already fails). No
        # reference is involved: two torch numbers, compared as compare.agree does.
        with np.errstate(all="ignore"):
            for name, forward in self.forward_side(x).items():
                reverse = actual[(name,)]
                nan_f, nan_r = np.isnan(forward), np.isnan(reverse)
                apart = np.where(nan_f | nan_r, nan_f != nan_r, np.where(
                    np.isinf(forward) | np.isinf(reverse), forward != reverse,
                    np.abs(forward - reverse) > tol.atol + tol.rtol * np.abs(reverse)))
                fail_category = np.where(apart & ~failed, _FORWARD, fail_category)
                failed |= apart
        status = np.where(failed, FAIL, np.where(unsure_any, UNSETTLED,
                                                 np.where(warned, WARN, PASS)))
        category = np.where(failed, fail_category, np.where(warned & ~unsure_any,
                                                            warn_category, _OK))
        return status, category, bits


def _reference(exprs: list[Any], symbols: list[Any]
               ) -> Callable[[Mapping[str, np.ndarray], type, int], list[np.ndarray]]:
    """One numpy function of all ``exprs`` (the value and the partials: their common
    sub-expressions are computed once), in a given float type: their constants (rationals,
    pi, e) become arguments given in that type, so that they are not float64 in a
    longdouble evaluation. ``exprs`` are SymPy trees the project built, never user text.

    Where numpy has no such function (erf, gamma) every value is nan: nothing is settled
    by the reference, and the samples go to the exact check.
    """
    exprs = [_printable(expr) for expr in exprs]
    constants = sorted({a for expr in exprs for a in expr.atoms(sp.Rational, sp.NumberSymbol,
                                                                  sp.Float)
                        if not isinstance(a, sp.Integer)}, key=sp.default_sort_key)
    stand_ins = [sp.Dummy() for _ in constants]
    replaced = [_without_cancellation(expr.xreplace(dict(zip(constants, stand_ins, strict=True))))
                for expr in exprs]
    try:
        # dummify: the user's variable names never reach the generated code.
        function = sp.lambdify([*symbols, *stand_ins], replaced, modules=[_SINC_NUMPY, "numpy"],
                               cse=True, dummify=True)
    except Exception:  # SymPy cannot print some function for numpy
        function = None
    digits = [str(sp.N(c, 40)) for c in constants]
    names = [str(s) for s in symbols]

    def unsettled(kind: type, count: int) -> list[np.ndarray]:
        return [np.full(count, np.nan, dtype=kind) for _ in exprs]

    def evaluate(arrays: Mapping[str, np.ndarray], kind: type, count: int) -> list[np.ndarray]:
        if function is None:
            return unsettled(kind, count)
        values = [kind(text) for text in digits]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                results = function(*[arrays[n] for n in names], *values)
            except (TypeError, ValueError, AttributeError, NameError, ZeroDivisionError,
                    OverflowError):
                return unsettled(kind, count)
        found = []
        for result in results:
            array = np.asarray(result)
            try:
                array = array.astype(kind)
            except (TypeError, ValueError):  # a complex or symbolic leftover
                return unsettled(kind, count)
            found.append(np.broadcast_to(array, (count,)).copy())
        return found

    return evaluate


#: What generated code calls for sinc and its derivatives (see _printable).
_SINC_NUMPY = {sympy_functions.SINC_CODE_NAME: sympy_functions.sinc_numpy}
_SINC_MPMATH = {sympy_functions.SINC_CODE_NAME: sympy_functions.sinc_mpmath}


def _printable(expr: Any) -> Any:
    """``expr`` with the project's own functions (and ``DiracDelta``) written in functions
    numpy's and mpmath's code printers know, as the same function.

    Without this ``lgamma``, ``xlogy`` and ``DiracDelta`` (in the derivative of
    ``sign(x)*x**2``) were undefined names in the generated code, which ended the sweep.
    ``DiracDelta(u)`` is 0 wherever u is not 0, and has no value where it is (nan: the
    exact check decides there). ``sinc`` and its derivatives print themselves, as calls of
    :func:`~.sympy_functions.sinc_numpy` and :func:`~.sympy_functions.sinc_mpmath`
    (``_SINC_NUMPY``, ``_SINC_MPMATH``): numpy's printer had written the project's
    normalised sinc as numpy's ``sinc(x/pi)``, SymPy's unnormalised one, so every sample
    of ``sinc(x)`` was "64 bits" off.
    """
    return expr.replace(sympy_functions.lgamma, lambda u: sp.log(sp.Abs(sp.gamma(u)))) \
        .replace(sympy_functions.xlogy, lambda a, b: a * sp.log(b)) \
        .replace(sp.DiracDelta, lambda u, *order: sp.Piecewise((sp.nan, sp.Eq(u, 0)),
                                                               (0, True)))


def _without_cancellation(expr: Any) -> Any:
    """``expr`` with log(1 + u) as log1p(u) and exp(u) - 1 as expm1(u): the same function,
    without the cancellation no precision holds (log(1 + exp(x)) was 0 in longdouble for
    x < -44, where it is exp(x)). SymPy's own code-generation rewrites."""
    from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

    try:
        return optimize(expr, [log1p_opt, expm1_opt])
    except Exception:  # a rewrite that does not apply leaves the expression as it is
        return expr


class _SweepDuals(autograd._Duals):
    """autograd's forward-mode build, with constants the shape of the samples: a
    sub-expression of the other variables is an array, and its zero tangent must be one
    too (make_dual wants the tangent's shape to be the value's)."""

    def constant(self, value: Any) -> Any:
        tensor = value if isinstance(value, torch.Tensor) else \
            torch.tensor(value, dtype=self.zero.dtype, device=self.zero.device)
        if not bool(torch.isfinite(tensor).all()):
            return tensor  # 0 * inf is nan: an infinite constant takes no tangent
        return fwad.make_dual(tensor, torch.zeros_like(tensor))  # type: ignore[no-untyped-call]


def _tangent_of(output: torch.Tensor) -> np.ndarray:
    tangent = fwad.unpack_dual(output).tangent  # type: ignore[no-untyped-call]
    return np.zeros(output.shape) if tangent is None else _numpy(tangent)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy()


def _category_code(result: CheckResult) -> int:
    return _OK if result.status is Status.PASS else _CATEGORIES.index(result.category)


class _ExactChecks:
    """Today's exact single-point check, counted (and capped by the caller). A point is
    the tuple of the swept variables' values, in the sweep's order."""

    def __init__(self, request: Request, names: tuple[str, ...]) -> None:
        self.request = request
        self.names = names
        self.fixed = tuple(a for a in request.points[0] if a.name not in names)
        self.count = 0
        self.done: dict[tuple[float, ...], CheckResult] = {}
        #: The samples (by index) whose exact check was asked for.
        self.samples: dict[int, CheckResult] = {}

    def __call__(self, x: tuple[float, ...], index: int | None = None) -> CheckResult:
        """The exact check at ``x``; ``index``: the sample it is, if it is one."""
        if index is not None and x in self.done:
            self.samples[index] = self.done[x]
        if x not in self.done:
            self.count += 1
            point = (*(_assignment(n, v) for n, v in zip(self.names, x, strict=True)),
                     *self.fixed)
            self.done[x] = _check_point(replace(self.request, points=(point,)))
            if index is not None:
                self.samples[index] = self.done[x]
        return self.done[x]


def _point(x: np.ndarray, index: int) -> tuple[float, ...]:
    """Sample ``index`` as a point: its swept variables' values."""
    row = x[index]
    return (float(row),) if x.ndim == 1 else tuple(float(v) for v in row)


def _check_point(request: Request) -> CheckResult:
    """Today's exact check of a one-point request, as :func:`gradcheck_cli.check.run`
    makes it (the engine does not import the layer above it)."""
    from .evaluate import evaluate_request

    try:
        (result,) = evaluate_request(request)
    except Exception as error:  # a broken check is a result, never a traceback
        point = tuple((a.name, a.value) for a in request.points[0])
        return CheckResult(expression=request.expression.text, point=point,
                           status=Status.ERROR, category=Category.INTERNAL_ERROR,
                           message=f"the check could not be completed: "
                                   f"{type(error).__name__}: {error}")
    return result


def _assignment(name: str, value: float) -> Assignment:
    """A sample as a point's value: its float64 digits, exactly (repr round-trips)."""
    return parse_value(name, repr(float(value)))


def _regions(x: np.ndarray, status: np.ndarray, bits: np.ndarray, judge: _Judge,
             exact: _ExactChecks, name: str, leftover: np.ndarray) -> list[Region]:
    """Maximal runs of neighbouring samples of one verdict other than pass (a failure
    next to a warning is two regions), each boundary refined to adjacent floats, the
    worst sample of each run checked exactly.

    ``leftover`` samples (unsettled, past the exact check's cap) take the verdict of the
    sample before them in the run: they do not split a region.
    """
    if not np.any(status != PASS):
        return []
    key = status.copy()
    known = ~leftover | (status == PASS)
    last = np.maximum.accumulate(np.where(known, np.arange(len(x)), -1))
    filled = np.where(last >= 0, key[np.maximum(last, 0)], key)
    key = np.where(leftover & (filled != PASS), filled, key)
    change = np.flatnonzero(np.diff(key)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [len(x) - 1]])
    keep = key[starts] != PASS
    starts, ends = starts[keep], ends[keep]
    # Bisection brackets: (the float outside, the float inside) for each side of each run.
    brackets: list[tuple[float, float, int]] = []
    for first, final in zip(starts, ends, strict=True):
        if first > 0:
            brackets.append((float(x[first - 1]), float(x[first]), int(key[first])))
        if final < len(x) - 1:
            brackets.append((float(x[final + 1]), float(x[final]), int(key[final])))
    refined = iter(_bisect(brackets, judge, exact))
    regions = []
    for first, final in zip(starts, ends, strict=True):
        run = slice(first, final + 1)
        # The worst sample: of the run's worst verdict, the most bits of error.
        local = np.where(np.isnan(bits[run]), np.inf, bits[run])
        local = np.where(status[run] == np.max(status[run]), local, -np.inf)
        worst_index = first + int(np.argmax(local))
        sides = [next(refined) for side in (first > 0, final < len(x) - 1) if side]
        if exact.count < MAX_EXACT_POINTS or (float(x[worst_index]),) in exact.done:
            worst = exact((float(x[worst_index]),), worst_index)
        else:
            worst = CheckResult(expression=judge.request.expression.text,
                                point=((name, float(x[worst_index])),), status=Status.WARN,
                                category=Category.UNCERTAIN, message="not checked exactly: the "
                                f"sweep reached MAX_EXACT_POINTS = {MAX_EXACT_POINTS}")
        confirmed = worst.status is not Status.PASS and worst.category is not Category.UNCERTAIN
        region_status = worst.status if worst.status is not Status.PASS else Status.WARN
        region_category = worst.category if worst.status is not Status.PASS else Category.UNCERTAIN
        regions.append(Region(start={name: float(x[first])}, end={name: float(x[final])},
                              boundary=tuple(sides),
                              status=region_status, category=region_category,
                              max_bits_error=float(bits[worst_index]), worst=worst,
                              confirmed=confirmed))
    return regions


def _regions_nd(axes: list[np.ndarray], x: np.ndarray, status: np.ndarray, bits: np.ndarray,
                judge: _Judge, exact: _ExactChecks) -> list[Region]:
    """Regions of a sweep over several variables: for each verdict other than pass, the
    connected sets (face neighbours) of grid cells holding a sample of that verdict. A
    random sample belongs to the cell of its nearest grid point, so it joins the region
    of that cell's verdict, or makes one (with its neighbours of that verdict). A cell may
    be in a failing and a warning region at once, as a failure beside warnings makes two
    regions in 1-D. Each region is the bounding box of its samples; no bisection."""
    shape = tuple(len(axis) for axis in axes)
    cell = np.zeros(len(x), dtype=np.int64)
    for i, axis in enumerate(axes):
        cell = cell * len(axis) + _nearest(axis, x[:, i])
    found: list[tuple[np.ndarray, int]] = []
    for verdict in (ERROR, FAIL, WARN):
        mine = np.flatnonzero(status == verdict)
        if not len(mine):
            continue
        occupied = np.zeros(math.prod(shape), dtype=bool)
        occupied[cell[mine]] = True
        labels = _components(occupied.reshape(shape))[cell[mine]]
        order = np.argsort(labels, kind="stable")
        groups = np.split(mine[order], np.flatnonzero(np.diff(labels[order])) + 1)
        found.extend((group, verdict) for group in groups)
    # In the order of their low corners, as 1-D regions come in the order of the range.
    found.sort(key=lambda item: tuple(x[item[0]].min(axis=0)))
    edges = _box_edges(axes, x, found, judge, exact)
    request = judge.request
    regions = []
    for (members, _), (low, high) in zip(found, edges, strict=True):
        local = np.where(np.isnan(bits[members]), np.inf, bits[members])
        worst_index = int(members[int(np.argmax(local))])
        point = _point(x, worst_index)
        if exact.count < MAX_EXACT_POINTS or point in exact.done:
            worst = exact(point, worst_index)
        else:
            worst = CheckResult(expression=request.expression.text,
                                point=tuple(zip(judge.names, point, strict=True)),
                                status=Status.WARN, category=Category.UNCERTAIN,
                                message="not checked exactly: the sweep reached "
                                        f"MAX_EXACT_POINTS = {MAX_EXACT_POINTS}")
        confirmed = worst.status is not Status.PASS and worst.category is not Category.UNCERTAIN
        regions.append(Region(
            start={n: float(v) for n, v in zip(judge.names, low, strict=True)},
            end={n: float(v) for n, v in zip(judge.names, high, strict=True)},
            boundary=(),
            status=worst.status if worst.status is not Status.PASS else Status.WARN,
            category=worst.category if worst.status is not Status.PASS else Category.UNCERTAIN,
            max_bits_error=float(bits[worst_index]), worst=worst, confirmed=confirmed))
    return regions


def _box_edges(axes: list[np.ndarray], x: np.ndarray, found: list[tuple[np.ndarray, int]],
               judge: _Judge, exact: _ExactChecks) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each region's bounding box, its faces pushed out by bisection along each axis: from
    the region's extreme sample on that side towards the grid value beyond it (the other
    coordinates kept), where that point has another verdict, to adjacent floats of the
    dtype. A box edge is then where the verdict changes on that line (709.78... for
    log(1+exp(x))*y, not the grid value 727.27 after it); elsewhere the box is its
    samples' own."""
    boxes = [(x[m].min(axis=0).copy(), x[m].max(axis=0).copy()) for m, _ in found]
    brackets: list[tuple[int, int, int, np.ndarray, np.ndarray, int]] = []
    for number, (members, verdict) in enumerate(found):
        for axis, values in enumerate(axes):
            for side in (0, 1):
                inside = x[members[np.argmin(x[members, axis]) if side == 0 else
                                   np.argmax(x[members, axis])]].copy()
                place = np.searchsorted(values, inside[axis], side="left" if side == 0 else "right")
                beyond = place - 1 if side == 0 else place
                if not 0 <= beyond < len(values) or values[beyond] == inside[axis]:
                    continue  # the range's end: nothing beyond to bisect towards
                outside = inside.copy()
                outside[axis] = values[beyond]
                brackets.append((number, axis, side, outside, inside, verdict))
    if not brackets:
        return boxes
    outsides = np.array([b[3] for b in brackets])
    status, _, _ = judge(outsides)
    for index in np.flatnonzero(status == UNSETTLED):
        if exact.count < MAX_EXACT_POINTS:
            status[index] = exact(_point(outsides, int(index))).status.rank
    keep = [i for i, b in enumerate(brackets) if status[i] != b[5]]
    refined = _bisect_nd([brackets[i] for i in keep], judge, exact)
    for i, value in zip(keep, refined, strict=True):
        number, axis, side = brackets[i][:3]
        boxes[number][side][axis] = value
    return boxes


def _bisect_nd(brackets: list[tuple[int, int, int, np.ndarray, np.ndarray, int]],
               judge: _Judge, exact: _ExactChecks) -> list[float]:
    """:func:`_bisect` along one axis of a point each: the first float inside (of the
    inside's verdict) next to the last outside, all brackets at once."""
    if not brackets:
        return []
    axis = np.array([b[1] for b in brackets])
    rows = np.arange(len(brackets))
    base = np.array([b[4] for b in brackets])

    def points_at(values: np.ndarray) -> np.ndarray:
        points = base.copy()
        points[rows, axis] = values
        return points

    _, inside = _halve(np.array([b[3][b[1]] for b in brackets]),
                       np.array([b[4][b[1]] for b in brackets]),
                       np.array([b[5] for b in brackets]), judge, exact, points_at, _point)
    return [float(v) for v in inside]


def _nearest(axis: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The index of the nearest value of the sorted ``axis`` to each of ``values``."""
    right = np.clip(np.searchsorted(axis, values), 1, len(axis) - 1)
    # Halved: the distance between -1e308 and 1e308 overflows.
    below = np.abs(values / 2 - axis[right - 1] / 2)
    above = np.abs(axis[right] / 2 - values / 2)
    return np.where(below <= above, right - 1, right)


def _components(occupied: np.ndarray) -> np.ndarray:
    """Connected components (face neighbours) of the True cells of a boolean array: each
    cell's label (the smallest flat index in its component; -1 where not occupied), flat.

    Union-find in numpy, all edges at once: hook each edge's larger root under its smaller
    one, then compress paths, until every edge has one root (scipy.ndimage.label does
    this, but scipy is not a dependency).
    """
    flat = occupied.ravel()
    index = np.arange(flat.size).reshape(occupied.shape)
    starts, ends = [], []
    for axis in range(occupied.ndim):
        lower = np.take(index, np.arange(occupied.shape[axis] - 1), axis=axis).ravel()
        upper = np.take(index, np.arange(1, occupied.shape[axis]), axis=axis).ravel()
        both = flat[lower] & flat[upper]
        starts.append(lower[both])
        ends.append(upper[both])
    a, b = np.concatenate(starts), np.concatenate(ends)
    parent = np.arange(flat.size)
    while True:
        root_a, root_b = parent[a], parent[b]
        apart = root_a != root_b
        if not np.any(apart):
            break
        # parent[i] <= i throughout: no cycles.
        np.minimum.at(parent, np.maximum(root_a, root_b)[apart],
                      np.minimum(root_a, root_b)[apart])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return np.where(flat, parent, -1)


def _bisect(brackets: list[tuple[float, float, int]], judge: _Judge, exact: _ExactChecks
            ) -> list[tuple[float, float]]:
    """Each (outside, inside, inside's verdict) narrowed to adjacent floats of the dtype,
    all brackets at once: one vectorised evaluation per halving. A midpoint belongs
    inside when its verdict is the inside's."""
    if not brackets:
        return []
    outside, inside = _halve(np.array([b[0] for b in brackets]), np.array([b[1] for b in brackets]),
                             np.array([b[2] for b in brackets]), judge, exact,
                             lambda values: values, _point)
    return [(float(a), float(b)) for a, b in zip(outside, inside, strict=True)]


def _halve(outside_values: np.ndarray, inside_values: np.ndarray, verdict: np.ndarray,
           judge: _Judge, exact: _ExactChecks, points_at: Callable[[np.ndarray], np.ndarray],
           point_of: Callable[[np.ndarray, int], tuple[float, ...]]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The bisection of :func:`_bisect` and :func:`_bisect_nd`: each pair (outside, inside)
    halved until they are adjacent floats, ``points_at`` making the samples of the
    midpoints and ``point_of`` one of them for the exact check; returns both ends."""
    dtype = judge.request.dtype
    outside, inside = ordered(outside_values, dtype), ordered(inside_values, dtype)
    for _ in range(80):
        open_ = np.abs(inside - outside) > 1
        if not np.any(open_):
            break
        # Halfway in places, not in value: 1e-300 and 1e300 are ~64 halvings apart.
        middle = outside + (inside - outside) // 2
        points = points_at(from_ordered(middle, dtype))
        status, _, _ = judge(points)
        for index in np.flatnonzero(open_ & (status == UNSETTLED)):
            if exact.count >= MAX_EXACT_POINTS:
                status[index] = verdict[index]  # counted inside: that side is not refined
                continue
            status[index] = exact(point_of(points, int(index))).status.rank
        within = status == verdict
        outside = np.where(open_ & ~within, middle, outside)
        inside = np.where(open_ & within, middle, inside)
    return from_ordered(outside, dtype), from_ordered(inside, dtype)


def _profile(x: np.ndarray, bits: np.ndarray, low: float, high: float) -> tuple[float, ...]:
    """The largest bits of error in each of :data:`PROFILE_BINS` equal stretches of the
    range (``nan`` where a stretch has no sample; a nan error counts as every bit)."""
    scaled = (x / 2 - low / 2) / (high / 2 - low / 2)  # halved: high - low may overflow
    where = np.clip((scaled * PROFILE_BINS).astype(np.int64), 0, PROFILE_BINS - 1)
    most = np.full(PROFILE_BINS, -np.inf)
    np.maximum.at(most, where, np.where(np.isnan(bits), np.inf, bits))
    return tuple(float("nan") if b == -np.inf else float(b) for b in most)

