"""Simulated human scorers: AASM inter-scorer agreement, disagreement at transitions, and the wiring
into generated nights and SyntheticNights."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules import SyntheticNights
from datamodules.generator.assemble import generate_night
from datamodules.generator.hypnogram import simulate_hypnogram
from datamodules.generator.scorer import (
    AASM_AGREEMENT,
    CONFUSION_DIRECTIONS,
    reading_probabilities,
    score_night,
    two_scorer_agreement,
)
from datamodules.generator.subjects import draw_subject, subject_rng

W, N1, N2, N3, REM = range(5)


def hypnogram(subject: int, num_epochs: int = 960, proportions: str = "paper") -> np.ndarray:
    return simulate_hypnogram(num_epochs, draw_subject(11, subject), subject_rng(11, subject, 1), proportions)


def at_change(stages: np.ndarray) -> np.ndarray:
    """Epochs whose previous or next epoch is another stage (an independent reading of 'transition')."""
    change = np.zeros(len(stages), dtype=bool)
    differs = stages[1:] != stages[:-1]
    change[1:] |= differs
    change[:-1] |= differs
    return change


@pytest.mark.parametrize("proportions", ["paper", "healthy"])
def test_each_night_is_calibrated_to_the_published_agreement(proportions):
    for subject in range(6):
        stages = hypnogram(subject, proportions=proportions)
        readings = reading_probabilities(stages)
        np.testing.assert_allclose(readings.sum(axis=1), 1.0, atol=1e-12)
        assert readings.min() >= 0.0
        expected = two_scorer_agreement(stages, readings)
        present = np.bincount(stages, minlength=5) > 0
        np.testing.assert_allclose(expected[present], AASM_AGREEMENT[present], atol=1e-6)


def test_two_sampled_scorers_agree_at_the_aasm_rates_per_stage_and_overall():
    """Counted agreement of two independently drawn scorers over 40 nights, against the published rates."""
    rng = np.random.default_rng(0)
    alike, counts, overall = np.zeros(5), np.zeros(5), []
    for subject in range(40):
        stages = hypnogram(subject)
        first, second = score_night(stages, rng), score_night(stages, rng)
        same = first == second
        for stage in range(5):  # a plain loop over the definition: latent-stage epochs read alike
            alike[stage] += same[stages == stage].sum()
            counts[stage] += (stages == stage).sum()
        overall.append(same.mean())
    np.testing.assert_allclose(alike / counts, AASM_AGREEMENT, atol=0.02)
    # the programme's 82.6 % overall; the mix of stages moves it (the paper's nights are 43 % wake)
    assert 0.78 <= np.mean(overall) <= 0.87


def test_disagreements_sit_at_stage_changes():
    rng = np.random.default_rng(1)
    at, inside = [], []
    for subject in range(20):
        stages = hypnogram(subject)
        differs = score_night(stages, rng) != stages
        change = at_change(stages)
        at.append(differs[change].mean())
        inside.append(differs[~change].mean())
    assert np.mean(at) > 2.5 * np.mean(inside)


def test_readings_inside_a_run_go_to_neighbouring_stages_only():
    stages = hypnogram(3)
    readings = reading_probabilities(stages)
    inside = ~at_change(stages)
    for stage in range(5):
        rows = readings[inside & (stages == stage)]
        off = rows.copy()
        off[:, stage] = 0.0
        share = off / off.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(share, np.broadcast_to(CONFUSION_DIRECTIONS[stage], share.shape), atol=1e-12)
    n3 = readings[inside & (stages == N3)]
    assert (n3[:, [W, N1, REM]] == 0.0).all() and (n3[:, N2] > 0.0).all()  # N3 is only ever misread as N2
    assert (readings[np.arange(len(stages)), stages] >= 0.5).all()  # the latent stage stays the likeliest reading


def test_reading_probabilities_refuses_bad_stages():
    for bad in (np.array([], dtype=np.int64), np.array([0, 5]), np.array([-1, 2]), np.zeros((2, 2), dtype=np.int64)):
        with pytest.raises(ValueError, match="stages must be"):
            reading_probabilities(bad)


def test_a_scored_night_keeps_its_latent_stages_and_its_signals():
    latent = generate_night(seed=2, subject=1, hours=1.0, video_size=16)
    scored = generate_night(seed=2, subject=1, hours=1.0, video_size=16, scorer=0)
    again = generate_night(seed=2, subject=1, hours=1.0, video_size=16, scorer=0)
    other = generate_night(seed=2, subject=1, hours=1.0, video_size=16, scorer=1)
    np.testing.assert_array_equal(scored.events["stage_true"], latent.labels)
    assert "stage_true" not in latent.events
    np.testing.assert_array_equal(scored.signals, latent.signals)
    np.testing.assert_array_equal(scored.render_frames(np.arange(0, 60, 7)), latent.render_frames(np.arange(0, 60, 7)))
    np.testing.assert_array_equal(again.labels, scored.labels)  # a scorer always reads a night the same way
    assert not np.array_equal(scored.labels, latent.labels)
    assert not np.array_equal(other.labels, scored.labels)
    assert 0.7 < (scored.labels == latent.labels).mean() < 1.0
    with pytest.raises(ValueError, match="scorer must be"):
        generate_night(seed=2, subject=1, hours=0.25, video_size=16, scorer=-1)


def test_synthetic_nights_serve_the_scorers_labels():
    small = dict(num_subjects=3, epochs_per_night=100, val_subjects=1, test_subjects=1, frames=2, frame_size=16, seed=4)
    latent, scored = SyntheticNights(**small, scorer=None), SyntheticNights(**small)
    assert scored._night_args["scorer"] == 0  # a scorer's hypnogram by default, as a real night's
    night = generate_night(seed=4, subject=2, num_epochs=100, video_size=16, scorer=0)
    np.testing.assert_array_equal(scored.night(2).labels, night.labels)
    np.testing.assert_array_equal(latent.night(2).labels, night.events["stage_true"])
    np.testing.assert_array_equal(scored.night(2).eeg, latent.night(2).eeg)
    with pytest.raises(ValueError, match="scorer must be >= 0"):
        SyntheticNights(**small, scorer=-2)


def _night_with_cues(subject: int, sample_rate: float = 128.0) -> tuple[np.ndarray, np.ndarray]:
    from datamodules.generator.assemble import _PSG, night_rng
    from datamodules.generator.eeg import scoring_cues

    stages = hypnogram(subject)
    return stages, scoring_cues(stages, night_rng(11, subject, 0, _PSG), sample_rate=sample_rate)


def test_ambiguous_signals_are_misread_more_often_and_toward_the_neighbouring_stage():
    """Inside runs: weak-slow-wave N3 is read N2, strong-slow-wave N2 read N3, low-alpha W read N1,
    more often than the clear epochs of the same stage; calibration still holds per night."""
    from datamodules.generator.scorer import CUE_RULES

    ambiguous, clear = {s: [] for s in CUE_RULES}, {s: [] for s in CUE_RULES}
    for subject in range(8):
        stages, cues = _night_with_cues(subject)
        readings = reading_probabilities(stages, cues=cues)
        present = np.bincount(stages, minlength=5) > 0
        np.testing.assert_allclose(two_scorer_agreement(stages, readings)[present], AASM_AGREEMENT[present], atol=1e-6)
        inside = ~at_change(stages)
        for stage, (column, strong_is_ambiguous, neighbour) in CUE_RULES.items():
            rows = np.flatnonzero(inside & (stages == stage))
            if len(rows) < 8:
                continue
            value = cues[rows, column] * (1 if strong_is_ambiguous else -1)
            order = rows[np.argsort(value)]
            quarter = len(order) // 4
            ambiguous[stage].append(readings[order[-quarter:], neighbour].mean())
            clear[stage].append(readings[order[:quarter], neighbour].mean())
    for stage in CUE_RULES:
        assert np.mean(ambiguous[stage]) > 2.0 * np.mean(clear[stage]), stage


def test_the_cues_are_the_psg_s_own_and_independent_of_channels_and_rate():
    from datamodules.generator.assemble import _PSG, night_rng
    from datamodules.generator.detectors import slow_wave_fraction
    from datamodules.generator.eeg import simulate_psg

    stages, cues = _night_with_cues(2)
    np.testing.assert_array_equal(cues, _night_with_cues(2, sample_rate=100.0)[1])
    psg = simulate_psg(stages, draw_subject(11, 2), night_rng(11, 2, 0, _PSG), channels=("F4-M1",))
    epochs = psg[0].reshape(len(stages), -1)
    n3 = np.flatnonzero(stages == N3)
    fractions = np.array([slow_wave_fraction(epochs[e], 128.0) for e in n3])
    assert np.corrcoef(cues[n3, 0], fractions)[0, 1] > 0.3  # a weaker slow-wave cue: fewer slow waves
