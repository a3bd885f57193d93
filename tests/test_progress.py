"""Long runs are not silent, and Ctrl-C keeps what it can.

Off a terminal (a log, a pipe, CI) a batch writes a one-line progress note to standard
error every ``GRADCHECK_PROGRESS_INTERVAL`` seconds (10 by default); these tests set a
short interval, and a check that hangs (``tests/misbehaving.py``) keeps the run going
for as long as needed, so that nothing here depends on how fast the machine is.

Ctrl-C is a real SIGINT, sent to the process group of a ``gradcheck --file`` run as a
terminal sends it: one line says what was kept, the exit code is 130, no traceback, no
worker left behind.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradcheck_cli.progress import (
    PROGRESS_INTERVAL,
    PROGRESS_INTERVAL_VARIABLE,
    ProgressNote,
    progress,
    progress_interval,
)
from gradcheck_cli.results import Category, CheckResult, Status

REPO = Path(__file__).resolve().parent.parent
GRADCHECK_MISBEHAVING = [sys.executable, str(REPO / "tests" / "misbehaving.py")]
HANG = "x + gradcheck_test_hang @ x=1, gradcheck_test_hang=0"
NOTE = re.compile(r"gradcheck: (\d+)/(\d+) checks done, (\d+) failed, (\d+) errors? \((.+)\)")


def result(status: Status) -> CheckResult:
    return CheckResult(expression="x", point=(), status=status, category=Category.OK,
                       message=None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the note -------------------------------------------------------------------------------


def test_the_note_counts_checks_failures_and_errors() -> None:
    clock = Clock()
    note = ProgressNote(1000, io.StringIO(), 10.0, clock=clock)
    assert note.line() == "gradcheck: 0/1000 checks done, 0 failed, 0 errors (0 s)\n"
    note.advance([result(Status.PASS), result(Status.FAIL), result(Status.WARN)])
    note.advance([result(Status.ERROR)])
    note.advance([result(Status.FAIL), result(Status.FAIL)])
    clock.now += 41.7
    assert note.line() == "gradcheck: 6/1000 checks done, 3 failed, 1 error (41 s)\n"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.4, "0 s"), (59.9, "59 s"), (60, "1 min 0 s"), (125, "2 min 5 s"), (3599, "59 min 59 s"),
    (3600, "1 h 0 min"), (7384, "2 h 3 min"),
])
def test_the_note_gives_the_time_taken_readably(seconds: float, shown: str) -> None:
    clock = Clock()
    note = ProgressNote(1, io.StringIO(), 10.0, clock=clock)
    clock.now += seconds
    assert note.line().endswith(f"({shown})\n")


class _Lines(io.StringIO):
    """A stream that says when a line has been written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.written.set()
        return count


def test_the_note_comes_from_its_own_thread_until_stopped() -> None:
    stream = _Lines()
    note = ProgressNote(3, stream, 0.01)
    note.advance([result(Status.PASS)])
    note.start()
    try:
        assert stream.written.wait(timeout=30)
    finally:
        note.stop()
    written = stream.getvalue()
    assert NOTE.fullmatch(written.splitlines()[0])
    assert written.splitlines()[0].startswith("gradcheck: 1/3 checks done, 0 failed, 0 errors")
    stream.written.clear()
    assert not stream.written.wait(timeout=0.1)  # stopped: no more notes


class _Terminal(_Lines):
    def isatty(self) -> bool:
        return True


def test_a_terminal_outside_ci_gets_the_bar_and_no_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = _Terminal()
    with progress(3, stream, bar=False, interval=0.01) as advance:
        advance([result(Status.PASS)])
        assert not stream.written.wait(timeout=0.2)
    assert stream.getvalue() == ""


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal-in-ci"])
def test_a_log_or_ci_gets_notes(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    monkeypatch.setenv("CI", "true")
    stream = _Terminal() if terminal else _Lines()
    with progress(3, stream, interval=0.01) as advance:
        advance([result(Status.FAIL)])
        assert stream.written.wait(timeout=30)
    assert stream.getvalue().startswith("gradcheck: 1/3 checks done, 1 failed, 0 errors (")


def test_an_interval_of_0_means_no_notes() -> None:
    stream = _Lines()
    with progress(3, stream, interval=0) as advance:
        advance([result(Status.PASS)])
        assert not stream.written.wait(timeout=0.2)
    assert stream.getvalue() == ""


@pytest.mark.parametrize(("value", "interval"), [
    (None, PROGRESS_INTERVAL), ("0.5", 0.5), ("30", 30.0), ("0", 0.0),
    ("soon", PROGRESS_INTERVAL), ("-1", PROGRESS_INTERVAL), ("inf", PROGRESS_INTERVAL),
    ("nan", PROGRESS_INTERVAL), ("", PROGRESS_INTERVAL),
])
def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 value: str | None, interval: float) -> None:
    assert PROGRESS_INTERVAL == 10.0
    if value is None:
        monkeypatch.delenv(PROGRESS_INTERVAL_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, value)
    assert progress_interval() == interval


# -- a real run ---------------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    # SIGINT as a terminal's shell leaves it (a shell's background job would ignore it,
    # and Python would then never raise KeyboardInterrupt), whatever started pytest.
    reset = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")
    return [sys.executable, "-c", reset, *GRADCHECK_MISBEHAVING[1:], *args]


class Run:
    """``gradcheck --file`` in a process group of its own, its standard error read as it
    comes (the progress notes say when a check has finished)."""

    def __init__(self, tmp_path: Path, lines: list[str], *args: str) -> None:
        path = tmp_path / "checks.txt"
        path.write_text("\n".join(lines) + "\n")
        self.path = path
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env[PROGRESS_INTERVAL_VARIABLE] = "0.1"
        self.stdout = open(tmp_path / "stdout.txt", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(_command("--file", str(path), *args),
                                        stdout=self.stdout, stderr=subprocess.PIPE, cwd=REPO,
                                        env=env, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_note(self, done: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(line.startswith(f"gradcheck: {done} checks done") for line in self.lines):
                return
            assert self.process.poll() is None, f"the run ended early: {self.lines}"
            time.sleep(0.05)
        raise AssertionError(f"no note of {done} checks done: {self.lines}")

    def finish(self) -> int:
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.reader.join(timeout=10)
        self.stdout.seek(0)
        self.output = self.stdout.read().decode()
        self.stdout.close()
        return code


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # a failed test leaves nothing running
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()


def test_a_batch_off_a_terminal_says_how_far_it_is(tmp_path: Path, runs: list[Run]) -> None:
    # The check after x**2 hangs until its timeout (2 s): 1 of 3 done meanwhile, then the
    # timeout is an error, then x**3.
    run = Run(tmp_path, ["x**2 @ x=1", HANG, "x**3 @ x=2"], "--format", "jsonl", "--jobs", "1",
              "--timeout", "2")
    runs.append(run)
    run.wait_for_note("1/3")
    assert run.finish() == 1
    notes = [NOTE.fullmatch(line) for line in run.lines]
    assert all(notes), run.lines  # nothing else on standard error
    counts = [(int(m[1]), int(m[2]), int(m[3]), int(m[4])) for m in notes if m]
    assert (1, 3, 0, 0) in counts
    assert all(total == 3 and failed == 0 and done <= 3 for done, total, failed, _ in counts)
    assert counts == sorted(counts)  # done and errors only grow
    records = [json.loads(line) for line in run.output.splitlines()]
    assert [r.get("category") for r in records[:3]] == ["ok", "timeout", "ok"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


#: (format, to a file): what Ctrl-C keeps, and the line that says so.
INTERRUPTIONS = [
    ("jsonl", True, "{partial} keeps 1 check"),
    ("jsonl", False, "standard output has 1 check"),
    ("json", True, "{partial} holds a report of them"),
    ("table", False, "no report was written (--output PATH keeps the finished checks in "
                     "PATH.partial)"),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("output_format", "to_file", "kept"), INTERRUPTIONS)
def test_ctrl_c_says_what_was_kept_and_exits_130(tmp_path: Path, runs: list[Run],
                                                  output_format: str, to_file: bool,
                                                  kept: str) -> None:
    target = tmp_path / f"report.{output_format}"
    args = ["--format", output_format, "--jobs", "1", "--timeout", "600"]
    run = Run(tmp_path, ["x**2 @ x=1", HANG, "x**3 @ x=2"], *args,
              *(["--output", str(target)] if to_file else []))
    runs.append(run)
    run.wait_for_note("1/3")  # x**2 is done; the hang runs, x**3 waits behind it
    workers = _children(run.process.pid)
    assert workers, "the workers are children of the command"
    os.killpg(run.process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    assert run.finish() == 130

    said = [line for line in run.lines if not NOTE.fullmatch(line)]
    partial = f"{target}.partial"
    assert said == ["gradcheck: interrupted with 1 of 3 checks done; "
                    + kept.format(partial=partial)]
    assert not target.exists()  # the report is not complete
    if output_format == "jsonl":
        (record,) = [json.loads(line) for line in
                     (Path(partial).read_text() if to_file else run.output).splitlines()]
        assert (record["expression"], record["derivatives"][0]["autograd"]) == ("x**2", 2.0)
    elif output_format == "json":
        report = json.loads(Path(partial).read_text())
        assert report["summary"]["total"] == 1
        assert [c["derivatives"][0]["symbolic"] for c in report["checks"]] == [2.0]
    else:
        assert run.output == ""
        assert not list(tmp_path.glob("*.partial"))
    # Every worker is gone, the one stuck in the hang included (a zombie is gone too:
    # it only waits for a parent to read its exit status).
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
