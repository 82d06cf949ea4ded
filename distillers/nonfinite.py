"""Stopping a fit whose training loss turned NaN or infinite: which input, which samples, what next.

:class:`NonFiniteLossWatch` checks every step's loss without making the step wait for the device;
:func:`non_finite_loss_error` builds the message once a loss is known to be bad.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: batch entries that can carry non-finite values, and how the message names them
INPUTS = (("video", "video"), ("eeg", "EEG"))
#: batch entries that say which samples they are
SAMPLE_KEYS = ("index", "subject", "epoch")
#: at most this many samples are listed
LISTED = 10


@dataclass
class _Verdict:
    """One step's ``not isfinite(loss)``, on its way to the host, and what the error would need."""

    bad: torch.Tensor
    arrived: Callable[[], bool]
    wait: Callable[[], None]
    batch: dict[str, torch.Tensor]
    losses: dict[str, torch.Tensor]
    batch_idx: int
    epoch: int
    step: int


class NonFiniteLossWatch:
    """Raises :func:`non_finite_loss_error` for a training step whose loss is not finite.

    Turning the loss into a Python bool at every step would make each step wait for the device to
    finish the previous one. Instead the check runs on the device and its one-element verdict is
    copied to pinned host memory without blocking; it is read once it has arrived: at once on a CPU,
    a step or two later on a GPU. :meth:`settle` reads every pending verdict, waiting if need be;
    the distiller calls it before a validation run and before a checkpoint is saved, so no
    checkpoint is ever written from weights that a non-finite step updated.
    """

    def __init__(self) -> None:
        self._pending: deque[_Verdict] = deque()

    def watch(self, module: Any, total: torch.Tensor, losses: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              batch_idx: int) -> None:  # fmt: skip
        """Check this step's loss (read later if the device is still busy) and raise for any bad verdict that arrived."""
        bad, arrived, wait = self._send(~torch.isfinite(total.detach()))
        detached = {name: value.detach() for name, value in losses.items()}
        self._pending.append(_Verdict(bad, arrived, wait, batch, detached, batch_idx, module.current_epoch,
                                      module.global_step))  # fmt: skip
        self.settle(module, block=False)

    @staticmethod
    def _send(bad: torch.Tensor) -> tuple[torch.Tensor, Callable[[], bool], Callable[[], None]]:
        """Start copying a verdict to the host: (host tensor, has it arrived?, wait for it)."""
        if bad.device.type == "cuda":
            host = torch.empty((), dtype=torch.bool, pin_memory=True)
            host.copy_(bad, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            return host, event.query, event.synchronize
        return bad.cpu(), (lambda: True), (lambda: None)  # on the CPU it is there; other accelerators: read now

    def settle(self, module: Any, block: bool = True) -> None:
        """Read the pending verdicts in step order (waiting for them when ``block``); raise for the first bad one."""
        while self._pending:
            verdict = self._pending[0]
            if not verdict.arrived():
                if not block:
                    return
                verdict.wait()
            self._pending.popleft()
            if bool(verdict.bad):
                self._pending.clear()
                raise non_finite_loss_error(module, verdict.batch, verdict.losses, verdict.batch_idx, verdict.epoch,
                                            verdict.step)  # fmt: skip


def non_finite_loss_error(
    module: Any, batch: dict[str, torch.Tensor], losses: dict[str, torch.Tensor], batch_idx: int, epoch: int, step: int
) -> FloatingPointError:
    """Name the step, the non-finite losses, the inputs and samples holding NaN/inf, and the checkpoints that are kept."""
    values = ", ".join(f"{name}={float(value.detach()):g}" for name, value in losses.items())
    where = f"epoch {epoch}, batch {batch_idx} (global step {step})"
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
