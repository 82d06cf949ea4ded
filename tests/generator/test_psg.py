"""Synthetic PSG signals: units, continuity, stage signatures (AASM), transients, noise, sample rates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from datamodules.generator.detectors import (
    detect_k_complexes,
    detect_spindles,
    relative_band_powers,
    slow_wave_fraction,
)
from datamodules.generator.eeg import DEFAULT_CHANNEL_TYPES, DEFAULT_CHANNELS, channel_type, simulate_psg
from datamodules.generator.hypnogram import N2, N3, REM, W, simulate_hypnogram
from datamodules.generator.subjects import draw_subject, subject_rng

FS = 128.0
EPOCH = 30.0


def make_night(seed: int, subject: int, num_epochs: int, sample_rate: float = FS) -> tuple[np.ndarray, np.ndarray]:
    profile = draw_subject(seed, subject)
    labels = simulate_hypnogram(num_epochs, profile, subject_rng(seed, subject, 1), "healthy")
    return labels, simulate_psg(labels, profile, subject_rng(seed, subject, 2), sample_rate=sample_rate)


@pytest.fixture(scope="module")
def night() -> tuple[np.ndarray, np.ndarray]:
    """Four hours of a healthy night at 128 Hz (all stages, several cycles)."""
    return make_night(4, 1, 480)


def epochs_of(signal: np.ndarray, sample_rate: float = FS) -> np.ndarray:
    return signal.reshape(-1, int(EPOCH * sample_rate))


def test_shape_units_and_channel_types(night):
    labels, x = night
    assert x.shape == (6, len(labels) * int(EPOCH * FS)) and x.dtype == np.float32
    assert tuple(channel_type(c) for c in DEFAULT_CHANNELS) == DEFAULT_CHANNEL_TYPES
    c4 = epochs_of(x[0])
    std_uv = {s: float(c4[labels == s].std(axis=1).mean() * 1e6) for s in range(5)}
    # Volts, at real central-EEG amplitudes (real N2 ~29 uV SD, N3 ~20 uV SD).
    assert 12.0 < std_uv[N2] < 40.0 and 15.0 < std_uv[N3] < 45.0
    assert std_uv[N3] > std_uv[N2] > std_uv[REM]
    emg = epochs_of(x[5]).std(axis=1)
    assert emg[labels == W].mean() > 2 * emg[labels == N2].mean() > 2 * emg[labels == REM].mean()  # REM atonia


def test_deterministic_for_the_same_stream():
    a = make_night(2, 3, 24)[1]
    b = make_night(2, 3, 24)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_night(2, 4, 24)[1])


def test_no_jumps_at_epoch_boundaries(night):
    labels, x = night
    step = int(EPOCH * FS)
    diffs = np.abs(np.diff(x, axis=1))
    boundary = np.zeros(diffs.shape[1], dtype=bool)
    boundary[step - 1 :: step] = True
    for c in range(x.shape[0]):
        within, across = diffs[c, ~boundary], diffs[c, boundary]
        assert across.max() <= within.max()
        assert across.mean() < 1.5 * within.mean()
    stage_change = np.flatnonzero(np.diff(labels)) + 1
    assert np.abs(x[0, stage_change * step] - x[0, stage_change * step - 1]).max() <= np.percentile(diffs[0], 99.99)


def test_band_power_signatures_by_stage(night):
    labels, x = night
    bands = relative_band_powers(epochs_of(x[0]), FS)
    mean = {b: np.array([v[labels == s].mean() for s in range(5)]) for b, v in bands.items()}
    assert np.argmax(mean["delta"]) == N3
    assert np.argmax(mean["alpha"]) == W
    assert np.argmax(mean["sigma"]) == N2
    assert np.argmax(mean["beta"]) == W
    assert mean["theta"][REM] > mean["theta"][N2]
    occipital = relative_band_powers(epochs_of(x[3]), FS)["alpha"][labels == W].mean()
    assert occipital > mean["alpha"][W]  # posterior-dominant alpha


def test_spindle_and_k_complex_densities_in_n2(night):
    labels, x = night
    n2_minutes = np.sum(labels == N2) * EPOCH / 60.0
    onsets, durations = detect_spindles(x[0], FS)
    in_stage = labels[(onsets // EPOCH).astype(int)]
    assert np.all((durations >= 0.5) & (durations <= 2.0))
    assert 2.0 <= np.sum(in_stage == N2) / n2_minutes <= 7.0
    assert np.sum(in_stage == REM) / max(np.sum(labels == REM) * EPOCH / 60.0, 1.0) < 0.5
    kc = labels[(detect_k_complexes(x[2], FS) // EPOCH).astype(int)]
    assert 0.5 <= np.sum(kc == N2) / n2_minutes <= 3.5
    assert np.sum(kc == REM) + np.sum(kc == W) <= 0.1 * np.sum(kc == N2)


def test_slow_wave_fraction_marks_n3(night):
    labels, x = night
    frontal = epochs_of(x[2])
    fraction = {s: np.mean([slow_wave_fraction(e, FS) for e in frontal[labels == s][:60]]) for s in (W, N2, N3)}
    assert fraction[N3] >= 0.2
    assert fraction[N2] < 0.2 and fraction[W] < 0.05


def test_eye_movements_in_rem_and_wake(night):
    labels, x = night
    eog = epochs_of(x[4])
    fast = np.abs(np.diff(eog, axis=1)).max(axis=1)  # steepest slope: saccades
    assert np.median(fast[labels == REM]) > 2 * np.median(fast[labels == N2])


def test_line_noise_at_the_subjects_mains_frequency():
    found = set()
    for subject in range(6):
        profile = draw_subject(0, subject)
        labels = np.full(8, N2)
        x = simulate_psg(labels, profile, subject_rng(0, subject, 2), sample_rate=256.0)
        freqs, psd = welch(x[0], fs=256.0, nperseg=1024)
        peak = psd[np.argmin(np.abs(freqs - profile.line_hz))]
        other = psd[np.argmin(np.abs(freqs - (110.0 - profile.line_hz)))]  # 60 Hz for 50, 50 Hz for 60
        assert peak > 20 * other
        found.add(profile.line_hz)
    assert found == {50.0, 60.0}


@pytest.mark.parametrize("sample_rate", [100.0, 256.0])
def test_sample_rates(sample_rate: float):
    labels, x = make_night(3, 0, 120, sample_rate)
    assert x.shape == (6, 120 * int(EPOCH * sample_rate)) and np.all(np.isfinite(x))
    bands = relative_band_powers(epochs_of(x[0], sample_rate), sample_rate)
    present = set(np.unique(labels))
    assert N3 in present and W in present
    assert bands["delta"][labels == N3].mean() > bands["delta"][labels == W].mean()
    assert bands["alpha"][labels == W].mean() > bands["alpha"][labels == N3].mean()


def test_custom_channels_and_bad_input():
    profile = draw_subject(0, 0)
    labels = np.array([W, W, N2, N2, N3, N3, REM, REM])
    x = simulate_psg(labels, profile, subject_rng(0, 0, 2), channels=("EEG Fpz-Cz", "LOC-M2"), sample_rate=100.0)
    assert x.shape == (2, 8 * 3000)
    with pytest.raises(ValueError, match="whole number"):
        simulate_psg(labels, profile, subject_rng(0, 0, 2), sample_rate=100.05)
    with pytest.raises(ValueError, match="stages 0..4"):
        simulate_psg(np.array([0, 7]), profile, subject_rng(0, 0, 2))
