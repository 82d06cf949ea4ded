"""Synthetic subjects and whole-night hypnograms: determinism, presets and sleep architecture."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.generator.hypnogram import (
    N1,
    N3,
    PROPORTIONS_PRESETS,
    REM,
    W,
    hypnogram_stats,
    simulate_hypnogram,
)
from datamodules.generator.subjects import draw_subject, subject_rng

EIGHT_HOURS = 960  # epochs of 30 s


def night(seed: int, subject: int, num_epochs: int = EIGHT_HOURS, proportions: str = "healthy") -> np.ndarray:
    return simulate_hypnogram(num_epochs, draw_subject(seed, subject), subject_rng(seed, subject, 1), proportions)


def test_subject_is_deterministic_and_independent_of_others():
    assert draw_subject(3, 5) == draw_subject(3, 5)
    assert draw_subject(3, 5) != draw_subject(3, 6)
    assert draw_subject(3, 5) != draw_subject(4, 5)


def test_subject_traits_in_range_and_age_effects():
    profiles = [draw_subject(0, s) for s in range(200)]
    ages = np.array([p.age_years for p in profiles])
    assert ages.min() >= 20 and ages.max() <= 75
    assert all(8.0 <= p.alpha_hz <= 12.0 for p in profiles)
    assert {p.line_hz for p in profiles} == {50.0, 60.0}
    assert all(12.0 <= p.breathing_rate_bpm <= 18.0 for p in profiles)
    assert all(5.0 <= p.sleep_onset_latency_min <= 30.0 for p in profiles)
    n3 = np.array([p.n3_propensity for p in profiles])
    wake = np.array([p.wake_propensity for p in profiles])
    assert np.corrcoef(ages, n3)[0, 1] < -0.5  # slow-wave sleep declines with age
    assert np.corrcoef(ages, wake)[0, 1] > 0.5  # wake after sleep onset rises with age


def test_hypnogram_is_deterministic():
    np.testing.assert_array_equal(night(1, 2), night(1, 2))
    assert not np.array_equal(night(1, 2), night(1, 3))


@pytest.mark.parametrize("preset", sorted(PROPORTIONS_PRESETS))
def test_preset_proportions_match_on_average(preset: str):
    nights = [night(11, s, proportions=preset) for s in range(12)]
    mean = np.mean([np.bincount(n, minlength=5) / len(n) for n in nights], axis=0)
    target = np.asarray(PROPORTIONS_PRESETS[preset])
    np.testing.assert_allclose(mean, target, atol=0.03)


def test_custom_proportions_and_bad_input():
    labels = night(0, 0, proportions=(0.2, 0.05, 0.45, 0.1, 0.2))  # type: ignore[arg-type]
    assert 0.1 < np.mean(labels == W) < 0.3
    with pytest.raises(ValueError, match="preset"):
        night(0, 0, proportions="nonsense")
    with pytest.raises(ValueError, match="5 positive"):
        night(0, 0, proportions=(0.5, 0.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="20 epochs"):
        night(0, 0, num_epochs=10)


def test_night_starts_awake_and_falls_asleep_mostly_through_n1():
    first_sleep = []
    for s in range(20):
        labels = night(2, s)
        assert labels[0] == W
        stats = hypnogram_stats(labels)
        assert 2.5 <= stats["sleep_onset_latency_min"] <= 60.0
        first_sleep.append(labels[labels != W][0])
    assert np.mean(np.asarray(first_sleep) == N1) >= 0.7


def test_sleep_architecture_of_healthy_nights():
    stats = [hypnogram_stats(night(5, s)) for s in range(10)]
    first = np.mean([s["n3_first_third_min"] for s in stats])
    last = np.mean([s["n3_last_third_min"] for s in stats])
    assert first > 3 * last  # N3 is front-loaded
    assert all(3 <= s["num_cycles"] <= 6 for s in stats)
    first_rem = np.mean([s["rem_period_min"][0] for s in stats])
    last_rem = np.mean([s["rem_period_min"][-1] for s in stats])
    assert first_rem < 15.0 and last_rem > 1.5 * first_rem  # REM periods lengthen
    assert all(45.0 <= s["rem_latency_min"] <= 180.0 for s in stats)
    assert all(360.0 <= s["total_sleep_time_min"] <= 470.0 for s in stats)


def test_paper_nights_have_much_wake_inside_and_around_sleep():
    stats = [hypnogram_stats(night(6, s, proportions="paper")) for s in range(10)]
    assert np.mean([s["waso_min"] for s in stats]) > 30.0
    assert np.mean([s["sleep_onset_latency_min"] for s in stats]) > 20.0
    assert np.mean([s["num_awakenings"] for s in stats]) > 5


@pytest.mark.parametrize("num_epochs", [100, 150, 300, 720, 1080])
def test_all_stages_in_nights_of_100_epochs_or_more(num_epochs: int):
    for s in range(5):
        for preset in PROPORTIONS_PRESETS:
            labels = night(8, s, num_epochs, preset)
            assert len(labels) == num_epochs and labels.dtype == np.int64
            assert set(np.unique(labels)) == {0, 1, 2, 3, 4}


def test_short_nights_are_plausible():
    for s in range(10):
        labels = night(9, s, num_epochs=20, proportions="paper")
        assert len(labels) == 20 and labels[0] == W and labels.min() >= 0 and labels.max() <= 4
        assert np.any(labels != W)


def test_stats_of_a_hand_made_hypnogram():
    # 10 min W, 5 min N1, 30 min N3, 20 min W, 10 min REM, 40 min N2, 5 min REM, 5 min W (30 s epochs)
    labels = np.repeat([W, N1, N3, W, REM, 2, REM, W], [20, 10, 60, 40, 20, 80, 10, 10])
    stats = hypnogram_stats(labels)
    assert stats["sleep_onset_latency_min"] == 10.0
    assert stats["rem_latency_min"] == 55.0
    assert stats["num_cycles"] == 2 and stats["rem_period_min"] == [10.0, 5.0]
    assert stats["waso_min"] == 20.0 and stats["num_awakenings"] == 1
    assert stats["total_sleep_time_min"] == 5 + 30 + 10 + 40 + 5
    assert stats["n3_first_third_min"] > 0 and stats["n3_last_third_min"] == 0
    assert stats["proportions"]["W"] == pytest.approx(70 / 250)
    assert hypnogram_stats(np.zeros(30, dtype=np.int64))["num_cycles"] == 0
    assert REM == 4 and N3 == 3
