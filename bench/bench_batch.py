"""Benchmark: ``gradcheck --file`` against the loop a user would write by hand.

Makes a batch file of mixed expressions (polynomials, trigonometry, exp/log,
activations and losses, one to four variables, ordinary points; the same file for the
same ``--seed``), then times, in the same run and each in a fresh process, wall time
from start to exit with every import included:

a. ``gradcheck --file FILE --format jsonl --output ...``, the installed command (its
   workers included);
b. a naive reference loop (``--naive FILE``): per line ``sympify``, ``diff`` and
   ``evalf(subs=...)`` per variable, ``lambdify(..., "torch")``, then
   ``torch.autograd.grad`` on float64 leaves, compared with the same tolerance.

The two alternate for ``--rounds`` rounds (the first of each pair alternating too), so
that a change in the machine's speed during the run falls on both. It prints every
round, the median of each side, the ratio of the medians, checks per second, and peak
memory: the largest resident set among a command's processes, from ``wait4``.

    python bench/bench_batch.py                  # 1,000 lines, seed 0, 3 rounds
    python bench/bench_batch.py --lines 200 --jobs 1 --rounds 1

The reference may use ``sympify`` and ``lambdify``: it is the baseline, not the
product.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"

Point = dict[str, float]


def _u(rng: random.Random, low: float, high: float, digits: int = 3) -> float:
    return round(rng.uniform(low, high), digits)


# (template, point maker). Coefficients {a} {b} {c} are in [0.5, 3], {n} in 2..5; the
# points stay inside every domain and away from kinks and poles.
TEMPLATES: list[tuple[str, Callable[[random.Random], Point]]] = [
    ("{a}*x**3 - {b}*x*y + {c}*y**2", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("(x - {a})**{n}*y + {b}*x", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("x**4 - {a}*x**2 + {b}", lambda g: {"x": _u(g, -2, 2)}),
    ("sin({a}*x)*cos(y) + {b}", lambda g: {"x": _u(g, -3, 3), "y": _u(g, -3, 3)}),
    ("tan({a}*x) + sin(x*y)", lambda g: {"x": _u(g, -0.4, 0.4), "y": _u(g, -2, 2)}),
    ("exp(-{a}*x**2)*log(1 + y**2)", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("log(x**2 + {a}) - {b}*x", lambda g: {"x": _u(g, -3, 3)}),
    ("exp({a}*x)/(1 + exp(y))", lambda g: {"x": _u(g, -1, 1), "y": _u(g, -2, 2)}),
    ("sigmoid({a}*x + {b})", lambda g: {"x": _u(g, -3, 3)}),
    ("softplus(w*x + {a})", lambda g: {"w": _u(g, -2, 2), "x": _u(g, -2, 2)}),
    ("tanh({a}*x)*y", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("0.5*x*(1 + erf(x/sqrt(2)))", lambda g: {"x": _u(g, -3, 3)}),
    ("x*sigmoid({a}*x)", lambda g: {"x": _u(g, -3, 3)}),
    ("-(y*log(p) + (1 - y)*log(1 - p))", lambda g: {"y": _u(g, 0, 1), "p": _u(g, 0.05, 0.95)}),
    ("(w*x + b - y)**2", lambda g: {"w": _u(g, -2, 2), "x": _u(g, -2, 2), "b": _u(g, -1, 1),
                                    "y": _u(g, -2, 2)}),
    ("log(cosh({a}*x - y))", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("x**y + {a}*y", lambda g: {"x": _u(g, 0.5, 3), "y": _u(g, -2, 2)}),
    ("sqrt(x**2 + y**2 + {a})", lambda g: {"x": _u(g, -2, 2), "y": _u(g, -2, 2)}),
    ("atan({a}*x)/(1 + z**2) + z*x", lambda g: {"x": _u(g, -2, 2), "z": _u(g, -2, 2)}),
    ("softplus(z) - y*z", lambda g: {"z": _u(g, -3, 3), "y": _u(g, 0, 1)}),
]


def make_lines(count: int, seed: int) -> list[str]:
    """``count`` batch lines, the same for the same seed."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        template, point = TEMPLATES[index % len(TEMPLATES)]
        expression = template.format(a=_u(rng, 0.5, 3, 2), b=_u(rng, 0.5, 3, 2),
                                     c=_u(rng, 0.5, 3, 2), n=rng.randint(2, 5))
        values = ", ".join(f"{name}={value!r}" for name, value in point(rng).items())
        lines.append(f"{expression} @ {values}")
    return lines


Timing = tuple[float, int]  # wall seconds, peak RSS in bytes


def run_timed(command: list[str]) -> Timing:
    """Wall time of a command, and the largest resident set of its processes."""
    start = time.perf_counter()
    process = subprocess.Popen(command)
    # wait4's usage covers the process and every descendant it waited for (the workers).
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} exited with {process.returncode}")
    return elapsed, usage.ru_maxrss * 1024


def time_gradcheck(path: Path, jobs: int | None) -> tuple[Timing, dict[str, int]]:
    """``gradcheck --file``: its timing and its summary."""
    report = OUT / "gradcheck.jsonl"
    # The command users run, installed next to this interpreter.
    script = Path(sys.executable).parent / "gradcheck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gradcheck_cli"]
    command += ["--file", str(path), "--format", "jsonl", "--output", str(report)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    timing = run_timed(command)
    return timing, json.loads(report.read_text().splitlines()[-1])["summary"]


def time_naive(path: Path) -> tuple[Timing, int]:
    """The naive loop in a fresh process: its timing and how many lines agreed."""
    result = OUT / "naive.json"
    timing = run_timed([sys.executable, __file__, "--naive", str(path), "--result", str(result)])
    return timing, int(json.loads(result.read_text())["agree"])


def naive_loop(lines: list[str], rtol: float = 1e-7, atol: float = 1e-12) -> int:
    """What a user writes by hand, imports included; how many lines agree."""
    import sympy
    import torch

    x = sympy.Symbol("x")
    names: dict[str, Any] = {
        "sigmoid": sympy.Lambda(x, 1 / (1 + sympy.exp(-x))),
        "softplus": sympy.Lambda(x, sympy.log(1 + sympy.exp(x))),
    }

    def torch_sqrt(value: Any) -> Any:
        # lambdify prints sqrt(2) as torch.sqrt(2), which wants a tensor.
        return torch.sqrt(torch.as_tensor(value, dtype=torch.float64))

    modules: list[Any] = [{"sqrt": torch_sqrt}, "torch"]
    agree = 0
    for line in lines:
        text, point_text = line.split("@")
        point = {name.strip(): float(value) for name, value in
                 (piece.split("=") for piece in point_text.split(","))}
        expr = sympy.sympify(text, locals=names)
        symbols = sorted(expr.free_symbols, key=lambda s: s.name)
        subs = {s: point[s.name] for s in symbols}
        exact = [float(sympy.diff(expr, s).evalf(subs=subs)) for s in symbols]
        float(expr.evalf(subs=subs))
        function = sympy.lambdify(symbols, expr, modules)
        leaves = [torch.tensor(point[s.name], dtype=torch.float64, requires_grad=True)
                  for s in symbols]
        grads = torch.autograd.grad(function(*leaves), leaves)
        agree += all(abs(float(g) - e) <= atol + rtol * abs(e) for g, e in zip(grads, exact, strict=True))
    return agree


def main() -> None:
    """Make the file, time both sides in alternating rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="passed to gradcheck --jobs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--naive", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--result", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:  # one run of the reference loop, in this fresh process
        lines = Path(args.naive).read_text().splitlines()
        Path(args.result).write_text(json.dumps({"agree": naive_loop(lines)}))
        return

    load = os.getloadavg()[0]  # other work on the machine skews both timings
    OUT.mkdir(exist_ok=True)
    lines = make_lines(args.lines, args.seed)
    path = OUT / f"batch-{args.lines}-{args.seed}.txt"
    path.write_text("".join(line + "\n" for line in lines))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{load:.2f} at the start")
    print(f"file: {path} ({len(lines)} lines, seed {args.seed})")

    mib = 2**20
    product: list[float] = []
    naive: list[float] = []
    for round_number in range(args.rounds):
        sides = ["gradcheck", "naive"] if round_number % 2 == 0 else ["naive", "gradcheck"]
        for side in sides:
            if side == "gradcheck":
                (elapsed, peak), summary = time_gradcheck(path, args.jobs)
                product.append(elapsed)
                print(f"round {round_number + 1}  gradcheck --file  {elapsed:6.2f} s  "
                      f"{len(lines) / elapsed:6.1f} checks/s  peak RSS {peak / mib:4.0f} MiB  "
                      f"{summary}")
            else:
                (elapsed, peak), agree = time_naive(path)
                naive.append(elapsed)
                print(f"round {round_number + 1}  naive loop        {elapsed:6.2f} s  "
                      f"{len(lines) / elapsed:6.1f} checks/s  peak RSS {peak / mib:4.0f} MiB  "
                      f"agree {agree}/{len(lines)}")
    ratios = ", ".join(f"{p / n:.2f}" for p, n in zip(product, naive, strict=True))
    ratio = statistics.median(product) / statistics.median(naive)
    print(f"median: gradcheck --file {statistics.median(product):.2f} s, naive loop "
          f"{statistics.median(naive):.2f} s; ratio per round {ratios}")
    print(f"ratio gradcheck / naive = {ratio:.2f} (target <= 0.50: "
          f"{'met' if ratio <= 0.5 else 'MISSED'})")


if __name__ == "__main__":
    main()
