"""Benchmark: what a sweep's samples cost, in one run.

On ``log(1+exp(x))*sin(x)`` over ``-50:50`` (float64), in this process, imports and a
warm-up sweep excluded:

a. the sweep at 10**3 samples;
b. the sweep at 10**6 samples (b - a: the marginal cost of the samples; goal <= 1 s);
c. bare torch: forward and reverse of the same expression on 10**6 float64 points (the
   floor: what torch's own elementwise autograd costs).

Each is the median wall-clock time of ``--rounds`` runs. Peak memory (ru_maxrss) is
printed after each, for the README's memory figures; ``--samples-max 10000000`` adds a
sweep of 10**7 samples.

    python bench/bench_sweep.py
    python bench/bench_sweep.py --rounds 5 --samples-max 10000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

EXPRESSION = "log(1+exp(x))*sin(x)"
RANGE = "x=-50:50"


def timed(run: Callable[[], object], rounds: int) -> float:
    """The median wall-clock seconds of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples-max", type=int, default=1_000_000)
    options = parser.parse_args()

    import torch

    from gradcheck_cli.check import load_evaluation
    from gradcheck_cli.engine.sweep import run_sweep
    from gradcheck_cli.sweep import prepare_sweep

    load_evaluation()
    torch.set_num_threads(torch.get_num_threads())

    def sweep(count: int) -> Callable[[], object]:
        request = prepare_sweep(EXPRESSION, [RANGE], [], samples=count)
        return lambda: run_sweep(request)

    def bare() -> None:
        x = torch.linspace(-50, 50, 1_000_000, dtype=torch.float64, requires_grad=True)
        y = torch.log(1 + torch.exp(x)) * torch.sin(x)
        (grad,) = torch.autograd.grad(y.sum(), [x])
        grad.numpy()

    sweep(1_000)()  # warm-up: SymPy's caches, torch's first kernels
    small = timed(sweep(1_000), options.rounds)
    print(f"sweep, 10^3 samples:        {small * 1e3:8.1f} ms   peak {peak_mb():7.0f} MB")
    floor = timed(bare, options.rounds)
    print(f"bare torch, 10^6 points:    {floor * 1e3:8.1f} ms   peak {peak_mb():7.0f} MB")
    large = timed(sweep(options.samples_max), options.rounds)
    print(f"sweep, {options.samples_max:.0e} samples:   {large * 1e3:8.1f} ms   "
          f"peak {peak_mb():7.0f} MB")
    print(f"marginal cost of the samples: {(large - small) * 1e3:.1f} ms "
          f"(goal at 10^6: <= 1000 ms); floor {floor * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
