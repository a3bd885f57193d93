"""Strict JSON: no ``NaN``/``Infinity`` tokens; a non-finite number is the string
``"nan"``, ``"inf"`` or ``"-inf"``, and a value that could not be computed is ``null``.

The shape is a contract (``version`` 1), documented in the README.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ..results import CheckResult, Comparison, Derivative, Expected, Summary, Value

#: Bumped only when a key changes meaning or goes away; new keys may appear.
SCHEMA_VERSION = 1


def number(value: Value) -> Any:
    """A float as strict JSON allows it; a tensor as nested lists of them."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return [number(v) for v in value]
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def derivative_record(derivative: Derivative) -> dict[str, Any]:
    """One partial derivative as a JSON object."""
    record: dict[str, Any] = {
        "wrt": list(derivative.wrt),
        "formula": derivative.formula,
        "symbolic": number(derivative.symbolic),
        "autograd": number(derivative.autograd),
        "abs_diff": number(derivative.abs_diff),
        "rel_diff": number(derivative.rel_diff),
        "status": derivative.status.value,
        "category": derivative.category,
        "message": derivative.message,
        "finite_difference": number(derivative.finite_difference),
        "forward_mode": number(derivative.forward_mode),
    }
    if derivative.one_sided is not None:
        record["one_sided"] = {"left": number(derivative.one_sided[0]),
                               "right": number(derivative.one_sided[1])}
    _exact_text(record, derivative)
    _tensor_keys(record, derivative)
    if derivative.expected is not None:
        record["expected"] = expected_record(derivative.expected)
    _impl_keys(record, derivative)
    if derivative.forward_note is not None:
        record["forward_mode_note"] = derivative.forward_note
    return record


def _impl_keys(record: dict[str, Any], comparison: Comparison | None) -> None:
    # --impl: the spec as written in torch, beside the user's code (present only then).
    if comparison is not None and comparison.spec_autograd is not None:
        record["spec_autograd"] = number(comparison.spec_autograd)


def expected_record(expected: Expected) -> dict[str, Any]:
    """The user's own derivative (``--expect``) against the exact one, as a JSON object."""
    return {
        "formula": expected.formula,
        "value": number(expected.value),
        "status": expected.status.value,
        "category": expected.category,
        "equivalent": expected.equivalent,
        "proof": expected.proof,
        "message": expected.message,
    }


def _exact_text(record: dict[str, Any], comparison: Comparison) -> None:
    # Where float64 cannot hold the exact value (it rounded to 0 or inf): its digits.
    from .cells import beyond_float64

    text = beyond_float64(comparison.symbolic, comparison.symbolic_text)
    if text is not None:
        record["symbolic_text"] = text


def _tensor_keys(record: dict[str, Any], comparison: Comparison) -> None:
    # Tensors: the shape, and the element the verdict is about.
    if comparison.shape:
        record["shape"] = list(comparison.shape)
        record["worst_element"] = comparison.worst_element


def check_record(result: CheckResult) -> dict[str, Any]:
    """One check as a JSON object."""
    value = None
    if result.value is not None:
        value = {"symbolic": number(result.value.symbolic),
                 "autograd": number(result.value.autograd)}
        _exact_text(value, result.value)
        _tensor_keys(value, result.value)
    record: dict[str, Any] = {
        "expression": result.expression,
        "point": {name: number(v) for name, v in result.point},
        "source": result.source,
        "status": result.status.value,
        "category": result.category,
        "message": result.message,
        "value": value,
        "derivatives": [derivative_record(d) for d in result.derivatives],
    }
    if result.impl is not None:  # --impl: which code was checked, and the spec beside it
        record["impl"] = result.impl
        for item in [value, *record["derivatives"]]:
            if item is not None:
                item.setdefault("spec_autograd", None)
        if value is not None and result.value is not None:
            _impl_keys(value, result.value)
    return record


def summary_record(results: Sequence[CheckResult]) -> dict[str, int]:
    return Summary.of(results).as_dict()


def render_json(results: Sequence[CheckResult]) -> str:
    """The whole report as one strict JSON document."""
    document = {
        "version": SCHEMA_VERSION,
        "summary": summary_record(results),
        "checks": [check_record(r) for r in results],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
