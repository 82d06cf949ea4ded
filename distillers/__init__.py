"""The distillation zoo: one base, one small file per method."""

from distillers.base import Distiller, Outputs
from distillers.fitnets import FitNets
from distillers.kd import KD
from distillers.vanilla import Vanilla

__all__ = ["Distiller", "FitNets", "KD", "Outputs", "Vanilla"]
