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
round, the median of each side, the ratio of the medians of wall time and of CPU time
(user + system of the command and every process it waited for, its workers included,
from ``wait4``), checks per second, and peak memory: the largest resident set among a
command's processes.

``--distinct`` takes the lines from ``distinct_lines.py`` instead of the templates (no
repeated structure, every function of the registry, tensors, extreme points); the naive
loop then maps every registry function to SymPy by hand, as a user would, expands each
tensor variable into one symbol per element, lambdifies with a table of torch functions,
and stops a line after 10 s as ``gradcheck``'s ``--timeout`` does.

    python bench/bench_batch.py                  # 1,000 lines, seed 0, 3 rounds
    python bench/bench_batch.py --distinct --lines 1000 --seed 1 --rounds 3
    python bench/bench_batch.py --lines 200 --jobs 1 --rounds 1

The reference may use ``sympify`` and ``lambdify``: it is the baseline, not the
product.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
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


Timing = tuple[float, float, int]  # wall seconds, CPU seconds, peak RSS in bytes


def _become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    gradcheck's workers may be children of a fork server, not of the command: when the
    server dies, they would go to init, and their CPU time with them. Adopted, they are
    reaped here and counted.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # 36: PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


SUBREAPER = False


def run_timed(command: list[str]) -> Timing:
    """Wall time of a command, its CPU time (user + system of every process it started,
    however deep: this process is their subreaper and reaps them all), and the largest
    resident set among them."""
    global SUBREAPER
    SUBREAPER = SUBREAPER or _become_subreaper()
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command)
    # wait4's usage covers the process and every descendant it waited for (the workers).
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss
    # Adopted descendants (a fork server's workers) exit with their parent: reap them.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pid, _, orphan = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
            continue
        peak = max(peak, orphan.ru_maxrss)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} exited with {process.returncode}")
    return elapsed, cpu, peak * 1024


def tree_environment(tree: Path) -> None:
    """Run gradcheck from ``tree`` (``PYTHONPATH``), after checking that it does."""
    tree = tree.resolve()
    os.environ["PYTHONPATH"] = str(tree)
    # Not in /work/main: the current directory leads sys.path, and its package would win.
    found = subprocess.run([sys.executable, "-c", "import gradcheck_cli; print(gradcheck_cli.__file__)"],
                           cwd=OUT, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree):
        raise SystemExit(f"with PYTHONPATH={tree}, gradcheck_cli comes from {found}")


def time_gradcheck(path: Path, jobs: int | None) -> tuple[Timing, dict[str, int]]:
    """``gradcheck --file``: its timing and its summary."""
    report = OUT / f"gradcheck-{os.getpid()}.jsonl"  # another run of this script may be on
    # The command users run, installed next to this interpreter (with --tree, that tree's
    # package, which the script imports as well: PYTHONPATH comes before site-packages).
    script = Path(sys.executable).parent / "gradcheck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gradcheck_cli"]
    command += ["--file", str(path), "--format", "jsonl", "--output", str(report)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    timing = run_timed(command)
    summary = json.loads(report.read_text().splitlines()[-1])["summary"]
    report.unlink()
    return timing, summary


def time_naive(path: Path, distinct: bool = False) -> tuple[Timing, dict[str, int]]:
    """The naive loop in a fresh process: its timing and how many lines agreed (and, on
    distinct lines, how many it could not do or stopped)."""
    result = OUT / f"naive-{os.getpid()}.json"
    command = [sys.executable, __file__, "--naive", str(path), "--result", str(result)]
    timing = run_timed(command + (["--distinct"] if distinct else []))
    counts: dict[str, int] = json.loads(result.read_text())
    result.unlink()
    return timing, counts


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


class _TimeLimitError(BaseException):
    """A line of the naive loop ran past its time limit (not an Exception: SymPy catches those)."""


def naive_loop_distinct(lines: list[str], rtol: float = 1e-7, atol: float = 1e-12,
                        limit_s: float = 10.0) -> dict[str, int]:
    """The naive loop for any line of the registry, as a user would write it by hand.

    Each function of the expression language is defined in SymPy here (not taken from
    gradcheck_cli), elementwise over NumPy arrays of symbols, so that a tensor variable
    becomes one symbol per element; ``lambdify`` then gets a table of torch functions
    that also take plain numbers. Returns how many lines agree, how many raised (a
    function torch or the printer could not do, a non-finite value), and how many ran
    past ``limit_s`` seconds.
    """
    import math
    import signal

    import numpy as np
    import sympy as sp
    import torch

    def elementwise(function: Callable[..., Any]) -> Callable[..., Any]:
        vectorised = np.vectorize(function, otypes=[object])

        def apply(*args: Any) -> Any:
            if any(isinstance(a, np.ndarray) for a in args):
                return vectorised(*args)
            return function(*args)
        return apply

    def flat(a: Any) -> list[Any]:
        return list(np.asarray(a, dtype=object).ravel())

    def softmax(a: Any, log: bool) -> Any:
        row = np.asarray(a, dtype=object)
        total = sp.Add(*[sp.exp(v) for v in row.ravel()])
        return np.array([sp.exp(v) / total if not log else v - sp.log(total) for v in row.ravel()],
                        dtype=object).reshape(row.shape)

    def logsumexp(*args: Any) -> Any:
        if len(args) == 2:
            return elementwise(lambda a, b: sp.log(sp.exp(a) + sp.exp(b)))(*args)
        return sp.log(sp.Add(*[sp.exp(v) for v in flat(args[0])]))

    scalar: dict[str, Callable[..., Any]] = {
        "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sec": sp.sec, "csc": sp.csc, "cot": sp.cot,
        "asin": sp.asin, "acos": sp.acos, "atan": sp.atan, "atan2": sp.atan2, "sinh": sp.sinh,
        "cosh": sp.cosh, "tanh": sp.tanh, "asinh": sp.asinh, "acosh": sp.acosh, "atanh": sp.atanh,
        "exp": sp.exp, "log": sp.log, "log2": lambda a: sp.log(a, 2),
        "log10": lambda a: sp.log(a, 10), "log1p": lambda a: sp.log(1 + a),
        "expm1": lambda a: sp.exp(a) - 1, "sqrt": sp.sqrt, "abs": sp.Abs, "sign": sp.sign,
        "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "softplus": lambda a: sp.log(1 + sp.exp(a)),
        "relu": lambda a: sp.Max(0, a), "erf": sp.erf, "erfc": sp.erfc, "lgamma": sp.loggamma,
        "min": sp.Min, "max": sp.Max, "gelu": lambda a: a * (1 + sp.erf(a / sp.sqrt(2))) / 2,
        "silu": lambda a: a / (1 + sp.exp(-a)), "mish": lambda a: a * sp.tanh(sp.log(1 + sp.exp(a))),
        "logsigmoid": lambda a: -sp.log(1 + sp.exp(-a)),
        "clamp": lambda a, lo, hi: sp.Min(sp.Max(a, lo), hi),
        "hypot": lambda a, b: sp.sqrt(a**2 + b**2), "xlogy": lambda a, b: a * sp.log(b),
        "sinc": lambda a: sp.sin(sp.pi * a) / (sp.pi * a), "pow": lambda a, b: a**b,
    }
    names: dict[str, Any] = {name: elementwise(f) for name, f in scalar.items()}
    names.update({
        "sum": lambda a: sp.Add(*flat(a)), "mean": lambda a: sp.Add(*flat(a)) / len(flat(a)),
        "prod": lambda a: sp.Mul(*flat(a)), "norm": lambda a: sp.sqrt(sp.Add(*[v**2 for v in flat(a)])),
        "dot": lambda a, b: sp.Add(*[u * v for u, v in zip(flat(a), flat(b), strict=True)]),
        "matmul": lambda a, b: sp.Add(*[u * v for u, v in zip(flat(a), flat(b), strict=True)]),
        "logsumexp": logsumexp, "softmax": lambda a: softmax(a, log=False),
        "log_softmax": lambda a: softmax(a, log=True),
    })

    def as_tensor(value: Any) -> Any:
        return value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=torch.float64)

    def lifted(function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args: function(*[as_tensor(a) for a in args])

    # What lambdify's default printer writes (math's names), as torch functions.
    torch_names: dict[str, Any] = {name: lifted(getattr(torch, name)) for name in (
        "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
        "acosh", "atanh", "exp", "log", "sqrt", "erf", "erfc", "lgamma", "copysign", "expm1",
        "log1p", "log2", "log10")}
    torch_names.update({"pi": math.pi, "E": math.e, "e": math.e})

    def alarm(signum: int, frame: Any) -> None:
        raise _TimeLimitError

    signal.signal(signal.SIGALRM, alarm)
    counts = {"agree": 0, "raised": 0, "stopped": 0}
    for line in lines:
        text, point_text = line.split("@")
        point: dict[str, Any] = {}
        for name, value in re.findall(r"(\w+)\s*=\s*(\[[^\]]*\]|[^,]+)", point_text):
            point[name] = json.loads(value) if value.startswith("[") else float(value)
        signal.setitimer(signal.ITIMER_REAL, limit_s)
        try:
            local: dict[str, Any] = dict(names)
            values: dict[Any, float] = {}
            for name, value in point.items():
                if isinstance(value, list):
                    # Real symbols: d|x|/dx is sign(x) only for a real x.
                    elements = [sp.Symbol(f"{name}_{i}", real=True) for i in range(len(value))]
                    local[name] = np.array(elements, dtype=object)
                    values.update(zip(elements, value, strict=True))
                else:
                    local[name] = sp.Symbol(name, real=True)
                    values[local[name]] = value
            expr = sp.sympify(text, locals=local)
            if isinstance(expr, np.ndarray):
                expr = expr.item()
            symbols = sorted(expr.free_symbols, key=lambda s: s.name)
            subs = {s: values[s] for s in symbols}
            exact = [float(sp.diff(expr, s).evalf(subs=subs)) for s in symbols]
            float(expr.evalf(subs=subs))
            function = sp.lambdify(symbols, expr, [torch_names])
            leaves = [torch.tensor(values[s], dtype=torch.float64, requires_grad=True) for s in symbols]
            grads = torch.autograd.grad(function(*leaves), leaves, allow_unused=True)
            found = [0.0 if g is None else float(g) for g in grads]
            counts["agree"] += all(abs(g - e) <= atol + rtol * abs(e)
                                   for g, e in zip(found, exact, strict=True))
        except _TimeLimitError:
            counts["stopped"] += 1
        except Exception:  # what the hand-written loop cannot do: a user's traceback
            counts["raised"] += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return counts


def main() -> None:
    """Make the file, time both sides in alternating rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="passed to gradcheck --jobs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, help="run gradcheck from this tree (PYTHONPATH), "
                        "e.g. a copy of the baseline; the lines are this tree's")
    parser.add_argument("--distinct", action="store_true",
                        help="lines from distinct_lines.py (seed --seed) instead of the templates")
    parser.add_argument("--max-depth", type=int, default=None,
                        help="with --distinct: the deepest expression tree (distinct_lines.py's "
                        "default 4; 2 gives lines about as heavy as issue 14's held-out file)")
    parser.add_argument("--naive", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--result", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:  # one run of the reference loop, in this fresh process
        lines = Path(args.naive).read_text().splitlines()
        counts = naive_loop_distinct(lines) if args.distinct else {"agree": naive_loop(lines)}
        Path(args.result).write_text(json.dumps(counts))
        return

    load = os.getloadavg()[0]  # other work on the machine skews both timings
    OUT.mkdir(exist_ok=True)
    if args.tree:
        tree_environment(args.tree)
    if args.distinct:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from distinct_lines import generate

        depth = {} if args.max_depth is None else {"max_depth": args.max_depth}
        lines = generate(args.lines, args.seed, **depth)
        suffix = "" if args.max_depth is None else f"-d{args.max_depth}"
        path = OUT / f"distinct-{args.lines}-{args.seed}{suffix}.txt"
    else:
        lines = make_lines(args.lines, args.seed)
        path = OUT / f"batch-{args.lines}-{args.seed}.txt"
    path.write_text("".join(line + "\n" for line in lines))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{load:.2f} at the start")
    print(f"gradcheck from: {args.tree or 'the installed command'}")
    print(f"file: {path} ({len(lines)} lines, {'distinct_lines.py' if args.distinct else 'templates'}, "
          f"seed {args.seed})")

    mib = 2**20
    product: list[float] = []
    naive: list[float] = []
    product_cpu: list[float] = []
    naive_cpu: list[float] = []
    for round_number in range(args.rounds):
        sides = ["gradcheck", "naive"] if round_number % 2 == 0 else ["naive", "gradcheck"]
        for side in sides:
            if side == "gradcheck":
                (elapsed, cpu, peak), summary = time_gradcheck(path, args.jobs)
                product.append(elapsed)
                product_cpu.append(cpu)
                print(f"round {round_number + 1}  gradcheck --file  {elapsed:6.2f} s  CPU {cpu:6.2f} s  "
                      f"{len(lines) / elapsed:6.1f} checks/s  peak RSS {peak / mib:4.0f} MiB  "
                      f"{summary}")
            else:
                (elapsed, cpu, peak), counts = time_naive(path, args.distinct)
                naive.append(elapsed)
                naive_cpu.append(cpu)
                extra = "".join(f", {key} {value}" for key, value in counts.items() if key != "agree")
                print(f"round {round_number + 1}  naive loop        {elapsed:6.2f} s  CPU {cpu:6.2f} s  "
                      f"{len(lines) / elapsed:6.1f} checks/s  peak RSS {peak / mib:4.0f} MiB  "
                      f"agree {counts['agree']}/{len(lines)}{extra}")
    ratios = ", ".join(f"{p / n:.2f}" for p, n in zip(product, naive, strict=True))
    ratio = statistics.median(product) / statistics.median(naive)
    print(f"median: gradcheck --file {statistics.median(product):.2f} s, naive loop "
          f"{statistics.median(naive):.2f} s; ratio per round {ratios}")
    print(f"ratio gradcheck / naive = {ratio:.2f} (target <= 0.50: "
          f"{'met' if ratio <= 0.5 else 'MISSED'})")
    cpu_ratios = ", ".join(f"{p / n:.2f}" for p, n in zip(product_cpu, naive_cpu, strict=True))
    cpu_ratio = statistics.median(product_cpu) / statistics.median(naive_cpu)
    print(f"CPU (user + system, workers included): gradcheck --file {statistics.median(product_cpu):.2f} s, "
          f"naive loop {statistics.median(naive_cpu):.2f} s; ratio per round {cpu_ratios}")
    print(f"CPU ratio gradcheck / naive = {cpu_ratio:.2f} (issue 14: <= 1.0: "
          f"{'met' if cpu_ratio <= 1.0 else 'MISSED'}); wall ratio (issue 14, distinct lines: "
          f"<= 0.4): {ratio:.2f}")


if __name__ == "__main__":
    main()
