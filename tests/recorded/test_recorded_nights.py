"""RecordedNights on files written by `sacd synth`: the round trip, the CLI, and bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from datamodules import SyntheticNights
from datamodules.recorded import RecordedNights
from datamodules.recorded.manifest import ManifestError
from datamodules.recorded.psg import RecordingError
from sacd.entry_point import main

FRAMES, SIZE, EPOCHS = 4, 16, 30  # 15-minute nights, 16x16 video at 5 fps


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Four synthetic subjects (ids 0-3) exported as EDF+/MJPEG/CSV with a manifest."""
    from conftest import export_synthetic

    return export_synthetic(tmp_path_factory.mktemp("synth"), subjects=4, epochs=EPOCHS, size=SIZE, seed=11)


def _recorded(manifest, **kwargs):
    args = dict(manifest=str(manifest), channels=("C4-M1",), l_freq_hz=None, h_freq_hz=None, frames=FRAMES,
                frame_size=SIZE, val_subjects=1, test_subjects=1, seed=11, batch_size=8)  # fmt: skip
    return RecordedNights(**{**args, **kwargs})


def test_round_trip_gives_the_generators_epochs_and_labels(exported):
    recorded = _recorded(exported / "manifest.csv")
    synthetic = SyntheticNights(num_subjects=4, epochs_per_night=EPOCHS, val_subjects=1, test_subjects=1,
                                frames=FRAMES, frame_size=SIZE, seed=11)  # fmt: skip
    assert recorded.split == synthetic.split  # same subjects, same seed: the same split
    for entry in recorded.entries:
        mine, theirs = recorded.night(entry), synthetic.night(int(entry.subject))
        np.testing.assert_array_equal(mine.labels, theirs.labels)
        np.testing.assert_allclose(mine.eeg, theirs.eeg, atol=2e-3)  # standardised; EDF's 16 bits
        error = np.abs(mine.video.astype(np.int16) - theirs.video.astype(np.int16))
        assert error.mean() < 3.0, entry.name  # the same frames, through MJPEG
    assert recorded.num_train_samples == synthetic.num_train_samples
    batch = next(iter(recorded.train_dataloader()))
    assert batch["eeg"].shape == (8, 1, 3840) and batch["video"].shape == (8, 1, FRAMES, SIZE, SIZE)


def test_the_cache_returns_what_a_fresh_read_gives(exported, tmp_path):
    fresh = _recorded(exported / "manifest.csv")
    cached = _recorded(exported / "manifest.csv", cache_dir=str(tmp_path / "cache"))
    entry = fresh.entries[0]
    first = cached.night(entry)
    again = _recorded(exported / "manifest.csv", cache_dir=str(tmp_path / "cache")).night(entry)
    assert isinstance(again.video, np.memmap)
    for name in ("labels", "eeg", "video"):
        np.testing.assert_array_equal(getattr(fresh.night(entry), name), getattr(first, name))
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))


def test_folds_never_share_a_subject(exported):
    tested = []
    for fold in range(4):
        dm = _recorded(exported / "manifest.csv", num_folds=4, fold=fold)
        parts = [set(dm.split.train), set(dm.split.val), set(dm.split.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        tested += dm.split.test
    assert sorted(tested) == [0, 1, 2, 3]


def test_sacd_fit_runs_on_recorded_nights(exported, tmp_path, tiny_teacher):
    from conftest import distiller_config, write_config

    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["data"] = {"class_path": "datamodules.RecordedNights",
                      "init_args": {"manifest": str(exported / "manifest.csv"), "frames": FRAMES, "frame_size": SIZE,
                                    "val_subjects": 1, "test_subjects": 1, "batch_size": 8}}  # fmt: skip
    config["model"]["init_args"]["student"]["init_args"]["widths"] = [8, 16]
    from sacd.cli import SacdCLI

    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "c.yaml", config)), "--trainer.fast_dev_run", "true"])
    assert cli.model.video_shape == (1, FRAMES, SIZE, SIZE)
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


def _copy(exported, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(exported, target)
    return target


def test_bad_input_is_one_clear_error_naming_the_file(exported, tmp_path):
    data = _copy(exported, tmp_path)
    entry_dir = data / "sub-000"
    (entry_dir / "sub-000_night-0_video.mp4").unlink()
    dm = _recorded(data / "manifest.csv")
    with pytest.raises(RecordingError, match="sub-000_night-0_video.mp4"):
        dm.night(dm.entries[0])

    data = _copy(exported, tmp_path / "b")
    csv_path = data / "sub-001" / "sub-001_night-0_hypnogram.csv"
    header, *rows = csv_path.read_text().splitlines()
    stage = header.split(",").index("stage")  # the scorer's column, beside stage_true
    row = next(i for i, line in enumerate(rows) if line.split(",")[stage] == "N2")
    rows[row] = ",".join(["Stage X" if i == stage else cell for i, cell in enumerate(rows[row].split(","))])
    csv_path.write_text("\n".join([header, *rows]) + "\n")
    dm = _recorded(data / "manifest.csv")
    with pytest.raises(ValueError, match="Stage X"):
        dm.night(dm.entries[1])

    (data / "manifest.csv").write_text((data / "manifest.csv").read_text() + (data / "manifest.csv").read_text().splitlines()[1] + "\n")
    with pytest.raises(ManifestError, match="more than once"):
        _recorded(data / "manifest.csv")


def test_check_data_prints_a_table_and_flags_broken_nights(exported, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["check-data", str(exported / "manifest.csv"), "--frames", "2", "--frame-size", "8"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "4 of 4 nights ready" in out
    assert out.splitlines()[0].split()[:4] == ["subject", "night", "scored", "usable"]
    data = _copy(exported, tmp_path)
    (data / "sub-002" / "sub-002_night-0_psg.edf").write_bytes(b"0       garbage")
    with pytest.raises(SystemExit) as done:
        main(["check-data", str(data / "manifest.csv"), "--frames", "2", "--frame-size", "8"])
    out = capsys.readouterr().out
    assert done.value.code == 1 and "3 of 4 nights ready; 1 failed" in out and "sub-002_night-0_psg.edf" in out


def test_nan_and_flat_epochs_are_excluded_with_a_count_and_an_empty_night_is_an_error(exported, monkeypatch):
    import datamodules.recorded.datamodule as module

    real_read_psg = module.read_psg

    def damaged(path, channels, **kwargs):
        recording = real_read_psg(path, channels, **kwargs)
        fs = int(recording.sample_rate)
        recording.signals[:, 30 * fs + 100 : 30 * fs + 200] = np.nan  # epoch 1
        recording.signals[:, 90 * fs : 120 * fs] = 0.0  # epoch 3 is flat
        return recording

    monkeypatch.setattr(module, "read_psg", damaged)
    dm = _recorded(exported / "manifest.csv")
    entry = dm.entries[0]
    with pytest.warns(UserWarning, match="2 of 30 scored epochs have NaN or flat EEG"):
        arrays = dm.night(entry)
    assert len(arrays.labels) == 28 and np.isfinite(arrays.eeg).all()
    assert dm.summaries[(entry.subject, 0)].excluded_bad_signal == 2

    def dead(path, channels, **kwargs):
        recording = real_read_psg(path, channels, **kwargs)
        recording.signals[:] = 0.0
        return recording

    monkeypatch.setattr(module, "read_psg", dead)
    with pytest.warns(UserWarning), pytest.raises(RecordingError, match="no usable epochs"):
        _recorded(exported / "manifest.csv").night(entry)


def test_jittered_training_clips_vary_while_evaluation_clips_stay_fixed(exported):
    plain = _recorded(exported / "manifest.csv")
    jittered = _recorded(exported / "manifest.csv", jitter_frames=True)
    train, val = jittered.dataset("train"), jittered.dataset("val")
    first, second = train[(3, 0)]["video"], train[(3, 1)]["video"]  # (index, draw)
    assert first.shape == (1, FRAMES, SIZE, SIZE) and not torch.equal(first, second)
    fixed = plain.dataset("train")[3]["video"]
    assert (first - fixed).abs().mean() < fixed.abs().mean()  # same epoch, nearby frames
    assert torch.equal(val[0]["video"], plain.dataset("val")[0]["video"])
    again = _recorded(exported / "manifest.csv", jitter_frames=True).dataset("train")
    assert torch.equal(again[(3, 0)]["video"], first)  # seeded: a new run draws the same frames
    assert torch.equal(train[(3, 1)]["video"], second)  # however often the item was loaded before
    assert torch.equal(train[3]["eeg"], plain.dataset("train")[3]["eeg"])


def test_jittered_training_batches_are_a_function_of_seed_and_epoch(exported):
    """A run resumed at epoch 2 (a fresh datamodule) loads the clips the uninterrupted run loaded."""

    def second_epoch_batch(data: RecordedNights, also_first_epoch: bool) -> torch.Tensor:
        data.setup("fit")
        loader = data.train_dataloader()
        if also_first_epoch:  # the uninterrupted run loaded every item once already
            list(loader)
        loader.sampler.set_epoch(1)
        return next(iter(loader))["video"]

    whole = second_epoch_batch(_recorded(exported / "manifest.csv", jitter_frames=True), also_first_epoch=True)
    resumed = second_epoch_batch(_recorded(exported / "manifest.csv", jitter_frames=True), also_first_epoch=False)
    assert torch.equal(whole, resumed)
