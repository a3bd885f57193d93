"""Comparing nested tuples (tensor results) with values derived by hand."""

from __future__ import annotations

from typing import Any


def close(actual: Any, expected: Any, rel: float = 1e-12) -> None:
    """Nested tuples equal element by element, within ``rel`` (relative, at least 1)."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            close(a, e, rel)
        return
    assert abs(actual - expected) <= rel * max(1.0, abs(expected)), (actual, expected)
