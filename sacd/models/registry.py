"""Named video-student presets, so configs can say ``x3d_tiny`` instead of widths."""

from __future__ import annotations

from typing import Any

from sacd.models.video import R2Plus1D, VideoStudent, X3D

__all__ = ["create_student", "list_students"]

_PRESETS: dict[str, tuple[type[VideoStudent], dict[str, Any]]] = {
    "r2plus1d_18": (R2Plus1D, {}),
    "r2plus1d_10": (R2Plus1D, {"blocks": (1, 1, 1, 1)}),
    "x3d_xs": (X3D, {}),
    "x3d_tiny": (
        X3D,
        {"widths": (16, 32, 64), "depths": (1, 2, 2), "stem_width": 16, "embed_dim": 128},
    ),
}


def list_students() -> list[str]:
    """Names accepted by ``create_student``."""
    return sorted(_PRESETS)


def create_student(name: str, pretrained: bool = False, **kwargs: Any) -> VideoStudent:
    """Build a student from a preset; ``kwargs`` override the preset's arguments.

    Students are always trained from scratch: ``pretrained=True`` is refused
    rather than silently ignored, and nothing is ever downloaded.
    """
    if pretrained:
        raise ValueError(
            f"create_student({name!r}): pretrained weights are not supported; "
            "students are trained from scratch, pass pretrained=False"
        )
    if name not in _PRESETS:
        raise ValueError(f"unknown student {name!r}; known students: {', '.join(list_students())}")
    cls, preset = _PRESETS[name]
    return cls(**{**preset, **kwargs})
