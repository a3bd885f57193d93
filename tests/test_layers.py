"""The layers of the package, read from its source: no import cycles anywhere, and only
``gradcheck_cli/engine/`` loads SymPy, mpmath or torch.

Imports are collected with ``ast`` from every module, at any depth (an import inside a
function is still an edge of the graph: a cycle through one is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradcheck_cli"
HEAVY = {"torch", "sympy", "mpmath", "matplotlib"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or (node.level and not node.module):
                # from . import a, b: each name is a module of the package
                found += [(f"{target}.{alias.name}", id(node) in top) for alias in node.names]
            else:
                found.append((target, id(node) in top))
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = set()
        for target, _ in _imports(path):
            # "from .engine import evaluate" names the module; "from .parse import Node" a name in it
            while target and target not in MODULES:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def test_the_package_has_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                cycle = [*path[path.index(child):], child]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if child not in state:
                visit(child)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("gradcheck_cli.engine")))
def test_light_modules_import_nothing_heavy_at_module_level(module: str) -> None:
    heavy = [target for target, top in _imports(MODULES[module])
             if top and (target.split(".")[0] in HEAVY or target.startswith("gradcheck_cli.engine"))]
    assert heavy == [], f"{module} loads {heavy} on import: only gradcheck_cli.engine may"


def test_the_engine_does_not_reach_up_into_the_cli_runner_or_rendering() -> None:
    above = ("gradcheck_cli.cli", "gradcheck_cli.batch", "gradcheck_cli.workers", "gradcheck_cli.render",
             "gradcheck_cli.check", "gradcheck_cli.__main__")
    for module in (m for m in MODULES if m.startswith("gradcheck_cli.engine")):
        reached = [t for t, _ in _imports(MODULES[module]) if t.startswith(above)]
        assert reached == [], f"{module} imports {reached}"


def test_the_graph_sees_a_known_edge() -> None:
    # The test can fail: it sees that check imports request, and evaluate imports judge.
    graph = _graph()
    assert "gradcheck_cli.request" in graph["gradcheck_cli.check"]
    assert "gradcheck_cli.engine.judge" in graph["gradcheck_cli.engine.evaluate"]
    assert "gradcheck_cli.engine.evaluate" in graph["gradcheck_cli.check"]


def _python(code: str) -> str:
    """What a fresh interpreter prints for ``code``."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_package_imports_nothing_until_a_name_is_used() -> None:
    # pytest imports the plugin, and with it the package, at every start-up of every
    # project where gradcheck is installed.
    loaded = _python("import sys, gradcheck_cli, gradcheck_cli.pytest_plugin; "
                     "print(sorted(m for m in sys.modules if m.startswith('gradcheck_cli')))")
    assert loaded == "['gradcheck_cli', 'gradcheck_cli.pytest_plugin']"


def test_check_is_the_function_even_when_its_module_loaded_first() -> None:
    # The batch module loads gradcheck_cli.check, which the import system binds to the
    # package's attribute of the same name.
    printed = _python("import gradcheck_cli.batch; from gradcheck_cli import check; "
                      "print(check('x**2', 'x=3').derivatives[0].autograd)")
    assert printed == "6.0"
