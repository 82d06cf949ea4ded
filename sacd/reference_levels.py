"""The levels a student's test result is read against: its EEG teacher on the same subjects, and chance.

A macro-F1 of 0.40 means little alone. Printed beside it: what the EEG teacher scores on the same
test subjects (the ceiling the video student is taught from), and two chance levels from the test
labels: the best constant prediction (every epoch scored as the most frequent stage; kappa 0) and
stratified random guessing (stages drawn at their test frequencies). For the second, the expected
F1 of each stage equals its frequency, so the expected macro-F1 is 1 / (number of stages present)
and the expected kappa 0.

A checkpoint's test report is ``<checkpoint stem>.test.json`` beside it (what ``sacd test`` writes);
the teacher cache tests each teacher it trains, so a distiller's teacher usually has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_cohen_kappa, multiclass_f1_score

from sacd.metrics import StagingReport


@dataclass(frozen=True)
class ChanceLevels:
    """Macro-F1 and kappa of the two chance predictors on a test set's labels."""

    majority_stage: str
    majority_macro_f1: float
    majority_kappa: float
    stratified_macro_f1: float
    stratified_kappa: float = 0.0


def chance_levels(report: StagingReport) -> ChanceLevels:
    """Chance levels for the true stages of ``report`` (its confusion matrix's rows)."""
    support = report.support
    present = [name for name, count in support.items() if count]
    if not present:
        raise ValueError("chance levels need at least one test epoch")
    majority = max(present, key=lambda name: support[name])
    target = torch.cat([torch.full((count,), index) for index, count in enumerate(support.values())])
    constant = torch.full_like(target, report.class_names.index(majority))
    classes = len(report.class_names)  # the functional metrics: computed here, never synchronised under DDP
    macro_f1 = float(multiclass_f1_score(constant, target, classes, average="macro"))
    kappa = float(multiclass_cohen_kappa(constant, target, classes))
    return ChanceLevels(majority, macro_f1, kappa, 1.0 / len(present))


def report_path(checkpoint: str | Path) -> Path:
    """Where ``sacd test`` writes a checkpoint's test report."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.test.json")


def teacher_report(teacher_checkpoint: str | Path | None, subjects: list[int] | None) -> StagingReport | str:
    """The teacher's test report on exactly ``subjects``, or why there is none to show."""
    if not teacher_checkpoint:
        return "no EEG teacher (this method trains without one)"
    path = report_path(teacher_checkpoint)
    if not path.is_file():
        return f"not tested yet (sacd test -c TEACHER.yaml --ckpt_path {teacher_checkpoint} writes {path.name})"
    try:
        data = json.loads(path.read_text())
        report = StagingReport.from_dict(data)
    except (OSError, ValueError, TypeError) as error:
        return f"{path} is unreadable ({error}); delete it and test the teacher again"
    if subjects is not None and sorted(data.get("subjects") or []) != sorted(subjects):
        return f"{path.name} covers other subjects ({data.get('subjects')}), not this test's {sorted(subjects)}"
    return report


def context_lines(report: StagingReport, teacher_checkpoint: str | Path | None | bool) -> list[str]:
    """The rows printed under a test table: the teacher on the same subjects (``False``: the model is
    not a student, no teacher row), then the two chance levels."""
    rows = []
    if teacher_checkpoint is not False:
        teacher = teacher_report(teacher_checkpoint or None, report.subjects)
        if isinstance(teacher, StagingReport):
            teacher = f"accuracy {teacher.acc:.4f}   macro-F1 {teacher.macro_f1:.4f}   kappa {teacher.kappa:.4f}"
        rows.append(("EEG teacher (sees EEG)", teacher))
    chance = chance_levels(report)
    rows.append((f"every epoch {chance.majority_stage}",
                 f"{'':14s}   macro-F1 {chance.majority_macro_f1:.4f}   kappa {chance.majority_kappa:.4f}"))
    rows.append(("stratified random guess",
                 f"{'':14s}   macro-F1 {chance.stratified_macro_f1:.4f}   kappa {chance.stratified_kappa:.4f}"))
    width = max(len(name) for name, _ in rows)
    return ["  for reference, on the same test subjects:", *(f"    {name.ljust(width)}  {text}" for name, text in rows)]
