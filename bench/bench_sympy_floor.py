"""What SymPy's own work costs per line: the floor under issue 14's 2.5 ms per check.

A check reports SymPy's derivative formulas, and certifies its exact values from SymPy's
derivative trees. Building the expression with SymPy, differentiating it and printing
the derivatives is work that no change to gradcheck removes while SymPy is the exact
side. This script measures that work alone, on the same lines and in the same conditions
as ``bench_stages.py`` (each route in a fresh process set up as a worker is, after 50
warm-up lines of another seed, ``time.process_time`` per line):

* ``build``: parse the line and build its SymPy tree (``symbolic.to_sympy``);
* ``+ differentiate``: also every first partial the check computes (each variable of
  ``--wrt``, each element of a tensor), by the project's differentiator
  (``symbolic.derivative``), the route a check takes;
* ``+ print``: also each partial's formula (``symbolic.formula``);
* ``sympy.diff + str``: SymPy's own route instead (build, ``sympy.diff``, ``str``), as a
  script that uses SymPy directly pays it;
* ``whole check``: ``check.run`` and the check's JSON line, as ``bench_stages.py`` runs it.

    python bench/bench_sympy_floor.py --lines 1000 --seed 1 --max-depth 2
    python bench/bench_sympy_floor.py --file FILE

Lines of order 2 or more are differentiated once (the floor of their first order).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
ROUTES = ["build", "+ differentiate", "+ print", "sympy.diff + str", "whole check"]


def _partials(request: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """The SymPy tree of a request and (output element, symbol) for each first partial."""
    import numpy as np

    from gradcheck_cli.engine import symbolic

    point = request.points[0]
    if any(a.shape for a in point):
        symbols = {a.name: symbolic.element_symbols(a.name, a.shape) for a in point}
    else:
        symbols = symbolic.symbols_for(request.expression.variables)
    expr = symbolic.to_sympy(request.expression.tree, symbols)
    outputs = list(np.asarray(expr, dtype=object).ravel())
    along = [s for name in request.wrt for s in np.asarray(symbols[name], dtype=object).ravel()]
    return expr, [(output, symbol) for output in outputs for symbol in along]


def measure(route: str, lines: list[str], warm_up: list[str]) -> list[float]:
    """CPU seconds per line of one route, in this process."""
    import sympy as sp

    from gradcheck_cli import worker

    worker.set_up_check_process()
    worker.load_check_process()
    from gradcheck_cli.batch import parse_line
    from gradcheck_cli.check import run
    from gradcheck_cli.engine import symbolic
    from gradcheck_cli.render.jsonl import record_line
    from gradcheck_cli.request import Request

    def one(text: str, index: int) -> None:
        request = parse_line(text.encode(), f"line:{index}")
        if not isinstance(request, Request):
            return  # a comment, or a line refused before any work
        if route == "whole check":
            for result in run(request):
                record_line(result)
            return
        try:
            _, partials = _partials(request)
        except Exception:  # shapes that do not fit: the check refuses them too
            return
        for output, symbol in ([] if route == "build" else partials):
            if route == "sympy.diff + str":
                str(sp.diff(output, symbol))
                continue
            derivative = symbolic.derivative(output, (symbol,))
            if route == "+ print":
                symbolic.formula(derivative)

    for index, text in enumerate(warm_up):
        one(text, index)
    spent = []
    for index, text in enumerate(lines):
        start = time.process_time()
        one(text, index)
        spent.append(time.process_time() - start)
    return spent


def summary(spent: list[float]) -> tuple[float, float]:
    """Mean ms per line without the slowest 1% (as bench_stages.py), and over every line."""
    ordered = sorted(spent)
    kept = len(ordered) - len(ordered) // 100
    return 1000 * sum(ordered[:kept]) / kept, 1000 * sum(ordered) / len(ordered)


def main() -> None:
    """Measure each route in its own fresh process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-depth", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--file", type=Path, help="a check file instead of distinct_lines.py's lines")
    parser.add_argument("--tree", type=Path, default=TREE, help=f"the tree measured (default {TREE})")
    parser.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:  # one route, in this fresh process, of the tree on PYTHONPATH
        route, lines_file, warm_up_file = args.inner
        lines, warm_up = ([t for t in Path(p).read_text().splitlines() if t.strip()]
                          for p in (lines_file, warm_up_file))
        print(json.dumps(measure(route, lines, warm_up)))
        return

    sys.path.insert(0, str(HERE))
    from distinct_lines import benchmark_files

    with tempfile.TemporaryDirectory() as scratch:
        lines_file, warm_up_file, source = benchmark_files(Path(scratch), args.file, args.lines,
                                                           args.seed, args.max_depth)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
              f"lines: {source}; tree: {args.tree}")
        # Not run in TREE: the current directory leads sys.path, and /work/main would win.
        env = dict(os.environ, PYTHONPATH=str(args.tree.resolve()))
        print("\n| route | ms per line, without the slowest 1% | every line |\n|---|---|---|")
        for route in ROUTES:
            out = subprocess.run([sys.executable, str(HERE / "bench_sympy_floor.py"), "--inner",
                                  route, str(lines_file), str(warm_up_file)],
                                 env=env, cwd=scratch, check=True, capture_output=True, text=True)
            trimmed, every = summary(json.loads(out.stdout.splitlines()[-1]))
            print(f"| {route} | {trimmed:.2f} | {every:.2f} |", flush=True)


if __name__ == "__main__":
    main()
