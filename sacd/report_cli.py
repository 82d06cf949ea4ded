"""``sacd report SWEEP_DIR``: turn a benchmark sweep's finished runs into tables and figures.

Writes ``results.csv`` (one row per run), ``results.md`` (mean ± std per method; each method paired
with the baseline by fold and seed, with intervals and a Wilcoxon p; the pooled test epochs; average
ranks with the Friedman test and Nemenyi's critical difference; skipped runs) and PNGs under ``plots/``. Safe to run while the sweep is still going:
unfinished, failed or half-written runs are listed as skipped. Two reports of one folder (two sweeps
ending together) are written one after the other, never interleaved.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

#: held while a report is written, so two sweeps ending together do not interleave their files
REPORT_LOCK = ".report.lock"


def build_parser() -> argparse.ArgumentParser:
    """The ``sacd report`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sacd report",
        description="Summarise a benchmark sweep: writes SWEEP_DIR/results.csv (one row per finished run), "
        "SWEEP_DIR/results.md (mean ± sample std per method; paired differences from the baseline with a t-interval, "
        "a subject-level bootstrap interval and a Wilcoxon p; metrics of the pooled test epochs; average ranks with "
        "the Friedman test and the Nemenyi critical difference; the skipped runs) and "
        "SWEEP_DIR/plots/{metrics,per_class_f1,confusion,hypnograms,critical_difference}.png.",
        allow_abbrev=False,
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="the sweep's folder, holding runs/<run_id>/{run.json,test.json}")
    parser.add_argument("--baseline", default="Vanilla",
                        help="method every other is paired with (default Vanilla)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sacd report`` on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    sweep_dir: Path = args.sweep_dir
    if not sweep_dir.is_dir():
        print(f"sacd report: {sweep_dir} is not a directory; pass the folder a sweep wrote (it holds runs/)",
              file=sys.stderr)
        return 2

    # imported here: torch and matplotlib are slow to import and not needed for the checks above
    from sacd.folder_locks import exclusive
    from sacd.sweeps.levels import fold_levels, levels_markdown
    from sacd.sweeps.paired import compare_with_baseline, paired_markdown
    from sacd.sweeps.plots import write_plots
    from sacd.sweeps.results import (
        NoFinishedRunsError,
        collect_runs,
        degenerate_runs,
        degenerate_warning,
        markdown_table,
        method_summary,
        sweep_class_names,
        write_results,
    )

    with exclusive(sweep_dir / REPORT_LOCK, what=f"the report of {sweep_dir}", wait=True):  # one writer at a time
        with warnings.catch_warnings(record=True) as caught:  # one plain line each, not a source excerpt
            warnings.simplefilter("always")
            runs, skipped = collect_runs(sweep_dir)
        for warning in caught:
            print(f"sacd report: warning: {warning.message}", file=sys.stderr)
        try:
            differences = compare_with_baseline(runs, args.baseline)  # reads every run's predictions: once
            paths = write_results(sweep_dir, baseline=args.baseline, runs=runs, skipped=skipped,
                                  differences=differences)  # fmt: skip
        except NoFinishedRunsError as error:
            print(f"sacd report: {error}", file=sys.stderr)
            return 2
        plots = write_plots(sweep_dir, runs, baseline=args.baseline)

    summary = method_summary(runs, args.baseline)
    degenerate = degenerate_runs(runs)
    if degenerate:
        print(degenerate_warning(degenerate, len(runs)).replace("**", ""))
        print()
    print(markdown_table(summary, sweep_class_names(runs), baseline=args.baseline, differences=differences).replace("**", ""))
    print()
    if any(run.method == args.baseline for run in runs):
        print(levels_markdown(fold_levels(runs, args.baseline), args.baseline))
        print()
    if differences:
        print(paired_markdown(differences, args.baseline).replace("**", ""))
        print()
    print(f"{len(runs)} finished run(s), {len(skipped)} skipped (listed in {paths['markdown']})")
    for path in [*paths.values(), *plots]:
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
