"""read_hypnogram and align on EDF+, CSV/TSV and text hypnograms, real YASA files and our exporter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np
import pytest

from datamodules.generator.export import export_night
from datamodules.generator.night import SyntheticNight
from datamodules.recorded.hypnogram import STAGE_MAP, Hypnogram, align, read_hypnogram
from datamodules.recorded.psg import RecordingError, read_psg

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
START = dt.datetime(2021, 3, 4, 23, 0, tzinfo=dt.timezone.utc)


def _annotation_edf(path: Path, rows: list[tuple[float, float, str]], start: dt.datetime = START) -> Path:
    edf = edfio.Edf(
        [],
        recording=edfio.Recording(startdate=start.date()),
        starttime=start.time().replace(tzinfo=None),
        annotations=[edfio.EdfAnnotation(onset, duration, text) for onset, duration, text in rows],
    )
    edf.write(path)
    return path


def test_rk_mapping() -> None:
    assert STAGE_MAP["S3"] == STAGE_MAP["S4"] == STAGE_MAP["N3"] == 3
    assert STAGE_MAP["Sleep stage 4"] == 3
    assert STAGE_MAP["M"] == STAGE_MAP["?"] == STAGE_MAP["MT"] == STAGE_MAP["Unscored"] == -1
    assert STAGE_MAP["Sleep stage ?"] == STAGE_MAP["Movement time"] == -1
    assert STAGE_MAP["R"] == STAGE_MAP["REM"] == STAGE_MAP["Sleep stage R"] == 4


def test_rk_text_file(tmp_path: Path) -> None:
    path = tmp_path / "rk.txt"
    path.write_text("* R&K scoring\nW\nS1\nS2\nS3\nS4\nREM\nM\n?\nmt\n")
    assert read_hypnogram(path).labels.tolist() == [0, 1, 2, 3, 3, 4, -1, -1, -1]


def test_sleep_edf_hypnogram(tmp_path: Path) -> None:
    rows = [
        (0.0, 60.0, "Sleep stage W"),
        (60.0, 30.0, "Sleep stage 1"),
        (90.0, 90.0, "Sleep stage 2"),
        (180.0, 30.0, "Sleep stage 3"),
        (210.0, 30.0, "Sleep stage 4"),
        (240.0, 30.0, "Movement time"),
        (270.0, 60.0, "Sleep stage R"),
        (330.0, 30.0, "Sleep stage ?"),
    ]
    path = _annotation_edf(tmp_path / "SC4001EC-Hypnogram.edf", rows)
    hyp = read_hypnogram(path, recording_start=START)
    assert hyp.labels.tolist() == [0, 0, 1, 2, 2, 2, 3, 3, -1, 4, 4, -1]
    assert hyp.labels.dtype == np.int64 and hyp.onset_seconds == 0.0 and hyp.epoch_seconds == 30.0


def test_gaps_between_annotations_are_excluded(tmp_path: Path) -> None:
    rows = [(0.0, 30.0, "Sleep stage W"), (90.0, 30.0, "Sleep stage 2"), (95.0, 0.0, "Arousal")]
    hyp = read_hypnogram(_annotation_edf(tmp_path / "gap.edf", rows))
    assert hyp.labels.tolist() == [0, -1, -1, 2]


def test_hypnogram_starting_60_seconds_after_psg(tmp_path: Path) -> None:
    later = START + dt.timedelta(seconds=60)
    path = _annotation_edf(tmp_path / "late.edf", [(0.0, 90.0, "Sleep stage 2")], start=later)
    hyp = read_hypnogram(path, recording_start=START)
    assert hyp.onset_seconds == 60.0
    starts, labels = align(hyp, duration_seconds=240.0)
    assert starts.tolist() == [60.0, 90.0, 120.0] and labels.tolist() == [2, 2, 2]
    # at 100 Hz the first scored epoch starts at sample 6000
    assert int(round(starts[0] * 100.0)) == 6000


def test_csv_per_epoch(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("epoch,stage\n0,W\n1,N1\n2,N2\n3,N3\n4,R\n5,Unscored\n")
    assert read_hypnogram(path).labels.tolist() == [0, 1, 2, 3, 4, -1]


def test_tsv_onset_duration_table(tmp_path: Path) -> None:
    path = tmp_path / "h.tsv"
    path.write_text("onset\tduration\tsleep_stage\n30\t60\tW\n90\t90\tN2\n210\t30\tREM\n300\t30\tN3\n")
    hyp = read_hypnogram(path)
    assert hyp.onset_seconds == 30.0
    assert hyp.labels.tolist() == [0, 0, 2, 2, 2, -1, 4, -1, -1, 3]


def test_yasa_numeric_text_file() -> None:
    path = REAL / "data_full_6hrs_100Hz_hypno_30s.txt"
    if not path.exists():
        pytest.skip(f"{REAL} is absent")
    hyp = read_hypnogram(path)
    assert hyp.labels.size == 720
    assert set(hyp.labels.tolist()) <= {0, 1, 2, 3, 4}
    # README: REM is 21.5 % of the night: 4 is REM here, not R&K's S4
    assert np.mean(hyp.labels == 4) == pytest.approx(0.215, abs=0.005)


def test_yasa_letter_text_file() -> None:
    path = REAL / "sub-02_hypno_30s.txt"
    if not path.exists():
        pytest.skip(f"{REAL} is absent")
    hyp = read_hypnogram(path)
    assert hyp.labels.size == 98 and hyp.labels[0] == 0
    assert np.bincount(hyp.labels, minlength=5).tolist() == [36, 9, 31, 22, 0]


def test_unknown_labels_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("stage\nW\nN2\nDeep\nN2\nLight\nDeep\n")
    with pytest.raises(RecordingError) as info:
        read_hypnogram(path)
    message = str(info.value)
    assert str(path) in message and "'Deep'" in message and "'Light'" in message and "'N1'" in message


def test_unknown_sleep_stage_annotation_listed(tmp_path: Path) -> None:
    rows = [(0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage X")]
    with pytest.raises(RecordingError, match="Sleep stage X"):
        read_hypnogram(_annotation_edf(tmp_path / "x.edf", rows))


def test_hypnogram_longer_than_recording_raises(tmp_path: Path) -> None:
    hyp = Hypnogram(labels=np.array([0, 1, 2, 2, 2]), epoch_seconds=30.0, onset_seconds=0.0, path=tmp_path / "h.csv")
    with pytest.raises(RecordingError) as info:
        align(hyp, duration_seconds=120.0)
    assert "h.csv" in str(info.value) and "150" in str(info.value) and "120" in str(info.value)
    # up to half an epoch over is a partial last epoch, dropped
    starts, labels = align(hyp, duration_seconds=140.0)
    assert starts.tolist() == [0.0, 30.0, 60.0, 90.0] and labels.tolist() == [0, 1, 2, 2]


def test_trailing_unscored_beyond_recording_is_dropped(tmp_path: Path) -> None:
    hyp = Hypnogram(labels=np.array([0, 2, -1, -1, -1]), epoch_seconds=30.0, onset_seconds=0.0, path=tmp_path / "h")
    starts, labels = align(hyp, duration_seconds=60.0)
    assert labels.tolist() == [0, 2]


def _tiny_night() -> SyntheticNight:
    rng = np.random.default_rng(5)
    rate_hz, epochs = 100.0, 4
    samples = int(rate_hz * 30 * epochs)
    signals = np.vstack([rng.normal(0, 30e-6, samples), rng.normal(0, 60e-6, samples), rng.normal(0, 5e-6, samples)])
    return SyntheticNight(
        subject=1,
        night=0,
        labels=np.array([0, 2, 2, 4], dtype=np.int64),
        epoch_seconds=30.0,
        signals=signals.astype(np.float32),
        channel_names=("C4-M1", "EOG", "EMG"),
        channel_types=("eeg", "eog", "emg"),
        sample_rate=rate_hz,
        video_fps=1.0,
        video_size=(16, 16),
        render_frames=lambda indices: np.zeros((len(indices), 16, 16), dtype=np.uint8),
        num_frames=120,
    )


def test_reads_back_our_exporter(tmp_path: Path) -> None:
    night = _tiny_night()
    row = export_night(night, tmp_path, video_codec="mjpeg")
    psg_path = tmp_path / row["psg"]
    rec = read_psg(psg_path, ("C4-M1", "EOG", "EMG"), sample_rate=100.0, l_freq_hz=None, h_freq_hz=None)
    assert rec.source_channels == ("EEG C4-M1", "EOG E1-M2", "EMG chin")  # derivation names, as clinics label them
    for got, want in zip(rec.signals, night.signals):
        resolution_volts = (want.max() - want.min()) / 65534
        np.testing.assert_allclose(got, want, atol=2 * resolution_volts)
    assert rec.duration_seconds == night.duration_seconds

    for name in ("hypnogram", "hypnogram_edf", "psg"):
        hyp = read_hypnogram(tmp_path / row[name], recording_start=rec.start)
        assert hyp.labels.tolist() == night.labels.tolist(), name
        assert hyp.onset_seconds == 0.0
        starts, labels = align(hyp, rec.duration_seconds)
        assert labels.tolist() == night.labels.tolist() and starts.tolist() == [0.0, 30.0, 60.0, 90.0]
