"""Benchmark: what the pytest plugin adds to pytest's start-up where there is nothing to check.

The plugin is installed with the package, so it loads in every pytest run of a project
that has gradcheck installed, most of which have no check file. This makes a temporary
project with a few trivial tests and no check file, then times
``python -m pytest --collect-only -q -p no:cacheprovider`` in it, each run a fresh
process, with the plugin (as installed) and with ``-p no:gradcheck``. The two alternate
for ``--rounds`` rounds (which goes first alternates too), so that a drift in the
machine's speed falls on both; it prints the median of each side and the overhead, the
median of each round's difference, in milliseconds (the goal is under 30 ms), and the
time to import the plugin module after pytest, in fresh processes: the plugin's own part
of the overhead, without the noise of whole pytest runs.

    python bench/bench_plugin_startup.py               # 15 rounds
    python bench/bench_plugin_startup.py --rounds 31
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

#: The overhead the plugin may add, in milliseconds.
GOAL_MS = 30.0

TESTS = """\
def test_add():
    assert 1 + 1 == 2


def test_join():
    assert "-".join("ab") == "a-b"


class TestThings:
    def test_len(self):
        assert len([1, 2, 3]) == 3
"""


def make_project(root: Path) -> None:
    """A small project: an ini file, two test modules, no check file."""
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    tests = root / "tests"
    tests.mkdir()
    for name in ("test_one.py", "test_two.py"):
        (tests / name).write_text(TESTS)


def time_collect(root: Path, disabled: bool) -> float:
    """Wall seconds of one ``pytest --collect-only`` in a fresh process."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    if disabled:
        command += ["-p", "no:gradcheck"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "6 tests collected" not in done.stdout:
        raise SystemExit(f"pytest --collect-only failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    """Time both sides in alternating rounds; print the medians and the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{load:.2f} at the start")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        make_project(root)
        # The plugin must be there to be measured (-p no:gradcheck of an unknown plugin
        # is silently accepted, and would compare pytest with itself).
        if not any(entry.name == "gradcheck" for entry in entry_points(group="pytest11")):
            raise SystemExit("the gradcheck pytest plugin is not installed in this interpreter "
                             "(pip install -e .)")
        time_collect(root, False)  # warm the file cache for both sides
        time_collect(root, True)
        plugin: list[float] = []
        bare: list[float] = []
        for round_number in range(args.rounds):
            order = [False, True] if round_number % 2 == 0 else [True, False]
            for disabled in order:
                (bare if disabled else plugin).append(time_collect(root, disabled))
        imports = [time_import(root) for _ in range(args.rounds)]
    with_ms = statistics.median(plugin) * 1000
    without_ms = statistics.median(bare) * 1000
    # Each round's two runs are close in time: the median of their differences is less
    # sensitive to the machine's drift than the difference of the medians.
    paired = statistics.median(a - b for a, b in zip(plugin, bare, strict=True)) * 1000
    imported = statistics.median(imports)
    print(f"pytest --collect-only, {args.rounds} rounds, median:")
    print(f"  with the plugin      {with_ms:7.1f} ms")
    print(f"  -p no:gradcheck      {without_ms:7.1f} ms")
    print(f"  difference of the medians {with_ms - without_ms:+.1f} ms, median of the rounds' "
          f"differences {paired:+.1f} ms")
    print(f"importing the plugin after pytest, median of {args.rounds} fresh processes: "
          f"{imported:.1f} ms")
    verdict = "within" if paired < GOAL_MS else "OVER"
    print(f"overhead: {paired:+.1f} ms ({verdict} the goal of {GOAL_MS:.0f} ms)")


#: Times, in a fresh process, the import of the plugin module once pytest is imported.
IMPORT = """\
import time
import pytest
start = time.perf_counter()
import gradcheck_cli.pytest_plugin
print((time.perf_counter() - start) * 1000)
"""


def time_import(root: Path) -> float:
    """Milliseconds to import the plugin (and the package it is in) after pytest."""
    # In the project's directory: -c puts the current directory first on sys.path.
    done = subprocess.run([sys.executable, "-c", IMPORT], cwd=root, capture_output=True, text=True,
                          check=True)
    return float(done.stdout)


if __name__ == "__main__":
    main()
