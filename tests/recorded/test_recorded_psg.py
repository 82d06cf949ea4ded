"""read_psg on small EDF/BDF files written here: aliases, re-referencing, rate, units and errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mne
import numpy as np
import pytest

from datamodules.recorded.psg import CHANNEL_ALIASES, RecordingError, bad_epochs, read_psg

START = dt.datetime(2021, 3, 4, 23, 0, tzinfo=dt.timezone.utc)


def _sine(rate_hz: float, seconds: float, freq_hz: float = 10.0, amplitude_volts: float = 50e-6) -> np.ndarray:
    times_seconds = np.arange(int(seconds * rate_hz)) / rate_hz
    return amplitude_volts * np.sin(2 * np.pi * freq_hz * times_seconds)


def _write_edf(path: Path, names: list[str], data_volts: np.ndarray, rate_hz: float) -> Path:
    info = mne.create_info(names, rate_hz, "eeg")
    raw = mne.io.RawArray(data_volts, info, verbose="error")
    raw.set_meas_date(START)
    mne.export.export_raw(str(path), raw, fmt="edf", physical_range="channelwise", overwrite=True, verbose="error")
    return path


def test_alias_picks_old_reference_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(0, 20e-6, (2, 100 * 120))
    path = _write_edf(tmp_path / "a.edf", ["EEG Fpz-Cz", "EEG C4-A1"], data, 100.0)
    rec = read_psg(path, ("C4-M1", "Fpz-Cz"), sample_rate=100.0, l_freq_hz=None, h_freq_hz=None)
    assert rec.source_channels == ("EEG C4-A1", "EEG Fpz-Cz")
    assert rec.channel_names == ("C4-M1", "Fpz-Cz")
    assert rec.signals.dtype == np.float32 and rec.signals.shape == (2, 100 * 120)
    # volts, equal to what was written within 16-bit resolution
    np.testing.assert_allclose(rec.signals, data[[1, 0]], atol=2e-8)
    assert rec.start == START and rec.duration_seconds == pytest.approx(120.0)
    assert "EEG C4-A1" in CHANNEL_ALIASES["C4-M1"]


def test_matching_ignores_case_spaces_and_type_word(tmp_path: Path) -> None:
    data = np.vstack([_sine(100.0, 60.0), _sine(100.0, 60.0, 3.0)])
    path = _write_edf(tmp_path / "b.edf", ["eeg c4 - m1", "EOG horizontal"], data, 100.0)
    rec = read_psg(path, ("C4-M1", "EOG"), sample_rate=100.0, l_freq_hz=None, h_freq_hz=None)
    assert rec.source_channels == ("eeg c4 - m1", "EOG horizontal")


def test_bipolar_rereference_from_single_electrodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    c4, m1 = rng.normal(0, 30e-6, (2, 256 * 60))
    path = _write_edf(tmp_path / "c.edf", ["EEG C4", "EEG M1"], np.vstack([c4, m1]), 256.0)
    rec = read_psg(path, ("C4-M1",), sample_rate=256.0, l_freq_hz=None, h_freq_hz=None)
    assert rec.source_channels == ("EEG C4 - EEG M1",)
    np.testing.assert_allclose(rec.signals[0], c4 - m1, atol=5e-8)


def test_bipolar_from_a1_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    c4, a1 = rng.normal(0, 30e-6, (2, 100 * 60))
    path = _write_edf(tmp_path / "d.edf", ["C4", "A1"], np.vstack([c4, a1]), 100.0)
    rec = read_psg(path, sample_rate=100.0, l_freq_hz=None, h_freq_hz=None)
    assert rec.source_channels == ("C4 - A1",)
    np.testing.assert_allclose(rec.signals[0], c4 - a1, atol=5e-8)


def test_resample_256_to_128_keeps_sine_amplitude(tmp_path: Path) -> None:
    path = _write_edf(tmp_path / "e.edf", ["C4-M1"], _sine(256.0, 120.0)[None], 256.0)
    rec = read_psg(path)  # default: 0.3-35 Hz band-pass, 128 Hz
    assert rec.sample_rate == 128.0 and rec.signals.shape == (1, 128 * 120)
    middle = rec.signals[0, 128 * 10 : -128 * 10]
    peak_volts = np.abs(middle).max()
    assert peak_volts == pytest.approx(50e-6, rel=0.03)
    # a 10 Hz sine: the spectrum's peak is at 10 Hz
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(middle.size, 1 / 128.0)[spectrum.argmax()] == pytest.approx(10.0, abs=0.05)


def test_bdf_reads_in_volts(tmp_path: Path) -> None:
    import edfio

    signal_uv = _sine(256.0, 60.0) * 1e6
    bdf = edfio.Bdf(
        [edfio.BdfSignal(signal_uv, 256.0, label="EEG C4-M1", physical_dimension="uV", physical_range=(-200, 200))]
    )
    path = tmp_path / "f.bdf"
    bdf.write(path)
    rec = read_psg(path, sample_rate=256.0, l_freq_hz=None, h_freq_hz=None)
    np.testing.assert_allclose(rec.signals[0], signal_uv * 1e-6, atol=1e-9)


def test_channel_not_found_lists_existing_channels(tmp_path: Path) -> None:
    path = _write_edf(tmp_path / "g.edf", ["EEG Fpz-Cz", "EEG Pz-Oz"], np.zeros((2, 100 * 60)), 100.0)
    with pytest.raises(RecordingError) as info:
        read_psg(path, ("C4-M1",))
    message = str(info.value)
    assert str(path) in message and "EEG Fpz-Cz" in message and "EEG Pz-Oz" in message and "C4-A1" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_psg(tmp_path / "absent.edf")


def test_truncated_edf_names_file(tmp_path: Path) -> None:
    path = _write_edf(tmp_path / "h.edf", ["C4-M1"], _sine(100.0, 60.0)[None], 100.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="truncated") as info:
        read_psg(path)
    assert str(path) in str(info.value)


def test_garbage_edf_names_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.edf"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(RecordingError) as info:
        read_psg(path)
    assert str(path) in str(info.value)


def test_flat_and_nan_epochs_flagged() -> None:
    rate_hz = 100.0
    signals = np.random.default_rng(4).normal(0, 20e-6, (2, int(rate_hz * 30 * 4)))
    signals[0, 3000:6000] = 5e-6  # epoch 1 of channel 0: disconnected, constant
    signals[1, 9100] = np.nan  # epoch 3 of channel 1: a gap
    assert bad_epochs(signals, rate_hz).tolist() == [False, True, False, True]
    assert bad_epochs(signals[0], rate_hz).tolist() == [False, True, False, False]


def test_flat_channel_in_file_is_returned_not_raised(tmp_path: Path) -> None:
    data = np.vstack([_sine(100.0, 90.0), np.zeros(9000)])
    path = _write_edf(tmp_path / "i.edf", ["C4-M1", "EMG"], data, 100.0)
    rec = read_psg(path, ("C4-M1", "EMG"), sample_rate=100.0)
    assert bad_epochs(rec.signals, rec.sample_rate).tolist() == [True, True, True]
