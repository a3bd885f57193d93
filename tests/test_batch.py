"""Batch mode: the line format, error rows, order, workers, options and the report file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest
from typer.testing import Result

from gradcheck_cli import render
from gradcheck_cli.batch import count_checks, parse_line, read_items, read_lines, run_items
from gradcheck_cli.check import Request
from gradcheck_cli.limits import MAX_LINE_BYTES, MAX_POINTS_PER_LINE
from gradcheck_cli.line_options import LineOptions
from gradcheck_cli.progress import wants_progress
from gradcheck_cli.render import ReportFile
from gradcheck_cli.results import CheckResult, Status
from gradcheck_cli.workers import MAX_QUEUED_BYTES, WorkerPool, run_requests

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples.txt"

Invoke = Callable[..., Result]


def items_of(text: bytes, options: LineOptions | None = None) -> list[Request | CheckResult]:
    return read_items(io.BytesIO(text), "f.txt", options or LineOptions())


def refused(item: Request | CheckResult | None) -> CheckResult:
    assert isinstance(item, CheckResult), item
    assert item.status is Status.ERROR
    return item


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# -- the line format --------------------------------------------------------------------


def test_comments_and_blank_lines_are_skipped_and_numbers_kept() -> None:
    items = items_of(b"# a comment\n\n   \n5*(x+1)**2 @ x=1  # trailing comment\n\tx**2 @ x=3\n")
    assert [item.source for item in items] == ["f.txt:4", "f.txt:5"]
    first = items[0]
    assert isinstance(first, Request)
    assert first.expression.text == "5*(x+1)**2"
    assert [[(a.name, a.value) for a in p] for p in first.points] == [[("x", 1.0)]]


def test_several_points_on_a_line() -> None:
    (item,) = items_of(b"x**y @ x=3, y=4 @ x=2,y=1 @ y=pi/4, x=1\n")
    assert isinstance(item, Request)
    assert len(item.points) == 3
    assert count_checks([item]) == 3


def test_a_constant_line_needs_no_point() -> None:
    (item,) = items_of(b"sin(1)\n")
    assert isinstance(item, Request) and item.points == ((),)


def test_crlf_and_a_byte_order_mark_are_read_as_text() -> None:
    items = items_of(b"\xef\xbb\xbfx**2 @ x=1\r\nx @ x=2\r\n")
    assert all(isinstance(item, Request) for item in items)
    assert [item.source for item in items] == ["f.txt:1", "f.txt:2"]


@pytest.mark.parametrize(("line", "category", "words"), [
    (b"foo(x) @ x=1", "unknown_function", "unknown function 'foo'"),
    (b"x + @ x=1", "parse_error", ""),
    (b"x**2", "missing_value", "no value for x"),
    (b"x**2 @", "parse_error", "the point is empty"),
    (b"x**2 @ y=1", "unknown_variable", "not in the expression"),
    (b"9**9**9**9", "limit", "MAX_EXPONENT"),
    (b"x + \xff\xfe @ x=1", "encoding", "not valid UTF-8 (byte 0xff at column 5)"),
    (b"x\x00 + 1 @ x=1", "encoding", "NUL byte at column 2"),
    (b"x" + b" @ x=1" * (MAX_POINTS_PER_LINE + 1), "limit", "MAX_POINTS_PER_LINE"),
    (b"__import__('os').system('id')", "parse_error", ""),
])
def test_a_line_that_cannot_be_checked_is_an_error_row(line: bytes, category: str,
                                                        words: str) -> None:
    result = refused(parse_line(line, "f.txt:7"))
    assert (result.category, result.source) == (category, "f.txt:7")
    assert words in (result.message or "")


def test_control_characters_never_reach_the_report_raw() -> None:
    result = refused(parse_line(b"x\x1b[31m @ x=1", "f.txt:1"))
    assert "\x1b" not in result.expression and "\\x1b" in result.expression
    assert result.category == "parse_error"


def test_a_long_line_is_a_limit_row_and_is_skipped_in_pieces() -> None:
    text = b"x @ x=1\n" + b"y" * (3 * MAX_LINE_BYTES + 5) + b"\nx @ x=2\n"
    lines = read_lines(io.BytesIO(text))
    assert [line.lineno for line in lines] == [1, 2, 3]
    assert lines[1].too_long == 3 * MAX_LINE_BYTES + 5 and len(lines[1].raw) < 100
    items = items_of(text)
    assert refused(items[1]).category == "limit"
    assert "MAX_LINE_BYTES" in (items[1].message or "")  # type: ignore[union-attr]
    assert isinstance(items[2], Request) and items[2].source == "f.txt:3"


def test_a_line_exactly_at_the_limit_is_read() -> None:
    line = b"x" + b" " * (MAX_LINE_BYTES - len(b"x @ x=1")) + b" @ x=1"
    assert len(line) == MAX_LINE_BYTES
    (item,) = read_lines(io.BytesIO(line + b"\n"))
    assert item.too_long is None


def test_options_apply_to_every_line() -> None:
    items = items_of(b"x*y @ x=1, y=2\nx*z @ x=1, z=2\n", LineOptions(wrt="x", rtol=0.5))
    assert all(isinstance(item, Request) and item.wrt == ("x",) for item in items)
    assert items[0].tolerance.rtol == 0.5  # type: ignore[union-attr]
    # --wrt names a variable that one line lacks: that line skips it (tests/test_batch_options.py).
    items = items_of(b"x*y @ x=1, y=2\nx @ x=1\n", LineOptions(wrt="y"))
    assert [item.wrt for item in items] == [("y",), ()]  # type: ignore[union-attr]


# -- running ------------------------------------------------------------------------------


def test_examples_file_passes_in_input_order_with_sources() -> None:
    items = read_items(EXAMPLES.open("rb"), "examples.txt")
    streamed: list[CheckResult] = []
    progress: list[int] = []
    results = run_items(items, jobs=2, on_result=streamed.append, on_progress=progress.append)
    assert len(results) == count_checks(items) == sum(progress) >= 40
    assert streamed == results
    failing = [(r.source, r.expression, r.status, r.message) for r in results
               if r.status is not Status.PASS]
    assert failing == []
    numbers = [int((r.source or "").rsplit(":", 1)[1]) for r in results]
    assert numbers == sorted(numbers)
    # The seed tutorials' worked examples, with their known values.
    by_expression = {r.expression: r for r in results}
    assert [d.autograd for d in by_expression["5*(x+1)**2"].derivatives] == [20.0]
    assert by_expression["x**y"].derivatives[0].autograd == 108.0
    # In order of first use: d/dw = x, d/dx = w, d/db = 1.
    assert [d.autograd for d in by_expression["w*x + b"].derivatives] == [3.0, 2.0, 1.0]


def test_error_rows_and_checks_keep_the_input_order() -> None:
    text = b"x**2 @ x=1\nfoo(x)\nsin(x) @ x=0.5 @ x=1\n\xff\nx**3 @ x=2\n"
    results = run_items(items_of(text), jobs=2)
    assert [(r.source, r.status) for r in results] == [
        ("f.txt:1", Status.PASS), ("f.txt:2", Status.ERROR), ("f.txt:3", Status.PASS),
        ("f.txt:3", Status.PASS), ("f.txt:4", Status.ERROR), ("f.txt:5", Status.PASS)]
    assert [r.point for r in results if r.source == "f.txt:3"] == [(("x", 0.5),), (("x", 1.0),)]


def test_no_worker_starts_for_a_file_without_checks() -> None:
    results = run_items(items_of(b"# nothing\nfoo(\n"), jobs=4)
    assert [r.category for r in results] == ["parse_error"]


# Workers that cannot start: tests/test_batch_hostile.py (the memory limit no longer
# applies while a worker imports, so it cannot be the way to break them).


def test_a_pool_runs_more_requests_than_it_has_workers() -> None:
    items = items_of(b"".join(b"x**%d @ x=1.5\n" % n for n in range(1, 8)))
    requests = [item for item in items if isinstance(item, Request)]
    answered: dict[int, tuple[CheckResult, ...]] = {}
    with WorkerPool(2) as pool:
        assert len(pool.workers) == 2
        pool.run(requests, answered.__setitem__)
        assert len(pool.workers) <= 2
    assert pool.workers == []
    assert sorted(answered) == list(range(7))
    assert answered[6][0].derivatives[0].autograd == pytest.approx(7 * 1.5**6)


def test_requests_too_large_to_queue_in_the_pipe_are_each_answered() -> None:
    # A worker is sent the next request while it runs one, unless that request could
    # fill the pipe's buffer: then the send would block the supervisor's watch.
    points = b" @ ".join(b"x=%d, y=0.5" % n for n in range(200))
    items = items_of(b"x**2*y @ " + points + b"\n" + b"x*y**3 @ " + points + b"\n")
    requests = [item for item in items if isinstance(item, Request)]
    assert all(len(ForkingPickler.dumps((0, r))) > MAX_QUEUED_BYTES for r in requests)
    answered: dict[int, tuple[CheckResult, ...]] = {}
    run_requests(requests * 2, answered.__setitem__, jobs=1)
    assert sorted(answered) == [0, 1, 2, 3]
    in_y = [lambda x: x**2, lambda x: 3 * x * 0.5**2]  # d/dy of x**2*y, x*y**3 at y = 0.5
    for index, results in answered.items():
        assert [r.derivatives[1].autograd for r in results] == \
            [pytest.approx(in_y[index % 2](n)) for n in range(200)]


# -- the command line -------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "batch.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_cli_examples_pass_with_exit_code_0(gradcheck: Invoke) -> None:
    result = gradcheck("--file", str(EXAMPLES), "--format", "jsonl")
    assert result.exit_code == 0, result.stdout
    records = jsonl(result.stdout)
    summary = records.pop()["summary"]
    assert summary == {"total": len(records), "pass": len(records), "warn": 0, "fail": 0,
                       "error": 0}
    assert all(str(r["source"]).startswith(f"{EXAMPLES}:") for r in records)


def test_cli_a_refused_line_is_exit_code_1_not_2(gradcheck: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "x**2 @ x=1\n2x @ x=1\n")
    result = gradcheck("--file", str(path), "--format", "json")
    assert result.exit_code == 1
    checks = json.loads(result.stdout)["checks"]
    assert [c["status"] for c in checks] == ["pass", "error"]
    assert checks[1]["source"] == f"{path}:2" and checks[1]["category"] == "parse_error"


def test_cli_a_fail_is_exit_code_1_and_warns_are_0(gradcheck: Invoke, tmp_path: Path) -> None:
    assert gradcheck("--file", str(write(tmp_path, "abs(x) @ x=0\n"))).exit_code == 0
    assert gradcheck("--file", str(write(tmp_path, "x*sqrt(x) @ x=0\n"))).exit_code == 1


@pytest.mark.parametrize("args", [
    ("--file", "does-not-exist.txt"),
    ("--file", "."),
    ("--file", "examples.txt", "x**2"),
    ("--file", "examples.txt", "--at", "x=1"),
    ("--file", "examples.txt", "--rtol", "-1"),
    ("--file", "examples.txt", "--timeout", "0"),
    ("--file", "examples.txt", "--jobs", "0"),
    ("--file", "examples.txt", "--memory-limit", "10"),
    ("--file", "examples.txt", "--output", "no-such-dir/report.json"),
    ("--file", "examples.txt", "--output", "examples.txt/report.json"),
    ("--file", "examples.txt", "--output", "."),
    ("x**2", "--at", "x=1", "--jobs", "2"),
    ("x**2", "--at", "x=1", "--timeout", "0"),
])
def test_cli_usage_errors_are_exit_code_2(gradcheck: Invoke, args: tuple[str, ...],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = gradcheck(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_cli_reads_standard_input(tmp_path: Path) -> None:
    # No progress notes either (a slow start could take 10 s): tests/test_progress.py.
    env = {**os.environ, "GRADCHECK_PROGRESS_INTERVAL": "0"}
    done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "--file", "-", "--format",
                           "jsonl"], input="x**2 @ x=3\nnope(\n", capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False, env=env)
    assert done.returncode == 1, done.stderr
    records = jsonl(done.stdout)
    assert [r.get("source") for r in records[:2]] == ["<stdin>:1", "<stdin>:2"]
    assert records[0]["derivatives"][0]["autograd"] == 6.0  # type: ignore[index]
    assert done.stderr == ""  # no progress bar: standard error is not a terminal


def loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of the ``watched`` modules a fresh interpreter has after ``import imports``."""
    code = f"import json, sys, {imports}; print(json.dumps([m for m in {watched!r} " \
           f"if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=True)
    return list(json.loads(done.stdout))


def test_batch_modules_load_neither_sympy_nor_torch() -> None:
    assert loaded_by("gradcheck_cli.cli, gradcheck_cli.batch, gradcheck_cli.workers, "
                     "gradcheck_cli.render.jsonl, gradcheck_cli.render.junit, "
                     "gradcheck_cli.render.github", ("sympy", "torch")) == []


def test_the_entry_module_that_each_worker_re_imports_loads_nothing_heavy() -> None:
    # spawn re-runs the command's script in every worker; only main() may load the CLI.
    assert loaded_by("gradcheck_cli.__main__",
                     ("sympy", "torch", "typer", "rich", "gradcheck_cli.cli")) == []
    # The check itself: the same call with a module that is loaded.
    assert loaded_by("gradcheck_cli.cli", ("typer", "sympy")) == ["typer"]


# -- the report file ----------------------------------------------------------------------


def test_output_is_written_whole_and_nothing_else_is_left(gradcheck: Invoke,
                                                          tmp_path: Path) -> None:
    path = write(tmp_path, "x**2 @ x=1\n")
    report = tmp_path / "report.xml"
    result = gradcheck("--file", str(path), "--format", "junit", "--output", str(report))
    assert result.exit_code == 0 and result.stdout == ""
    assert report.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.txt", "report.xml"]


def test_output_jsonl_is_renamed_into_place_when_complete(gradcheck: Invoke,
                                                          tmp_path: Path) -> None:
    path = write(tmp_path, "x**2 @ x=1\nx**3 @ x=1\n")
    report = tmp_path / "out.jsonl"
    assert gradcheck("--file", str(path), "-f", "jsonl", "-o", str(report)).exit_code == 0
    assert len(jsonl(report.read_text())) == 3
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_a_failing_renderer_leaves_no_file_behind(gradcheck: Invoke, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(results: object, style: object) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(render.JsonReporter, "report", lambda self, results, style: broken(results, style))
    path = write(tmp_path, "x**2 @ x=1\n")
    report = tmp_path / "report.json"
    report.write_text("the previous report\n")
    with pytest.raises(RuntimeError, match="renderer broke"):
        gradcheck("--file", str(path), "--format", "json", "--output", str(report))
    assert report.read_text() == "the previous report\n"  # untouched, not half-written
    assert not (tmp_path / "report.json.partial").exists()


def test_a_failing_renderer_in_single_mode_leaves_no_file(gradcheck: Invoke, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(results: object, style: object) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(render.JsonReporter, "report", lambda self, results, style: broken(results, style))
    report = tmp_path / "report.json"
    with pytest.raises(RuntimeError):
        gradcheck("x**2", "--at", "x=1", "--format", "json", "--output", str(report))
    assert list(tmp_path.iterdir()) == []


def test_report_file_write_failure_leaves_nothing_at_the_path(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    report = ReportFile(str(tmp_path / "r.txt"))
    report.write("half of it")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        report.commit()
    report.discard()
    assert list(tmp_path.iterdir()) == []


# -- progress -----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert wants_progress(_Terminal())
    assert not wants_progress(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not wants_progress(_Terminal())
