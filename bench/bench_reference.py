"""Benchmark: what the certified exact reference costs per check, in-process.

Runs the same checks with two copies of gradcheck in the same run, each in a fresh
process (imports excluded from the timing, first check excluded as warm-up), and prints
CPU milliseconds per check and the ratio:

a. this working tree;
b. a baseline commit (``--baseline REV``, default ``719372a``: the last commit before the
   certified reference), checked out with ``git worktree`` into a temporary folder.

Two sets of checks: ``bench`` (bench_batch.py's generated lines, ordinary points) and
``tails`` (cancellation and tail cases, where the reference has to raise its
precision). The sides alternate over ``--rounds`` rounds; the medians are compared.

    python bench/bench_reference.py                 # 300 bench lines, 3 rounds
    python bench/bench_reference.py --lines 100 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TAILS = [
    "log(erfc(-x)) @ x=-30", "log(1 + erf(x)) @ x=-30", "0.5*x*(1+erf(x/sqrt(2))) @ x=-10",
    "1 - cos(x) @ x=1e-8", "exp(x) - 1 - x @ x=1e-10", "sqrt(x**2+1) - x @ x=1e8",
    "tanh(x) - 1 @ x=20", "lgamma(x) @ x=1e-300", "sin(x)**2 + cos(x)**2 - 1 @ x=0.7",
    "m + log(exp(a-m) + exp(b-m)) @ m=1, a=2, b=3", "log(sigmoid(x)) @ x=-30",
    "softplus(x) - x @ x=40", "x - sin(x) @ x=1e-6", "(exp(x) - 1)/x @ x=1e-15",
]

# Runs inside the measured process: time each check's CPU, imports excluded.
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from gradcheck_cli.batch import parse_line
from gradcheck_cli.check import load_evaluation, run
load_evaluation()
lines = json.loads(sys.stdin.read())
requests = [parse_line(line.encode(), f"l{i}") for i, line in enumerate(lines)]
run(requests[0])  # warm-up: first-use costs are start-up, not per check
start = time.process_time()
for request in requests[1:]:
    run(request)
print(json.dumps((time.process_time() - start) / (len(requests) - 1) * 1000))
"""


def measure(tree: Path, lines: list[str]) -> float:
    """CPU milliseconds per check of the gradcheck in ``tree``, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree)], input=json.dumps(lines),
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="719372a")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_batch import make_lines

    sets = {"bench": make_lines(args.lines, 0), "tails": TAILS}
    with tempfile.TemporaryDirectory() as folder:
        baseline = Path(folder) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline),
                        args.baseline], check=True, capture_output=True)
        try:
            for name, lines in sets.items():
                now, before = [], []
                for round_ in range(args.rounds):
                    order = [(ROOT, now), (baseline, before)]
                    for tree, into in order if round_ % 2 == 0 else order[::-1]:
                        into.append(measure(tree, lines))
                    print(f"{name} round {round_ + 1}: certified {now[-1]:.2f} ms/check, "
                          f"baseline {before[-1]:.2f} ms/check")
                a, b = statistics.median(now), statistics.median(before)
                print(f"{name}: {len(lines)} checks; median CPU per check: certified {a:.2f} ms, "
                      f"baseline ({args.baseline}) {b:.2f} ms; ratio {a / b:.2f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                           check=True, capture_output=True)


if __name__ == "__main__":
    main()
