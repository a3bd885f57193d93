"""JSON Lines: one strict-JSON object per check, then ``{"summary": {...}}``.

Each check's object has the shape of :func:`~gradcheck_cli.render.json.check_record`.
The pieces are public so that a batch can write each line as soon as its check is done
(:func:`record_line`, then :func:`summary_line`); :func:`render_jsonl` is the same text
in one piece.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..results import CheckResult
from .json import check_record, summary_record


def record_line(result: CheckResult) -> str:
    """One check as one line of JSON, newline included."""
    return json.dumps(check_record(result), allow_nan=False) + "\n"


def summary_line(results: Sequence[CheckResult]) -> str:
    """The last line: the counts by status."""
    return json.dumps({"summary": summary_record(results)}, allow_nan=False) + "\n"


def render_jsonl(results: Sequence[CheckResult]) -> str:
    """The whole report: a line per check, then the summary line."""
    return "".join(record_line(r) for r in results) + summary_line(results)
