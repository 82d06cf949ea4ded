"""Dotted class paths (``distillers.KD``, ``sacd.models.X3D``), the way configs name classes, resolved in one place."""

from __future__ import annotations

import importlib
from typing import Any


def import_class_path(class_path: str | None) -> Any | None:
    """The object a dotted path names, or None when it names nothing importable (callers say why that is wrong)."""
    module_name, _, name = str(class_path or "").rpartition(".")
    if not module_name:
        return None
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None
