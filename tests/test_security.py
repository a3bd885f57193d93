"""User text is data: hostile expressions are refused, and nothing runs them.

An audit hook (PEP 578) watches every check of a hostile string. Python's ``compile``
audit event fires for ``eval``/``exec``/``compile`` of text and for ``ast.parse`` alike,
with the same arguments ``(source, filename)``; the hook tells them apart by the frame
that raised it: only ``ast.parse`` asking for a tree alone (``PyCF_ONLY_AST``) is
allowed. Any ``exec`` event (running a code object), process spawn, or file access
outside Python's own files is a violation.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from gradcheck_cli import Status, check
from gradcheck_cli.errors import InputError
from gradcheck_cli.parse import parse_expression, parse_point

REPO = Path(__file__).resolve().parents[1]

# -- the audit hook ----------------------------------------------------------------------

#: Hooks cannot be removed: this one acts only while a test arms it.
_ARMED = False
#: "strict": no exec at all (the library path, where nothing else runs). "cli": Typer
#: evaluates its own string annotations, so there only text containing the hostile
#: input, or a tree compiled to code, counts.
_MODE = "strict"
_HOSTILE = ""
_VIOLATIONS: list[str] = []

_SPAWN_EVENTS = ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
                 "os.fork", "os.forkpty", "pty.spawn", "socket.connect", "socket.bind",
                 "ctypes.dlopen", "os.remove", "os.unlink", "os.rename", "os.rmdir",
                 "shutil.rmtree", "os.chmod", "os.kill", "webbrowser.open",
                 "urllib.Request")
_ALLOWED_ROOTS = tuple(Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                    str(REPO)})


def _allowed(path: Path) -> bool:
    """Python's own files (lazy imports) and the repository; nothing else."""
    return any(path.is_relative_to(root) for root in _ALLOWED_ROOTS)


def _from_ast_parse(frame: Any) -> bool:
    """Whether the compile event comes from ``ast.parse`` building a tree only."""
    return (frame is not None and frame.f_code is ast.parse.__code__
            and bool(frame.f_locals.get("flags", 0) & ast.PyCF_ONLY_AST))


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _ARMED:
        return
    if event == "compile":
        if _from_ast_parse(sys._getframe(1)):
            return
        source = args[0]
        if _MODE == "strict" or isinstance(source, ast.AST):
            _VIOLATIONS.append(f"compile of {source!r:.80}")
        elif isinstance(source, str | bytes):
            text = source.decode(errors="replace") if isinstance(source, bytes) else source
            if _HOSTILE in text:
                _VIOLATIONS.append(f"compile of the user's text {text!r:.80}")
    elif event == "exec":
        if _MODE == "strict":
            _VIOLATIONS.append(f"exec of {args[0]!r:.80}")
    elif event.startswith(_SPAWN_EVENTS):
        _VIOLATIONS.append(f"{event}{args!r:.80}")
    elif event == "open":
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if isinstance(path, str | os.PathLike):
            resolved = Path(path).resolve()
            if not _allowed(resolved):
                _VIOLATIONS.append(f"open of {resolved}")


sys.addaudithook(_audit)


@pytest.fixture
def audited() -> Iterator[Callable[[str, str], list[str]]]:
    """``watch(mode, hostile)`` arms the hook; the list it returns fills with violations."""
    def watch(mode: str, hostile: str) -> list[str]:
        global _ARMED, _MODE, _HOSTILE
        _VIOLATIONS.clear()
        _MODE, _HOSTILE, _ARMED = mode, hostile, True
        return _VIOLATIONS

    try:
        yield watch
    finally:
        globals()["_ARMED"] = False


def disarm() -> list[str]:
    global _ARMED
    _ARMED = False
    return list(_VIOLATIONS)


# -- the hostile strings --------------------------------------------------------------------

# (hostile expression, the category it is refused with)
HOSTILE = [
    ("__import__('os').system('id')", "parse_error"),
    ("__import__('os')", "unknown_function"),
    ("x.__class__.__mod__.__globals__", "parse_error"),
    ("().__class__.__bases__[0].__subclasses__()", "parse_error"),
    ("eval('1')", "unknown_function"),
    ("exec('x=1')", "unknown_function"),
    ("compile('1', '', 'eval')", "unknown_function"),
    ("open('/etc/passwd').read()", "parse_error"),
    ("open('/etc/passwd')", "unknown_function"),
    ("lambda: 1", "parse_error"),
    ("(lambda: 1)()", "parse_error"),
    ("[c for c in ()]", "parse_error"),
    ("getattr(x, 'y')", "unknown_function"),
    ("x if x else x", "parse_error"),
    ('f"{x}"', "parse_error"),
    ("f\"{__import__('os').system('id')}\"", "parse_error"),
    ("b'x'", "parse_error"),
    ("x:=1", "parse_error"),
    ("(x:=1)", "parse_error"),
    ("*x", "parse_error"),
    ("sin(**{})", "parse_error"),
    ("sin(*[x])", "parse_error"),
    ("sin.__call__(x)", "parse_error"),
    ("sin(x).real", "parse_error"),
    ("__builtins__", "parse_error"),
    ("globals()", "unknown_function"),
    ("breakpoint()", "unknown_function"),
    ("x\x00; import os", "parse_error"),
    ("x; __import__('os')", "parse_error"),
    ("x\n__import__('os')", "parse_error"),
    ("sin(x)(1)", "parse_error"),
    ("(yield)", "parse_error"),
    ("await x", "parse_error"),
    ("x[::-1]", "parse_error"),
    # An index is an integer literal and nothing else (issue 10): never code, never a name.
    ("x[__import__('os').system('id')]", "parse_error"),
    ("x[eval('0')]", "parse_error"),
    ("x['__class__']", "parse_error"),
    ("x[x]", "parse_error"),
    ("x[0:1]", "parse_error"),
    ("x[0].__class__", "parse_error"),
    ("x[0](1)", "parse_error"),
    ("__builtins__['eval']('1')", "parse_error"),
    ("().__class__.__bases__[0]", "parse_error"),
    ("[c for c in ()][0]", "parse_error"),
    ("x[lambda: 0]", "parse_error"),
    ("{**{}}", "parse_error"),
    ("'%s' % x", "parse_error"),
    ("1 if __import__('os').system('id') else 2", "parse_error"),
]


@pytest.mark.parametrize(("hostile", "category"), HOSTILE)
def test_refused_by_the_library(audited: Callable[[str, str], list[str]], hostile: str,
                                category: str) -> None:
    check(hostile, "x=1")  # once unwatched: any lazy import happens outside the watch
    audited("strict", hostile)
    try:
        result = check(hostile, "x=1")
        with pytest.raises(InputError):
            parse_expression(hostile)
    finally:
        violations = disarm()
    assert violations == []
    assert result.status is Status.ERROR
    assert result.category == category
    assert result.is_input_error


@pytest.mark.parametrize(("hostile", "category"), HOSTILE)
def test_refused_by_the_command(audited: Callable[[str, str], list[str]],
                                gradcheck: Callable[..., Result], hostile: str,
                                category: str) -> None:
    # Once unwatched in each format, for the lazy imports: pytest rewrites the asserts of
    # every module of a plugin's distribution (gradcheck is one, via pytest11) when it is
    # first imported, and that compiles a tree; run alone, this test imports them here.
    gradcheck(hostile, "--at", "x=1")
    gradcheck(hostile, "--at", "x=1", "--format", "json")
    audited("cli", hostile)
    try:
        table = gradcheck(hostile, "--at", "x=1")
        as_json = gradcheck(hostile, "--at", "x=1", "--format", "json")
    finally:
        violations = disarm()
    assert violations == []
    assert table.exit_code == 2
    assert f"error ({category})" in table.stderr
    assert as_json.exit_code == 2
    assert f'"category": "{category}"' in as_json.stdout


@pytest.mark.parametrize("value", [
    "__import__('os').system('id')",
    "open('/etc/passwd').read()",
    "eval('1')",
    "().__class__",
    "lambda: 1",
])
def test_hostile_point_values(audited: Callable[[str, str], list[str]],
                              gradcheck: Callable[..., Result], value: str) -> None:
    audited("strict", value)
    try:
        with pytest.raises(InputError):
            parse_point(f"x={value}")
        result = check("x", f"x={value}")
    finally:
        violations = disarm()
    assert violations == []
    assert result.status is Status.ERROR
    assert gradcheck("x", "--at", f"x={value}").exit_code == 2


def test_nothing_runs(tmp_path: Path) -> None:
    # Payloads that would leave a file behind if any of them were executed.
    target = tmp_path / "pwned"
    payloads = [
        f"__import__('os').system('touch {target}')",
        f"open('{target}', 'w').write('x')",
        f"exec(\"open('{target}', 'w')\")",
        f"[open('{target}', 'w') for _ in (1,)]",
    ]
    for payload in payloads:
        assert check(payload, "x=1").status is Status.ERROR
        assert check("x", f"x={payload}").status is Status.ERROR
    assert not target.exists()


# -- the hook itself: it must see what it is there to see -----------------------------------


def test_the_hook_catches_eval_and_exec(audited: Callable[[str, str], list[str]]) -> None:
    audited("strict", "1+1")
    try:
        eval("1+1")
    finally:
        violations = disarm()
    assert any(v.startswith("compile") for v in violations)
    assert any(v.startswith("exec") for v in violations)

    audited("cli", "y=2")
    try:
        exec("y=2", {})
    finally:
        violations = disarm()
    assert any("user's text" in v for v in violations)


def test_the_hook_catches_compiling_a_tree(audited: Callable[[str, str], list[str]]) -> None:
    tree = ast.parse("x + 1", mode="eval")
    audited("cli", "never seen")
    try:
        compile(tree, "<tree>", "eval")
    finally:
        violations = disarm()
    assert violations and violations[0].startswith("compile")


def test_the_hook_allows_ast_parse(audited: Callable[[str, str], list[str]]) -> None:
    audited("strict", "x + 1")
    try:
        ast.parse("x + 1", mode="eval")
        parse_expression("x + 1")
        parse_expression("x[0] + A[1, -1]")  # indices: integer literals, read from the tree
    finally:
        violations = disarm()
    assert violations == []


def test_the_hook_catches_a_spawn_and_a_stray_open(audited: Callable[[str, str], list[str]],
                                                   tmp_path: Path) -> None:
    stray = tmp_path / "stray.txt"
    assert not _allowed(stray.resolve())
    audited("strict", "")
    try:
        os.system("true")
        stray.write_text("x")
    finally:
        violations = disarm()
    assert any(v.startswith("os.system") for v in violations)
    assert f"open of {stray.resolve()}" in violations


def test_every_lambdify_keeps_the_users_names_out_of_the_generated_code() -> None:
    # lambdify writes Python source from a SymPy tree: the trees are the project's own, and
    # with dummify=True the variables (whose names the user chose) are Dummy symbols there.
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "gradcheck_cli"
    calls = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "lambdify":
                dummify = [k for k in node.keywords if k.arg == "dummify"]
                calls.append((path.name, node.lineno, bool(dummify) and
                              isinstance(dummify[0].value, ast.Constant) and
                              dummify[0].value.value is True))
    assert calls, "no lambdify found: the test looks in the wrong place"
    assert all(ok for _, _, ok in calls), calls
