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


def flat(value: Any) -> list[Any]:
    """The elements of nested tuples in row-major order (a number: itself, alone)."""
    if not isinstance(value, tuple):
        return [value]
    return [element for item in value for element in flat(item)]


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of nested tuples (a number has shape ``()``)."""
    shape: list[int] = []
    while isinstance(value, tuple):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


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

class Category(str, Enum):
    """What a comparison or a check found, as a short machine name (JSON ``category``).

    docs/reference.md has a row for each, with an example; a test keeps the two in step.
    """

    OK = "ok"                                    # the values agree
    MISMATCH = "mismatch"                        # autograd's number differs at an ordinary point
    NOT_DIFFERENTIABLE = "not_differentiable"    # a kink, a tie or a jump
    POLE = "pole"                                # an infinite value or derivative
    DOMAIN = "domain"                            # outside the real domain
    REMOVABLE = "removable"                      # undefined as written, with a limit
    AUTOGRAD_NAN = "autograd_nan"                # nan where the exact value exists
    OVERFLOW = "overflow"                        # beyond the dtype's range
    UNDERFLOW = "underflow"                      # nonzero, but 0 in the dtype
    UNCERTAIN = "uncertain"                      # the exact value could not be certified
    ROUNDED_POINT = "rounded_point"              # the dtype cannot hold the point
    ROUNDED_LITERAL = "rounded_literal"          # float64 cannot hold a literal
    UNDEFINED = "undefined"                      # no value and no limit
    ROUNDING = "rounding"                        # float32/16, bfloat16 rounding; float64 agrees
    FORWARD_REVERSE_MISMATCH = "forward_reverse_mismatch"
    EXPECTED_MISMATCH = "expected_mismatch"      # --expect differs from the exact derivative
    EXPECTED_NOT_EQUIVALENT = "expected_not_equivalent"  # --expect agrees here only
    SHAPE_ERROR = "shape_error"                  # tensor shapes that do not fit together
    # --impl: the user's own torch code against the exact derivative of the spec.
    IMPL_VALUE_MISMATCH = "impl_value_mismatch"  # it computes another function
    IMPL_BACKWARD_MISMATCH = "impl_backward_mismatch"  # right value, wrong backward
    NO_GRADIENT = "no_gradient"                  # a variable does not reach its output
    IMPL_ERROR = "impl_error"                    # it raised
    IMPL_BAD_OUTPUT = "impl_bad_output"          # not a real floating tensor of usable shape
    # Refused input (exit code 2 on the command line): INPUT_CATEGORIES.
    PARSE_ERROR = "parse_error"
    LIMIT = "limit"
    UNKNOWN_FUNCTION = "unknown_function"
    UNKNOWN_VARIABLE = "unknown_variable"
    MISSING_VALUE = "missing_value"
    REPEATED_VARIABLE = "repeated_variable"
    NON_FINITE_POINT = "non_finite_point"
    BAD_OPTION = "bad_option"
    # A check that could not be done.
    ENCODING = "encoding"                        # a line of a file that is not text
    TIMEOUT = "timeout"                          # stopped after --timeout
    MEMORY = "memory"                            # stopped at --memory-limit
    CRASH = "crash"                              # its worker died
    INTERNAL_ERROR = "internal_error"            # the check broke

    # Shown as its value ("domain"), in messages as in JSON: never "Category.DOMAIN".
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


#: Categories that mean the input itself was refused; on the command line they are
#: usage errors (exit code 2).
INPUT_CATEGORIES = frozenset({
    Category.PARSE_ERROR, Category.LIMIT, Category.UNKNOWN_FUNCTION, Category.UNKNOWN_VARIABLE,
    Category.MISSING_VALUE, Category.REPEATED_VARIABLE, Category.NON_FINITE_POINT,
    Category.BAD_OPTION, Category.SHAPE_ERROR,
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
    category: Category
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
    #: With ``--impl``: what torch computes for the spec as written (the fifth opinion).
    spec_autograd: Value = None


@dataclass(frozen=True)
class Expected:
    """The user's own derivative (``--expect``) against the exact one."""

    #: The formula as the user wrote it.
    formula: str
    #: Its exact value at the point, rounded to float64 (``None`` where it has no real value).
    value: float | None
    status: Status
    category: Category
    #: Whether it is the same function as the exact derivative (``None``: not settled).
    equivalent: bool | None
    message: str | None = None
    #: How ``equivalent`` was established: ``symbolic``, ``numeric at 20 random points``,
    #: ``differs at the point`` or ``differs at x=3``.
    proof: str | None = None


@dataclass(frozen=True)
class Derivative(Comparison):
    """One partial derivative: with respect to ``wrt`` (one name per order)."""

    wrt: tuple[str, ...] = ()
    formula: str = ""
    #: Central finite difference of the torch forward computation (None if it failed).
    finite_difference: Value = None
    #: Forward-mode AD (first partials only; None otherwise or where unsupported).
    forward_mode: float | None = None
    #: Why forward mode has no value, where that is worth saying ("forward mode not
    #: supported by this Function").
    forward_note: str | None = None
    #: The user's own derivative (``--expect``), compared with the exact one.
    expected: Expected | None = None


@dataclass(frozen=True)
class CheckResult:
    """Everything found for one expression at one point."""

    expression: str
    point: tuple[tuple[str, Value], ...]
    status: Status
    category: Category
    message: str | None
    value: Comparison | None = None
    derivatives: tuple[Derivative, ...] = ()
    source: str | None = None
    #: For input errors: the text the column refers to, and the 1-based column.
    error_text: str | None = None
    column: int | None = None
    #: With ``--impl``: the TARGET, or the callable's qualified name.
    impl: str | None = None

    @classmethod
    def rolled_up(cls, expression: str, point: tuple[tuple[str, Value], ...],
                  value: Comparison, derivatives: tuple[Derivative, ...],
                  source: str | None) -> CheckResult:
        """The check's verdict is its worst comparison's, with that one's reason."""
        summary = worst([value, *derivatives, *expected_verdicts(derivatives)])
        assert summary is not None
        failing = summary.status is not Status.PASS
        return cls(expression=expression, point=point, status=summary.status,
                   category=summary.category if failing else Category.OK,
                   message=summary.message if failing else None,
                   value=value, derivatives=derivatives, source=source)

    @classmethod
    def broken(cls, expression: str, point: tuple[tuple[str, Value], ...], error: Exception,
               source: str | None) -> CheckResult:
        """A check that raised: an ``internal_error`` result, never a traceback."""
        return cls(expression=expression, point=point, status=Status.ERROR,
                   category=Category.INTERNAL_ERROR,
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


def expected_verdicts(derivatives: Iterable[Derivative]) -> list[Expected]:
    """The ``--expect`` comparisons of some derivatives, for the check's verdict."""
    return [d.expected for d in derivatives if d.expected is not None]


def worst(comparisons: Iterable[Comparison | Expected]) -> Comparison | Expected | None:
    """The comparison with the worst status (the first of equals), if any."""
    found: Comparison | Expected | None = None
    for comparison in comparisons:
        if found is None or comparison.status.rank > found.status.rank:
            found = comparison
    return found
