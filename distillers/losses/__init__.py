"""Distillation losses as plain ``nn.Module``s, each testable without a trainer."""

from distillers.losses.hint import HintLoss, as_sequence
from distillers.losses.kd import KDLoss

__all__ = ["HintLoss", "KDLoss", "as_sequence"]
