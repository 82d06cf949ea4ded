"""Exported nights read back with the tools a real user's data goes through (MNE, PyAV, decord, csv)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from datamodules.generator import export
from datamodules.generator.export import (
    MANIFEST_COLUMNS,
    STAGE_ANNOTATIONS,
    export_night,
    night_paths,
    read_hypnogram_csv,
    read_manifest,
    write_manifest,
)
from datamodules.generator.night import SyntheticNight
from datamodules.generator.report import night_report

SAMPLE_RATE_HZ = 100.0
FPS_HZ = 2.0
SIZE = 32
CHANNELS = ("C4-M1", "EOG", "EMG")
TYPES = ("eeg", "eog", "emg")


def _frame(index: int) -> np.ndarray:
    """A smooth, moving gray pattern (codecs keep it well, so pixel errors are meaningful)."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    pixels = 128 + 60 * np.sin(xx / 5 + index / 3) + 30 * np.cos(yy / 7 - index / 5)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _render(indices: np.ndarray) -> np.ndarray:
    return np.stack([_frame(int(i)) for i in np.asarray(indices)]).reshape(-1, SIZE, SIZE)


def tiny_night(subject: int = 1, night: int = 0, labels: tuple[int, ...] = (0, 2, 2, 4)) -> SyntheticNight:
    """Three channels of sines and noise in volts, 30 s epochs at 100 Hz, 32x32 video at 2 fps."""
    rng = np.random.default_rng(subject * 10 + night)
    labels_array = np.array(labels, dtype=np.int64)
    seconds = len(labels) * 30.0
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    signals = np.stack(
        [
            30e-6 * np.sin(2 * np.pi * 10 * t) + 10e-6 * rng.standard_normal(t.size),
            80e-6 * np.sin(2 * np.pi * 0.5 * t),
            2e-6 * rng.standard_normal(t.size),
        ]
    ).astype(np.float32)
    return SyntheticNight(
        subject=subject,
        night=night,
        labels=labels_array,
        epoch_seconds=30.0,
        signals=signals,
        channel_names=CHANNELS,
        channel_types=TYPES,
        sample_rate=SAMPLE_RATE_HZ,
        video_fps=FPS_HZ,
        video_size=(SIZE, SIZE),
        render_frames=_render,
        num_frames=int(seconds * FPS_HZ),
    )


def _expand(onsets: np.ndarray, durations: np.ndarray, descriptions: list[str]) -> np.ndarray:
    """Per-epoch labels from Sleep-EDF bouts (onset, duration, "Sleep stage X")."""
    labels = []
    for onset, duration, description in sorted(zip(onsets, durations, descriptions)):
        assert onset == pytest.approx(len(labels) * 30.0)
        labels += [STAGE_ANNOTATIONS.index(description)] * round(duration / 30.0)
    return np.array(labels)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, SyntheticNight]]:
    """One tiny night exported with each codec (shared: encoding is the slow part)."""
    out = {}
    for codec in ("h264", "mjpeg"):
        root = tmp_path_factory.mktemp(codec)
        night = tiny_night()
        written: list[int] = []
        row = export_night(night, root, video_codec=codec, progress=written.append, h264_crf=8)
        assert sum(written) == night.num_frames
        out[codec] = (root, row, night)
    return out


def test_manifest_row_describes_the_night(exported):
    root, row, night = exported["h264"]
    assert row == {
        "subject": 1,
        "night": 0,
        "psg": "sub-001/sub-001_night-0_psg.edf",
        "video": "sub-001/sub-001_night-0_video.mp4",
        "hypnogram": "sub-001/sub-001_night-0_hypnogram.csv",
        "hypnogram_edf": "sub-001/sub-001_night-0_hypnogram.edf",
        "video_offset_seconds": 0.0,
        "channels": "C4-M1;EOG;EMG",
        "sample_rate": 100.0,
        "video_fps": 2.0,
        "num_epochs": 4,
    }
    assert sorted(p.name for p in (root / "sub-001").iterdir()) == sorted(
        Path(row[k]).name for k in ("psg", "video", "hypnogram", "hypnogram_edf")
    )


def test_psg_edf_reads_back_with_mne(exported):
    import mne

    root, row, night = exported["h264"]
    raw = mne.io.read_raw_edf(root / row["psg"], infer_types=True, preload=True, verbose="error")
    assert raw.ch_names == ["C4-M1", "E1-M2", "chin"]  # the derivations a clinic's file names
    assert raw.get_channel_types() == list(TYPES)
    labels = mne.io.read_raw_edf(root / row["psg"], verbose="error").ch_names
    assert labels == ["EEG C4-M1", "EOG E1-M2", "EMG chin"]
    assert raw.info["sfreq"] == SAMPLE_RATE_HZ
    assert raw.n_times == night.signals.shape[1]
    assert raw.info["meas_date"] == export.DEFAULT_RECORDING_START
    # 16-bit quantisation over each channel's own range: error at most one step (half, plus rounding)
    data_volts = raw.get_data()
    step_volts = (night.signals.max(axis=1) - night.signals.min(axis=1)).astype(np.float64) / 65534
    error_volts = np.abs(data_volts - night.signals).max(axis=1)
    assert np.all(error_volts <= step_volts), (error_volts, step_volts)
    # the values are in volts, not microvolts: the EEG sine is tens of uV
    assert 30e-6 < np.abs(data_volts[0]).max() < 100e-6
    annotations = raw.annotations
    assert set(annotations.description) <= set(STAGE_ANNOTATIONS)
    assert np.array_equal(
        _expand(annotations.onset, annotations.duration, list(annotations.description)), night.labels
    )


def test_hypnogram_edf_is_annotations_only_and_reads_back(exported):
    import edfio
    import mne

    root, row, night = exported["h264"]
    annotations = mne.read_annotations(root / row["hypnogram_edf"])
    assert list(annotations.description) == ["Sleep stage W", "Sleep stage 2", "Sleep stage R"]
    assert np.array_equal(_expand(annotations.onset, annotations.duration, list(annotations.description)), night.labels)
    edf = edfio.read_edf(root / row["hypnogram_edf"])
    assert edf.num_signals == 0  # annotations only, like Sleep-EDF's *-Hypnogram.edf
    start = export.DEFAULT_RECORDING_START
    assert (edf.startdate, edf.starttime) == (start.date(), start.time().replace(tzinfo=None))


def test_hypnogram_csv_round_trip(exported):
    root, row, night = exported["h264"]
    text = (root / row["hypnogram"]).read_text().splitlines()
    assert text[0] == "epoch,onset_seconds,duration_seconds,stage"
    assert text[1:] == ["0,0,30,W", "1,30,30,N2", "2,60,30,N2", "3,90,30,REM"]
    assert np.array_equal(read_hypnogram_csv(root / row["hypnogram"]), night.labels)


def test_a_scored_night_keeps_its_latent_stages_in_the_csv(tmp_path):
    """The hypnogram is the scorer's reading; stage_true beside it is what the signals follow, and an
    unscored epoch (-1) is written "?", which the recorded reader excludes instead of guessing."""
    from datamodules.recorded.hypnogram import read_hypnogram

    night = tiny_night(labels=(0, 1, 2, -1))
    night.events["stage_true"] = np.array([0, 0, 2, 2])
    export.write_hypnogram_csv(night.labels, 30.0, tmp_path / "scored.csv", stages_true=night.stages_true)
    lines = (tmp_path / "scored.csv").read_text().splitlines()
    assert lines == ["epoch,onset_seconds,duration_seconds,stage,stage_true",
                     "0,0,30,W,W", "1,30,30,N1,W", "2,60,30,N2,N2", "3,90,30,?,N2"]  # fmt: skip
    assert read_hypnogram_csv(tmp_path / "scored.csv").tolist() == [0, 1, 2, -1]
    assert read_hypnogram_csv(tmp_path / "scored.csv", "stage_true").tolist() == [0, 0, 2, 2]
    assert read_hypnogram(tmp_path / "scored.csv").labels.tolist()[:3] == [0, 1, 2]  # the scorer's column
    with pytest.raises(ValueError, match="stages_true has 3 epochs, labels 4"):
        export.write_hypnogram_csv(night.labels, 30.0, tmp_path / "bad.csv", stages_true=np.zeros(3, int))
    export.write_hypnogram_csv(night.labels, 30.0, tmp_path / "plain.csv")
    with pytest.raises(KeyError, match="no 'stage_true' column"):
        read_hypnogram_csv(tmp_path / "plain.csv", "stage_true")


def test_export_writes_stage_true_only_for_a_scored_night(tmp_path):
    scored = tiny_night(labels=(0, 2, 2, 4))
    scored.events["stage_true"] = np.array([0, 2, 3, 4])
    row = export_night(scored, tmp_path / "scored", video_codec="mjpeg")
    assert read_hypnogram_csv(tmp_path / "scored" / row["hypnogram"], "stage_true").tolist() == [0, 2, 3, 4]
    plain = export_night(tiny_night(), tmp_path / "plain", video_codec="mjpeg")
    header = (tmp_path / "plain" / plain["hypnogram"]).read_text().splitlines()[0]
    assert header == "epoch,onset_seconds,duration_seconds,stage"


@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
def test_video_reads_back_with_pyav(exported, codec):
    import av

    root, row, night = exported[codec]
    with av.open(str(root / row["video"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec
        assert stream.average_rate == Fraction(2)
        assert stream.frames == night.num_frames
        # timestamps exact: the time base is 1/fps or a finer multiple of it
        assert (1 / stream.time_base) % Fraction(2) == 0
        frames, times = [], []
        for frame in container.decode(stream):
            assert (frame.width, frame.height) == (SIZE, SIZE)
            frames.append(frame.to_ndarray(format="gray"))
            times.append(frame.pts * stream.time_base)
    assert times == [Fraction(i, 2) for i in range(night.num_frames)]
    expected = _render(np.arange(night.num_frames)).astype(np.float64)
    mean_abs_error = np.abs(np.stack(frames) - expected).mean()
    assert mean_abs_error < 3, mean_abs_error


@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
def test_video_reads_back_with_decord(exported, codec):
    import decord

    root, row, night = exported[codec]
    reader = decord.VideoReader(str(root / row["video"]), ctx=decord.cpu(0))
    assert len(reader) == night.num_frames
    assert reader.get_avg_fps() == pytest.approx(FPS_HZ)
    starts = reader.get_frame_timestamp(list(range(len(reader))))[:, 0]
    np.testing.assert_allclose(starts, np.arange(night.num_frames) / FPS_HZ, atol=1e-4)
    rgb = reader.get_batch(list(range(len(reader)))).asnumpy()
    assert rgb.shape == (night.num_frames, SIZE, SIZE, 3)
    expected = _render(np.arange(night.num_frames)).astype(np.float64)
    mean_abs_error = np.abs(rgb.mean(axis=-1) - expected).mean()
    assert mean_abs_error < 3, mean_abs_error


def test_refuses_to_overwrite_unless_asked(tmp_path):
    night = tiny_night(labels=(0, 1))
    export_night(night, tmp_path, video_codec="mjpeg")
    psg = night_paths(tmp_path, 1, 0)["psg"]
    before = psg.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match=r"sub-001_night-0_psg\.edf.*overwrite=True"):
        export_night(night, tmp_path, video_codec="mjpeg")
    assert psg.stat().st_mtime_ns == before
    changed = tiny_night(labels=(3, 3))
    export_night(changed, tmp_path, video_codec="mjpeg", overwrite=True)
    assert np.array_equal(read_hypnogram_csv(night_paths(tmp_path, 1, 0)["hypnogram"]), [3, 3])


def test_interrupted_export_leaves_no_files(tmp_path):
    night = tiny_night(labels=(0, 2, 2, 2, 4, 4))  # 360 frames: two chunks of at most 300
    calls = []

    def failing_render(indices: np.ndarray) -> np.ndarray:
        calls.append(len(indices))
        if len(calls) > 1:
            raise RuntimeError("renderer crashed")
        return _render(indices)

    night.render_frames = failing_render
    with pytest.raises(RuntimeError, match="renderer crashed"):
        export_night(night, tmp_path, video_codec="h264")
    assert calls == [export.FRAMES_PER_CHUNK, 360 - export.FRAMES_PER_CHUNK]  # crashed mid-video
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no final files, no temp files


def test_manifest_round_trip_and_append(tmp_path):
    rows = [export_night(tiny_night(subject=s, labels=(0,)), tmp_path, video_codec="mjpeg") for s in (1, 2)]
    path = tmp_path / "manifest.csv"
    write_manifest(rows, path)
    assert path.read_text().splitlines()[0] == ",".join(MANIFEST_COLUMNS)
    assert read_manifest(path) == rows
    more = read_manifest(path) + [export_night(tiny_night(subject=3, labels=(2,)), tmp_path, video_codec="mjpeg")]
    write_manifest(more, path)
    back = read_manifest(path)
    assert [(r["subject"], r["night"]) for r in back] == [(1, 0), (2, 0), (3, 0)]
    assert back[:2] == rows
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["manifest.csv"]  # no temp files left
    with pytest.raises(ValueError, match="lacks columns"):
        write_manifest([{"subject": 1}], path)
    assert read_manifest(path) == back  # a failed write leaves the old manifest intact


def test_night_report_is_a_png(tmp_path):
    from PIL import Image

    night = tiny_night(labels=(0, 0, 1, 2, 2, 3, 4, 4))
    path = night_report(night, tmp_path / "report.png")
    assert path == tmp_path / "report.png"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 600 and image.height > 400
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something was drawn


def test_synth_cli_writes_nights_manifest_and_reports(tmp_path, monkeypatch, capsys):
    from sacd import synth_cli

    calls = []

    def fake_generate(**kwargs):
        calls.append(kwargs)
        return tiny_night(subject=kwargs["subject"], night=kwargs["night"], labels=(0, 2))

    monkeypatch.setattr(synth_cli, "_generate", fake_generate)
    out = tmp_path / "synth"
    argv = ["--out", str(out), "--subjects", "2", "--hours", "0.02", "--seed", "7", "--nights-per-subject", "2",
            "--codec", "mjpeg", "--fps", "2", "--size", "32", "--sample-rate", "100", "--proportions", "healthy"]
    assert synth_cli.main(argv) == 0
    assert len(calls) == 4
    assert calls[0] == {"seed": 7, "subject": 1, "night": 0, "hours": 0.02, "sample_rate": 100.0, "video_fps": 2.0,
                        "video_size": (32, 32), "proportions": "healthy", "scorer": 0}
    rows = read_manifest(out / "manifest.csv")
    assert [(r["subject"], r["night"]) for r in rows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for row in rows:
        for key in ("psg", "video", "hypnogram", "hypnogram_edf"):
            assert (out / row[key]).stat().st_size > 0
    assert sorted(p.name for p in out.rglob("*_report.png")) == [
        "sub-001_night-0_report.png", "sub-001_night-1_report.png",
        "sub-002_night-0_report.png", "sub-002_night-1_report.png",
    ]
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed

    # a second run appends new subjects and keeps the existing rows; existing nights are refused
    assert synth_cli.main(argv[:3] + ["1", "--first-subject", "3", "--no-report"] + argv[4:]) == 0
    rows_after = read_manifest(out / "manifest.csv")
    assert rows_after[:4] == rows
    assert [(r["subject"], r["night"]) for r in rows_after[4:]] == [(3, 0), (3, 1)]
    assert not list(out.rglob("sub-003_*_report.png"))
    assert synth_cli.main(argv) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert synth_cli.main(argv + ["--overwrite"]) == 0
    assert len(read_manifest(out / "manifest.csv")) == 6


def test_generate_hook_imports_the_generator_lazily(monkeypatch):
    import sys
    import types

    from sacd import synth_cli

    module = types.ModuleType("datamodules.generator.assemble")
    module.generate_night = lambda **kwargs: ("generated", kwargs)
    monkeypatch.setitem(sys.modules, "datamodules.generator.assemble", module)
    assert synth_cli._generate(subject=4) == ("generated", {"subject": 4})


@pytest.mark.parametrize(("given", "scorer"), [(None, 0), ("3", 3), ("latent", None), ("None", None)])
def test_synth_cli_scorer_picks_whose_hypnogram_is_exported(tmp_path, monkeypatch, given, scorer):
    from sacd import synth_cli

    calls = []

    def fake_generate(**kwargs):
        calls.append(kwargs)
        return tiny_night(subject=kwargs["subject"], night=kwargs["night"], labels=(0, 2))

    monkeypatch.setattr(synth_cli, "_generate", fake_generate)
    argv = ["--out", str(tmp_path / "synth"), "--subjects", "1", "--hours", "0.02", "--codec", "mjpeg", "--no-report"]
    assert synth_cli.main(argv + ([] if given is None else ["--scorer", given])) == 0
    assert calls[0]["scorer"] == scorer


@pytest.mark.parametrize("given", ["-1", "scorer 0", "1.5"])
def test_synth_cli_refuses_a_scorer_that_is_neither_a_number_nor_latent(tmp_path, capsys, given):
    from sacd import synth_cli

    with pytest.raises(SystemExit) as done:
        synth_cli.main(["--out", str(tmp_path), "--scorer", given])
    assert done.value.code == 2 and "expected a scorer number >= 0 or 'latent'" in capsys.readouterr().err
