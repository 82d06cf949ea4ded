"""Synthetic subjects: the traits that make one person's night and PSG differ from another's.

A subject is drawn from ``(seed, subject)`` alone through a numpy ``SeedSequence``, so subject 7 is
the same person whether 8 or 800 subjects are generated, and no subject depends on another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Stream tag mixed into the seed so that subject traits never share random numbers with the other
# generator parts (hypnogram, PSG, video) that also derive their streams from (seed, subject).
_SUBJECT_STREAM = 0x5B1EC7


@dataclass(frozen=True)
class SubjectProfile:
    """One synthetic subject (frozen: a profile is a value, shared read-only by every generator part).

    Attributes:
        subject: subject id.
        age_years: age in years (20-75).
        male: True for a male subject.
        alpha_hz: individual alpha frequency in Hz (8-12), slower with age.
        spindle_hz: centre frequency of this subject's sleep spindles in Hz (11.5-14.5).
        eeg_scale: multiplies every EEG amplitude (skull thickness, electrode placement), ~0.75-1.35.
        electrode_noise_volts: SD of the white electrode/amplifier noise in volts.
        line_hz: mains frequency of the recording site in Hz (50 or 60).
        line_volts: amplitude of the mains pick-up in volts.
        drift_volts: SD of the slow (< 0.1 Hz) electrode drift in volts.
        artefact_rate_per_hour: movement/electrode artefact bursts per hour in wake (fewer asleep).
        sleep_onset_latency_min: typical minutes of wake before the first sleep in a healthy night.
        n3_propensity: multiplies the N3 share of sleep; ~1.4 at 20 years falling to ~0.5 at 75.
        wake_propensity: multiplies wake after sleep onset; ~0.7 at 20 years rising to ~1.5 at 75.
        rem_propensity: multiplies the REM share of sleep (individual trait, ~0.8-1.2).
        breathing_rate_bpm: resting breathing rate in breaths per minute (12-18).
    """

    subject: int
    age_years: float
    male: bool
    alpha_hz: float
    spindle_hz: float
    eeg_scale: float
    electrode_noise_volts: float
    line_hz: float
    line_volts: float
    drift_volts: float
    artefact_rate_per_hour: float
    sleep_onset_latency_min: float
    n3_propensity: float
    wake_propensity: float
    rem_propensity: float
    breathing_rate_bpm: float


def subject_rng(seed: int, subject: int, stream: int) -> np.random.Generator:
    """A random generator for one (seed, subject) and one generator part (``stream``).

    Every part of a subject's night draws from its own stream, so changing how one part uses random
    numbers never changes another part's output.
    """
    if subject < 0 or seed < 0:
        raise ValueError(f"seed and subject must be non-negative integers, got seed={seed}, subject={subject}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(subject), int(stream)]))


def draw_subject(seed: int, subject: int) -> SubjectProfile:
    """The profile of subject ``subject`` under ``seed``: deterministic and independent of other subjects."""
    rng = subject_rng(seed, subject, _SUBJECT_STREAM)
    age = float(rng.uniform(20.0, 75.0))
    decades_past_45 = (age - 45.0) / 10.0
    # Slow-wave sleep roughly halves from the 20s to the 70s; wake after sleep onset rises.
    n3 = float(np.exp(-0.17 * decades_past_45 + rng.normal(0.0, 0.15)))
    wake = float(np.exp(0.15 * decades_past_45 + rng.normal(0.0, 0.15)))
    # Individual alpha frequency ~10 Hz in young adults, about 0.5 Hz slower per 20 years after 45.
    alpha = float(np.clip(10.2 - 0.25 * max(0.0, decades_past_45) + rng.normal(0.0, 0.6), 8.0, 12.0))
    return SubjectProfile(
        subject=int(subject),
        age_years=age,
        male=bool(rng.random() < 0.5),
        alpha_hz=alpha,
        spindle_hz=float(np.clip(rng.normal(13.0, 0.6), 11.5, 14.5)),
        eeg_scale=float(np.clip(rng.lognormal(-0.03 * decades_past_45, 0.12), 0.75, 1.35)),
        electrode_noise_volts=float(rng.uniform(0.3, 1.0)) * 1e-6,
        line_hz=float(rng.choice([50.0, 60.0])),
        line_volts=float(rng.lognormal(np.log(2.0), 0.5)) * 1e-6,
        drift_volts=float(rng.uniform(5.0, 20.0)) * 1e-6,
        artefact_rate_per_hour=float(rng.uniform(4.0, 15.0)),
        sleep_onset_latency_min=float(np.clip(rng.lognormal(np.log(13.0), 0.45), 5.0, 30.0)),
        n3_propensity=n3,
        wake_propensity=wake,
        rem_propensity=float(np.exp(rng.normal(0.0, 0.1))),
        breathing_rate_bpm=float(np.clip(rng.normal(15.0, 1.6), 12.0, 18.0)),
    )
