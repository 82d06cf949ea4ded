"""The error a training step raises when its loss is NaN or infinite: which input, which samples, what next.

Built only once the loss is known to be non-finite, so the per-step cost is one ``isfinite`` check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

#: batch entries that can carry non-finite values, and how the message names them
INPUTS = (("video", "video"), ("eeg", "EEG"))
#: batch entries that say which samples they are
SAMPLE_KEYS = ("index", "subject", "epoch")
#: at most this many samples are listed
LISTED = 10


def non_finite_loss_error(
    module: Any, batch: dict[str, torch.Tensor], losses: dict[str, torch.Tensor], batch_idx: int
) -> FloatingPointError:
    """Name the non-finite losses, the inputs and samples holding NaN/inf, and the checkpoints that are kept."""
    values = ", ".join(f"{name}={float(value.detach()):g}" for name, value in losses.items())
    where = f"epoch {module.current_epoch}, batch {batch_idx} (global step {module.global_step})"
    found = []
    for key, label in INPUTS:
        tensor = batch.get(key)
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.ndim == 0:
            continue
        finite = torch.isfinite(tensor.detach().reshape(len(tensor), -1)).all(dim=1)
        rows = (~finite).nonzero().flatten().tolist()
        if rows:
            found.append(f"the {label} input of {len(rows)} sample(s) ({_samples(batch, rows)})")
    if found:
        cause = (f"non-finite values (NaN/inf) in {' and in '.join(found)}; fix or exclude those recordings "
                 "(`sacd check-data MANIFEST` checks recorded nights)")  # fmt: skip
    else:
        cause = ("the batch's video and EEG are finite, so training diverged; lower the learning rate "
                 "(model.init_args.optimizer) or the loss weights")  # fmt: skip
    return FloatingPointError(f"training loss is not finite at {where}: {values}. Cause: {cause}. {_kept(module)}")


def _samples(batch: dict[str, torch.Tensor], rows: list[int]) -> str:
    shown = rows[:LISTED]
    parts = [f"{key} {batch[key][shown].tolist()}" for key in SAMPLE_KEYS if isinstance(batch.get(key), torch.Tensor)]
    more = f" and {len(rows) - LISTED} more" if len(rows) > LISTED else ""
    return (", ".join(parts) or f"batch rows {shown}") + more


def _kept(module: Any) -> str:
    trainer = getattr(module, "_trainer", None)
    callback = getattr(trainer, "checkpoint_callback", None)
    last = getattr(callback, "last_model_path", "") or ""
    if last and Path(last).is_file():
        return (f"The checkpoints already written in {Path(last).parent} are kept; resume from them with "
                f"--ckpt_path {last}")  # fmt: skip
    return "No checkpoint had been written yet."
