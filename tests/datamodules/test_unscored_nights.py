"""Training nights nobody scored: which subjects they are, how they are drawn, where they are refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from datamodules import PairedDataModule, SyntheticNights
from datamodules.splits import SubjectSplit
from datamodules.stages import UNSCORED

SMALL = dict(num_subjects=12, epochs_per_night=30, val_subjects=2, test_subjects=2, frames=2, frame_size=16, batch_size=40)


def _unscored_training_subjects(dm: SyntheticNights) -> set[int]:
    return {s for s in dm.split.train if (dm.night(s).labels == UNSCORED).all()}


def test_scored_fraction_keeps_subjects_whole_and_is_seeded():
    for seed in (0, 1, 2):
        dm = SyntheticNights(**SMALL, seed=seed, scored_fraction=0.25, train_nights=2)
        train = dm.split.train
        assert len(train) == 8 and dm.unscored_subjects == _unscored_training_subjects(dm)
        assert len(dm.unscored_subjects) == 6  # 2 of 8 scored
        for subject in train:
            for night in dm.night_indices(subject):
                arrays = dm.night(subject, night)
                unscored = arrays.labels == UNSCORED
                assert unscored.all() == (subject in dm.unscored_subjects) and unscored.all() == unscored.any()
                assert (arrays.labels_true >= 0).all()  # the latent stages stay known
        for name in ("val", "test"):
            assert (dm.labels(name) != UNSCORED).all()
        again = SyntheticNights(**SMALL, seed=seed, scored_fraction=0.25)
        assert again.unscored_subjects == dm.unscored_subjects
    draws = {SyntheticNights(**SMALL, seed=seed, scored_fraction=0.25).unscored_subjects for seed in range(4)}
    assert len(draws) > 1
    # a larger fraction scores a superset of a smaller one's subjects; 1.0 scores everyone
    fractions = [SyntheticNights(**SMALL, seed=5, scored_fraction=f).unscored_subjects for f in (0.1, 0.25, 0.5, 1.0)]
    assert fractions[0] >= fractions[1] >= fractions[2] >= fractions[3] == frozenset()
    assert len(fractions[0]) == 7  # at least one subject is scored


def test_unscored_items_share_the_scored_ones_signals():
    scored = SyntheticNights(**SMALL, seed=4)
    mixed = SyntheticNights(**SMALL, seed=4, scored_fraction=0.5)
    subject = sorted(mixed.unscored_subjects)[0]
    np.testing.assert_array_equal(mixed.night(subject).eeg, scored.night(subject).eeg)
    np.testing.assert_array_equal(mixed.night(subject).labels_true, scored.night(subject).labels_true)
    assert (mixed.night(subject).labels == UNSCORED).all()
    kept = sorted(set(mixed.split.train) - mixed.unscored_subjects)[0]
    np.testing.assert_array_equal(mixed.night(kept).labels, scored.night(kept).labels)
    labels = mixed.labels("train")
    assert len(labels) == mixed.num_train_samples == scored.num_train_samples
    assert int((labels == UNSCORED).sum()) == len(mixed.unscored_subjects) * SMALL["epochs_per_night"]


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_scored_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(ValueError, match="scored_fraction must be in"):
        SyntheticNights(**SMALL, scored_fraction=fraction)


def _drawn_labels(dm: SyntheticNights, model: object | None = None) -> torch.Tensor:
    dm.trainer = None if model is None else SimpleNamespace(lightning_module=model, world_size=1)
    return torch.cat([batch["label"] for batch in dm.train_dataloader()])


def test_unscored_items_are_mixed_in_as_they_occur_or_at_a_ratio():
    dm = SyntheticNights(**SMALL, seed=1, scored_fraction=0.25)
    share = float((dm.labels("train") == UNSCORED).double().mean())
    drawn = _drawn_labels(dm)
    assert len(drawn) == dm.num_train_samples and float((drawn == UNSCORED).double().mean()) == share
    for ratio in (0.0, 0.3, 0.9):
        dm = SyntheticNights(**SMALL, seed=1, scored_fraction=0.25, unscored_ratio=ratio)
        weights = dm.training_weights(ratio)
        assert float(weights[dm.labels("train") == UNSCORED].sum()) == pytest.approx(ratio)
        drawn = _drawn_labels(dm)
        assert len(drawn) == dm.num_train_samples  # an epoch is one draw per training item, whatever the mix
        assert abs(float((drawn == UNSCORED).double().mean()) - ratio) < 4 * (ratio * (1 - ratio) / len(drawn)) ** 0.5 + 1e-9
    with pytest.raises(ValueError, match="unscored_ratio must be"):
        SyntheticNights(**SMALL, unscored_ratio=1.0)


def test_balanced_sampling_balances_the_scored_stages():
    dm = SyntheticNights(**{**SMALL, "epochs_per_night": 120}, seed=2, scored_fraction=0.5, balanced_sampling=True)
    weights = dm.training_weights(None)
    labels = dm.labels("train")
    unscored = labels == UNSCORED
    assert float(weights[unscored].sum()) == pytest.approx(float(unscored.double().mean()))
    per_stage = torch.stack([weights[labels == stage].sum() for stage in range(5)])
    assert torch.allclose(per_stage, per_stage.mean().expand(5))
    assert float(weights.sum()) == pytest.approx(1.0)


def test_a_model_that_cannot_learn_from_unscored_items_draws_scored_ones_only():
    dm = SyntheticNights(**SMALL, seed=1, scored_fraction=0.25, unscored_ratio=0.5)
    for learns, expect_unscored in ((False, False), (True, True)):
        drawn = _drawn_labels(dm, SimpleNamespace(learns_from_unscored=learns))
        assert len(drawn) == dm.num_train_samples and bool((drawn == UNSCORED).any()) == expect_unscored
    from distillers import Vanilla
    from sacd.teacher import EEGTeacher

    assert not Vanilla.learns_from_unscored and not EEGTeacher.learns_from_unscored
    full = SyntheticNights(**SMALL, seed=1)  # nothing unscored: the plain shuffle, as before
    assert full.training_weights(0.0) is None


class _Items(Dataset):
    def __init__(self, labels: list[int]) -> None:
        self.labels = np.array(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"label": torch.tensor(int(self.labels[i])), "subject": torch.tensor(7), "epoch": torch.tensor(i)}


class _Tiny(PairedDataModule):
    def __init__(self, labels: dict[str, list[int]]) -> None:
        super().__init__(split=SubjectSplit((0,), (1,), (2,)), eeg_shape=(1, 8), video_shape=(1, 1, 2, 2),
                         eeg_sample_rate=1.0, batch_size=4)  # fmt: skip
        self.by_subject = {0: labels["train"], 1: labels["val"], 2: labels["test"]}

    @property
    def num_train_samples(self) -> int:
        return len(self.by_subject[0])

    def make_dataset(self, subjects: tuple[int, ...]) -> Dataset:
        return _Items([label for s in subjects for label in self.by_subject[s]])


def test_unscored_items_in_validation_or_test_are_refused():
    ok = _Tiny({"train": [0, UNSCORED, 2], "val": [1, 2], "test": [3]})
    ok.setup()
    assert ok.labels("train").tolist() == [0, UNSCORED, 2]
    for name in ("val", "test"):
        labels = {"train": [0], "val": [1], "test": [2], name: [1, UNSCORED]}
        with pytest.raises(ValueError, match=rf"1 {name} items are unscored \(the first: subject 7, epoch 1\).*for training only"):
            _Tiny(labels).setup()


def test_no_scored_training_item_for_a_model_that_needs_one_is_a_clear_error():
    dm = _Tiny({"train": [UNSCORED, UNSCORED], "val": [1], "test": [2]})
    dm.trainer = SimpleNamespace(lightning_module=SimpleNamespace(learns_from_unscored=False), world_size=1)
    with pytest.raises(ValueError, match="no training item is scored"):
        dm.train_dataloader()
