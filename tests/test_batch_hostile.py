"""A hostile batch file: bombs, binary junk, injections, and checks that hang or crash.

Every line gets a result, the good lines still pass with the right values, and the run
ends in bounded time. Hangs, crashes and memory hogs are forced through the worker's
misbehaving workers of ``tests/misbehaving.py``, which runs the command with them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
#: The command, and the command whose workers misbehave on the magic variables.
GRADCHECK = [sys.executable, "-m", "gradcheck_cli"]
GRADCHECK_MISBEHAVING = [sys.executable, str(REPO / "tests" / "misbehaving.py")]

HANG = "x + gradcheck_test_hang @ x=1, gradcheck_test_hang=0"
CRASH = "x + gradcheck_test_crash @ x=1, gradcheck_test_crash=0"
SEGFAULT = "x + gradcheck_test_segfault @ x=1, gradcheck_test_segfault=0"
MEMORY = "x + gradcheck_test_memory @ x=1, gradcheck_test_memory=0"

#: (line, expected status, expected category, results it gives)
HOSTILE: list[tuple[bytes, str, str, int]] = [
    (b"x**2 + 1 @ x=2", "pass", "ok", 1),
    (b"9**9**9**9", "error", "limit", 1),
    (b"(((9**64)**64)**64)**64 * x @ x=1", "error", "limit", 1),
    (b"1e1000000 * x @ x=1", "error", "limit", 1),
    (b"(" * 300 + b"x" + b")" * 300 + b" @ x=1", "error", "limit", 1),
    (b"+".join([b"x"] * 100_000) + b" @ x=1", "error", "limit", 1),
    (b"x + \xff\xfe\xfd @ x=1", "error", "encoding", 1),
    (b"x\x00 + 1 @ x=1", "error", "encoding", 1),
    (b"sin(x)*y @ x=0.5, y=2 @ x=1, y=1", "pass", "ok", 2),
    (b"x" * (1024 * 1024), "error", "limit", 1),
    (b"__import__('os').system('id')", "error", "parse_error", 1),
    (b"exec('import os') @ x=1", "error", "unknown_function", 1),
    (b"x.__class__ @ x=1", "error", "parse_error", 1),
    (HANG.encode(), "error", "timeout", 1),
    (b"exp(x) @ x=0", "pass", "ok", 1),
    (CRASH.encode(), "error", "crash", 1),
    (SEGFAULT.encode(), "error", "crash", 1),
    (MEMORY.encode(), "error", "memory", 1),
    (b"x**3 @ x=2  # after the misbehaving ones", "pass", "ok", 1),
    (b"\x1b[2J\x1b[31m @ x=1", "error", "parse_error", 1),
]


def run_batch(path: Path, *args: str, hooks: bool = True, timeout: float = 120,
              footprint_mb: int | None = None, broken: bool = False
              ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if footprint_mb is not None:  # each worker holds this much more after its imports
        env["GRADCHECK_TEST_FOOTPRINT_MB"] = str(footprint_mb)
    if broken:  # no worker can load SymPy and torch
        env["GRADCHECK_TEST_BROKEN_IMPORT"] = "1"
    return subprocess.run([*(GRADCHECK_MISBEHAVING if hooks else GRADCHECK), "--file", str(path),
                           *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout,
                          check=False)


def records(text: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    lines = [json.loads(line) for line in text.splitlines()]
    return lines[:-1], lines[-1]["summary"]


def test_every_hostile_line_gets_its_result_in_bounded_time(tmp_path: Path) -> None:
    path = tmp_path / "hostile.txt"
    path.write_bytes(b"# a hostile batch file\n" + b"\n".join(line for line, *_ in HOSTILE) + b"\n")
    start = time.monotonic()
    done = run_batch(path, "--format", "jsonl", "--timeout", "3", "--memory-limit", "512",
                     "--jobs", "2")
    elapsed = time.monotonic() - start
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    found, summary = records(done.stdout)

    expected = [(f"{path}:{n}", status, category)
                for n, (_, status, category, count) in enumerate(HOSTILE, start=2)
                for _ in range(count)]
    assert [(r["source"], r["status"], r["category"]) for r in found] == expected
    assert summary["total"] == len(expected) == sum(count for *_, count in HOSTILE)
    assert summary["pass"] == 5

    values = {(r["expression"], tuple(r["point"].values())):
              (r["value"]["autograd"], [d["autograd"] for d in r["derivatives"]])
              for r in found if r["status"] == "pass"}
    assert values[("x**2 + 1", (2.0,))] == (5.0, [4.0])
    assert values[("exp(x)", (0.0,))] == (1.0, [1.0])
    assert values[("x**3", (2.0,))] == (8.0, [12.0])
    sin_05 = 0.479425538604203
    assert values[("sin(x)*y", (0.5, 2.0))][0] == pytest.approx(2 * sin_05, rel=1e-15)

    messages = {r["category"]: r["message"] for r in found}
    assert "more than 3 s" in messages["timeout"]
    assert "more than 512 MB" in messages["memory"]
    crashes = [r["message"] for r in found if r["category"] == "crash"]
    assert any("exit status 70" in m for m in crashes)
    assert any("SIGSEGV" in m for m in crashes)
    # Nothing ran the injected code, and no raw control character reached the report.
    assert "uid=" not in done.stdout and "\x1b" not in done.stdout
    assert elapsed < 100


def test_without_the_environment_variable_the_hooks_are_plain_variables(tmp_path: Path) -> None:
    path = tmp_path / "hooks.txt"
    path.write_text(f"{CRASH}\n{HANG}\n")
    done = run_batch(path, "--format", "jsonl", "--timeout", "30", hooks=False)
    assert done.returncode == 0, done.stdout + done.stderr
    _, summary = records(done.stdout)
    assert summary == {"total": 2, "pass": 2, "warn": 0, "fail": 0, "error": 0}


def test_a_crash_does_not_lose_the_lines_queued_behind_it(tmp_path: Path) -> None:
    path = tmp_path / "crashes.txt"
    lines = [CRASH, "x**2 @ x=3", SEGFAULT, "x**2 @ x=4", CRASH, "x**2 @ x=5"]
    path.write_text("\n".join(lines) + "\n")
    done = run_batch(path, "--format", "jsonl", "--jobs", "1")
    found, _ = records(done.stdout)
    assert [r["category"] for r in found] == ["crash", "ok", "crash", "ok", "crash", "ok"]
    assert [r["derivatives"][0]["autograd"] for r in found if r["status"] == "pass"] == \
        [6.0, 8.0, 10.0]


def test_a_killed_check_does_not_cost_the_line_queued_behind_it_its_result(tmp_path: Path
                                                                           ) -> None:
    # Each worker holds the next request while it runs one: when it is killed, that
    # request never started, and must run on the next worker, not share the verdict.
    path = tmp_path / "kills.txt"
    path.write_text("\n".join([HANG, "x**2 @ x=3", MEMORY, "x**2 @ x=4"]) + "\n")
    done = run_batch(path, "--format", "jsonl", "--jobs", "1", "--timeout", "3",
                     "--memory-limit", "512")
    found, summary = records(done.stdout)
    assert [r["category"] for r in found] == ["timeout", "ok", "memory", "ok"]
    assert [r["derivatives"][0]["autograd"] for r in found if r["status"] == "pass"] == \
        [6.0, 8.0]
    assert summary == {"total": 4, "pass": 2, "warn": 0, "fail": 0, "error": 2}


def test_the_memory_limit_counts_on_top_of_a_large_import_footprint(tmp_path: Path) -> None:
    # A CUDA build of torch holds over a gigabyte after its import: a worker here holds
    # 600 MB more than its imports, resident, before it is ready. --memory-limit 256 is
    # room for a check on top of that: the good lines get their real values, and a line
    # that eats memory is still stopped, and not by a crash.
    path = tmp_path / "footprint.txt"
    path.write_text("\n".join(["x**2 @ x=3", MEMORY, "sin(x) @ x=0"]) + "\n")
    done = run_batch(path, "--format", "jsonl", "--jobs", "1", "--memory-limit", "256",
                     footprint_mb=600)
    assert "Traceback" not in done.stderr
    found, summary = records(done.stdout)
    assert [(r["status"], r["category"]) for r in found] == \
        [("pass", "ok"), ("error", "memory"), ("pass", "ok")]
    assert [(r["value"]["autograd"], r["derivatives"][0]["autograd"])
            for r in found if r["status"] == "pass"] == [(9.0, 6.0), (0.0, 1.0)]
    assert "more than 256 MB" in found[1]["message"]
    assert summary == {"total": 3, "pass": 2, "warn": 0, "fail": 0, "error": 1}


def test_workers_that_cannot_start_give_every_check_an_error(tmp_path: Path) -> None:
    # Every worker fails to load SymPy and torch: after a few tries the checks are
    # answered with the reason rather than waited for forever.
    path = tmp_path / "broken.txt"
    path.write_text("x @ x=1\nx**2 @ x=2\n")
    done = run_batch(path, "--format", "jsonl", "--jobs", "1", broken=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    found, summary = records(done.stdout)
    assert [(r["source"].rpartition(":")[2], r["status"], r["category"]) for r in found] == \
        [("1", "error", "crash"), ("2", "error", "crash")]
    for record in found:
        assert record["message"] == (
            "the check could not be run: a worker could not load SymPy and torch while "
            "starting: ImportError: libtorch_cpu.so: cannot open shared object file")
    assert summary == {"total": 2, "pass": 0, "warn": 0, "fail": 0, "error": 2}


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return lines
        assert process.poll() is None, "the run ended before it was killed"
        time.sleep(0.1)
    raise AssertionError(f"{count} lines never appeared in {path}")


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "output"])
def test_a_killed_jsonl_run_keeps_every_finished_line(tmp_path: Path, to_file: bool) -> None:
    path = tmp_path / "batch.txt"
    before = ["x**2 @ x=1", "sin(x) @ x=0.5 @ x=1", "bad(", "x*y @ x=2, y=3"]
    path.write_text("\n".join([*before, HANG, "x**3 @ x=2"]) + "\n")
    target = tmp_path / "report.jsonl"
    command = [*GRADCHECK_MISBEHAVING, "--file", str(path), "--format", "jsonl",
               "--jobs", "1", "--timeout", "600"]
    if to_file:
        command += ["--output", str(target)]
    env = dict(os.environ)
    written = tmp_path / "report.jsonl.partial" if to_file else tmp_path / "stdout.jsonl"
    with open(tmp_path / "stdout.jsonl", "wb") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL, cwd=REPO,
                                   env=env, start_new_session=True)
        try:
            lines = _wait_for_lines(written, 5, process)
            time.sleep(0.5)  # the hang is running now: nothing more can come
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    lines = written.read_text().splitlines()
    found = [json.loads(line) for line in lines]
    assert [(r["source"], r["status"]) for r in found] == [
        (f"{path}:1", "pass"), (f"{path}:2", "pass"), (f"{path}:2", "pass"),
        (f"{path}:3", "error"), (f"{path}:4", "pass")]
    assert not any("summary" in r for r in found)
    if to_file:
        assert not target.exists()  # only a complete report stands at the path


def test_a_single_check_with_a_timeout_runs_isolated_and_is_stopped() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    start = time.monotonic()
    expression, point = HANG.split(" @ ")
    done = subprocess.run([*GRADCHECK_MISBEHAVING, expression, "--at", point,
                           "--timeout", "2", "--format", "json"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 1, done.stderr
    (found,) = json.loads(done.stdout)["checks"]
    assert (found["status"], found["category"]) == ("error", "timeout")
    assert "--timeout 2" in found["message"]
    assert elapsed < 60


def test_a_single_check_with_limits_gives_the_same_values_as_without() -> None:
    def values(*limits: str) -> list[tuple[float, float]]:
        done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x**y", "--at", "x=3,y=4",
                               "--format", "json", *limits], capture_output=True, text=True,
                              cwd=REPO, timeout=120, check=True)
        (found,) = json.loads(done.stdout)["checks"]
        return [(d["symbolic"], d["autograd"]) for d in found["derivatives"]]

    isolated = values("--timeout", "30", "--memory-limit", "1024")
    assert isolated == values()
    assert isolated[0] == (108.0, 108.0)
