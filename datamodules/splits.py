"""Subject-wise splits: every epoch of a subject lands in exactly one of train, val and test.

Splits are drawn with ``numpy.random.default_rng(seed)`` over the sorted subject ids, so the same
ids and seed give the same split in every process and on every platform, whatever order the ids
were listed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SubjectSplit:
    """Subject ids of the train, val and test splits (sorted tuples of ints).

    Raises:
        ValueError: a subject id appears in two splits (or twice in one).
    """

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            object.__setattr__(self, name, tuple(int(s) for s in getattr(self, name)))
        self.check_disjoint()

    def check_disjoint(self) -> None:
        """Raise ValueError naming every subject id found in more than one place."""
        where: dict[int, list[str]] = {}
        for name in ("train", "val", "test"):
            for subject in getattr(self, name):
                where.setdefault(subject, []).append(name)
        clashes = {s: names for s, names in where.items() if len(names) > 1}
        if clashes:
            details = "; ".join(f"subject {s} in {' and '.join(n)}" for s, n in sorted(clashes.items()))
            raise ValueError(
                f"subject-wise split is not disjoint: {details}. Each subject id must appear in "
                "exactly one of train, val and test."
            )

    @property
    def subjects(self) -> tuple[int, ...]:
        """All subject ids of the three splits, sorted."""
        return tuple(sorted(self.train + self.val + self.test))


#: the options that make a split smaller, as the CLI spells them
FEWER = "lower --data.init_args.val_subjects or --data.init_args.test_subjects"


def _count(value: int | float, total: int, name: str) -> int:
    """Turn a count (int) or a fraction of ``total`` subjects (float) into a number of subjects."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a subject count (int) or a fraction (float), got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} as a fraction must be in [0, 1), got {value}")
        return 0 if value == 0.0 else max(1, round(float(value) * total))
    if value < 0:
        raise ValueError(f"{name} must be >= 0 subjects, got {value}")
    return int(value)


def subject_split(
    subject_ids: Iterable[int],
    *,
    val: int | float,
    test: int | float,
    seed: int,
    num_folds: int = 0,
    fold: int = 0,
    training_only: Iterable[int] = (),
) -> SubjectSplit:
    """Split subjects into train/val/test after a seeded shuffle.

    Args:
        subject_ids: the subjects to split (any order; duplicates are an error).
        val: validation subjects, as a count (int) or a fraction of all subjects (float).
        test: test subjects, count or fraction; ignored when ``num_folds >= 2``.
        seed: seed of the shuffle (``numpy.random.default_rng``).
        num_folds: 0 for a single hold-out split; k >= 2 for k-fold cross-validation, where the
            test subjects are fold ``fold`` of a partition of the shuffled ids into k near-equal
            folds, and val is drawn from the remaining subjects.
        fold: which fold is the test set, in ``[0, num_folds)``.
        training_only: subjects that can only train (a night of theirs was never scored, so it cannot
            be evaluated): kept out of the draw, whose counts and fractions are of the other subjects,
            and added to train.

    Returns:
        The split, with sorted ids in each part.

    Raises:
        ValueError: duplicate ids, bad counts or fractions, too few subjects to leave at least one
            for training (and one per fold), or a fold out of range.
    """
    listed = [int(s) for s in subject_ids]
    duplicates = sorted(s for s, n in Counter(listed).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate subject ids {duplicates}: each subject must be listed once")
    only_train = {int(s) for s in training_only}
    if not only_train <= set(listed):
        raise ValueError(f"training_only names subjects {sorted(only_train - set(listed))} that are not listed")
    ids = [s for s in listed if s not in only_train]
    total = len(ids)
    subjects = "fully scored subjects" if only_train else "subjects"
    if total == 0:
        raise ValueError(f"no {subjects} to split" + (": score the nights of some subjects" if only_train else ""))
    order = np.random.default_rng(seed).permutation(np.array(sorted(ids), dtype=np.int64)).tolist()
    n_val = _count(val, total, "val")

    if num_folds == 0:
        if fold != 0:
            raise ValueError(f"fold={fold} needs num_folds >= 2 (got num_folds=0)")
        n_test = _count(test, total, "test")
        if n_test + n_val >= total:
            raise ValueError(
                f"too few {subjects}: {total} cannot give {n_test} test + {n_val} val and still leave "
                f"at least one for training; {FEWER} or use more subjects"
            )
        test_ids, val_ids, train_ids = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    elif num_folds >= 2:
        if not 0 <= fold < num_folds:
            raise ValueError(f"fold={fold} is out of range for num_folds={num_folds}: use 0..{num_folds - 1}")
        if total < num_folds:
            raise ValueError(f"too few {subjects}: {total} cannot fill {num_folds} folds (need >= one per fold); lower "
                             "--data.init_args.num_folds or use more subjects")  # fmt: skip
        folds = np.array_split(np.array(order, dtype=np.int64), num_folds)
        test_ids = folds[fold].tolist()
        held_out = set(test_ids)
        rest = [s for s in order if s not in held_out]
        if n_val >= len(rest):
            raise ValueError(
                f"too few {subjects}: fold {fold} leaves {len(rest)}, which cannot give {n_val} "
                "val and still leave at least one for training; lower --data.init_args.val_subjects or "
                "--data.init_args.num_folds, or use more subjects"
            )
        val_ids, train_ids = rest[:n_val], rest[n_val:]
    else:
        raise ValueError(f"num_folds must be 0 (single split) or >= 2 (k-fold), got {num_folds}")

    train_ids = [*train_ids, *only_train]
    return SubjectSplit(train=tuple(sorted(train_ids)), val=tuple(sorted(val_ids)), test=tuple(sorted(test_ids)))
