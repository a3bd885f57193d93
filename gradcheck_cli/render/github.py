"""GitHub Actions workflow commands: an annotation per check that did not pass.

``::error file=PATH,line=N::message`` for a fail or an error, ``::warning ...`` for a
warn; passing checks say nothing. GitHub shows each on the line of the batch file. The
last line is a plain-text summary, which the log shows as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..results import CheckResult, Status, Summary
from .names import check_name, split_source

_COMMAND = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}


def escape_data(text: str) -> str:
    """The message of a workflow command: ``%``, CR and LF escaped as GitHub requires."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=...``): as data, and ``:`` and ``,`` escaped too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(result: CheckResult) -> str | None:
    """The workflow command for one check; ``None`` for a pass."""
    command = _COMMAND.get(result.status)
    if command is None:
        return None
    properties = []
    file, line = split_source(result.source)
    if file is not None:
        properties.append(f"file={escape_property(file)}")
    if line is not None:
        properties.append(f"line={line}")
    message = (f"gradcheck {result.status.value} ({result.category}): {check_name(result)}: "
               f"{result.message or result.category}")
    where = f" {','.join(properties)}" if properties else ""
    return f"::{command}{where}::{escape_data(message)}"


def render_github(results: Sequence[CheckResult]) -> str:
    """Every annotation, one per line, then the counts."""
    lines = [a for a in (annotation(r) for r in results) if a is not None]
    counts = Summary.of(results)
    noun = "check" if counts.total == 1 else "checks"
    lines.append(f"gradcheck: {counts.total} {noun}: {counts.passed} pass, {counts.warned} warn, "
                 f"{counts.failed} fail, {counts.errored} error")
    return "\n".join(lines) + "\n"
