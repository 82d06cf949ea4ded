"""Distillation losses as plain ``nn.Module``s, each testable without a trainer."""

from distillers.losses.dkd import DKDLoss
from distillers.losses.hint import HintLoss, as_sequence
from distillers.losses.kd import KDLoss
from distillers.losses.pkt import PKTLoss
from distillers.losses.rkd import RKDLoss
from distillers.losses.sp import SPLoss

__all__ = ["DKDLoss", "HintLoss", "KDLoss", "PKTLoss", "RKDLoss", "SPLoss", "as_sequence"]
