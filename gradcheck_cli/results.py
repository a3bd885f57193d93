"""Frozen result types: what a check found, independent of how it is shown.

Renderers are pure functions of these; nothing here imports SymPy or torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

#: A number, or for tensors nested tuples of numbers (row-major, like ``tolist()``);
#: ``None`` where there is no value (a derivative at a kink).
Value = float | tuple[Any, ...] | None


def nested(values: Sequence[Any], shape: tuple[int, ...]) -> Value:
    """Flat values (row-major) as nested tuples of ``shape``; the one value for ``()``."""
    if not shape:
        first: Value = values[0]
        return first
    size = len(values) // shape[0] if shape[0] else 0
    return tuple(nested(values[i * size:(i + 1) * size], shape[1:]) for i in range(shape[0]))


class Status(str, Enum):
    """The verdict on one comparison or one check, from best to worst."""

    PASS = "pass"    # the values agree
    WARN = "warn"    # they agree (or both are undefined) but the point is special
    FAIL = "fail"    # they disagree
    ERROR = "error"  # the check could not be done

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}

#: Categories that mean the input itself was refused; on the command line they are
#: usage errors (exit code 2).
INPUT_CATEGORIES = frozenset({
    "parse_error", "limit", "unknown_function", "unknown_variable", "missing_value",
    "repeated_variable", "non_finite_point", "bad_option", "shape_error",
})


@dataclass(frozen=True)
class Comparison:
    """One quantity computed both ways.

    ``symbolic`` is the exact value rounded to float64 (``None`` where it does not
    exist, e.g. a derivative at a kink); ``autograd`` is what PyTorch computed.
    """

    symbolic: Value
    autograd: Value
    abs_diff: float | None
    rel_diff: float | None
    status: Status
    category: str
    message: str | None
    #: The exact value: a float64 ``repr``, 15 significant digits where float64 cannot
    #: hold it (``1.00000000000000e-400``), or SymPy's word for it (``zoo``).
    symbolic_text: str | None = None
    #: Limits from the left and the right, where the point is a kink.
    one_sided: tuple[float, float] | None = None
    #: For tensors: the shape of ``symbolic``/``autograd`` (abs/rel diff are the largest).
    shape: tuple[int, ...] | None = None
    #: For tensors: the element the verdict and message are about, e.g. ``x[1]``.
    worst_element: str | None = None


@dataclass(frozen=True)
class Derivative(Comparison):
    """One partial derivative: with respect to ``wrt`` (one name per order)."""

    wrt: tuple[str, ...] = ()
    formula: str = ""
    #: Central finite difference of the torch forward computation (None if it failed).
    finite_difference: Value = None
    #: Forward-mode AD (first partials only; None otherwise or where unsupported).
    forward_mode: float | None = None


@dataclass(frozen=True)
class CheckResult:
    """Everything found for one expression at one point."""

    expression: str
    point: tuple[tuple[str, Value], ...]
    status: Status
    category: str
    message: str | None
    value: Comparison | None = None
    derivatives: tuple[Derivative, ...] = ()
    source: str | None = None
    #: For input errors: the text the column refers to, and the 1-based column.
    error_text: str | None = None
    column: int | None = None

    @classmethod
    def rolled_up(cls, expression: str, point: tuple[tuple[str, Value], ...],
                  value: Comparison, derivatives: tuple[Derivative, ...],
                  source: str | None) -> CheckResult:
        """The check's verdict is its worst comparison's, with that one's reason."""
        summary = worst([value, *derivatives])
        assert summary is not None
        failing = summary.status is not Status.PASS
        return cls(expression=expression, point=point, status=summary.status,
                   category=summary.category if failing else "ok",
                   message=summary.message if failing else None,
                   value=value, derivatives=derivatives, source=source)

    @classmethod
    def broken(cls, expression: str, point: tuple[tuple[str, Value], ...], error: Exception,
               source: str | None) -> CheckResult:
        """A check that raised: an ``internal_error`` result, never a traceback."""
        return cls(expression=expression, point=point, status=Status.ERROR,
                   category="internal_error",
                   message=f"the check could not be completed: {type(error).__name__}: {error}",
                   source=source)

    @property
    def point_dict(self) -> dict[str, Value]:
        return dict(self.point)

    @property
    def is_input_error(self) -> bool:
        return self.status is Status.ERROR and self.category in INPUT_CATEGORIES


@dataclass(frozen=True)
class Summary:
    """Counts of checks by status."""

    total: int
    passed: int
    warned: int
    failed: int
    errored: int

    @classmethod
    def of(cls, results: Iterable[CheckResult]) -> Summary:
        counts = dict.fromkeys(Status, 0)
        for result in results:
            counts[result.status] += 1
        return cls(sum(counts.values()), counts[Status.PASS], counts[Status.WARN],
                   counts[Status.FAIL], counts[Status.ERROR])

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "pass": self.passed, "warn": self.warned,
                "fail": self.failed, "error": self.errored}


def worst(comparisons: Iterable[Comparison]) -> Comparison | None:
    """The comparison with the worst status (the first of equals), if any."""
    found: Comparison | None = None
    for comparison in comparisons:
        if found is None or comparison.status.rank > found.status.rank:
            found = comparison
    return found
