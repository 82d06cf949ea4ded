"""sacd: cross-modal distillation from EEG to infrared video for sleep staging.

The shared core: the staging base module, the EEG teacher, metrics, feature taps and the CLI.
Distillers live in the ``distillers`` package and paired data in ``datamodules``. The classes below
are imported when first used, so ``import sacd`` (and the ``sacd`` command's start) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public classes and the module that defines each, imported on first access
_LAZY = {"EEGTeacher": "sacd.teacher", "StagingModule": "sacd.staging", "VideoStager": "sacd.stager"}

__all__ = ["EEGTeacher", "StagingModule", "VideoStager", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sacd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
