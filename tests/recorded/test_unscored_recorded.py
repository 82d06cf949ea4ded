"""Recorded nights nobody scored: manifest rows without a hypnogram train, and never evaluate."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.recorded import RecordedNights
from datamodules.recorded.discover import discover_nights
from datamodules.recorded.manifest import ManifestError, read_manifest
from datamodules.stages import UNSCORED
from sacd.entry_point import main

FRAMES, SIZE, EPOCHS = 2, 16, 20  # 10-minute nights


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Five synthetic subjects (ids 0-4) exported with a manifest, all scored."""
    from conftest import export_synthetic

    return export_synthetic(tmp_path_factory.mktemp("synth"), subjects=5, epochs=EPOCHS, size=SIZE, seed=3)


def _unscore(folder: Path, subjects: set[int], how: str = "empty") -> Path:
    """A copy of the manifest where ``subjects``' nights are unscored: an empty cell, or ``scored: false``."""
    with open(folder / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0]) + ([] if how == "empty" else ["scored"])
    for row in rows:
        if int(row["subject"]) in subjects:
            if how == "empty":
                row["hypnogram"] = ""
            else:
                row["scored"] = "no"
    path = folder / f"manifest-{how}-{'-'.join(map(str, sorted(subjects)))}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _recorded(manifest: Path, **kwargs) -> RecordedNights:
    args = dict(manifest=str(manifest), channels=("C4-M1",), l_freq_hz=None, h_freq_hz=None, frames=FRAMES,
                frame_size=SIZE, val_subjects=1, test_subjects=1, seed=0, batch_size=8)  # fmt: skip
    return RecordedNights(**{**args, **kwargs})


@pytest.mark.parametrize(
    ("cells", "scored", "has_hypnogram"),
    [("h.csv,", True, True), (",", False, False), ("h.csv,false", False, True), ("h.csv,Yes", True, True),
     (",0", False, False), ("h.csv,1", True, True), ("h.csv,NO", False, True)],
)
def test_a_manifest_row_is_scored_by_its_hypnogram_cell_and_its_scored_column(tmp_path, cells, scored, has_hypnogram):
    (tmp_path / "m.csv").write_text(f"subject,psg,video,hypnogram,scored\n1,p.edf,v.mp4,{cells}\n")
    (entry,) = read_manifest(tmp_path / "m.csv")
    assert entry.scored is scored
    assert (entry.hypnogram == (tmp_path / "h.csv").resolve()) if has_hypnogram else entry.hypnogram is None


def test_yaml_rows_may_say_scored_with_a_yaml_bool_or_leave_out_the_hypnogram(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "- {subject: 1, psg: p.edf, video: v.mp4, hypnogram: h.csv, scored: false}\n"
        "- {subject: 2, psg: q.edf, video: w.mp4, hypnogram: }\n"
        "- {subject: 3, psg: r.edf, video: x.mp4, hypnogram: g.csv}\n"
    )
    assert [(e.scored, e.hypnogram is None) for e in read_manifest(tmp_path / "m.yaml")] == [
        (False, False), (False, True), (True, False)]  # fmt: skip


@pytest.mark.parametrize(
    ("cells", "message"),
    [(",true", "row 2: scored is true but the hypnogram cell is empty"), ("h.csv,maybe", "scored must be true or false")],
)
def test_a_contradictory_or_unreadable_scored_cell_names_the_row_and_the_fix(tmp_path, cells, message):
    (tmp_path / "m.csv").write_text(f"subject,psg,video,hypnogram,scored\n1,p.edf,v.mp4,{cells}\n")
    with pytest.raises(ManifestError, match=message) as caught:
        read_manifest(tmp_path / "m.csv")
    assert str(tmp_path / "m.csv") in str(caught.value)


@pytest.mark.parametrize("how", ["empty", "scored-column"])
def test_an_unscored_night_is_cut_on_the_psg_grid_with_unscored_labels(exported, how):
    scored = _recorded(exported / "manifest.csv")
    mixed = _recorded(_unscore(exported, {2}, how))
    entry = next(e for e in mixed.entries if e.subject == "2")
    assert not entry.scored
    night, reference = mixed.night(entry), scored.night(next(e for e in scored.entries if e.subject == "2"))
    assert len(night.labels) == EPOCHS and (night.labels == UNSCORED).all()
    np.testing.assert_array_equal(night.onsets, np.arange(EPOCHS) * 30.0)
    np.testing.assert_array_equal(night.eeg, reference.eeg)  # the synthetic hypnogram starts with the PSG
    np.testing.assert_array_equal(night.video, reference.video)


def test_subjects_with_an_unscored_night_always_train(exported):
    manifest = _unscore(exported, {1, 3})
    for seed in range(4):
        for fold in range(3):
            dm = _recorded(manifest, seed=seed, num_folds=3, fold=fold)
            assert {1, 3} <= set(dm.split.train), (seed, fold)
            assert not {1, 3} & set(dm.split.val + dm.split.test)
            assert dm.unscored_subjects == frozenset({1, 3})
    dm = _recorded(manifest)
    labels = dm.labels("train")
    assert int((labels == UNSCORED).sum()) == 2 * EPOCHS and len(labels) == dm.num_train_samples
    for name in ("val", "test"):
        assert (dm.labels(name) != UNSCORED).all()
    # the teacher's draws (ratio 0) never meet an unscored night; a student's draws meet them as they occur
    weights = dm.training_weights(0.0)
    assert float(weights[labels == UNSCORED].sum()) == 0.0
    assert dm.training_weights(None) is None


def test_too_few_scored_subjects_for_the_split_is_a_clear_error(exported):
    manifest = _unscore(exported, {0, 1, 2, 3})
    with pytest.raises(ManifestError, match="4 of 5 subjects have a night nobody scored") as caught:
        _recorded(manifest)
    assert "Score more subjects' nights" in str(caught.value) and str(manifest) in str(caught.value)


def test_discover_writes_an_empty_hypnogram_cell_for_a_night_without_one(tmp_path, capsys):
    for name in ("s1_psg.edf", "s1_video.mp4", "s1_hypnogram.csv", "s2_psg.edf", "s2_video.mp4"):
        (tmp_path / name).write_bytes(b"x")
    rows = discover_nights(tmp_path)
    assert [(r["subject"], r["hypnogram"]) for r in rows] == [("s1", "s1_hypnogram.csv"), ("s2", "")]
    with pytest.raises(SystemExit) as done:
        main(["manifest", str(tmp_path)])
    assert done.value.code == 0 and "1 without a hypnogram" in capsys.readouterr().out
    assert [e.scored for e in read_manifest(tmp_path / "manifest.csv")] == [True, False]


def test_check_data_lists_an_unscored_night_as_training_only(exported, capsys):
    with pytest.raises(SystemExit) as done:
        main(["check-data", str(_unscore(exported, {4})), "--frames", "2", "--frame-size", "8"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "5 of 5 nights ready" in out
    (row,) = [line for line in out.splitlines() if line.split()[:1] == ["4"]]
    assert row.split()[2:4] == ["0", str(EPOCHS)] and "nobody scored: training only" in row


def test_sacd_fit_distils_on_a_manifest_with_an_unscored_night(exported, tmp_path, tiny_teacher):
    from conftest import distiller_config, write_config

    from sacd.cli import SacdCLI

    data = tmp_path / "data"
    shutil.copytree(exported, data)
    manifest = _unscore(data, {0, 4})
    (data / "sub-000" / "sub-000_night-0_hypnogram.csv").unlink()  # an unscored night needs no hypnogram file
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["data"] = {"class_path": "datamodules.RecordedNights",
                      "init_args": {"manifest": str(manifest), "frames": FRAMES, "frame_size": SIZE,
                                    "val_subjects": 1, "test_subjects": 1, "batch_size": 64}}  # fmt: skip
    config["model"]["init_args"]["student"]["init_args"]["widths"] = [8, 16]
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "c.yaml", config)), "--trainer.fast_dev_run", "true"])
    assert (cli.datamodule.labels("train") == UNSCORED).sum() == 2 * EPOCHS
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
