"""Benchmark: how soon a worker is ready, with the fork server and with ``spawn``.

Times, in the same run and each measurement in a fresh supervisor process (so that every
first worker pays its imports, and no fork server survives from the last one):

a. request to ``ready`` of the first worker of a pool, of the second (asked for once the
   first is ready), and of a replacement after a worker was killed with ``SIGKILL`` (asked
   for once the dead worker is buried; several per process, their median per round);
b. ``gradcheck --file examples.txt --jobs 2 --format jsonl``, wall time from start to exit,
   whose reports must be the same byte for byte under both start methods.

The start method is chosen as a user would, with ``GRADCHECK_START_METHOD=forkserver`` or
``spawn``. The two alternate, round by round (which goes first alternates too), because
this machine's speed drifts by tens of percent within minutes; each figure is the median of
the rounds.

    python bench/bench_workers.py                    # 10 rounds, 5 runs of examples.txt
    python bench/bench_workers.py --rounds 3 --file-runs 0

The pool's own start-up steps (``WorkerPool._start_worker``, ``_wait``) are driven directly:
the time measured is the pool's, from the call that asks for a worker to the message that
says it is ready, with nothing of a check in it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METHODS = ("spawn", "forkserver")
#: Replacements measured in each supervisor process.
REPLACEMENTS = 3


def measure(method: str) -> dict[str, float]:
    """In this (fresh) process: seconds from request to ready of the first worker, the
    second, and the median of :data:`REPLACEMENTS` replacements after a ``SIGKILL``."""
    from gradcheck_cli.workers import WorkerPool

    def start(pool: WorkerPool) -> float:
        began = time.perf_counter()
        pool._start_worker()
        worker = pool.workers[-1]
        while not worker.ready:
            pool._wait()
            if worker not in pool.workers:
                raise SystemExit(f"a {method} worker failed to start: {pool.last_fatal}")
        return time.perf_counter() - began

    with WorkerPool(0, start_method=method) as pool:
        first = start(pool)
        second = start(pool)
        replacements = []
        for _ in range(REPLACEMENTS):
            victim = pool.workers[0]
            assert victim.process.pid is not None
            os.kill(victim.process.pid, signal.SIGKILL)
            while victim in pool.workers:
                pool._wait()
            replacements.append(start(pool))
        if pool.method != method:
            raise SystemExit(f"the pool fell back from {method} to {pool.method}")
    return {"first": first, "second": second, "replacement": statistics.median(replacements)}


def _in_fresh_process(method: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--measure", method], capture_output=True,
                          text=True, cwd=REPO, check=True, timeout=600)
    return dict(json.loads(done.stdout))


def _run_file(method: str, jobs: int) -> tuple[float, str]:
    env = {**os.environ, "GRADCHECK_START_METHOD": method, "GRADCHECK_PROGRESS_INTERVAL": "0"}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gradcheck_cli", "--file", "examples.txt",
                           "--jobs", str(jobs), "--format", "jsonl"], capture_output=True,
                          text=True, cwd=REPO, env=env, check=False, timeout=600)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"gradcheck --file examples.txt failed ({method}):\n{done.stderr}")
    return elapsed, done.stdout


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="fresh supervisors per method")
    parser.add_argument("--file-runs", type=int, default=5,
                        help="runs of gradcheck --file examples.txt per method (0: none)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of those runs")
    parser.add_argument("--measure", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    starts: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for round_ in range(args.rounds):
        order = METHODS if round_ % 2 == 0 else METHODS[::-1]
        for method in order:
            found = _in_fresh_process(method)
            starts[method].append(found)
            print(f"round {round_ + 1} {method:>10}: first {_ms(found['first'])}, second "
                  f"{_ms(found['second'])}, replacement {_ms(found['replacement'])}", flush=True)
    print(f"\nrequest to ready, median of {args.rounds} fresh supervisors:")
    print(f"{'':>12} {'first':>9} {'second':>9} {'replacement':>12}")
    for method in METHODS:
        medians = {key: statistics.median(r[key] for r in starts[method])
                   for key in ("first", "second", "replacement")}
        print(f"{method:>12} {_ms(medians['first']):>9} {_ms(medians['second']):>9} "
              f"{_ms(medians['replacement']):>12}")

    if args.file_runs:
        walls: dict[str, list[float]] = {m: [] for m in METHODS}
        reports: dict[str, set[str]] = {m: set() for m in METHODS}
        for run in range(args.file_runs):
            for method in METHODS if run % 2 == 0 else METHODS[::-1]:
                elapsed, report = _run_file(method, args.jobs)
                walls[method].append(elapsed)
                reports[method].add(report)
        if len(reports["spawn"] | reports["forkserver"]) != 1:
            raise SystemExit("the reports of examples.txt differ between the start methods")
        print(f"\ngradcheck --file examples.txt --jobs {args.jobs}, wall time, median of "
              f"{args.file_runs} (each run: {', '.join(f'{w:.2f}' for w in walls['spawn'])} s "
              f"spawn; {', '.join(f'{w:.2f}' for w in walls['forkserver'])} s forkserver):")
        for method in METHODS:
            print(f"{method:>12} {statistics.median(walls[method]):.2f} s")
        print("the reports are identical under both start methods")


if __name__ == "__main__":
    main()
