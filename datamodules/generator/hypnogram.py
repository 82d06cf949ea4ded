"""Whole-night hypnograms built from sleep cycles, not from one fixed Markov matrix.

A night is planned top-down, the way sleep is organised:

1. Stage budgets (epochs per stage) come from the target proportions, nudged per subject (N3 falls and
   wake rises with age) and per night (random jitter). The budgets are spent exactly, so the target
   proportions hold on average over nights and subjects.
2. Wake is split into a sleep-onset latency (at least the subject's own 5-30 min), a final morning
   wake, and wake after sleep onset (WASO).
3. Sleep is laid out as 90-100 min ultradian cycles N1 -> N2 -> N3 -> N2 -> REM. Each stage's budget is
   shared out over the cycles with time-of-night weights: N3 decays geometrically from the first cycle
   (front-loaded), REM grows linearly (first period ~5-10 min, last 20-40 min), N2 fills in.
4. Within a cycle, N3 is broken up by short N2 returns and REM by short N2 lapses, with run lengths
   drawn from gamma distributions, so the odds of leaving a stage depend on how long it has lasted.
5. WASO is spent as awakenings (mostly 1-3 epochs, sometimes long), inserted preferentially at the end
   of REM periods and later in the night; each is followed by a return to sleep through N1.

Labels are int64 0..4 = W, N1, N2, N3, REM, one per 30 s epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from datamodules.generator.subjects import SubjectProfile
from datamodules.stages import STAGES

W, N1, N2, N3, REM = range(5)
STAGE_NAMES = STAGES  # the one definition, under the name this module exports

# Stage proportions of the whole recording (W, N1, N2, N3, REM).
PROPORTIONS_PRESETS: dict[str, tuple[float, float, float, float, float]] = {
    # The paper's in-bed recordings: a lot of wake at the start, the end and within.
    "paper": (0.431, 0.043, 0.293, 0.146, 0.088),
    # A healthy adult in bed for 8 h: sleep efficiency ~91 %, of sleep N1 5 %, N2 50 %, N3 20 %, REM 25 %.
    "healthy": (0.09, 0.045, 0.455, 0.182, 0.228),
}

_CYCLE_MIN = (85.0, 105.0)  # range of the ultradian cycle length, minutes
_N3_DECAY_PER_CYCLE = 0.9  # N3 weight of cycle k is exp(-0.9 k): ~60 % in the first cycle
_REM_GROWTH = 2.5  # REM weight grows from 1 (first cycle) to 1 + 2.5 (last cycle)
_BRIEF_AWAKENING_SHARE = 0.7  # share of awakenings that last 1-3 epochs


def _resolve(proportions: str | Sequence[float]) -> np.ndarray:
    if isinstance(proportions, str):
        if proportions not in PROPORTIONS_PRESETS:
            raise ValueError(f"unknown proportions preset {proportions!r}; expected one of {sorted(PROPORTIONS_PRESETS)}")
        proportions = PROPORTIONS_PRESETS[proportions]
    p = np.asarray(proportions, dtype=float)
    if p.shape != (5,) or np.any(p <= 0) or not np.all(np.isfinite(p)):
        raise ValueError(f"proportions must be 5 positive numbers (W, N1, N2, N3, REM), got {proportions}")
    return p / p.sum()


def _share(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` epochs into integers proportional to ``weights`` (largest remainder, exact sum)."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(out - raw)[: total - out.sum()]] += 1
    return out


def _budgets(num_epochs: int, p: np.ndarray, profile: SubjectProfile, rng: np.random.Generator) -> np.ndarray:
    """Epochs per stage for this night (exact sum ``num_epochs``)."""
    q = p * np.exp(rng.normal(0.0, 0.1, size=5))
    q[W] *= np.sqrt(profile.wake_propensity)
    q[REM] *= profile.rem_propensity
    n3 = q[N3] * profile.n3_propensity  # N2/N3 balance shifts with age; NREM total is kept
    q[N2] += q[N3] - n3
    q[N3] = n3
    q[N2] = max(q[N2], 0.05 * p[N2])
    budgets = _share(num_epochs, q)
    if num_epochs >= 100:  # long enough nights show every stage: borrow from the largest budget
        for stage in np.flatnonzero(budgets < 2):
            budgets[np.argmax(budgets)] -= 2 - budgets[stage]
            budgets[stage] = 2
    return budgets


def _runs(total: int, mean: float, rng: np.random.Generator, shape: float = 2.0) -> np.ndarray:
    """Gamma-distributed run lengths (>= 1 epoch) summing exactly to ``total``."""
    runs: list[int] = []
    left = total
    while left > 0:
        run = max(1, min(left, int(round(rng.gamma(shape, mean / shape)))))
        runs.append(run)
        left -= run
    return np.asarray(runs, dtype=np.int64)


def _interleave(main: int, main_stage: int, breaks: int, break_stage: int, mean_run: float,
                rng: np.random.Generator) -> list[int]:
    """A block of ``main`` epochs of one stage broken up by ``breaks`` epochs of another (1-2 at a time)."""
    if main == 0:
        return [break_stage] * breaks
    pieces = _runs(main, mean_run, rng)
    gaps = _share(breaks, np.ones(max(len(pieces) - 1, 1)))
    out: list[int] = []
    for i, piece in enumerate(pieces):
        out += [main_stage] * int(piece)
        if i < len(pieces) - 1:
            out += [break_stage] * int(gaps[i])
    if len(pieces) == 1:
        out += [break_stage] * int(gaps[0])
    return out


def _sleep_cycles(budgets: np.ndarray, n1_cycles: int, sleep_minutes: float, rng: np.random.Generator,
                  epoch_minutes: float) -> list[int]:
    """Sleep epochs (no wake) of the whole night as consecutive N1 -> N2 -> N3 -> N2 -> REM cycles."""
    num_cycles = max(1, int(round(sleep_minutes / rng.uniform(*_CYCLE_MIN))))
    x = np.arange(num_cycles) / max(num_cycles - 1, 1)  # position of the cycle in the night, 0..1
    jitter = np.exp(rng.normal(0.0, 0.25, size=(3, num_cycles)))
    n3 = _share(int(budgets[N3]), np.exp(-_N3_DECAY_PER_CYCLE * np.arange(num_cycles)) * jitter[0])
    rem = _share(int(budgets[REM]), (1.0 + _REM_GROWTH * x) * jitter[1])
    n2 = _share(int(budgets[N2]), (1.0 + 0.4 * x) * jitter[2])
    n1 = _share(n1_cycles, np.r_[0.0, np.ones(num_cycles - 1)] if num_cycles > 1 else np.ones(1))
    epochs_per_min = 1.0 / epoch_minutes
    out: list[int] = []
    for k in range(num_cycles):
        # N2 returns inside N3 (~1 per 10 min of N3) and N2 lapses inside REM (~1 per 15 min) come
        # out of this cycle's N2; the rest of N2 goes before N3 (60 %) and between N3 and REM (40 %).
        n3_breaks = min(int(n2[k]) // 3, int(rng.poisson(n3[k] / (10.0 * epochs_per_min))))
        rem_breaks = min((int(n2[k]) - n3_breaks) // 3, int(rng.poisson(rem[k] / (15.0 * epochs_per_min))))
        rest = int(n2[k]) - n3_breaks - rem_breaks
        before = int(round(rest * (0.6 if n3[k] > 0 else 0.5)))
        out += [N1] * int(n1[k]) + [N2] * before
        out += _interleave(int(n3[k]), N3, n3_breaks, N2, 8.0 * epochs_per_min, rng)
        out += [N2] * (rest - before)
        out += _interleave(int(rem[k]), REM, rem_breaks, N2, 10.0 * epochs_per_min, rng)
    return out


def _awakening_lengths(total: int, rng: np.random.Generator, epoch_minutes: float) -> np.ndarray:
    """Lengths (epochs) of the awakenings that spend the WASO budget: mostly brief, some long."""
    lengths: list[int] = []
    left = total
    while left > 0:
        if rng.random() < _BRIEF_AWAKENING_SHARE:
            length = int(rng.integers(1, 4))
        else:
            length = int(round(rng.lognormal(np.log(6.0 / epoch_minutes), 0.7)))  # median 6 min
        length = max(1, min(left, length))
        lengths.append(length)
        left -= length
    return np.asarray(lengths, dtype=np.int64)


def simulate_hypnogram(
    num_epochs: int,
    profile: SubjectProfile,
    rng: np.random.Generator,
    proportions: str | Sequence[float] = "paper",
    epoch_seconds: float = 30.0,
) -> np.ndarray:
    """Stage labels (int64, 0..4 = W, N1, N2, N3, REM) of one night of ``num_epochs`` epochs.

    Stage proportions match ``proportions`` (a preset name or 5 numbers) on average over nights; the
    night starts in wake and falls asleep (usually through N1) after at least the subject's own
    sleep-onset latency. Nights of >= 100 epochs contain all five stages.
    """
    if num_epochs < 20:
        raise ValueError(f"a night needs at least 20 epochs, got num_epochs={num_epochs}")
    p = _resolve(proportions)
    epoch_minutes = epoch_seconds / 60.0
    budgets = _budgets(num_epochs, p, profile, rng)

    # Wake: onset latency, morning wake, and WASO in between.
    wake = int(budgets[W])
    own_latency = int(round(profile.sleep_onset_latency_min * np.exp(rng.normal(0.0, 0.3)) / epoch_minutes))
    latency = int(np.clip(max(own_latency, rng.uniform(0.15, 0.35) * wake), 1, max(1, int(0.6 * wake))))
    latency = min(latency, wake)
    final = int(round(rng.uniform(0.15, 0.45) * (wake - latency)))
    waso = wake - latency - final
    awakenings = _awakening_lengths(waso, rng, epoch_minutes)

    # N1: the descent into sleep, a return after each awakening when affordable, the rest between cycles.
    n1_left = int(budgets[N1])
    onset_n1 = min(n1_left, int(rng.integers(1, 6)) if rng.random() < 0.9 else 0)
    n1_left -= onset_n1
    after_wake = np.zeros(len(awakenings), dtype=np.int64)
    for i in rng.permutation(len(awakenings))[: n1_left // 2]:
        after_wake[i] = 1
    n1_left -= int(after_wake.sum())

    sleep_minutes = (num_epochs - latency - final) * epoch_minutes
    sleep = np.asarray(_sleep_cycles(budgets, n1_left, sleep_minutes, rng, epoch_minutes), dtype=np.int64)

    # Where awakenings go: the end of REM periods most, then REM and late N2/N1, hardly ever N3.
    x = np.arange(len(sleep) + 1) / max(len(sleep), 1)
    prev = np.r_[N2, sleep]
    nxt = np.r_[sleep, W]
    weight = np.select(
        [(prev == REM) & (nxt != REM), prev == REM, prev == N3, prev == N1],
        [12.0, 1.5, 0.03, 1.0],
        default=0.4,
    ) * (0.4 + x)
    weight[0] = 0.0  # the first awakening cannot come before any sleep
    if len(sleep) == 0 or weight.sum() == 0:
        weight = np.ones(len(sleep) + 1)
    where = np.sort(rng.choice(len(sleep) + 1, size=len(awakenings), p=weight / weight.sum()))
    pieces: list[np.ndarray] = [np.full(latency, W), np.full(onset_n1, N1)]
    start = 0
    for pos, length, back in zip(where, awakenings, after_wake, strict=True):
        pieces += [sleep[start:pos], np.full(length, W), np.full(back, N1)]
        start = pos
    pieces += [sleep[start:], np.full(final, W)]
    labels = np.concatenate(pieces).astype(np.int64)
    if len(labels) < num_epochs:
        labels = np.r_[labels, np.full(num_epochs - len(labels), W)]
    return labels[:num_epochs]


def _runs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in ``mask``."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def hypnogram_stats(labels: np.ndarray, epoch_seconds: float = 30.0, rem_gap_min: float = 15.0) -> dict:
    """Standard whole-night sleep statistics of a hypnogram (minutes unless said otherwise).

    Keys: ``proportions`` (stage name -> fraction of the recording), ``total_sleep_time_min``,
    ``sleep_onset_latency_min`` (to the first non-W epoch), ``rem_latency_min`` (from sleep onset),
    ``num_cycles`` (REM periods: REM epochs closer than ``rem_gap_min`` minutes belong to one period),
    ``rem_period_min`` (REM minutes of each period, in order), ``n3_first_third_min`` and
    ``n3_last_third_min`` (N3 in the first/last third of the sleep period, onset to last sleep epoch),
    ``waso_min`` (wake within the sleep period) and ``num_awakenings`` (runs of W within it).
    Latencies are NaN when the night has no sleep or no REM.
    """
    labels = np.asarray(labels)
    minutes = epoch_seconds / 60.0
    asleep = np.flatnonzero(labels != W)
    stats: dict = {
        "proportions": {name: float(np.mean(labels == s)) for s, name in enumerate(STAGE_NAMES)},
        "total_sleep_time_min": float(len(asleep) * minutes),
    }
    if len(asleep) == 0:
        return stats | {"sleep_onset_latency_min": np.nan, "rem_latency_min": np.nan, "num_cycles": 0,
                        "rem_period_min": [], "n3_first_third_min": 0.0, "n3_last_third_min": 0.0,
                        "waso_min": 0.0, "num_awakenings": 0}
    onset, last = int(asleep[0]), int(asleep[-1])
    period = labels[onset : last + 1]
    rem = np.flatnonzero(period == REM)
    periods: list[float] = []
    if len(rem):
        splits = np.flatnonzero(np.diff(rem) * minutes > rem_gap_min) + 1
        periods = [len(group) * minutes for group in np.split(rem, splits)]
    thirds = np.array_split(period, 3)
    wake_starts, _ = _runs_of(period == W)
    return stats | {
        "sleep_onset_latency_min": onset * minutes,
        "rem_latency_min": float(rem[0] * minutes) if len(rem) else np.nan,
        "num_cycles": len(periods),
        "rem_period_min": periods,
        "n3_first_third_min": float(np.sum(thirds[0] == N3) * minutes),
        "n3_last_third_min": float(np.sum(thirds[-1] == N3) * minutes),
        "waso_min": float(np.sum(period == W) * minutes),
        "num_awakenings": len(wake_starts),
    }
