"""Checkpoints are read so that a file from a stranger cannot run code.

``torch.load(weights_only=False)`` unpickles arbitrary objects, and unpickling can call any
function: a shared teacher or student checkpoint could run code the moment it is opened. Every
checkpoint the project reads goes through :func:`load_checkpoint` (``weights_only=True``: tensors,
numbers, strings and containers only), and every load Lightning does for the CLI gets
``weights_only=True`` too (the subcommands' default, see :mod:`sacd.cli`). The project's own
checkpoints need nothing more: hyper-parameters are plain values and random states are tensors and
lists (:func:`sacd.callbacks.random_states`), so no type is allow-listed.

A file that needs more is refused with :class:`UnsafeCheckpointError`, which says why and, for a
file the user trusts, how to convert it once.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch


class UnsafeCheckpointError(ValueError):
    """A checkpoint that holds Python objects beyond tensors and plain values."""


def conversion_hint(path: str | Path) -> str:
    """How to turn a trusted checkpoint into one of plain values, in one command."""
    return (
        f"if you trust {path}, convert it once with: python -c \"import torch; c = torch.load('{path}', "
        "weights_only=False); torch.save({k: c[k] for k in ('state_dict', 'hyper_parameters') if k in c}, "
        "'converted.ckpt')\" and use converted.ckpt"
    )


def unsafe_message(path: str | Path, error: BaseException) -> str:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    what = f" (it would call {found.group(1)})" if found else ""
    return (
        f"{path} was refused: it holds Python objects beyond tensors and plain values{what}, and loading them "
        f"can run code. sacd reads checkpoints with torch.load(weights_only=True); {conversion_hint(path)}"
    )


def is_weights_only_refusal(error: BaseException) -> bool:
    """Whether ``torch.load(weights_only=True)`` refused a pickle (rather than failing to read a file)."""
    return isinstance(error, pickle.UnpicklingError) and "weights_only" in str(error).replace(" ", "_").lower()


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; an object it will not unpickle is refused by name."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if is_weights_only_refusal(error):
            raise UnsafeCheckpointError(unsafe_message(path, error)) from error
        raise
