"""Benchmark: a check file run as tests, ``pytest -n 2`` (pytest-xdist), against ``gradcheck --file``.

Makes a check file of distinct lines with :func:`bench_batch.make_lines` (the same
expressions as ``bench_batch.py``: the same file for the same ``--seed``), then times, in
the same run and each in a fresh process, wall time from start to exit with every import
included:

a. ``python -m pytest -n JOBS -q -p no:cacheprovider checks.gradcheck``: the pytest
   plugin, one test item per check, spread over JOBS xdist workers;
b. ``gradcheck --file checks.gradcheck --jobs JOBS --format jsonl --output ...``, the
   installed command with as many worker processes.

The two alternate for ``--rounds`` rounds (which goes first alternates too), so that a
drift in the machine's speed falls on both; it prints every round, the median of each
side and the ratio of the medians (pytest over gradcheck: above 1, pytest is slower).

    python bench/bench_xdist.py                      # 1,000 lines, -n 2, 3 rounds
    python bench/bench_xdist.py --lines 100 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_batch import make_lines


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of a command in a fresh process, and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: some check did not pass; still a full run
        raise SystemExit(f"{command[:4]} exited with {done.returncode}:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return elapsed, done.stdout


def time_pytest(root: Path, jobs: int) -> tuple[float, str]:
    """``pytest -n JOBS`` on the check file: its time and its outcome line."""
    elapsed, out = timed([sys.executable, "-m", "pytest", "-n", str(jobs), "-q", "-p",
                          "no:cacheprovider", "checks.gradcheck"], root)
    outcome = next((line.strip("= ") for line in reversed(out.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "?")
    return elapsed, outcome


def time_gradcheck(root: Path, jobs: int) -> tuple[float, str]:
    """``gradcheck --file`` on the same file: its time and its summary."""
    script = Path(sys.executable).parent / "gradcheck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gradcheck_cli"]
    report = root / "gradcheck.jsonl"
    elapsed, _ = timed([*command, "--file", "checks.gradcheck", "--jobs", str(jobs), "--format",
                        "jsonl", "--output", str(report)], root)
    summary = json.loads(report.read_text().splitlines()[-1])["summary"]
    return elapsed, str(summary)


def main() -> None:
    """Make the file, time both sides in alternating rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="pytest -n and gradcheck --jobs")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    lines = make_lines(args.lines, args.seed)
    if len(set(lines)) != len(lines):
        raise SystemExit("make_lines gave a line twice: use another --seed")
    load = os.getloadavg()[0]  # other work on the machine skews both timings
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{load:.2f} at the start")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pytest.ini").write_text("[pytest]\n")  # the rootdir: no other project's ini
        (root / "checks.gradcheck").write_text("".join(line + "\n" for line in lines))
        print(f"file: checks.gradcheck ({len(lines)} distinct lines, seed {args.seed}), "
              f"{args.jobs} jobs")
        pytest_times: list[float] = []
        gradcheck_times: list[float] = []
        for round_number in range(args.rounds):
            sides = ["pytest", "gradcheck"] if round_number % 2 == 0 else ["gradcheck", "pytest"]
            for side in sides:
                if side == "pytest":
                    elapsed, outcome = time_pytest(root, args.jobs)
                    pytest_times.append(elapsed)
                    print(f"round {round_number + 1}  pytest -n {args.jobs}        {elapsed:6.2f} s  "
                          f"{len(lines) / elapsed:6.1f} checks/s  {outcome}")
                else:
                    elapsed, summary = time_gradcheck(root, args.jobs)
                    gradcheck_times.append(elapsed)
                    print(f"round {round_number + 1}  gradcheck --file  {elapsed:6.2f} s  "
                          f"{len(lines) / elapsed:6.1f} checks/s  {summary}")
    with_pytest = statistics.median(pytest_times)
    with_gradcheck = statistics.median(gradcheck_times)
    ratios = ", ".join(f"{p / g:.2f}" for p, g in zip(pytest_times, gradcheck_times, strict=True))
    print(f"median: pytest -n {args.jobs} {with_pytest:.2f} s, gradcheck --file {with_gradcheck:.2f} s")
    print(f"ratio pytest / gradcheck: {with_pytest / with_gradcheck:.2f} (per round: {ratios})")


if __name__ == "__main__":
    main()
