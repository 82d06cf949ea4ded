"""Train each distinct teacher of a sweep once, before its students start in parallel.

Runs of the same fold share the data section and therefore the teacher: the CLI caches teachers by
the hash of (teacher config, data config). Preparing them here, one after the other, means parallel
students never race to train the same teacher; each student then finds it in the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sacd.atomic import atomic_write_text
from sacd.sweeps.spec import RunSpec, compose_run_config

#: the model init args that choose which teacher a run distils from
TEACHER_ARGS = ("teacher_config", "teacher_data", "teacher_cache_dir", "teacher_checkpoint")


def prepare_teachers(runs: list[RunSpec], base: list[Path], scratch: Path) -> int:
    """Resolve (training where needed) the teacher of every distinct data/teacher setting; return how many."""
    from sacd.cli import SacdCLI

    seen: set[str] = set()
    for run in runs:
        init_args = run.overlay.get("model", {}).get("init_args", {})
        teacher = {name: init_args.get(name) for name in TEACHER_ARGS}
        key = json.dumps({"data": run.overlay.get("data"), "teacher": teacher}, sort_keys=True, default=str)
        if key in seen or not _uses_teacher(run.class_path):
            continue
        seen.add(key)
        scratch.mkdir(parents=True, exist_ok=True)
        config = scratch / f"teacher-{len(seen)}.yaml"
        atomic_write_text(config, yaml.safe_dump(compose_run_config(base, run), sort_keys=False))
        SacdCLI(args=["-c", str(config)], run=False)  # parsing resolves teacher_config to a cached (or newly trained) teacher
    return len(seen)


def _uses_teacher(class_path: str) -> bool:
    from sacd.class_paths import import_class_path

    cls = import_class_path(class_path)
    if cls is None:
        raise ValueError(f"sweep method class_path {class_path!r} names no importable class; use one such as "
                         "distillers.KD (`sacd fit --help` lists them)")  # fmt: skip
    return bool(getattr(cls, "uses_teacher", False))
