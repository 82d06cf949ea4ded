"""The five AASM sleep stages, in label order (0..4)."""

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
