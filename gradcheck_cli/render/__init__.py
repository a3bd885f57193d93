"""Output formats: one :class:`Reporter` class per format, chosen by :class:`OutputFormat`.

Every reporter has the same interface: :meth:`Reporter.report` (the whole report),
:meth:`Reporter.refused` (how input that was refused is shown), and, for a format that
:attr:`~Reporter.streams`, :meth:`Reporter.record` and :meth:`Reporter.closing` (one
check as it finishes, then the end). Adding a format means adding it to
:class:`OutputFormat` and writing its class; importing this module fails when a format
has no reporter, so a format cannot be half wired.

Each reporter imports its module when first used: Rich loads only for the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from ..results import CheckResult
from .report_file import ReportFile


class OutputFormat(str, Enum):
    """The ``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    JUNIT = "junit"
    GITHUB = "github"


#: The format a report has when none is asked for.
DEFAULT_FORMAT = OutputFormat.TABLE


@dataclass(frozen=True)
class Style:
    """How the terminal that will show the report looks; formats that don't care ignore it."""

    color: bool = False
    width: int = 120
    #: A batch without ``--verbose``: a row per check, then the detail of those that did
    #: not pass (the table format; the others always carry everything).
    summary: bool = False


@dataclass(frozen=True)
class Refusal:
    """How a refused single check is shown: the text, and whether it goes to stderr."""

    text: str
    to_stderr: bool = False


class Reporter:
    """One output format."""

    format: ClassVar[OutputFormat]
    #: Writes each check as soon as it (and every one before it) is done, so that a run
    #: that is stopped keeps its finished checks.
    streams: ClassVar[bool] = False

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        """The whole report."""
        raise NotImplementedError

    def refused(self, result: CheckResult, style: Style) -> Refusal:
        """A single check whose input was refused: by default, a report of that result."""
        return Refusal(self.report([result], style))

    def record(self, result: CheckResult) -> str:
        """One finished check of a streaming report."""
        raise NotImplementedError(f"{self.format.value} does not stream")

    def closing(self, results: Sequence[CheckResult]) -> str:
        """What a streaming report ends with, after its records."""
        raise NotImplementedError(f"{self.format.value} does not stream")


class TableReporter(Reporter):
    """The Rich table: both answers side by side, for people."""

    format = OutputFormat.TABLE

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        if style.summary:
            from .summary import render_batch

            return render_batch(results, color=style.color, width=style.width)
        from .table import render_table

        return render_table(results, color=style.color, width=style.width)

    def refused(self, result: CheckResult, style: Style) -> Refusal:
        # The message and its caret, on standard error, as a usage error is.
        from .table import render_error

        return Refusal(render_error(result, color=style.color, width=style.width), to_stderr=True)


class JsonReporter(Reporter):
    """One JSON document with every check and the summary."""

    format = OutputFormat.JSON

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        from .json import render_json

        return render_json(results)


class JsonlReporter(Reporter):
    """JSON Lines, written check by check: a line per check, then the summary line."""

    format = OutputFormat.JSONL
    streams = True

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        from .jsonl import render_jsonl

        return render_jsonl(results)

    def record(self, result: CheckResult) -> str:
        from .jsonl import record_line

        return record_line(result)

    def closing(self, results: Sequence[CheckResult]) -> str:
        from .jsonl import summary_line

        return summary_line(results)


class JunitReporter(Reporter):
    """JUnit XML, one test case per check, for CI test reports."""

    format = OutputFormat.JUNIT

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        from .junit import render_junit

        return render_junit(results)


class GithubReporter(Reporter):
    """GitHub Actions workflow commands: an annotation per check that did not pass."""

    format = OutputFormat.GITHUB

    def report(self, results: Sequence[CheckResult], style: Style) -> str:
        from .github import render_github

        return render_github(results)


#: The reporter of each format.
REPORTERS: dict[OutputFormat, Reporter] = {
    reporter.format: reporter
    for reporter in (TableReporter(), JsonReporter(), JsonlReporter(), JunitReporter(),
                     GithubReporter())
}

_unwired = set(OutputFormat) - set(REPORTERS)
if _unwired:  # pragma: no cover - a developer's mistake, caught on the first import
    raise ImportError(f"output formats without a reporter: {sorted(f.value for f in _unwired)}")

__all__ = ["DEFAULT_FORMAT", "REPORTERS", "OutputFormat", "Refusal", "ReportFile", "Reporter",
           "Style"]
