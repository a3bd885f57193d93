"""The README and docs/ document what the code does: tables generated from the code stay in
step, and every relative link points at a file and heading that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradcheck_cli import limits
from gradcheck_cli.functions import function_table
from gradcheck_cli.limits import MAX_ORDER, MAX_PARTIALS
from gradcheck_cli.results import Category

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


@pytest.mark.parametrize(("call", "meaning", "torch_form"), function_table())
def test_every_registry_function_has_its_row(call: str, meaning: str, torch_form: str) -> None:
    row = f"| `{call}` | {meaning.replace('|', chr(92) + '|')} | `{torch_form}` |"
    assert row in REFERENCE


def test_the_function_table_lists_nothing_else() -> None:
    documented = re.findall(r"^\| `(\w+)\(", REFERENCE, flags=re.MULTILINE)
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
    ("MAX_LINE_BYTES", limits.MAX_LINE_BYTES),
    ("MAX_POINTS_PER_LINE", limits.MAX_POINTS_PER_LINE),
])
def test_each_limit_is_documented_with_its_value(name: str, value: int) -> None:
    mentions = re.findall(rf"`{name}`[^|\n]*?(?:\|\s*)?=?\s*([\d,]+)", REFERENCE)
    assert mentions, f"{name} is not in docs/reference.md"
    assert any(int(m.replace(",", "")) == value for m in mentions), (name, mentions)


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.+?)\n```", quickstart)
    test_command = next(c for c in commands if "pytest" in c)
    assert "torch==2.13.0" in test_command  # a CPU build, never the multi-GB CUDA one
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), flags=re.MULTILINE)
            assert anchor in {_anchor(h) for h in headings}, f"{page.name}: no heading #{anchor}"


@pytest.mark.parametrize("category", list(Category), ids=str)
def test_every_category_is_documented_in_the_table(category: Category) -> None:
    assert re.search(rf"^\|[^\n]*`{category.value}`[^\n]*\|", REFERENCE, flags=re.MULTILINE), \
        f"docs/reference.md has no table row naming {category.value}"


# -- examples with their output ------------------------------------------------------------

def _examples() -> list[tuple[str, str, list[str]]]:
    """Every ``$ gradcheck ...`` in a fenced block of the docs, with the lines shown after
    it (up to the next ``$`` or the end of the block): (page, command, output)."""
    found: list[tuple[str, str, list[str]]] = []
    for page in PAGES:
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", page.read_text(encoding="utf-8"),
                                flags=re.M | re.S):
            command: str | None = None
            output: list[str] = []
            for line in [*block.splitlines(), "$"]:
                if line.startswith("$"):
                    if command is not None:
                        found.append((page.name, command, output))
                    command = line[2:] if line.startswith("$ gradcheck ") else None
                    output = []
                else:
                    output.append(line)
    return found


def _matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` is ``actual``, where a line ``...`` stands for any lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0] == expected[0] and _matches(expected[1:], actual[1:])


@pytest.mark.parametrize(("page", "command", "output"), _examples(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_shown_output_is_what_the_command_prints_at_80_columns(
        page: str, command: str, output: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from typer.testing import CliRunner

    from gradcheck_cli.cli import app

    monkeypatch.chdir(ROOT)  # the docs' paths (examples.txt) are the repository's
    arguments = shlex.split(command)[1:]
    env = {"COLUMNS": "80", "NO_COLOR": "1", "GRADCHECK_PROGRESS_INTERVAL": "0"}
    result = CliRunner().invoke(app, arguments, env=env, catch_exceptions=False)
    printed = (result.stdout + result.stderr).rstrip("\n").split("\n")
    assert _matches(output, printed), "\n".join(printed)


def test_the_examples_are_found() -> None:
    assert {page for page, _, _ in _examples()} >= {"README.md", "reference.md"}


def test_the_readme_shows_the_example_function_as_it_is_in_its_file() -> None:
    # The README quotes examples/bad_sigmoid.py, whose output it shows: the two stay one.
    (block,) = [b for b in re.findall(r"^```python\n(.*?)^```", README, flags=re.M | re.S)
                if "class BadSigmoid" in b]
    assert block in (ROOT / "examples" / "bad_sigmoid.py").read_text(encoding="utf-8")
