"""How CI formats name a check and locate it: shared by the JUnit and GitHub renderers."""

from __future__ import annotations

from typing import Any

from ..compare import fmt
from ..results import CheckResult


def point_text(result: CheckResult) -> str:
    """``x=1, y=2``: the point as float64 holds it (a tensor as ``[1, 2]``)."""
    return ", ".join(f"{name}={value_text(value)}" for name, value in result.point)


def value_text(value: Any) -> str:
    """A scalar as :func:`~gradcheck_cli.compare.fmt` writes it; a tensor as nested lists."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return fmt(value)


def check_name(result: CheckResult) -> str:
    """``EXPRESSION @ x=1, y=2``, as a batch line writes it (no ``@`` without a point)."""
    point = point_text(result)
    return f"{result.expression} @ {point}" if point else result.expression


def split_source(source: str | None) -> tuple[str | None, int | None]:
    """``"path:12"`` -> ``("path", 12)``; a source without a line number keeps it all."""
    if not source:
        return None, None
    path, colon, line = source.rpartition(":")
    if colon and line.isdigit() and path:
        return path, int(line)
    return source, None
