"""``sacd predict`` on whole nights: the same stages as ``test``, valid output files, and bad input."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import distiller_config, write_config

from datamodules.recorded.video import VideoError
from sacd.cli import SacdCLI
from sacd.predict_setup import CheckpointKindError

REPO = Path(__file__).resolve().parents[2]
PREDICT = str(REPO / "experiments" / "predict.yaml")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """Three exported synthetic nights of 15 minutes (EDF+, MP4 at 48 px, hypnogram CSV, manifest)."""
    from sacd.synth_cli import main as synth

    folder = tmp_path_factory.mktemp("nights")
    assert synth(["--out", str(folder), "--subjects", "3", "--hours", "0.25", "--size", "48", "--no-report"]) in (0, None)
    return folder


@pytest.fixture(scope="module")
def student(tmp_path_factory, tiny_teacher) -> Path:
    """A KD student of 4 frames of 32x32, trained for two steps on the tiny synthetic nights."""
    import sys

    root = tmp_path_factory.mktemp("student")
    path = write_config(root / "kd.yaml", distiller_config(root, "distillers.KD", str(tiny_teacher)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["sacd"])
        cli = SacdCLI.create(["fit", "-c", str(path)])
    return Path(cli.trainer.checkpoint_callback.last_model_path)


def _predict(student: Path, out: Path, *extra: str) -> SacdCLI:
    return SacdCLI.create(["predict", "-c", PREDICT, "--ckpt_path", str(student),
                           "--trainer.callbacks.init_args.output_dir", str(out), *extra])


def _night(exported: Path, subject: int) -> dict[str, Path]:
    folder = exported / f"sub-{subject:03d}"
    return {"video": folder / f"sub-{subject:03d}_night-0_video.mp4",
            "hypnogram": folder / f"sub-{subject:03d}_night-0_hypnogram.csv"}


def test_predict_gives_the_stages_test_gives_on_the_same_epochs(tmp_path, exported, student, tiny_teacher):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["data"] = {"class_path": "datamodules.RecordedNights", "init_args": {
        "manifest": str(exported / "manifest.csv"), "frames": 4, "frame_size": 32, "val_subjects": 1,
        "test_subjects": 1, "batch_size": 8}}
    tester = SacdCLI.create(["test", "-c", str(write_config(tmp_path / "test.yaml", config)), "--ckpt_path", str(student)])
    rows = list(csv.DictReader(student.with_name(f"{student.stem}.test_predictions.csv").open()))
    (subject_index,) = tester.datamodule.split.test
    entry = tester.datamodule.nights_of([subject_index])[0]
    tested = {int(row["epoch"]): int(row["pred"]) for row in rows}
    assert "label_true" not in rows[0]  # a recording knows only its hypnogram

    _predict(student, tmp_path / "out", "--data.video", str(entry.videos[0]),
             "--data.reference_hypnogram", str(entry.hypnogram))
    (night_dir,) = (tmp_path / "out").iterdir()
    predicted = list(csv.DictReader((night_dir / "hypnogram.csv").open()))
    stages = ["W", "N1", "N2", "N3", "REM"]
    assert len(predicted) == len(tested) == 30  # 15 minutes, every epoch scored
    assert [stages.index(row["stage"]) for row in predicted] == [tested[i] for i in range(len(tested))]
    summary = json.loads((night_dir / "summary.json").read_text())
    assert summary["agreement"]["num_epochs"] == 30
    assert summary["agreement"]["acc"] == pytest.approx(
        float(json.loads(student.with_name(f"{student.stem}.test.json").read_text())["acc"]))


def test_each_night_gets_a_valid_csv_edf_png_and_summary(tmp_path, exported, student):
    import mne
    from PIL import Image

    from sacd.progress import LineProgressBar

    night = _night(exported, 1)
    cli = _predict(student, tmp_path, "--data.video", str(night["video"]), "--trainer.callbacks.init_args.smoothing_epochs", "3")
    (bar,) = [callback for callback in cli.trainer.callbacks if isinstance(callback, LineProgressBar)]  # not a TTY
    assert bar._items == 30
    folder = tmp_path / night["video"].stem
    rows = list(csv.DictReader((folder / "hypnogram.csv").open()))
    assert [row["onset_seconds"] for row in rows[:3]] == ["0", "30", "60"]
    for row in rows:
        assert sum(float(row[f"p_{name}"]) for name in ("W", "N1", "N2", "N3", "REM")) == pytest.approx(1, abs=1e-4)
    annotations = mne.read_annotations(folder / "hypnogram.edf")
    assert set(annotations.description) <= {"Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3",
                                            "Sleep stage R", "Sleep stage ?"}
    assert annotations.duration.sum() == pytest.approx(30 * len(rows))
    expanded = [d for d, n in zip(annotations.description, annotations.duration / 30) for _ in range(int(round(n)))]
    labels = {"W": "Sleep stage W", "N1": "Sleep stage 1", "N2": "Sleep stage 2", "N3": "Sleep stage 3", "REM": "Sleep stage R"}
    assert expanded == [labels[row["stage"]] for row in rows]
    with Image.open(folder / "hypnogram.png") as image:
        assert image.size[0] > 400 and len(np.unique(np.asarray(image.convert("L")))) > 2
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["epochs"] == len(rows) and summary["smoothing_epochs"] == 3
    assert summary["time_in_bed_min"] == len(rows) / 2 and "agreement" not in summary


def test_a_manifest_stages_every_night_and_existing_outputs_need_overwrite(tmp_path, exported, student):
    manifest = tmp_path / "nights.csv"
    manifest.write_text("name,video,hypnogram\n" + "".join(
        f"night{s},{_night(exported, s)['video']},{_night(exported, s)['hypnogram']}\n" for s in (1, 2)))
    _predict(student, tmp_path / "out", "--data.manifest", str(manifest))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["night1", "night2"]
    before = (tmp_path / "out" / "night1" / "hypnogram.csv").read_text()
    with pytest.raises(FileExistsError, match="overwrite"):
        _predict(student, tmp_path / "out", "--data.manifest", str(manifest))
    assert (tmp_path / "out" / "night1" / "hypnogram.csv").read_text() == before
    _predict(student, tmp_path / "out", "--data.manifest", str(manifest), "--trainer.callbacks.init_args.overwrite", "true")


def _write_video(path: Path, times_seconds: np.ndarray, size: int = 32) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mjpeg", rate=5)
        stream.width = stream.height = size
        stream.pix_fmt = "yuvj420p"
        stream.time_base = Fraction(1, 1000)
        rng = np.random.default_rng(0)
        for t in times_seconds:
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (size, size), dtype=np.uint8), format="gray")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_a_gap_in_the_video_leaves_its_epochs_unscored_and_the_rest_staged(tmp_path, student):
    times = np.r_[np.arange(0, 40, 0.2), np.arange(100, 160.2, 0.2)]  # one minute missing in the middle
    video = _write_video(tmp_path / "gap.mp4", times)
    _predict(student, tmp_path / "out", "--data.video", str(video))
    rows = list(csv.DictReader((tmp_path / "out" / "gap" / "hypnogram.csv").open()))
    assert [row["stage"] == "?" for row in rows] == [False, True, True, True, False]
    summary = json.loads((tmp_path / "out" / "gap" / "summary.json").read_text())
    assert summary["unscored_epochs"] == 3 and summary["unscored_min"] == 1.5


def test_an_undecodable_stretch_is_unscored_and_the_rest_staged(tmp_path, exported, student, monkeypatch):
    from datamodules.recorded.video import NightVideo

    original = NightVideo.clips

    def failing(self, starts, *args, **kwargs):
        if np.any((starts >= 300) & (starts < 390)):
            raise RuntimeError("corrupt packet")
        return original(self, starts, *args, **kwargs)

    monkeypatch.setattr(NightVideo, "clips", failing)
    night = _night(exported, 1)
    with pytest.warns(UserWarning, match="could not be decoded"):
        _predict(student, tmp_path, "--data.video", str(night["video"]))
    rows = list(csv.DictReader((tmp_path / night["video"].stem / "hypnogram.csv").open()))
    assert [i for i, row in enumerate(rows) if row["stage"] == "?"] == [10, 11, 12]


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda folder: folder / "absent.mp4", "no such video file"),
    (lambda folder: _file(folder / "empty.mp4", b""), "file is empty"),
    (lambda folder: _file(folder / "noise.mp4", b"not a video" * 100), "not a readable video"),
    (lambda folder: _write_video(folder / "short.mp4", np.arange(0, 20, 0.2)), "shorter than one 30 s epoch"),
])
def test_unusable_videos_are_named_before_any_staging(tmp_path, student, make, message):
    video = make(tmp_path)
    with pytest.raises(VideoError, match=message):
        _predict(student, tmp_path / "out", "--data.video", str(video))
    assert not any((tmp_path / "out").glob("*/hypnogram.csv"))


def test_wrong_checkpoints_and_unwritable_outputs_are_clear_errors(tmp_path, exported, student, tiny_teacher):
    video = str(_night(exported, 1)["video"])
    with pytest.raises(CheckpointKindError, match="EEG teacher"):
        _predict(tiny_teacher, tmp_path / "a", "--data.video", video)
    with pytest.raises(CheckpointKindError, match="4 frames of 32x32"):
        _predict(student, tmp_path / "b", "--data.video", video, "--data.frames", "8")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises((CheckpointKindError, ValueError), match="junk.ckpt"):
        _predict(junk, tmp_path / "c", "--data.video", video)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="cannot write predictions"):
        _predict(student, blocker / "out", "--data.video", video)
    with pytest.raises(ValueError, match="one `sacd predict` per device"):  # nights are not split across processes
        _predict(student, tmp_path / "d", "--data.video", video, "--trainer.strategy", "ddp", "--trainer.devices", "2")
    assert not (tmp_path / "d").exists()


def test_predict_config_alone_needs_a_checkpoint(tmp_path, exported):
    with pytest.raises(CheckpointKindError, match="--ckpt_path"):
        SacdCLI.create(["predict", "-c", PREDICT, "--data.video", str(_night(exported, 1)["video"])])


def test_predict_with_a_training_config_is_refused_naming_the_prediction_config(
        tmp_path, monkeypatch, capsys, student, tiny_teacher):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    training = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    with pytest.raises(CheckpointKindError, match="training datamodule.*experiments/predict.yaml"):
        SacdCLI.create(["predict", "-c", str(training), "--ckpt_path", str(student)])
    with pytest.raises(SystemExit) as exit_info:  # a night's video given to a training datamodule
        SacdCLI.create(["predict", "-c", str(training), "--ckpt_path", str(student), "--data.video", "night.mp4"])
    assert exit_info.value.code == 2
    assert "NightVideos, which stages whole nights: sacd predict -c experiments/predict.yaml" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kd.yaml"]  # no stray hparams.yaml or logs
