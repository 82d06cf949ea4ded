"""A human scorer's reading of a night's latent stages: the hypnogram a sleep lab would hand over.

Human hypnograms are not the truth. In the AASM inter-scorer reliability programme (Rosenberg and
Van Hout 2013) scorers agree on 82.6 % of epochs: W 84.1 %, N1 63.0 %, N2 85.2 %, N3 67.4 %,
REM 90.5 %, and they disagree mostly at stage changes and between neighbouring stages (N1 against
W and N2, N3 against N2, REM against N1). A stager trained and tested on such labels cannot reach
kappa 1; real EEG stagers land near kappa 0.8 against one human scorer for this reason.

The model: every epoch ``e`` of latent stage ``s`` has one *reading distribution*, shared by all
scorers (an ambiguous epoch is ambiguous to everyone): the latent stage with probability
``1 - q_e`` and a neighbouring stage with probability ``q_e``. The ambiguity is
``q_e = k_s * w_e * c_e``, where ``w_e`` is :data:`TRANSITION_WEIGHT` for an epoch next to a stage
change (whose alternative is mostly the stage across the change) and 1 inside a run (whose
alternative follows :data:`CONFUSION_DIRECTIONS`), and ``c_e`` says how ambiguous the epoch's own
signals are (:func:`cue_ambiguity`, from the PSG's slow-wave and alpha amplitudes): an N3 epoch
with weak slow waves, an N2 epoch with strong ones, a W epoch with little alpha are read as the
neighbouring stage more often, and mostly as that stage. The five ``k_s`` are solved per night so that two scorers
drawing independently from these distributions agree, stage by stage, at the published rates in
expectation. Agreement on stage ``s`` is the share of the epochs of latent stage ``s`` that two
scorers read alike: the programme compared each scorer with a reference scoring of each epoch, and
the latent stage plays that reference here. (Conditioning on one scorer's reading instead cannot
reach 63 % on N1 in nights with much wake: wake misread as N1 alone outnumbers the N1 epochs.)
Scorers are numbered; scorer ``i`` of a night always gives the same reading.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

#: Two-scorer agreement per stage (W, N1, N2, N3, REM), AASM inter-scorer reliability programme.
AASM_AGREEMENT = np.array([0.841, 0.630, 0.852, 0.674, 0.905])
#: Where a scorer's reading of an epoch inside a run goes when it is not the latent stage, per latent
#: stage (rows) over readings (columns W, N1, N2, N3, REM); rows sum to 1.
CONFUSION_DIRECTIONS = np.array(
    [
        [0.00, 0.75, 0.10, 0.00, 0.15],  # W: read as drowsy N1, sometimes N2 or REM
        [0.40, 0.00, 0.45, 0.00, 0.15],  # N1: W or N2 on either side, REM without eye movements
        [0.05, 0.40, 0.00, 0.40, 0.15],  # N2: N1 (alpha intrusions), N3 (slow waves near 20 %), REM
        [0.00, 0.00, 1.00, 0.00, 0.00],  # N3: only ever N2 (the 20 % slow-wave threshold)
        [0.20, 0.50, 0.30, 0.00, 0.00],  # REM: N1 (no rapid eye movements), W, N2 (spindles at REM onset)
    ]
)
#: How many times more ambiguous an epoch beside a stage change is than one inside a run.
TRANSITION_WEIGHT = 4.0
#: Share of a transition epoch's disagreement that goes to the stage across the change.
ACROSS_THE_CHANGE = 0.8
#: Per latent stage: the cue that decides it against its neighbour (column of the cues, see
#: ``datamodules.generator.eeg.scoring_cues``), whether a *strong* cue is what makes it ambiguous,
#: and the neighbour it is then read as. W: little alpha reads N1; N2: strong slow waves read N3;
#: N3: weak slow waves read N2. N1 and REM hinge on transients, and keep c_e = 1.
CUE_RULES: dict[int, tuple[int, bool, int]] = {0: (1, False, 1), 2: (0, True, 3), 3: (0, False, 2)}
#: How many times more ambiguous the most ambiguous epoch of a stage is than its median one (and
#: the clearest epoch that many times less).
CUE_SPREAD = 2.0
#: The most an epoch's reading may move off its latent stage (beyond 1/2 the latent stage is no
#: longer the likeliest reading).
MAX_AMBIGUITY = 0.5

__all__ = ["AASM_AGREEMENT", "CONFUSION_DIRECTIONS", "cue_ambiguity", "reading_probabilities", "score_night",
           "two_scorer_agreement"]  # fmt: skip


def cue_ambiguity(stages: np.ndarray, cues: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch: ``c_e`` and the share of its disagreement its cue sends to the neighbouring stage.

    Within each stage of :data:`CUE_RULES`, epochs are ranked by their cue, ``r`` in [0, 1] from the
    clearest to the most ambiguous; ``c_e = CUE_SPREAD ** (2 r - 1)`` and the share is ``r``.
    Without cues every epoch has ``c_e = 1`` and no share.
    """
    ambiguity, toward = np.ones(len(stages)), np.zeros(len(stages))
    if cues is None:
        return ambiguity, toward
    for stage, (column, strong_is_ambiguous, _) in CUE_RULES.items():
        rows = np.flatnonzero(stages == stage)
        if len(rows) < 2:
            continue
        value = cues[rows, column] * (1.0 if strong_is_ambiguous else -1.0)
        rank = np.argsort(np.argsort(value, kind="stable"), kind="stable") / (len(rows) - 1)
        ambiguity[rows] = CUE_SPREAD ** (2.0 * rank - 1.0)
        toward[rows] = rank
    return ambiguity, toward


def _directions(stages: np.ndarray, cues: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch: its relative ambiguity ``w_e * c_e`` and the (epochs, 5) distribution of its other readings."""
    n = len(stages)
    across = np.zeros((n, 5))
    for shift in (-1, 1):  # the stage on each side, where it differs
        neighbour = np.roll(stages, shift)
        edge = 0 if shift == 1 else n - 1
        differs = neighbour != stages
        differs[edge] = False
        across[np.flatnonzero(differs), neighbour[differs]] += 1.0
    at_change = across.sum(axis=1) > 0
    directions = CONFUSION_DIRECTIONS[stages].copy()
    ambiguity, toward = cue_ambiguity(stages, cues)
    for stage, (_, _, neighbour) in CUE_RULES.items():  # inside a run, an ambiguous cue points to its neighbour
        rows = (stages == stage) & ~at_change
        share = toward[rows, None]
        directions[rows] = (1.0 - share) * directions[rows] + share * np.eye(5)[neighbour]
    directions[at_change] = (1.0 - ACROSS_THE_CHANGE) * directions[at_change] + ACROSS_THE_CHANGE * (
        across[at_change] / across[at_change].sum(axis=1, keepdims=True)
    )
    return np.where(at_change, TRANSITION_WEIGHT, 1.0) * ambiguity, directions


def _readings(stages: np.ndarray, scale: np.ndarray, weight: np.ndarray, directions: np.ndarray) -> np.ndarray:
    ambiguity = np.minimum(scale[stages] * weight, MAX_AMBIGUITY)[:, None]
    return (1.0 - ambiguity) * np.eye(5)[stages] + ambiguity * directions


def two_scorer_agreement(stages: np.ndarray, readings: np.ndarray) -> np.ndarray:
    """Expected share of the epochs of each latent stage that two scorers drawing from ``readings`` read alike.

    NaN for a stage the night does not have.
    """
    alike = (readings**2).sum(axis=1)
    counts = np.bincount(stages, minlength=5)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(stages, weights=alike, minlength=5) / np.where(counts > 0, counts, np.nan)


def reading_probabilities(
    stages: np.ndarray, agreement: np.ndarray = AASM_AGREEMENT, cues: np.ndarray | None = None
) -> np.ndarray:
    """(epochs, 5) probabilities of each reading of each epoch, calibrated to ``agreement`` per stage;
    ``cues`` (epochs, 2) are the PSG's slow-wave and alpha amplitudes (None: no cue-driven ambiguity).

    Agreement falls monotonically as ``k_s`` grows (up to :data:`MAX_AMBIGUITY`), so each stage's
    scale is the root of one equation; a target out of reach takes the nearest end.
    """
    stages = np.asarray(stages, dtype=np.int64)
    if stages.ndim != 1 or len(stages) == 0 or stages.min() < 0 or stages.max() > 4:
        raise ValueError("stages must be a non-empty 1-D array of stages 0..4 (W, N1, N2, N3, REM)")
    if cues is not None and np.shape(cues) != (len(stages), 2):
        raise ValueError(f"cues must have shape ({len(stages)}, 2), got {np.shape(cues)}")
    weight, directions = _directions(stages, None if cues is None else np.asarray(cues, dtype=np.float64))
    scales = np.zeros(5)
    for stage in np.flatnonzero(np.bincount(stages, minlength=5)):
        rows = stages == stage

        def gap(scale: float, rows: np.ndarray = rows) -> float:
            readings = _readings(stages[rows], np.full(5, scale), weight[rows], directions[rows])
            return float((readings**2).sum(axis=1).mean()) - agreement[stage]

        if gap(MAX_AMBIGUITY) >= 0.0:
            scales[stage] = MAX_AMBIGUITY
        elif gap(0.0) > 0.0:
            scales[stage] = brentq(gap, 0.0, MAX_AMBIGUITY, xtol=1e-9)
    return _readings(stages, scales, weight, directions)


def score_night(
    stages: np.ndarray, rng: np.random.Generator, agreement: np.ndarray = AASM_AGREEMENT, cues: np.ndarray | None = None
) -> np.ndarray:
    """One scorer's hypnogram (int64, 0..4) of a night whose latent stages are ``stages`` (and PSG cues ``cues``)."""
    readings = reading_probabilities(stages, agreement, cues)
    cumulative = np.cumsum(readings, axis=1)
    draws = rng.random(len(readings))[:, None]
    return np.minimum((cumulative < draws).sum(axis=1), 4).astype(np.int64)
