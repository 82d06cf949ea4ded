"""The distillation zoo: one base, one small file per method."""

from __future__ import annotations

from distillers.base import Distiller, Outputs
from distillers.ccl import CCL
from distillers.crd import CRD
from distillers.dkd import DKD
from distillers.fitnets import FitNets
from distillers.kd import KD
from distillers.pkt import PKT
from distillers.pseudo_label import PseudoLabel
from distillers.rkd import RKD
from distillers.sacd import SACD
from distillers.sp import SP
from distillers.vanilla import Vanilla

__all__ = ["CCL", "CRD", "DKD", "KD", "PKT", "RKD", "PseudoLabel", "SACD", "SP", "Distiller", "FitNets", "Outputs", "Vanilla", "method_names"]


def method_names() -> list[str]:
    """Every method of the zoo (each exported Distiller subclass), Vanilla first: what the CLI tests,
    the benchmarks and the sweeps go through, so a new method exported here is picked up by all."""
    methods = [name for name, value in globals().items()
               if isinstance(value, type) and issubclass(value, Distiller) and value is not Distiller]  # fmt: skip
    return sorted(methods, key=lambda name: (name != "Vanilla", name))
