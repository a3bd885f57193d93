"""Output formats: each is one pure function from results to text, chosen by name.

Adding a format means adding it to :class:`OutputFormat` and to :data:`RENDERERS`; a
test fails when one is missing from the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from ..results import CheckResult


class OutputFormat(str, Enum):
    """The ``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    JUNIT = "junit"
    GITHUB = "github"


@dataclass(frozen=True)
class Style:
    """How the terminal that will show the report looks; formats that don't care ignore it."""

    color: bool = False
    width: int = 120


Renderer = Callable[[Sequence[CheckResult], Style], str]


def _table(results: Sequence[CheckResult], style: Style) -> str:
    from .table import render_table  # Rich loads only for the table

    return render_table(results, color=style.color, width=style.width)


def _json(results: Sequence[CheckResult], style: Style) -> str:
    from .json import render_json

    return render_json(results)


def _jsonl(results: Sequence[CheckResult], style: Style) -> str:
    from .jsonl import render_jsonl

    return render_jsonl(results)


def _junit(results: Sequence[CheckResult], style: Style) -> str:
    from .junit import render_junit

    return render_junit(results)


def _github(results: Sequence[CheckResult], style: Style) -> str:
    from .github import render_github

    return render_github(results)


#: The renderer of each format.
RENDERERS: dict[OutputFormat, Renderer] = {
    OutputFormat.TABLE: _table,
    OutputFormat.JSON: _json,
    OutputFormat.JSONL: _jsonl,
    OutputFormat.JUNIT: _junit,
    OutputFormat.GITHUB: _github,
}
