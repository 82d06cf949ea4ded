"""The distillation zoo: one base, one small file per method."""

from distillers.base import Distiller, Outputs
from distillers.dkd import DKD
from distillers.fitnets import FitNets
from distillers.kd import KD
from distillers.pkt import PKT
from distillers.rkd import RKD
from distillers.sp import SP
from distillers.vanilla import Vanilla

__all__ = ["DKD", "KD", "PKT", "RKD", "SP", "Distiller", "FitNets", "Outputs", "Vanilla"]
