"""The per-epoch test predictions a finished sweep run keeps, read back by subject (for plots and statistics)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

#: the file, in a run's folder, with one row per test epoch: subject, epoch, label, pred, p_<stage>...
PREDICTIONS_CSV = "test_predictions.csv"


def read_predictions(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Per subject: (epoch, label, pred) arrays sorted by epoch; None when missing or malformed."""
    if not path.is_file():
        return None
    per_subject: dict[int, list[tuple[int, int, int]]] = {}
    try:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                per_subject.setdefault(int(row["subject"]), []).append(
                    (int(row["epoch"]), int(row["label"]), int(row["pred"]))
                )
    except (OSError, KeyError, TypeError, ValueError, csv.Error) as error:
        warnings.warn(f"skipping {path}: not a readable predictions table ({error})", stacklevel=2)
        return None
    result = {}
    for subject, rows in per_subject.items():
        epochs, labels, preds = (np.asarray(column, dtype=np.int64) for column in zip(*sorted(rows)))
        result[subject] = (epochs, labels, preds)
    return result or None
