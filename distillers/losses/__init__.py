"""Distillation losses as plain ``nn.Module``s, each testable without a trainer."""

from distillers.losses.ccl_contrast import CCLContrastLoss
from distillers.losses.contrast import BankTripletLoss, LabelAwareNCELoss
from distillers.losses.crd import CRDNCELoss
from distillers.losses.dkd import DKDLoss
from distillers.losses.hint import HintLoss, as_sequence
from distillers.losses.kd import KDLoss
from distillers.losses.pkt import PKTLoss
from distillers.losses.rkd import RKDLoss
from distillers.losses.sp import SPLoss
from distillers.losses.structure import GraphSimilarityLoss, GraphSimilarityNetwork, SimilarityGraphKLLoss
from distillers.losses.symmetric_kl import SymmetricKLLoss

__all__ = [
    "BankTripletLoss", "CCLContrastLoss", "CRDNCELoss", "DKDLoss", "GraphSimilarityLoss", "GraphSimilarityNetwork", "HintLoss", "KDLoss",
    "LabelAwareNCELoss", "PKTLoss", "RKDLoss", "SPLoss", "SimilarityGraphKLLoss", "SymmetricKLLoss", "as_sequence",
]
