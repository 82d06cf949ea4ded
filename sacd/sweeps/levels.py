"""What a sweep's students are read against: each fold's EEG teacher on the same test subjects.

A student's macro-F1 of 0.40 means little alone. The teacher, scored on the fold's test subjects
(``teacher.test.json`` beside its cached checkpoint, written when the cache trained it), is the
ceiling the video student is taught from; the baseline student is the floor a distiller must beat.
The section gives both per fold, and both pooled over the folds, where every subject is a test
subject once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from sacd.metrics import StagingReport, pool
from sacd.reference_levels import teacher_report


@dataclass(frozen=True)
class FoldLevels:
    """One fold: its test subjects, its teacher's report on them (or why there is none), the baseline's runs."""

    fold: int
    subjects: list[int]
    teacher: StagingReport | str
    baseline: list[StagingReport]


def teacher_checkpoint_of(run_dir: Path) -> str | None:
    """The teacher checkpoint a run distilled from, from its resolved config (None for a teacher-free run)."""
    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    init_args = (config.get("model") or {}).get("init_args") or {}
    return init_args.get("teacher_checkpoint") if isinstance(init_args, dict) else None


def fold_levels(runs: Sequence, baseline: str) -> list[FoldLevels]:
    """Per fold of ``runs`` (:class:`sacd.sweeps.results.RunResult`), the teacher and the baseline's runs."""
    folds: dict[int, list] = {}
    for run in runs:
        folds.setdefault(run.fold, []).append(run)
    found = []
    for fold, members in sorted(folds.items()):
        subjects = sorted(members[0].report.subjects or [])
        checkpoint = next((c for c in map(teacher_checkpoint_of, (run.run_dir for run in members)) if c), None)
        teacher: StagingReport | str = "no run of this fold names a teacher"
        if checkpoint and not Path(checkpoint).is_file():
            teacher = (f"checkpoint {checkpoint} is not found from {Path.cwd()}; a sweep names its teachers relative to "
                       "the folder it ran in, so run `sacd report` from there")  # fmt: skip
        elif checkpoint:
            teacher = teacher_report(checkpoint, subjects or None)
        found.append(FoldLevels(fold, subjects, teacher, [run.report for run in members if run.method == baseline]))
    return found


def _metrics(report: StagingReport | None) -> list[str]:
    if report is None:
        return ["—"] * 3
    return [f"{report.acc:.3f}", f"{report.macro_f1:.3f}", f"{report.kappa:.3f}"]


def levels_markdown(levels: Sequence[FoldLevels], baseline: str) -> str:
    """A Markdown section: per fold and pooled, the EEG teacher's metrics beside the baseline student's."""
    lines = [
        f"## The EEG teacher and the {baseline} student",
        "",
        f"| Fold | test subjects | teacher accuracy | teacher macro-F1 | teacher κ | {baseline} accuracy "
        f"| {baseline} macro-F1 | {baseline} κ | κ gap |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes = []
    for level in levels:
        teacher = level.teacher if isinstance(level.teacher, StagingReport) else None
        if teacher is None:
            notes.append(f"fold {level.fold}: teacher {level.teacher}")
        student = pool(level.baseline) if level.baseline else None
        gap = f"{teacher.kappa - student.kappa:.3f}" if teacher and student else "—"
        cells = [str(level.fold), ", ".join(map(str, level.subjects)) or "—", *_metrics(teacher), *_metrics(student), gap]
        lines.append("| " + " | ".join(cells) + " |")
    teachers = [level.teacher for level in levels if isinstance(level.teacher, StagingReport)]
    students = [report for level in levels for report in level.baseline]
    if len(levels) > 1 and len(teachers) == len(levels) and students:
        pooled_teacher, pooled_student = pool(teachers), pool(students)
        gap = f"{pooled_teacher.kappa - pooled_student.kappa:.3f}"
        lines.append("| " + " | ".join(["all", "every test subject", *_metrics(pooled_teacher), *_metrics(pooled_student), gap]) + " |")  # fmt: skip
    lines += [
        "",
        f"The teacher sees EEG; the {baseline} student sees video only, on the same test subjects. The "
        f"{baseline} columns pool the test epochs of the fold's runs (all seeds); the κ gap, teacher minus "
        f"{baseline}, is the room a distiller has. The last row pools every fold.",
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)
