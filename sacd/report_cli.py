"""``sacd report SWEEP_DIR``: turn a benchmark sweep's finished runs into tables and figures.

Writes ``results.csv`` (one row per run), ``results.md`` (mean ± std per method; each fold's EEG
teacher beside the baseline; each method paired with the baseline by fold and seed, with intervals,
a Wilcoxon p and its Holm adjustment; the pooled test epochs; average ranks with the Friedman test
and Nemenyi's critical difference; skipped runs) and PNGs under ``plots/``, and prints the main
tables. Safe to run while the sweep is still going: unfinished, failed or half-written runs are
listed as skipped. Two reports of one folder (two sweeps ending together) are written one after
the other, never interleaved.
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
        "SWEEP_DIR/results.md (mean ± sample std per method; each fold's EEG teacher beside the baseline; paired "
        "differences from the baseline with a t-interval, a subject-level bootstrap interval and a Wilcoxon p with "
        "its Holm adjustment; metrics of the pooled test epochs; average ranks with "
        "the Friedman test and the Nemenyi critical difference; the skipped runs) and "
        "SWEEP_DIR/plots/{metrics,per_class_f1,confusion,hypnograms,critical_difference}.png.",
        allow_abbrev=False,
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="the sweep's folder, holding runs/<run_id>/{run.json,test.json}")
    parser.add_argument("--baseline", default="Vanilla",
                        help="method every other is paired with (default Vanilla)")
    parser.add_argument("--reference", action="append", default=None, metavar="METHOD",
                        help="another method to pair every method with, beside the baseline (repeatable; default: "
                        "the sweep file's `references`)")
    return parser


#: the sections of results.md the command prints, in this order
PRINTED_SECTIONS = ("warning", "by_stratum", "table", "levels", "paired")


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
    from sacd.sweeps.plots import write_plots
    from sacd.sweeps.results import NoFinishedRunsError, collect_runs, results_sections, sweep_references, write_results

    with exclusive(sweep_dir / REPORT_LOCK, what=f"the report of {sweep_dir}", wait=True):  # one writer at a time
        with warnings.catch_warnings(record=True) as caught:  # one plain line each, not a source excerpt
            warnings.simplefilter("always")
            runs, skipped = collect_runs(sweep_dir)
        for warning in caught:
            print(f"sacd report: warning: {warning.message}", file=sys.stderr)
        try:
            references = args.reference if args.reference is not None else sweep_references(sweep_dir)
            sections = results_sections(sweep_dir, runs, skipped, baseline=args.baseline, references=references)
        except NoFinishedRunsError as error:
            print(f"sacd report: {error}", file=sys.stderr)
            return 2
        paths = write_results(sweep_dir, baseline=args.baseline, runs=runs, skipped=skipped, sections=sections)
        plots = write_plots(sweep_dir, runs, baseline=args.baseline)

    for name in sections:  # the rest of the page is in results.md
        if name in PRINTED_SECTIONS or name.startswith("paired vs "):
            print(sections[name].replace("**", ""))
            print()
    print(f"{len(runs)} finished run(s), {len(skipped)} skipped (listed in {paths['markdown']})")
    for path in [*paths.values(), *plots]:
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
