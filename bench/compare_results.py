"""Compare the JSON results of a check file between the baseline and the current tree.

An optimisation must not change what a check reports. This runs FILE through
``gradcheck --file FILE --format jsonl --jobs 1`` twice, each in a fresh process: once
with ``PYTHONPATH`` set to the baseline's tree (``--base``, default ``/tmp/base``) and
once with this tree, and compares the results check by check (matched by line number):

* every field (status, category, message, expression, point, formulas, the symbolic
  and autograd values, their differences, shapes, ...) must be identical, floats to the
  last bit (``-0.0`` is not ``0.0``, ``"nan"`` only equals ``"nan"``);
* ``finite_difference`` and ``forward_mode`` are compared exactly too, but their
  differences are counted apart as "approximations differ": they may change with the
  way torch evaluates (batched, vmapped) without any verdict changing.

It prints the counts and the first 20 differences, and exits 1 when any field other
than the two approximations differs (0 otherwise).

    python bench/compare_results.py FILE                       # baseline vs this tree
    python bench/compare_results.py FILE --record REC.jsonl    # store the baseline's results
    python bench/compare_results.py FILE --against REC.jsonl   # this tree vs a recording

A recording starts with one line ``{"recording": {...}}`` naming the file and its
SHA-256, so that it is not compared with another file's results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent  # the tree this script belongs to
#: Fields whose differences are reported apart, and do not fail the comparison.
APPROXIMATIONS = frozenset({"finite_difference", "forward_mode"})
#: Categories of a check stopped by a resource limit: whether a check reaches its limit
#: depends on the machine's load, so such a check is "not comparable", counted apart
#: (a failure only with --strict-limits).
RESOURCE_LIMITS = frozenset({"timeout", "memory"})
SHOWN = 20

Record = dict[str, Any]
Difference = tuple[str, str, Any, Any]  # line, path in the record, base, current


def tree_env(tree: Path, scratch: str) -> dict[str, str]:
    """The environment that runs ``tree``'s gradcheck_cli, after making sure it does.

    The venv holds an editable install of /work/main, and a process started in
    /work/main finds that tree's package first (the current directory leads
    ``sys.path``): so the command runs in ``scratch``, and this checks where the package
    comes from rather than trusting ``PYTHONPATH``.
    """
    tree = tree.resolve()
    if not (tree / "gradcheck_cli" / "__init__.py").is_file():
        raise SystemExit(f"{tree} holds no gradcheck_cli/: give a tree with --base (a copy of "
                         f"the baseline: mkdir DIR && git -C {HERE} archive c4e845e | tar -x -C DIR)")
    env = dict(os.environ, PYTHONPATH=str(tree))
    found = subprocess.run([sys.executable, "-c", "import gradcheck_cli; print(gradcheck_cli.__file__)"],
                           env=env, cwd=scratch, capture_output=True, text=True, check=True).stdout
    if not Path(found.strip()).resolve().is_relative_to(tree):
        raise SystemExit(f"with PYTHONPATH={tree}, gradcheck_cli still comes from {found.strip()}")
    return env


def run_tree(tree: Path, path: Path) -> tuple[list[Record], float]:
    """FILE's results from ``tree`` (a fresh process, one job), and its wall time."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "results.jsonl"
        env = tree_env(tree, scratch)
        command = [sys.executable, "-m", "gradcheck_cli", "--file", str(path), "--format", "jsonl",
                   "--jobs", "1", "--output", str(output)]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if not output.exists():
            raise SystemExit(f"{tree}: gradcheck exited {done.returncode} without results:\n"
                             f"{done.stderr[-2000:]}")
        return [json.loads(line) for line in output.read_text().splitlines() if line.strip()], elapsed


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(path: Path, base: Path, destination: Path) -> None:
    """Store the baseline's results for FILE, with a header naming the file."""
    records, elapsed = run_tree(base, path)
    header = {"recording": {"file": str(path), "sha256": _sha256(path), "base": str(base),
                            "seconds": round(elapsed, 2)}}
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text("".join(json.dumps(r) + "\n" for r in [header, *records]))
    print(f"recorded {len(records) - 1} checks of {path} from {base} in {elapsed:.1f} s "
          f"to {destination}; {records[-1].get('summary')}")


def load_recording(destination: Path, path: Path) -> list[Record]:
    """A recording's results, after checking that it was made from FILE as it is now."""
    header, *records = (json.loads(line) for line in destination.read_text().splitlines() if line)
    meta = header.get("recording", {})
    if meta.get("sha256") != _sha256(path):
        raise SystemExit(f"{destination} was recorded from {meta.get('file')} with other contents "
                         f"than {path} has now; record again")
    return records


def _line(record: Record) -> str:
    # "path:12" -> "12": the same line of the same file, wherever the file was.
    source = record.get("source")
    return "summary" if source is None and "summary" in record else str(source).rsplit(":", 1)[-1]


def _keyed(records: list[Record]) -> dict[str, Record]:
    # A line with several points ("@ x=1 @ x=2") gives a check per point: "12", "12#2".
    keyed: dict[str, Record] = {}
    for record in records:
        key = line = _line(record)
        count = 1
        while key in keyed:
            count += 1
            key = f"{line}#{count}"
        keyed[key] = record
    return keyed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex() if a == a and b == b else (a != a) == (b != b)
    return type(a) is type(b) and a == b


def diff(base: Any, current: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """Every path where two JSON values differ, with the two values there."""
    if isinstance(base, dict) and isinstance(current, dict):
        found = []
        for key in list(base) + [k for k in current if k not in base]:
            if key not in base or key not in current:
                found.append((f"{where}.{key}", base.get(key, "<absent>"), current.get(key, "<absent>")))
            else:
                found += diff(base[key], current[key], f"{where}.{key}")
        return found
    if isinstance(base, list) and isinstance(current, list) and len(base) == len(current):
        found = []
        for index, (a, b) in enumerate(zip(base, current, strict=True)):
            found += diff(a, b, f"{where}[{index}]")
        return found
    return [] if _same(base, current) else [(where or ".", base, current)]


def _is_approximation(path: str) -> bool:
    return path.rsplit(".", 1)[-1].split("[", 1)[0] in APPROXIMATIONS


def compare(base: list[Record], current: list[Record]
            ) -> tuple[list[Difference], list[Difference], list[Difference], int]:
    """(hard differences, approximation differences, resource-limited checks, checks compared).

    A check stopped by a timeout or the memory limit on either side is not compared
    field by field: it is listed once among the resource-limited ones.
    """
    before, after = _keyed(base), _keyed(current)
    hard: list[Difference] = []
    soft: list[Difference] = []
    limited: list[Difference] = []
    for line in list(before) + [k for k in after if k not in before]:
        a, b = before.get(line), after.get(line)
        if a is None or b is None:
            hard.append((line, "<the check>", "<absent>" if a is None else "present",
                         "<absent>" if b is None else "present"))
            continue
        if {a.get("category"), b.get("category")} & RESOURCE_LIMITS:
            limited.append((line, ".category", a.get("category"), b.get("category")))
            continue
        # The file's path may differ (a recording made elsewhere): the line is what counts.
        a, b = {**a, "source": line}, {**b, "source": line}
        for path, x, y in diff(a, b):
            # The summary's counts follow the checks': with a resource-limited check they
            # may differ, and that check is already listed.
            excused = line == "summary" and limited
            (soft if _is_approximation(path) or excused else hard).append((line, path, x, y))
    return hard, soft, limited, len(before) - ("summary" in before)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 160 else text[:157] + "..."


def report(hard: list[Difference], soft: list[Difference], limited: list[Difference],
           checks: int) -> None:
    """Print the counts and the first differences."""
    checks_hard = [d for d in hard if d[0] != "summary"]
    checks_soft = [d for d in soft if d[0] != "summary"]
    hard_lines = {d[0] for d in checks_hard}
    soft_lines = {d[0] for d in checks_soft} - hard_lines
    differing = hard_lines | soft_lines | {d[0] for d in limited}
    fields = Counter(d[1].rsplit(".", 1)[-1].split("[", 1)[0] for d in checks_hard)
    summary = ""
    if any(d[0] == "summary" for d in hard):
        summary = "; the summaries differ"
    elif any(d[0] == "summary" for d in soft):
        summary = "; the summaries differ by the stopped checks"
    print(f"checks: {checks}; identical in every field: {checks - len(differing)}{summary}")
    print(f"verdicts/categories/exact values/formulas/messages differ: {len(hard_lines)} checks, "
          f"{len(checks_hard)} fields {dict(fields.most_common()) if fields else ''}")
    print(f"approximations differ (finite_difference, forward_mode) only: {len(soft_lines)} checks, "
          f"{len(checks_soft)} values")
    print(f"stopped by a timeout or the memory limit on either side, not compared: "
          f"{len(limited)} checks" + (": " + ", ".join(f"line {d[0]} {d[2]} -> {d[3]}" for d in limited)
                                      if limited else ""))
    shown = (checks_hard + checks_soft + [d for d in hard + soft if d[0] == "summary"])[:SHOWN]
    if shown:
        print(f"first {len(shown)} differences (line, field: base -> current):")
    for line, path, a, b in shown:
        print(f"  line {line}, {path}: {_short(a)} -> {_short(b)}")


def main() -> None:
    """Run, record or compare, as the options say."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the check file")
    parser.add_argument("--base", type=Path, default=Path("/tmp/base"),
                        help="the baseline's tree (its PYTHONPATH; default /tmp/base)")
    parser.add_argument("--current", type=Path, default=HERE,
                        help=f"the tree under test (default {HERE})")
    parser.add_argument("--strict-limits", action="store_true",
                        help="fail also when a check is stopped by a timeout or the memory limit")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--record", type=Path, metavar="REC.jsonl",
                       help="store the baseline's results there, compare nothing")
    group.add_argument("--against", type=Path, metavar="REC.jsonl",
                       help="compare with this recording instead of running the baseline")
    args = parser.parse_args()
    path = args.file.resolve()
    if args.record:
        record(path, args.base, args.record)
        return
    if args.against:
        base = load_recording(args.against, path)
        print(f"base: {args.against} (recorded)")
    else:
        base, elapsed = run_tree(args.base, path)
        print(f"base: {args.base}, {elapsed:.1f} s")
    current, elapsed = run_tree(args.current, path)
    print(f"current: {args.current}, {elapsed:.1f} s")
    hard, soft, limited, checks = compare(base, current)
    report(hard, soft, limited, checks)
    sys.exit(1 if hard or (args.strict_limits and limited) else 0)


if __name__ == "__main__":
    main()
