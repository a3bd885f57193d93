"""CPU time per check, in-process, and where it goes, stage by stage.

Runs check-file lines one by one in a fresh process set up as a worker is
(``set_up_check_process``, ``load_check_process``: one torch thread, no TorchScript, the
imports frozen out of the collector's sight), after a warm-up of 50 other lines so that
imports and first-call costs are excluded, and measures ``time.process_time`` per line:

* ``parse + prepare``: :func:`gradcheck_cli.batch.parse_line` (explicit timer);
* the engine (:func:`gradcheck_cli.check.run`), split by wrapping the functions named in
  :data:`STAGES` with timers: each instant of CPU goes to the innermost stage running,
  except that within one group (the torch side, the exact side) the outermost stage
  keeps it (``reverse_mode`` builds its graph with ``evaluate``: that is reverse mode);
  what no stage claims is ``engine, other`` (results, bookkeeping, the judge's rules);
* ``render``: the check's JSON line, as ``--format jsonl`` writes it (explicit timer).

The functions a tree does not have are listed as missing (the stages are data: add a
new function's name to its stage). The wrappers cost about a microsecond a call.

    python bench/bench_stages.py --lines 1000 --seed 1             # this tree
    python bench/bench_stages.py --lines 1000 --seed 1 --base DIR  # DIR and this tree

Each tree runs in its own fresh process, with ``PYTHONPATH`` set to it; with ``--base``
the two tables are printed side by side.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent

#: (stage, group, candidate functions "module:qualname" under gradcheck_cli).
STAGES: list[tuple[str, str, list[str]]] = [
    ("build SymPy tree", "sympy-build", ["engine.symbolic:to_sympy"]),
    ("differentiate (SymPy)", "diff", ["engine.symbolic:derivative", "engine.differentiate:diff"]),
    ("print formulas", "print", ["engine.symbolic:formula"]),
    ("exact values (certify, limits, kinks, as written)", "exact",
     ["engine.symbolic:exact_value", "engine.certify:value", "engine.symbolic:limit_value",
      "engine.symbolic:kink_sites", "engine.symbolic:as_written", "engine.evaluate:written_context",
      "engine.symbolic:is_zero", "engine.symbolic:one_sided", "engine.symbolic:non_smooth_at",
      "engine.symbolic:classify"]),
    ("torch: value + reverse mode", "torch",
     ["engine.autograd:reverse_mode", "engine.tensors:_reverse", "engine.tensors:_reverse_partials",
      "engine.tensors:_jacobian", "engine.autograd:evaluate"]),
    ("torch: forward mode", "torch", ["engine.autograd:forward_mode", "engine.autograd:forward_modes",
                                      "engine.autograd:Opinions.forward_mode"]),
    ("torch: finite differences", "torch",
     ["engine.autograd:finite_difference", "engine.autograd:finite_differences",
      "engine.autograd:Opinions.finite_difference", "engine.autograd:one_sided_differences",
      "engine.tensors:_finite_differences", "engine.tensors:_higher_finite_differences"]),
    ("torch: float64 rerun, nan source", "torch",
     ["engine.evaluate:_Float64Rerun.partial", "engine.tensors:_float64_rerun",
      "engine.autograd:nan_source", "engine.autograd:grad_fn_name", "engine.autograd:forward_value"]),
    ("judge", "judge", ["engine.judge:judge_entry", "compare:second_opinions"]),
]
PARSE, RENDER, OTHER = "parse + prepare", "render (JSON line)", "engine, other"
#: CPU seconds after which a line is stopped, as ``gradcheck --timeout``'s default stops
#: it (there in wall time): its CPU up to then stays in the totals.
LIMIT_S = 10.0


class _Stopped(BaseException):
    """Raised by the CPU-time alarm; not an ``Exception``, so the engine does not catch it."""


class Timers:
    """Exclusive CPU time per stage, from wrappers around the stages' functions."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[tuple[str, str]] = []  # (stage, group), innermost last
        self.mark = 0.0
        self.found: dict[str, list[str]] = defaultdict(list)
        self.missing: list[str] = []

    def wrap(self, stage: str, group: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with its CPU time charged to ``stage``."""
        clock, stack, spent = time.process_time, self.stack, self.spent

        def timed(*args: Any, **kwargs: Any) -> Any:
            if stack and stack[-1][1] == group:  # the outer stage of the group keeps it
                return function(*args, **kwargs)
            now = clock()
            if stack:
                spent[stack[-1][0]] += now - self.mark
            self.mark = now
            stack.append((stage, group))
            try:
                return function(*args, **kwargs)
            finally:
                now = clock()
                spent[stack.pop()[0]] += now - self.mark
                self.mark = now

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed

    def install(self) -> None:
        """Wrap every stage function this tree has, wherever a module holds it."""
        import importlib

        modules = [m for name, m in sys.modules.items() if name.startswith("gradcheck_cli") and m]
        for stage, group, candidates in STAGES:
            for candidate in candidates:
                module_name, qualname = candidate.split(":")
                try:
                    module = importlib.import_module(f"gradcheck_cli.{module_name}")
                except ImportError:
                    self.missing.append(candidate)
                    continue
                *owner_path, attribute = qualname.split(".")
                owner: Any = module
                for part in owner_path:
                    owner = getattr(owner, part, None)
                original = getattr(owner, attribute, None) if owner is not None else None
                if original is None or not callable(original) or \
                        inspect.isgeneratorfunction(original):
                    self.missing.append(candidate)
                    continue
                wrapped = self.wrap(stage, group, original)
                setattr(owner, attribute, wrapped)
                if not owner_path:  # "from .x import f" elsewhere: those names too
                    for other in modules:
                        for key, held in list(vars(other).items()):
                            if held is original:
                                setattr(other, key, wrapped)
                self.found[stage].append(candidate)

    def engine_total(self) -> float:
        """CPU time the stages claimed so far."""
        return sum(self.spent.values())


def measure(lines: list[str], warm_up: list[str]) -> dict[str, Any]:
    """Run the lines in this process; CPU seconds per stage, summed over the lines."""
    from gradcheck_cli import worker

    worker.set_up_check_process()
    worker.load_check_process()
    from gradcheck_cli.batch import parse_line
    from gradcheck_cli.check import run
    from gradcheck_cli.render.jsonl import record_line
    from gradcheck_cli.results import CheckResult

    timers = Timers()
    timers.install()
    stopped: list[str] = []

    def alarm(signum: int, frame: Any) -> None:
        raise _Stopped

    # The virtual timer (user CPU time), not the profiling one: the engine's own SymPy
    # time budgets use ITIMER_PROF, and run unbounded where another timer holds it, which
    # made proofs that stop at their budget in a worker run here until this stop.
    signal.signal(signal.SIGVTALRM, alarm)

    def one(text: str, index: int) -> tuple[float, float, float]:
        start = time.process_time()
        item = parse_line(text.encode(), f"line:{index}")
        parsed = time.process_time()
        results: tuple[Any, ...] = ()
        if isinstance(item, CheckResult):
            results = (item,)
        elif item is not None:
            signal.setitimer(signal.ITIMER_VIRTUAL, LIMIT_S)
            try:
                results = run(item)
            except _Stopped:
                stopped.append(text)
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        ran = time.process_time()
        for result in results:
            if result is not None:
                record_line(result)
                statuses[result.status.value] += 1
        return parsed - start, ran - parsed, time.process_time() - ran

    statuses: dict[str, int] = defaultdict(int)
    for index, text in enumerate(warm_up):
        one(text, index)
    statuses.clear()
    # Per line: its total and its stages, so that the slowest lines can be set apart.
    per_check: list[tuple[float, str, dict[str, float]]] = []
    stopped.clear()
    for index, text in enumerate(lines):
        timers.spent.clear()
        p, e, r = one(text, index)
        stages = dict(timers.spent)
        stages[OTHER] = e - timers.engine_total()
        stages[PARSE] = p
        stages[RENDER] = r
        per_check.append((p + e + r, text, stages))

    def summed(rows: list[tuple[float, str, dict[str, float]]]) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        for _, _, stages in rows:
            for stage, seconds in stages.items():
                total[stage] += seconds
        return dict(total)

    per_check.sort(key=lambda row: row[0])
    times = [t for t, _, _ in per_check]
    kept_rows = per_check[:len(per_check) - len(per_check) // 100]  # without the slowest 1%
    kept = times[:len(kept_rows)]
    return {"checks": len(lines), "total": sum(times), "stages": summed(per_check),
            "trimmed": {"checks": len(kept_rows), "total": sum(kept), "stages": summed(kept_rows)},
            "median_ms": 1000 * times[len(times) // 2] if times else 0.0,
            "p99_ms": 1000 * times[int(len(times) * 0.99)] if times else 0.0,
            "max_ms": 1000 * times[-1] if times else 0.0,
            "trimmed_ms": 1000 * sum(kept) / len(kept) if kept else 0.0,
            "slowest": [(round(1000 * t, 1), text) for t, text, _ in per_check[-5:][::-1]],
            "stopped": stopped,
            "found": dict(timers.found), "missing": timers.missing, "statuses": dict(statuses),
            "tree": str(Path(sys.modules["gradcheck_cli"].__file__ or "").parent.parent)}


def run_tree(tree: Path, lines_file: Path, warm_up_file: Path) -> dict[str, Any]:
    """The measurement of one tree, in a fresh process with ``PYTHONPATH`` set to it."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "stages.json"
        # Not run in TREE: the current directory leads sys.path, and /work/main would win.
        env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
        subprocess.run([sys.executable, str(HERE / "bench_stages.py"), "--inner", str(lines_file),
                        "--warm-up", str(warm_up_file), "--json", str(out)], env=env, cwd=scratch, check=True)
        result: dict[str, Any] = json.loads(out.read_text())
    if not Path(result["tree"]).resolve() == tree.resolve():
        raise SystemExit(f"asked for {tree}, but gradcheck_cli came from {result['tree']}")
    return result


def table(results: list[tuple[str, dict[str, Any]]]) -> str:
    """``stage | ms/check | share`` for each tree, side by side."""
    names = [stage for stage, _, _ in STAGES]
    order = [PARSE, *names, OTHER, RENDER]
    header = "| stage | " + " | ".join(f"{label} ms/check | share" for label, _ in results) + " |"
    rule = "|---|" + "---|---|" * len(results)
    rows = [header, rule]
    for stage in order:
        cells = []
        for _, result in results:
            seconds = result["stages"].get(stage, 0.0)
            cells.append(f"{1000 * seconds / result['checks']:.2f} | {seconds / result['total']:.0%}")
        rows.append(f"| {stage} | " + " | ".join(cells) + " |")
    cells = [f"**{1000 * r['total'] / r['checks']:.2f}** | 100%" for _, r in results]
    rows.append("| **total** | " + " | ".join(cells) + " |")
    cells = [f"{r['median_ms']:.2f} / {r['p99_ms']:.1f} / {r['max_ms']:.0f} | " for _, r in results]
    rows.append("| median / p99 / max per check, ms | " + " | ".join(cells) + " |")
    cells = [f"{r['trimmed_ms']:.2f} | " for _, r in results]
    rows.append("| mean without the slowest 1%, ms | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    """Measure this tree (and ``--base``), print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file", type=Path, help="a check file instead of distinct_lines.py's lines")
    parser.add_argument("--base", type=Path, help="the baseline's tree, measured first")
    parser.add_argument("--current", type=Path, default=TREE, help=f"the tree (default {TREE})")
    parser.add_argument("--base-only", action="store_true", help="measure --base alone")
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm-up", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:  # the measurement, in this fresh process, of the tree on PYTHONPATH
        lines, warm_up = ([t for t in path.read_text().splitlines() if t.strip()]
                          for path in (args.inner, args.warm_up))
        args.json.write_text(json.dumps(measure(lines, warm_up)))
        return

    sys.path.insert(0, str(HERE))
    from distinct_lines import WARM_UP, WARM_UP_SEED, benchmark_files

    with tempfile.TemporaryDirectory() as scratch:
        lines_file, warm_up_file, source = benchmark_files(Path(scratch), args.file, args.lines,
                                                           args.seed)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
              f"lines: {source}; warm-up: {WARM_UP} lines (seed {WARM_UP_SEED})")
        results = []
        current = None if args.base_only else args.current
        for label, tree in (("base", args.base), ("current", current)):
            if tree is None:
                continue
            start = time.perf_counter()
            result = run_tree(tree, lines_file, warm_up_file)
            print(f"{label}: {tree}, {time.perf_counter() - start:.0f} s wall, statuses "
                  f"{result['statuses']}; stage functions missing in this tree: "
                  f"{', '.join(result['missing']) or 'none'}")
            results.append((label, result))
    print()
    print(table(results))
    print()
    print("without the slowest 1% of lines:")
    print(table([(label, {**r, **r["trimmed"]}) for label, r in results]))
    print()
    for label, result in results:
        print(f"{label}: stopped at {LIMIT_S:.0f} s of CPU: {len(result['stopped'])}; slowest lines:")
        for ms, text in result["slowest"]:
            print(f"  {ms:9.1f} ms  {text}")
    print("stage functions:")
    for stage, _, _ in STAGES:
        print(f"  {stage}: " + "; ".join(f"{label}: {', '.join(r['found'].get(stage, [])) or '-'}"
                                        for label, r in results))


if __name__ == "__main__":
    main()
