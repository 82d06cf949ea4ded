"""Subject-wise splits: disjoint, complete, seeded, and loud about bad requests."""

import itertools
import random

import pytest

from datamodules import SubjectSplit, subject_split


def _parts(split: SubjectSplit) -> list[tuple[int, ...]]:
    return [split.train, split.val, split.test]


def test_plain_split_sizes_disjoint_and_complete():
    ids = list(range(100, 120))
    split = subject_split(ids, val=3, test=4, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (13, 3, 4)
    assert sorted(split.train + split.val + split.test) == ids
    for a, b in itertools.combinations(_parts(split), 2):
        assert not set(a) & set(b)
    assert all(list(part) == sorted(part) for part in _parts(split))
    assert split.subjects == tuple(ids)


def test_fractions_are_shares_of_all_subjects():
    split = subject_split(range(10), val=0.2, test=0.3, seed=1)
    assert (len(split.train), len(split.val), len(split.test)) == (5, 2, 3)
    # A small positive fraction still holds out one subject.
    assert len(subject_split(range(4), val=0.05, test=0.0, seed=0).val) == 1


def test_seeded_and_independent_of_input_order():
    ids = list(range(30))
    reference = subject_split(ids, val=5, test=5, seed=7)
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    assert subject_split(shuffled, val=5, test=5, seed=7) == reference
    assert subject_split(set(ids), val=5, test=5, seed=7) == reference
    assert subject_split(ids, val=5, test=5, seed=8) != reference


@pytest.mark.parametrize("num_folds", [2, 3, 5, 11])
def test_k_fold_partitions_subjects(num_folds):
    ids = list(range(11))
    splits = [subject_split(ids, val=1, test=99, seed=4, num_folds=num_folds, fold=k) for k in range(num_folds)]
    tests = [s for split in splits for s in split.test]
    assert sorted(tests) == ids  # every subject is tested exactly once
    sizes = [len(split.test) for split in splits]
    assert max(sizes) - min(sizes) <= 1
    for split in splits:
        assert len(split.val) == 1 and len(split.train) == len(ids) - len(split.test) - 1
        assert sorted(split.train + split.val + split.test) == ids
        for a, b in itertools.combinations(_parts(split), 2):
            assert not set(a) & set(b)


def test_k_fold_is_seeded():
    a = subject_split(range(12), val=2, test=0, seed=0, num_folds=4, fold=1)
    assert a == subject_split(range(12), val=2, test=0, seed=0, num_folds=4, fold=1)
    assert a != subject_split(range(12), val=2, test=0, seed=1, num_folds=4, fold=1)


def test_check_disjoint_names_the_subject():
    with pytest.raises(ValueError, match=r"subject 7 in train and test"):
        SubjectSplit(train=(1, 7), val=(2,), test=(7, 9))
    with pytest.raises(ValueError, match=r"subject 3 in val and val"):
        SubjectSplit(train=(1,), val=(3, 3), test=())
    split = SubjectSplit(train=[3, 1], val=(2,), test=())
    assert split.train == (3, 1) and isinstance(split.train, tuple)
    split.check_disjoint()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(subject_ids=[1, 2, 2, 5, 5], val=1, test=1), r"duplicate subject ids \[2, 5\]"),
        (dict(subject_ids=range(4), val=2, test=2), "too few subjects"),
        (dict(subject_ids=range(3), val=0, test=0, num_folds=4), "too few subjects"),
        (dict(subject_ids=range(6), val=3, test=0, num_folds=2), "too few subjects"),
        (dict(subject_ids=range(8), val=1, test=1, num_folds=4, fold=4), r"fold=4 is out of range"),
        (dict(subject_ids=range(8), val=1, test=1, num_folds=4, fold=-1), "out of range"),
        (dict(subject_ids=range(8), val=1, test=1, fold=1), "needs num_folds >= 2"),
        (dict(subject_ids=range(8), val=1, test=1, num_folds=1), "num_folds must be 0"),
        (dict(subject_ids=range(8), val=-1, test=1), "val must be >= 0"),
        (dict(subject_ids=range(8), val=1, test=1.0), r"fraction must be in \[0, 1\)"),
        (dict(subject_ids=range(8), val=True, test=1), "count"),
        (dict(subject_ids=[], val=0, test=0), "no subjects"),
    ],
)
def test_bad_requests_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        subject_split(seed=0, **kwargs)
