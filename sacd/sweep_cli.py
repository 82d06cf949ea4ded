"""``sacd sweep SPEC.yaml``: run a benchmark sweep (methods x grid x folds x seeds), then report it.

Each run is an ordinary ``sacd fit`` + test in its own process; finished runs are skipped and
interrupted ones resume from their last checkpoint, so rerunning the same command completes a sweep.
Teachers are trained once per fold before students start. Results go to ``SWEEP_DIR/results.csv``,
``results.md`` and ``plots/``; ``sacd report SWEEP_DIR`` rebuilds them at any time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sacd.sweeps.spec import SweepSpecError, load_sweep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sacd sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("spec", type=Path, help="sweep file, e.g. experiments/sweeps/smoke.yaml")
    parser.add_argument("--out", type=Path, help="sweep folder (default: the file's `out`, else runs/sweeps/NAME)")
    parser.add_argument("--backend", choices=["local", "ray"], default="local",
                        help="local: a pool of processes on this machine; ray: Ray tasks (pip install -e '.[ray]')")
    parser.add_argument("--workers", type=int, help="local: runs at once (default: one per GPU, else one per core)")
    parser.add_argument("--threads-per-run", type=int, help="CPU threads of each run (default: cores / workers)")
    parser.add_argument("--ray-address", help="ray: the cluster to join (e.g. auto); default: start a local instance")
    parser.add_argument("--ray-local-cpus", type=int, help="ray: CPUs of the local instance")
    parser.add_argument("--cpus-per-run", type=int, default=1, help="ray: CPUs each run asks for")
    parser.add_argument("--gpus-per-run", type=float, default=0.0, help="ray: GPUs each run asks for")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a dotted config override for every run, e.g. trainer.accelerator=gpu (repeatable; "
                             "the value is read as YAML)")  # fmt: skip
    parser.add_argument("--only", nargs="+", metavar="RUN_ID", help="run just these runs (by run id)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their status, run nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_sweep(args.spec, _parse_overrides(args.overrides))
    except SweepSpecError as error:
        print(f"sacd sweep: {error}", file=sys.stderr)
        return 2
    from sacd.sweeps.runner import is_finished, run_dir_of

    sweep_dir = args.out or spec.out
    runs = spec.runs
    if args.only:
        unknown = sorted(set(args.only) - {run.run_id for run in runs})
        if unknown:
            print(f"sacd sweep: no runs named {unknown} in {args.spec}; --dry-run lists them", file=sys.stderr)
            return 2
        runs = [run for run in runs if run.run_id in args.only]
    todo = [run for run in runs if not is_finished(run_dir_of(sweep_dir, run))]
    print(f"Sweep {args.spec}: {len(runs)} runs in {sweep_dir} ({len(runs) - len(todo)} finished, {len(todo)} to run)")
    if args.dry_run:
        for run in runs:
            state = "finished" if run not in todo else "to run"
            print(f"  {run.run_id:<48} {state}")
        return 0
    sweep_dir.mkdir(parents=True, exist_ok=True)
    _save_spec(args.spec, spec.runs, sweep_dir)
    if todo:
        from sacd.sweeps.teachers import prepare_teachers

        prepare_teachers(todo, spec.base, sweep_dir / "teachers")
        records = _execute(block_order(todo), spec, sweep_dir, args)
        failed = [record for record in records if record.get("status") == "failed"]
        for record in failed:
            print(f"\nRun {record['run_id']} failed (exit {record.get('returncode')}); see "
                  f"{run_dir_of(sweep_dir, _by_id(spec, record['run_id'])) / 'output.log'}:\n{record.get('error', '')}")  # fmt: skip
    from sacd.report_cli import main as report

    code = report([str(sweep_dir)])
    unfinished = [run.run_id for run in runs if not is_finished(run_dir_of(sweep_dir, run))]
    if unfinished:
        print(f"\n{len(unfinished)} run(s) did not finish: {', '.join(unfinished)}. Rerun the same command to retry them.")
        return 1
    return code


def block_order(runs: list) -> list:
    """Runs grouped by (fold, seed), methods in the sweep's order within each group.

    The paired statistics compare methods within a (fold, seed) block, so a sweep stopped part-way
    leaves complete blocks to compare rather than some methods finished and others not started.
    """
    return sorted(runs, key=lambda run: (run.fold, run.seed))


def _parse_overrides(items: list[str]) -> dict[str, object]:
    import yaml

    overrides = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise SweepSpecError(f"--set expects KEY=VALUE (e.g. trainer.max_epochs=5), got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _execute(todo, spec, sweep_dir: Path, args: argparse.Namespace) -> list[dict]:
    def announce(record: dict) -> None:
        if record.get("status") == "finished":
            note = " (already finished)" if record.get("skipped") else ""
            print(f"  {record['run_id']}: acc {record['acc']:.3f}  macro-F1 {record['macro_f1']:.3f}  "
                  f"kappa {record['kappa']:.3f}{note}", flush=True)  # fmt: skip
        else:
            print(f"  {record['run_id']}: {record.get('status')}", flush=True)

    if args.backend == "ray":
        from sacd.sweeps.backends import run_ray

        return run_ray(todo, spec.base, sweep_dir, address=args.ray_address, cpus_per_run=args.cpus_per_run,
                       gpus_per_run=args.gpus_per_run, local_cpus=args.ray_local_cpus, on_done=announce)  # fmt: skip
    from sacd.sweeps.backends import run_local

    workers = args.workers or spec.workers
    threads = args.threads_per_run or spec.threads_per_run
    return run_local(todo, spec.base, sweep_dir, workers=workers, threads_per_run=threads, on_done=announce)


def _save_spec(spec_path: Path, runs, sweep_dir: Path) -> None:
    """Keep the sweep file and the runs it plans (so ``sacd report`` can say which have not started)."""
    from sacd.atomic import atomic_write_text
    from sacd.sweeps.results import PLANNED_RUNS

    atomic_write_text(sweep_dir / "sweep.yaml", Path(spec_path).read_text())
    atomic_write_text(sweep_dir / PLANNED_RUNS, "".join(f"{run.run_id}\n" for run in runs))


def _by_id(spec, run_id: str):
    return next(run for run in spec.runs if run.run_id == run_id)


if __name__ == "__main__":
    raise SystemExit(main())
