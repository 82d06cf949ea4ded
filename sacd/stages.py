"""The five AASM sleep stages, in label order (0..4), and the label of an epoch nobody scored."""

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")

#: the label of an epoch without a scorer's stage: a night recorded but never scored, or an epoch a
#: scorer left out ("?", movement). Everywhere the same value, so masks read ``label != UNSCORED``.
UNSCORED = -1
