"""SyntheticNights: API, items and loaders, determinism, and that each modality carries the stage."""

import time

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from datamodules import STAGES, PairedDataModule, SubjectSplit, SyntheticNights
from datamodules.generator.eeg import channel_region

SMALL = dict(num_subjects=4, epochs_per_night=100, val_subjects=1, test_subjects=1, frames=4, frame_size=24)
BANDS_HZ = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 12.0), "sigma": (12.0, 16.0), "beta": (16.0, 30.0)}
W, N1, N2, N3, REM = range(5)


@pytest.fixture(scope="module")
def default_dm():
    dm = SyntheticNights()
    start = time.perf_counter()
    dm.setup()
    elapsed = time.perf_counter() - start
    stored = sum(n.eeg.nbytes + n.video.nbytes for n in (dm.night(s) for s in dm.split.subjects))
    print(f"\nSyntheticNights() default: generated in {elapsed:.2f} s, {stored / 2**20:.0f} MiB in memory")
    return dm


def _arrays(dm, subjects):
    nights = [dm.night(s) for s in subjects]
    return nights, np.concatenate([n.labels for n in nights])


# -- hand-made features and a tiny classifier ------------------------------------------------------
def relative_band_powers(eeg: np.ndarray, sample_rate: float) -> np.ndarray:
    """(epochs, bands) relative power of channel 0 in BANDS_HZ, from 0.5-30 Hz total."""
    power = np.abs(np.fft.rfft(eeg[:, 0], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(eeg.shape[-1], d=1.0 / sample_rate)
    total = power[:, (freqs >= 0.5) & (freqs < 30.0)].sum(axis=1)
    bands = [power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) / total for lo, hi in BANDS_HZ.values()]
    return np.stack(bands, axis=1)


def eeg_features(night, sample_rate: float = 128.0) -> np.ndarray:
    rel = relative_band_powers(night.eeg, sample_rate)
    total = (night.eeg[:, 0] ** 2).mean(axis=1, keepdims=True)
    return np.log(np.concatenate([rel, total], axis=1))


def video_features(night) -> np.ndarray:
    """Breathing depth at the chest, frame-to-frame motion and local peaks, per epoch (log, night-centred)."""
    video = night.video.astype(np.float32)  # (E, T, H, W)
    temporal_sd = video.std(axis=1)
    typical = np.median(temporal_sd, axis=0)
    chest = video[:, :, typical >= np.percentile(typical, 97)].mean(axis=-1)  # (E, T): the most breathing pixels
    diff = np.abs(np.diff(video, axis=1)).mean(axis=(2, 3))
    peak = np.abs(video - video.mean(axis=1, keepdims=True)).max(axis=(2, 3))
    chest_step = np.abs(np.diff(chest, axis=1)).mean(1)
    feats = np.stack([chest.std(1), chest_step, diff.mean(1), diff.max(1), np.median(peak, 1), peak.max(1)], axis=1)
    feats = np.log(feats + 1e-3)
    return feats - np.median(feats, axis=0)


def nearest_centroid(x_train, y_train, x_test):
    mean, sd = x_train.mean(0), x_train.std(0) + 1e-9
    z_train, z_test = (x_train - mean) / sd, (x_test - mean) / sd
    centroids = np.stack([z_train[y_train == c].mean(0) for c in range(len(STAGES))])
    return ((z_test[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)


def balanced_accuracy(y, pred):
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def learnability(dm, features, cache=None) -> float:
    """Balanced accuracy on the test subjects of a nearest-centroid fit on train + val subjects."""
    cache = {} if cache is None else cache

    def stack(subjects):
        return np.concatenate([cache[s] if s in cache else features(dm.night(s)) for s in subjects])

    fit, test = dm.split.train + dm.split.val, dm.split.test
    y_fit, y_test = _arrays(dm, fit)[1], _arrays(dm, test)[1]
    return balanced_accuracy(y_test, nearest_centroid(stack(fit), y_fit, stack(test)))


@pytest.fixture(scope="module")
def video_feats(default_dm):
    return {s: video_features(default_dm.night(s)) for s in default_dm.split.subjects}


# -- API ---------------------------------------------------------------------------------------------
def test_spec_is_known_before_setup():
    dm = SyntheticNights(eeg_channels=("F4-M1", "C4-M1"), frames=8, frame_size=64, sample_rate=100, epoch_seconds=30.0)
    assert dm.num_classes == 5 and dm.class_names == list(STAGES) == ["W", "N1", "N2", "N3", "REM"]
    assert dm.eeg_shape == (2, 3000)
    assert dm.video_shape == (1, 8, 64, 64)
    assert dm.eeg_sample_rate == 100.0
    assert isinstance(dm.split, SubjectSplit)
    assert (len(dm.split.train), len(dm.split.val), len(dm.split.test)) == (6, 2, 2)
    assert dm.num_train_samples == 6 * 120
    assert dm._store._memory == {}  # nothing generated yet
    assert dm.hparams["frame_size"] == 64


def test_items_and_batches(default_dm):
    item = default_dm.dataset("train")[5]
    assert set(item) == {"eeg", "video", "label", "label_true", "subject", "epoch", "index"}
    assert item["eeg"].shape == (1, 3840) and item["eeg"].dtype == torch.float32
    assert item["video"].shape == (1, 16, 112, 112) and item["video"].dtype == torch.float32
    for key in ("label", "label_true", "subject", "epoch", "index"):
        assert item[key].shape == () and item[key].dtype == torch.int64
    night = default_dm.night(int(item["subject"]))
    raw = torch.from_numpy(night.video[int(item["epoch"])]).double()
    frames = torch.from_numpy(night.video).double().reshape(-1, 112, 112)
    background = frames.mean(dim=0)
    residual = ((frames - background) ** 2).mean().sqrt()
    torch.testing.assert_close(item["video"][0].double(), (raw - background) / residual, atol=1e-4, rtol=1e-4)
    assert int(item["label"]) == night.labels[int(item["epoch"])]
    assert -1.0 < float(item["video"].mean()) < 1.0 and 0.2 < float(item["video"].std()) < 3.0

    loaders = {
        "train": default_dm.train_dataloader(),
        "val": default_dm.val_dataloader(),
        "test": default_dm.test_dataloader(),
        "predict": default_dm.predict_dataloader(),
    }
    for name, loader in loaders.items():
        batch = next(iter(loader))
        assert batch["eeg"].shape == (32, 1, 3840) and batch["eeg"].dtype == torch.float32, name
        assert batch["video"].shape == (32, 1, 16, 112, 112) and batch["video"].dtype == torch.float32, name
        for key in ("label", "subject", "epoch", "index"):
            assert batch[key].shape == (32,) and batch[key].dtype == torch.int64, (name, key)
        assert loader.pin_memory == torch.cuda.is_available() and not loader.drop_last
    assert set(torch.unique(next(iter(loaders["test"]))["subject"]).tolist()) <= set(default_dm.split.test)


def test_indices_and_subjects_per_split():
    dm = SyntheticNights(**{**SMALL, "num_subjects": 6, "val_subjects": 2}, batch_size=7)
    dm.setup()
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for name, loader in loaders.items():
        seen = {"index": [], "subject": [], "epoch": [], "label": []}
        for batch in loader:
            for key in seen:
                seen[key].append(batch[key])
        index, subject, epoch, label = (torch.cat(seen[key]) for key in ("index", "subject", "epoch", "label"))
        subjects = getattr(dm.split, name)
        assert sorted(index.tolist()) == list(range(len(subjects) * 100)), name
        assert set(subject.tolist()) == set(subjects), name
        pairs = set(zip(subject.tolist(), epoch.tolist()))
        assert pairs == {(s, e) for s in subjects for e in range(100)}, name  # each epoch exactly once
        assert all(dm.night(s).labels[e] == y for s, e, y in zip(subject.tolist(), epoch.tolist(), label.tolist()))
        assert torch.equal(index, torch.arange(len(index))) == (name != "train")  # only train is shuffled
    assert len(dm.dataset("train")) == dm.num_train_samples == 300
    # The shuffle is seeded: a new loader starts the same way.
    assert torch.equal(next(iter(dm.train_dataloader()))["index"], next(iter(dm.train_dataloader()))["index"])


def test_every_night_has_all_stages_and_standardised_eeg(default_dm):
    assert set(_arrays(default_dm, default_dm.split.train)[1].tolist()) == set(range(5))  # all classes in train
    for subject in default_dm.split.subjects:
        night = default_dm.night(subject)
        assert np.bincount(night.labels, minlength=5).min() >= 1, subject
        assert night.video.dtype == np.uint8 and night.eeg.dtype == np.float32
        flat = night.eeg.transpose(1, 0, 2).reshape(night.eeg.shape[1], -1)
        np.testing.assert_allclose(flat.mean(1), 0.0, atol=1e-4)
        np.testing.assert_allclose(flat.std(1), 1.0, atol=1e-3)


def test_train_nights_add_nights_of_the_training_subjects_only():
    one = SyntheticNights(**{**SMALL, "epochs_per_night": 40}, seed=2)
    three = SyntheticNights(**{**SMALL, "epochs_per_night": 40}, seed=2, train_nights=3)
    assert three.split == one.split and three.num_train_samples == 3 * one.num_train_samples == 3 * 2 * 40
    for dm in (one, three):
        dm.setup()
    train = three.dataset("train")
    assert len(train) == three.num_train_samples
    subject = three.split.train[0]
    assert list(three.night_indices(subject)) == [0, 1, 2] and list(three.night_indices(three.split.test[0])) == [0]
    # night 0 is the one-night datamodule's night; nights 1 and 2 are other nights of the same person
    np.testing.assert_array_equal(three.night(subject, 0).eeg, one.night(subject).eeg)
    for night in (1, 2):
        assert not np.array_equal(three.night(subject, night).eeg, three.night(subject, 0).eeg)
        assert not np.array_equal(three.night(subject, night).labels, three.night(subject, 0).labels)
    labels = np.concatenate([three.night(s, n).labels for s in three.split.train for n in range(3)])
    np.testing.assert_array_equal(three.labels("train").numpy(), labels)
    # validation and test are the one-night datamodule's, item for item
    for name in ("val", "test"):
        assert len(three.dataset(name)) == len(one.dataset(name))
        for index in (0, len(one.dataset(name)) - 1):
            mine, theirs = three.dataset(name)[index], one.dataset(name)[index]
            assert all(torch.equal(mine[key], theirs[key]) for key in theirs), name
    with pytest.raises(KeyError, match="nights \\[0\\] here, not night 1"):
        three.night(three.split.test[0], 1)


def test_items_carry_the_latent_stage_beside_the_scorers_label(tmp_path):
    from datamodules.generator.assemble import generate_night

    args = {**SMALL, "num_subjects": 3, "epochs_per_night": 120}
    scored = SyntheticNights(**args, scorer=0, cache_dir=str(tmp_path))
    scored.setup()
    subject = scored.split.test[0]
    latent = generate_night(seed=0, subject=subject, num_epochs=120, channels=("C4-M1",), video_size=24).labels
    items = [scored.dataset("test")[i] for i in range(len(scored.dataset("test")))]
    label = np.array([int(item["label"]) for item in items])
    label_true = np.array([int(item["label_true"]) for item in items])
    np.testing.assert_array_equal(label_true, latent)  # the stages the signals follow
    assert 0 < (label != label_true).sum() < len(label) / 3  # the scorer misreads some epochs, not most
    # the cache keeps them: a second datamodule reads the night back from disk
    again = SyntheticNights(**args, scorer=0, cache_dir=str(tmp_path))
    again.setup()
    np.testing.assert_array_equal(np.asarray(again.night(subject).labels_true), latent)
    # unscored, the label is the latent stage itself
    plain = SyntheticNights(**args)
    plain.setup()
    item = plain.dataset("test")[5]
    assert int(item["label_true"]) == int(item["label"]) == latent[5]


# -- determinism --------------------------------------------------------------------------------------
def test_same_seed_same_data_other_seed_other_data():
    a, b, c = SyntheticNights(**SMALL, seed=3), SyntheticNights(**SMALL, seed=3), SyntheticNights(**SMALL, seed=4)
    for dm in (a, b, c):
        dm.setup("fit")
    for s in a.split.subjects:
        np.testing.assert_array_equal(a.night(s).labels, b.night(s).labels)
        np.testing.assert_array_equal(a.night(s).eeg, b.night(s).eeg)
        np.testing.assert_array_equal(a.night(s).video, b.night(s).video)
    item_a, item_b = a.dataset("train")[17], b.dataset("train")[17]
    for key in item_a:
        assert torch.equal(item_a[key], item_b[key])
    assert torch.equal(next(iter(a.train_dataloader()))["eeg"], next(iter(b.train_dataloader()))["eeg"])
    assert not np.array_equal(a.night(0).eeg, c.night(0).eeg)
    assert not np.array_equal(a.night(0).video, c.night(0).video)
    assert not np.array_equal(a.night(0).labels, c.night(0).labels)
    assert not np.array_equal(a.night(0).labels, a.night(1).labels)  # subjects differ too


def test_night_depends_only_on_seed_and_subject():
    a = SyntheticNights(**SMALL)
    b = SyntheticNights(**{**SMALL, "num_subjects": 6, "frame_size": 16, "frames": 2})
    np.testing.assert_array_equal(a.night(2).labels, b.night(2).labels)
    np.testing.assert_array_equal(a.night(2).eeg, b.night(2).eeg)  # the video size does not move the EEG
    assert b.night(2).video.shape == (100, 2, 16, 16)
    with pytest.raises(KeyError, match="no subject 9"):
        a.night(9)


# -- what the data says about the stages ------------------------------------------------------------
def test_band_power_ordering_across_stages(default_dm):
    nights, labels = _arrays(default_dm, default_dm.split.train)
    rel = np.concatenate([relative_band_powers(n.eeg, 128.0) for n in nights])
    mean = np.stack([rel[labels == c].mean(0) for c in range(5)])  # (stage, band)
    bands = list(BANDS_HZ)
    assert mean[:, bands.index("alpha")].argmax() == W
    assert mean[:, bands.index("delta")].argmax() == N3
    assert mean[:, bands.index("sigma")].argmax() == N2
    assert mean[:, bands.index("theta")].argmax() in (N1, REM)


def test_video_motion_and_breathing_by_stage(default_dm, video_feats):
    labels = _arrays(default_dm, default_dm.split.train)[1]
    feats = np.concatenate([video_feats[s] for s in default_dm.split.train])
    depth, motion = feats[:, 0], feats[:, 3]
    assert depth[labels == N3].mean() > depth[labels == N2].mean() > depth[labels == REM].mean()
    assert motion[labels == W].mean() > motion[labels == N2].mean()
    assert motion[labels == W].mean() > motion[labels == N3].mean()


def test_each_modality_alone_predicts_the_stage_on_held_out_subjects(default_dm, video_feats):
    eeg = learnability(default_dm, eeg_features)
    video = learnability(default_dm, video_features, cache=video_feats)
    print(f"\nbalanced accuracy on test subjects (nearest centroid): EEG {eeg:.3f}, video {video:.3f} (chance 0.2)")
    assert eeg > 0.6  # measured 0.76 (0.76-0.91 over seeds 0-7)
    assert video > 0.4  # measured 0.57 (0.50-0.57 over seeds 0-7)


def test_channels_follow_the_topography():
    dm = SyntheticNights(**SMALL, eeg_channels=("Fpz-Cz", "C4-M1", "O2-M1", "F4-M1"))
    night = dm.night(0)
    assert dm.eeg_shape == (4, 3840) and night.eeg.shape == (100, 4, 3840)
    assert [channel_region(c) for c in ("Fpz-Cz", "C4-M1", "O2-M1", "F4-M1", "EEG Pz-Oz")] == [
        "frontal", "central", "occipital", "frontal", "parietal",
    ]  # fmt: skip
    delta = np.stack([relative_band_powers(night.eeg[:, [c]], 128.0)[:, 0] for c in range(4)], 1)
    alpha = np.stack([relative_band_powers(night.eeg[:, [c]], 128.0)[:, 2] for c in range(4)], 1)
    assert delta[night.labels == N3, 0].mean() > delta[night.labels == N3, 2].mean()
    assert alpha[night.labels == W, 2].mean() > alpha[night.labels == W, 1].mean() > alpha[night.labels == W, 0].mean()
    corr = np.corrcoef(night.eeg.transpose(1, 0, 2).reshape(4, -1))
    off_diagonal = corr[~np.eye(4, dtype=bool)]
    assert np.all((off_diagonal > 0.3) & (off_diagonal < 0.95))  # correlated, not copies


# -- folds, arguments, the base class, Lightning ------------------------------------------------------
def test_k_fold_datamodules_cover_all_subjects_once():
    folds = [SyntheticNights(num_subjects=7, num_folds=3, fold=k, val_subjects=1) for k in range(3)]
    tested = sorted(s for dm in folds for s in dm.split.test)
    assert tested == list(range(7))
    for dm in folds:
        assert dm.num_train_samples == len(dm.split.train) * 120 and len(dm.split.val) == 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_subjects=0), dict(frames=0), dict(frame_size=4), dict(eeg_channels=()), dict(video_fps=0.0),
     dict(num_subjects=3, val_subjects=2, test_subjects=1), dict(num_folds=3, fold=3), dict(seed=-1),
     dict(train_nights=0)],
)  # fmt: skip
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        SyntheticNights(**kwargs)


def test_base_class_contract():
    with pytest.raises(TypeError):
        PairedDataModule(
            split=SubjectSplit((0,), (), ()), eeg_shape=(1, 8), video_shape=(1, 1, 2, 2), eeg_sample_rate=1.0
        )

    class Items(Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return {"label": torch.tensor(i % 5)}

    class Tiny(PairedDataModule):
        def __init__(self, claimed: int):
            super().__init__(split=SubjectSplit((0, 1), (2,), ()), eeg_shape=(1, 8), video_shape=(1, 1, 2, 2),
                             eeg_sample_rate=1.0, batch_size=4, num_workers=2)  # fmt: skip
            self.claimed = claimed

        @property
        def num_train_samples(self):
            return self.claimed

        def make_dataset(self, subjects):
            return Items(3 * len(subjects))

    dm = Tiny(claimed=6)
    dm.setup("fit")
    assert [int(dm.dataset("train")[i]["index"]) for i in range(6)] == list(range(6))
    assert dm.train_dataloader().persistent_workers and dm.train_dataloader().num_workers == 2
    assert len(dm.test_dataloader().dataset) == 0
    with pytest.raises(RuntimeError, match="num_train_samples says 5"):
        Tiny(claimed=5).setup("fit")
    with pytest.raises(ValueError, match="unknown stage"):
        dm.setup("train")


def test_lightning_trainer_runs_on_it(tmp_path):
    class Linear(L.LightningModule):
        def __init__(self, dm):
            super().__init__()
            self.eeg = torch.nn.Linear(dm.eeg_shape[0] * dm.eeg_shape[1], dm.num_classes)
            self.video = torch.nn.Linear(int(np.prod(dm.video_shape)), dm.num_classes)

        def step(self, batch):
            logits = self.eeg(batch["eeg"].flatten(1)) + self.video(batch["video"].flatten(1))
            return torch.nn.functional.cross_entropy(logits, batch["label"])

        def training_step(self, batch, batch_idx):
            return self.step(batch)

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self.step(batch))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", self.step(batch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    dm = SyntheticNights(**SMALL, batch_size=16)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=2, limit_test_batches=2,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu")  # fmt: skip
    model = Linear(dm)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 3
    assert np.isfinite(trainer.test(model, datamodule=dm, verbose=False)[0]["test_loss"])


def test_balanced_sampling_draws_every_stage_about_equally():
    dm = SyntheticNights(**SMALL, balanced_sampling=True, batch_size=50)
    dm.setup("fit")
    labels = torch.cat([batch["label"] for batch in dm.train_dataloader()])
    assert len(labels) == dm.num_train_samples
    counts = torch.bincount(labels, minlength=5).double()
    natural = np.bincount(dm.dataset("train").dataset.labels, minlength=5)
    assert natural.min() * 3 < natural.max()  # the night itself is unbalanced (N1 is rare)
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean()
    again = torch.cat([batch["label"] for batch in dm.train_dataloader()])
    assert torch.equal(labels, again)  # seeded
    assert not SyntheticNights(**SMALL).train_dataloader().sampler.__class__.__name__.startswith("Weighted")
