"""The README documents what the code does: tables generated from the code stay in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradcheck_cli import limits
from gradcheck_cli.functions import function_table
from gradcheck_cli.limits import MAX_ORDER, MAX_PARTIALS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("call", "meaning", "torch_form"), function_table())
def test_every_registry_function_has_its_row(call: str, meaning: str, torch_form: str) -> None:
    row = f"| `{call}` | {meaning.replace('|', chr(92) + '|')} | `{torch_form}` |"
    assert row in README


def test_the_function_table_lists_nothing_else() -> None:
    documented = re.findall(r"^\| `(\w+)\(", README, flags=re.MULTILINE)
    assert sorted(documented) == sorted(call.split("(")[0] for call, _, _ in function_table())


@pytest.mark.parametrize(("name", "value"), [
    ("MAX_EXPRESSION_LENGTH", limits.MAX_EXPRESSION_LENGTH),
    ("MAX_DEPTH", limits.MAX_DEPTH),
    ("MAX_NODES", limits.MAX_NODES),
    ("MAX_LITERAL_LENGTH", limits.MAX_LITERAL_LENGTH),
    ("MAX_EXPONENT", limits.MAX_EXPONENT),
    ("MAX_TENSOR_ELEMENTS", limits.MAX_TENSOR_ELEMENTS),
    ("MAX_ORDER", MAX_ORDER),
    ("MAX_PARTIALS", MAX_PARTIALS),
])
def test_each_limit_is_documented_with_its_value(name: str, value: int) -> None:
    mentions = re.findall(rf"`{name}`[^|\n]*?(?:\|\s*)?=?\s*([\d,]+)", README)
    assert mentions, f"{name} is not in the README"
    assert any(int(m.replace(",", "")) == value for m in mentions), (name, mentions)


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.+?)\n```", quickstart)
    test_command = next(c for c in commands if "pytest" in c)
    assert "torch==2.13.0" in test_command  # a CPU build, never the multi-GB CUDA one
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
