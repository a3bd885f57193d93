"""Workers forked from a fork server: right answers, the same as spawned ones, and nothing
left behind, whether the pool closes, the command is interrupted or it is killed.

How fast they start is measured in ``bench/bench_workers.py``, not here.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from pathlib import Path

import pytest

from gradcheck_cli import workers
from gradcheck_cli.check import Request, prepare
from gradcheck_cli.results import CheckResult
from gradcheck_cli.workers import (
    START_METHOD_VARIABLE,
    WorkerPool,
    _fork_server_pid,
    default_start_method,
)

REPO = Path(__file__).resolve().parent.parent
GRADCHECK = [sys.executable, "-m", "gradcheck_cli"]
GRADCHECK_MISBEHAVING = [sys.executable, str(REPO / "tests" / "misbehaving.py")]
HANG = "x + gradcheck_test_hang @ x=1, gradcheck_test_hang=0"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc (the fork server itself runs on macOS too)")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, from ``/proc``; ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return fields[0].decode(), int(fields[1])


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.add(int(entry))
    return found


def _descendants(pid: int) -> set[int]:
    found = _children(pid)
    for child in list(found):
        found |= _descendants(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _wait_until_gone(pids: set[int], within: float = 30) -> set[int]:
    """The ones of ``pids`` still alive after up to ``within`` seconds (a guard against a
    hang, not a measure: the kernel and init take a moment to reap)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


def _request(expression: str, point: str) -> Request:
    return prepare(expression, [point])


def _run(pool: WorkerPool, requests: list[Request]) -> list[tuple[CheckResult, ...]]:
    answered: dict[int, tuple[CheckResult, ...]] = {}
    pool.run(requests, answered.__setitem__)
    return [answered[index] for index in range(len(requests))]


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(1, start_method="forkserver") as workers:
        yield workers


def test_the_environment_variable_chooses_the_start_method(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv(START_METHOD_VARIABLE, "spawn")
    assert default_start_method() == "spawn"
    monkeypatch.setenv(START_METHOD_VARIABLE, " ForkServer ")
    assert default_start_method() == "forkserver"
    monkeypatch.setenv(START_METHOD_VARIABLE, "fork")  # not offered: the default
    assert default_start_method() == "forkserver"
    monkeypatch.delenv(START_METHOD_VARIABLE)
    assert default_start_method() == "forkserver"
    monkeypatch.setattr(workers, "get_all_start_methods", lambda: ["spawn"])  # Windows
    assert default_start_method() == "spawn"


def test_a_pool_without_a_fork_server_spawns_its_workers(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    def unavailable() -> bool:
        raise OSError("no fork server here")

    monkeypatch.setattr(workers._FORK_SERVER, "acquire", unavailable)
    with WorkerPool(1, start_method="forkserver") as pool:
        ((result,),) = _run(pool, [_request("x**3", "x=2")])
        assert pool.method == "spawn"
        (running,) = pool.workers
        assert running.process.pid in _children(os.getpid())  # spawned by this process
    assert result.derivatives[0].symbolic == 12.0  # d/dx x**3 = 3*x**2 = 12 at 2


def test_a_worker_is_a_fork_of_a_single_threaded_server(pool: WorkerPool) -> None:
    # d/dx x**3 = 3*x**2 = 12 at x = 2
    ((result,),) = _run(pool, [_request("x**3", "x=2")])
    assert result.derivatives[0].symbolic == 12.0
    assert result.derivatives[0].autograd == 12.0
    server = _fork_server_pid()
    assert server is not None and server in _children(os.getpid())
    (running,) = pool.workers
    assert running.process.pid in _children(server)
    # Nothing was forked with threads in it: torch's thread pool never started there.
    assert _status(server, "Threads") == 1
    assert "multiprocessing.forkserver" in _cmdline(server)


def test_a_replacement_after_a_kill_is_a_fork_of_the_same_server_and_right(pool: WorkerPool
                                                                           ) -> None:
    _run(pool, [_request("x", "x=1")])
    server = _fork_server_pid()
    assert server is not None
    (victim,) = pool.workers
    assert victim.process.pid is not None
    os.kill(victim.process.pid, signal.SIGKILL)
    wait([victim.process.sentinel], timeout=30)  # dead before the next request is sent
    found = _run(pool, [_request("x**3", "x=2"), _request("sin(x)*y", "x=0.5, y=2")])
    # d/dx x**3 = 12 at 2; d/dx sin(x)*y = y*cos(x), d/dy = sin(x) at (0.5, 2)
    assert [d.symbolic for d in found[0][0].derivatives] == [12.0]
    assert [d.symbolic for d in found[1][0].derivatives] == \
        [pytest.approx(2 * math.cos(0.5), rel=1e-15), pytest.approx(math.sin(0.5), rel=1e-15)]
    assert all(r.status.value == "pass" for results in found for r in results)
    (replacement,) = pool.workers
    assert replacement is not victim and replacement.process.pid != victim.process.pid
    assert _fork_server_pid() == server and _alive(server)  # the server lived through it
    assert replacement.process.pid in _children(server)


def test_the_memory_cap_of_a_forked_worker_counts_on_top_of_its_footprint(pool: WorkerPool
                                                                          ) -> None:
    _run(pool, [_request("x", "x=1")])
    (running,) = pool.workers
    pid = running.process.pid
    assert pid is not None
    data = _status(pid, "VmData") * 1024  # the server's data segment, shared, and a little
    with open(f"/proc/{pid}/limits") as limits:
        (line,) = [row for row in limits if row.startswith("Max data size")]
    limit = int(line.split()[3])
    cap = pool.limits.memory_mb * 2**20
    # The limit is the footprint at "ready" plus the cap; a check has since added little.
    assert 0 <= data - (limit - cap) < 64 * 2**20
    assert data > 100 * 2**20  # SymPy and torch are in it: the fork holds the server's


def test_no_process_is_left_after_the_pool_closes() -> None:
    before = _children(os.getpid())
    with WorkerPool(2, start_method="forkserver") as pool:
        _run(pool, [_request("x**2", "x=3"), _request("x**3", "x=1")])
        started = _descendants(os.getpid()) - before
        server = _fork_server_pid()
        assert server in started
        assert {w.process.pid for w in pool.workers} <= _children(server or 0)
    assert _fork_server_pid() is None
    assert _wait_until_gone(started - _multiprocessing_helpers(started)) == set()
    left = _children(os.getpid()) - before
    assert left == _multiprocessing_helpers(left)


def test_a_pool_closed_while_its_server_loads_leaves_none_and_the_next_forks() -> None:
    # Closed at once (a usage error found while the lines are parsed): its launches have
    # not reached the server yet, and multiprocessing would start another for them.
    before = _children(os.getpid())
    for _ in range(3):
        with WorkerPool(2, start_method="forkserver"):
            pass
        assert _fork_server_pid() is None
    left = _children(os.getpid()) - before
    assert _wait_until_gone(left - _multiprocessing_helpers(left)) == set()
    with WorkerPool(1, start_method="forkserver") as pool:
        ((result,),) = _run(pool, [_request("x**2", "x=3")])
        assert pool.method == "forkserver"  # not fallen back to spawn
    assert result.derivatives[0].symbolic == 6.0  # d/dx x**2 = 2*x = 6 at 3


def _multiprocessing_helpers(pids: set[int]) -> set[int]:
    """multiprocessing's resource tracker, which lives as long as its process (spawn starts
    it too): not one of the pool's."""
    return {p for p in pids if "multiprocessing.resource_tracker" in _cmdline(p)}


def test_results_are_the_same_under_both_start_methods() -> None:
    def report(method: str) -> str:
        env = {**os.environ, START_METHOD_VARIABLE: method, "GRADCHECK_PROGRESS_INTERVAL": "0"}
        done = subprocess.run([*GRADCHECK, "--file", "examples.txt", "--jobs", "2",
                               "--format", "jsonl"], capture_output=True, text=True, cwd=REPO,
                              env=env, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    forked = report("forkserver")
    assert forked == report("spawn")
    first = json.loads(forked.splitlines()[0])
    # the chain rule: d/dx 5*(x+1)**2 = 10*(x+1) = 20 at x = 1
    assert (first["expression"], first["derivatives"][0]["symbolic"]) == ("5*(x+1)**2", 20.0)


def _running_hang(tmp_path: Path) -> tuple[subprocess.Popen[bytes], set[int]]:
    """A ``gradcheck --file`` whose worker hangs in a check; and its processes."""
    path = tmp_path / "hang.txt"
    path.write_text(f"x**2 @ x=3\n{HANG}\n")
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "GRADCHECK_PROGRESS_INTERVAL": "0"}
    with open(output, "wb") as stdout:
        process = subprocess.Popen([*GRADCHECK_MISBEHAVING, "--file", str(path), "--format",
                                    "jsonl", "--jobs", "1", "--timeout", "600"], stdout=stdout,
                                   stderr=subprocess.PIPE, cwd=REPO, env=env,
                                   start_new_session=True)
    deadline = time.monotonic() + 120
    while not output.read_text().strip():  # the first line is done: the hang runs next
        assert process.poll() is None and time.monotonic() < deadline, "no first result"
        time.sleep(0.05)
    time.sleep(0.5)
    found = _descendants(process.pid) - _multiprocessing_helpers(_descendants(process.pid))
    # the fork server, and its worker stuck in the check
    assert len(found) == 2, [_cmdline(p) for p in found]
    return process, found


def test_killing_the_command_leaves_no_process(tmp_path: Path) -> None:
    process, started = _running_hang(tmp_path)
    try:
        os.kill(process.pid, signal.SIGKILL)  # the command alone, as kill -9 would
        process.wait(timeout=30)
        assert _wait_until_gone(started) == set()
    finally:
        for pid in started:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_an_interrupted_command_leaves_no_process_and_no_traceback(tmp_path: Path) -> None:
    process, started = _running_hang(tmp_path)
    try:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the group
        _, stderr = process.communicate(timeout=60)
        assert process.returncode != 0
        assert b"Traceback" not in stderr, stderr.decode(errors="replace")
        assert _wait_until_gone(started) == set()
    finally:
        for pid in started:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("preset", "expected"), [(None, 10_000), ("500", 500)])
def test_a_check_process_gives_sympy_a_larger_cache_unless_told(preset: str | None,
                                                                  expected: int) -> None:
    # SymPy reads SYMPY_CACHE_SIZE when it is imported: set up first, then import, as a
    # worker and the fork server do. A user's own setting wins.
    env = {k: v for k, v in os.environ.items() if k != "SYMPY_CACHE_SIZE"}
    if preset is not None:
        env["SYMPY_CACHE_SIZE"] = preset
    program = ("from gradcheck_cli import worker; worker.set_up_check_process(); "
               "import sympy.core.cache as cache; print(cache.SYMPY_CACHE_SIZE)")
    printed = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert int(printed) == expected
