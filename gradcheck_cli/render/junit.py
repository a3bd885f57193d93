"""JUnit XML, as CI systems read test reports: a ``testcase`` per check.

The test case's ``name`` is ``EXPRESSION @ POINT`` and its ``classname`` the file the
check came from (``gradcheck`` for a check from the command line). A fail is a
``<failure>``, an error an ``<error>``; the message is in ``message`` and the values in
the body. A warn passes, with a note in ``<system-out>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..compare import fmt
from ..results import CheckResult, Comparison, Status, Summary
from .names import check_name, split_source

#: What ``classname`` is for a check with no source file.
DEFAULT_CLASSNAME = "gradcheck"

# XML 1.0 cannot hold these at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Text that XML 1.0 can hold: any character it cannot is written as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: repr(m.group())[1:-1], text)


def render_junit(results: Sequence[CheckResult]) -> str:
    """The whole report as one JUnit XML document."""
    counts = Summary.of(results)
    totals = {"tests": str(counts.total), "failures": str(counts.failed),
              "errors": str(counts.errored), "skipped": "0"}
    root = ET.Element("testsuites", {"name": "gradcheck", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": "gradcheck", **totals})
    for result in results:
        suite.append(testcase(result))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def testcase(result: CheckResult) -> ET.Element:
    """One check as a ``<testcase>``."""
    file, line = split_source(result.source)
    attributes = {"classname": xml_text(file or DEFAULT_CLASSNAME),
                  "name": xml_text(check_name(result))}
    if file is not None:
        attributes["file"] = xml_text(file)
    if line is not None:
        attributes["line"] = str(line)
    case = ET.Element("testcase", attributes)
    message = xml_text(result.message or result.category)
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": message, "type": result.category}).text = \
            xml_text(details(result))
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": message, "type": result.category}).text = \
            xml_text(details(result))
    elif result.status is Status.WARN:
        ET.SubElement(case, "system-out").text = xml_text(f"warn ({result.category}): "
                                                          f"{details(result)}")
    return case


def details(result: CheckResult) -> str:
    """The body: what was checked, then each value computed both ways."""
    lines = [f"{check_name(result)}", f"status: {result.status.value} ({result.category})"]
    if result.message:
        lines.append(f"message: {result.message}")
    if result.source:
        lines.append(f"source: {result.source}")
    if result.value is not None:
        lines.append(_comparison_line("value", result.value))
    for derivative in result.derivatives:
        label = "d/d" + "d".join(derivative.wrt)
        lines.append(_comparison_line(f"{label} = {derivative.formula}", derivative))
    return "\n".join(lines)


def _comparison_line(label: str, comparison: Comparison) -> str:
    symbolic = fmt(comparison.symbolic)
    if comparison.one_sided is not None:
        symbolic = f"{fmt(comparison.one_sided[0])} (left) | {fmt(comparison.one_sided[1])} (right)"
    line = (f"{label}: symbolic {symbolic}, autograd {fmt(comparison.autograd)}, "
            f"abs diff {fmt(comparison.abs_diff)}, rel diff {fmt(comparison.rel_diff)}: "
            f"{comparison.status.value}")
    if comparison.message:
        line += f" ({comparison.message})"
    return line
