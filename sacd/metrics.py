"""Sleep-staging metrics as the field reports them, computed with torchmetrics.

Accuracy, macro-F1, Cohen's kappa, per-class F1 and the confusion matrix, per run; and
mean +- std of the scalar metrics across runs (seeds, folds).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassCohenKappa,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from sacd.atomic import atomic_write_text

SCALAR_METRICS = ("acc", "macro_f1", "kappa")
#: a kappa less than this many standard errors (under chance agreement) above 0 is noise
KAPPA_NOISE_Z = 1.96


def kappa_null_standard_error(confusion: Sequence[Sequence[int]]) -> float:
    """Standard error of Cohen's kappa when rater and truth agree only by chance (Fleiss, Cohen and
    Everitt, 1969): ``sqrt((pe + pe^2 - sum_i a_i b_i (a_i + b_i)) / (n (1 - pe)^2))`` with ``a``, ``b``
    the true and predicted class proportions and ``pe = sum_i a_i b_i``; inf when it is undefined."""
    n = sum(map(sum, confusion))
    if n == 0:
        return math.inf
    true = [sum(row) / n for row in confusion]
    predicted = [sum(column) / n for column in zip(*confusion)]
    pe = sum(a * b for a, b in zip(true, predicted))
    if pe >= 1.0:
        return math.inf
    variance = (pe + pe * pe - sum(a * b * (a + b) for a, b in zip(true, predicted))) / (n * (1.0 - pe) ** 2)
    return math.sqrt(max(variance, 0.0))


@dataclass
class StagingReport:
    """The metrics of one evaluation, in plain Python types (JSON-ready)."""

    class_names: list[str]
    acc: float
    macro_f1: float
    kappa: float
    per_class_f1: dict[str, float]
    confusion: list[list[int]]  # rows: true stage, columns: predicted stage
    num_epochs: int
    subjects: list[int] | None = None  # the subjects evaluated, where the evaluation knew them

    @property
    def support(self) -> dict[str, int]:
        """Number of true epochs per stage."""
        return {name: int(sum(row)) for name, row in zip(self.class_names, self.confusion)}

    @property
    def degenerate(self) -> str | None:
        """Why these predictions show no learning (one stage for every epoch, or a kappa within noise
        of 0), or None. Such a run's metrics say nothing about the method that produced it."""
        predicted = [name for name, column in zip(self.class_names, zip(*self.confusion)) if sum(column)]
        if len(predicted) == 1:
            return f"every epoch is predicted {predicted[0]}"
        error = kappa_null_standard_error(self.confusion)
        if self.kappa < KAPPA_NOISE_Z * error:
            return (f"kappa {self.kappa:.3f} is within noise of 0 (under {KAPPA_NOISE_Z} x its standard error under "
                    f"chance agreement, {error:.3f}, over {self.num_epochs} epochs)")  # fmt: skip
        return None

    def scalars(self, prefix: str = "") -> dict[str, float]:
        """Flat scalar metrics, per-class F1 as ``f1_<stage>``; what loggers and CSV rows hold."""
        values = {name: getattr(self, name) for name in SCALAR_METRICS}
        values.update({f"f1_{stage}": f1 for stage, f1 in self.per_class_f1.items()})
        return {f"{prefix}{key}": value for key, value in values.items()}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "support": self.support, "degenerate": self.degenerate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StagingReport:
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in fields})

    def format_table(self, title: str = "Sleep staging") -> str:
        """Plain-text summary: the scalar metrics, per-class F1 with support, the confusion matrix."""
        width = max(6, *(len(name) for name in self.class_names))
        lines = [
            f"{title}: {self.num_epochs} epochs",
            f"  accuracy {self.acc:.4f}   macro-F1 {self.macro_f1:.4f}   kappa {self.kappa:.4f}",
            "",
            "  " + "stage".ljust(width) + "      F1  support",
        ]
        support = self.support
        for name in self.class_names:
            lines.append(f"  {name.ljust(width)}  {self.per_class_f1[name]:.4f}  {support[name]:7d}")
        lines += ["", "  confusion (rows true, columns predicted)"]
        lines.append("  " + " " * width + "".join(name.rjust(8) for name in self.class_names))
        for name, row in zip(self.class_names, self.confusion):
            lines.append("  " + name.ljust(width) + "".join(f"{count:8d}" for count in row))
        return "\n".join(lines)

    def save(self, json_path: str | Path, csv_path: str | Path | None = None) -> None:
        """Write the report as JSON (and one tidy CSV row) atomically: a crash never leaves half a file."""
        atomic_write_text(Path(json_path), json.dumps(self.to_dict(), indent=2) + "\n")
        if csv_path is not None:
            row = {"num_epochs": self.num_epochs, **self.scalars()}
            atomic_write_text(Path(csv_path), _csv_text([row]))


class StagingMetrics(nn.Module):
    """Stateful torchmetrics for one split; ``compute()`` returns a :class:`StagingReport`."""

    def __init__(self, class_names: Sequence[str]) -> None:
        super().__init__()
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        self.scalar_metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "macro_f1": MulticlassF1Score(num_classes, average="macro"),
                "kappa": MulticlassCohenKappa(num_classes),
            }
        )
        self.per_class_f1 = MulticlassF1Score(num_classes, average=None)
        self.confusion = MulticlassConfusionMatrix(num_classes)

    def update(self, logits_or_preds: torch.Tensor, target: torch.Tensor) -> None:
        """Accept logits/probabilities (B, C) or hard predictions (B,)."""
        self.scalar_metrics.update(logits_or_preds, target)
        self.per_class_f1.update(logits_or_preds, target)
        self.confusion.update(logits_or_preds, target)

    def compute(self) -> StagingReport:
        scalars = {key: float(value) for key, value in self.scalar_metrics.compute().items()}
        per_class = self.per_class_f1.compute().tolist()
        confusion = self.confusion.compute().long().tolist()
        return StagingReport(
            class_names=self.class_names,
            acc=scalars["acc"],
            macro_f1=scalars["macro_f1"],
            kappa=scalars["kappa"],
            per_class_f1=dict(zip(self.class_names, per_class)),
            confusion=confusion,
            num_epochs=int(sum(map(sum, confusion))),
        )

    def reset(self) -> None:
        self.scalar_metrics.reset()
        self.per_class_f1.reset()
        self.confusion.reset()


def summarize(reports: Sequence[StagingReport]) -> dict[str, tuple[float, float]]:
    """Mean and sample standard deviation of every scalar metric across runs (seeds, folds)."""
    if not reports:
        raise ValueError("summarize() needs at least one report")
    rows = [report.scalars() for report in reports]
    summary = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        summary[key] = (mean, math.sqrt(var))
    return summary


def pool(reports: Sequence[StagingReport]) -> StagingReport:
    """The report of every test epoch of ``reports`` taken together (their confusion matrices summed and
    scored by the same torchmetrics as one run), which weighs each epoch alike where a mean over runs
    weighs each run alike. The reports must share their class names."""
    if not reports:
        raise ValueError("pool() needs at least one report")
    names = list(reports[0].class_names)
    if any(list(report.class_names) != names for report in reports):
        raise ValueError(f"pool() needs reports of the same classes, got {sorted({tuple(r.class_names) for r in reports})}")
    counts = torch.tensor([report.confusion for report in reports], dtype=torch.long).sum(dim=0)
    true, predicted = torch.meshgrid(torch.arange(len(names)), torch.arange(len(names)), indexing="ij")
    metrics = StagingMetrics(names)
    metrics.update(predicted.flatten().repeat_interleave(counts.flatten()), true.flatten().repeat_interleave(counts.flatten()))
    return metrics.compute()


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
