"""Wall time of a sweep's runs on this machine: one run at a time on every core, or runs side by side.

    python benchmarks/sweep_parallelism.py experiments/sweeps/benchmark_cpu.yaml --runs 4
    python benchmarks/sweep_parallelism.py experiments/sweeps/smoke.yaml --layouts 1x2 2x1 --rounds 2

A layout ``WxT`` runs the sweep's first ``--runs`` runs with ``W`` runs at once, each limited to
``T`` threads (``sacd sweep --workers W --threads-per-run T``). The runs' teachers and the synthetic
data cache are prepared once before anything is timed, so every layout times the students alone,
from process start to test report, as a sweep does. Layouts run one after the other in rounds
(order rotated every round), each into a fresh folder, and each time is taken against the first
layout's in the same round, so the machine's drift cancels. Pick the runs to time so they stand for
the sweep's mix of methods (``--runs`` takes them in the sweep's order, method by method, so give
``--only-methods`` to mix them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sacd.sweeps.backends import run_local
from sacd.sweeps.spec import load_sweep
from sacd.sweeps.teachers import prepare_teachers


def parse_layout(text: str) -> tuple[int, int]:
    workers, _, threads = text.partition("x")
    try:
        return int(workers), int(threads)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a layout is WORKERSxTHREADS such as 2x1, got {text!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--runs", type=int, default=4, help="how many of the sweep's runs each layout executes")
    parser.add_argument("--only-methods", nargs="+", help="take the runs from these methods, alternating")
    parser.add_argument("--layouts", nargs="+", type=parse_layout, default=[(1, 2), (2, 1)])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    spec = load_sweep(args.spec)
    runs = spec.runs
    if args.only_methods:
        by_method = [[run for run in runs if run.method == name] for name in args.only_methods]
        runs = [run for group in zip(*by_method) for run in group]
    runs = runs[: args.runs]
    if not runs:
        print(f"{args.spec}: no runs to time", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sweep-parallelism-") as scratch:
        prepare_teachers(runs, spec.base, Path(scratch) / "teachers")
        times: dict[tuple[int, int], list[float]] = {layout: [] for layout in args.layouts}
        ratios: dict[tuple[int, int], list[float]] = {layout: [] for layout in args.layouts}
        for round_index in range(args.rounds):
            order = args.layouts[round_index % len(args.layouts):] + args.layouts[: round_index % len(args.layouts)]
            this_round = {}
            for workers, threads in order:
                out = Path(scratch) / f"round{round_index}-{workers}x{threads}"
                started = time.perf_counter()
                records = run_local(runs, spec.base, out, workers=workers, threads_per_run=threads)
                this_round[(workers, threads)] = time.perf_counter() - started
                failed = [record["run_id"] for record in records if record.get("status") != "finished"]
                if failed:
                    print(f"layout {workers}x{threads}: runs {failed} failed; see {out}", file=sys.stderr)
                    return 1
            reference = this_round[args.layouts[0]]
            for layout, seconds in this_round.items():
                times[layout].append(seconds)
                ratios[layout].append(seconds / reference)
    first = "x".join(map(str, args.layouts[0]))
    print(f"{len(runs)} runs of {args.spec} ({', '.join(run.run_id for run in runs)}), {args.rounds} round(s)")
    print(f"{'layout':>8} {'wall s':>8} {'s per run':>10} {'time vs ' + first:>14}")
    for layout in args.layouts:
        seconds = statistics.median(times[layout])
        print(f"{layout[0]}x{layout[1]:<6} {seconds:8.1f} {seconds / len(runs):10.1f} {statistics.median(ratios[layout]):14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
