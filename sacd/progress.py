"""Progress output that suits where it goes: a live bar in a terminal, whole lines in a log file.

A terminal gets Lightning's ``RichProgressBar`` (``sacd predict``: a bar counting 30 s epochs per
second). Output that is not a terminal (``nohup``, CI, a file) gets :class:`LineProgressBar`: one
line per finished epoch and at most one line every ``every_seconds`` in between, never a carriage
return, so a log stays readable with ``less`` or ``tail``. The CLI adds one of them unless the
config names its own progress bar or turns the bar off (``trainer.enable_progress_bar: false``).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

from sacd.terminal import interactive_output

#: which loop each hook family reports, and the word the line uses for it
STAGE_WORDS = {"train": "Epoch", "validate": "Validating", "test": "Testing", "predict": "Staging"}


def default_progress_bar(subcommand: str | None, interactive: bool | None = None) -> ProgressBar:
    """The bar the CLI adds for a subcommand: rich (or the epoch-counting bar of predict) in a terminal, lines elsewhere."""
    if not (interactive_output() if interactive is None else interactive):
        return LineProgressBar()
    return NightProgressBar() if subcommand == "predict" else RichProgressBar()


def items_in(batch: Any) -> int:
    """How many 30 s epochs a batch holds: the length of its first tensor (a dict batch or a sequence)."""
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else [batch]
    for value in values:
        if hasattr(value, "shape") and len(value.shape) > 0:
            return int(value.shape[0])
    return 0


class LineProgressBar(ProgressBar):
    """Progress as plain lines: ``Epoch 3/10: 12/35 batches, 41.0 s, 18.2 epochs/s`` and, when an
    epoch ends, its time and the logged progress-bar metrics (``train/loss``, ``val/macro_f1``)."""

    def __init__(self, every_seconds: float = 30.0) -> None:
        super().__init__()
        if every_seconds <= 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")
        self.every_seconds = every_seconds
        self._enabled = True
        self._started = self._printed = 0.0
        self._items = 0

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    # -- shared ------------------------------------------------------------------------------
    def _start(self) -> None:
        self._started = self._printed = time.perf_counter()
        self._items = 0

    def _advance(self, trainer: L.Trainer, stage: str, batch: Any, batch_idx: int, total: float | int) -> None:
        self._items += items_in(batch)
        now = time.perf_counter()
        if not self._enabled or now - self._printed < self.every_seconds:
            return
        self._printed = now
        total_text = f"/{int(total)}" if total not in (None, float("inf")) else ""
        self._line(f"{self._label(trainer, stage)}: {batch_idx + 1}{total_text} batches, {self._elapsed(now)}")

    def _finish(self, trainer: L.Trainer, stage: str, extra: str = "") -> None:
        if self._enabled:
            self._line(f"{self._label(trainer, stage)} done: {self._elapsed(time.perf_counter())}{extra}")

    def _label(self, trainer: L.Trainer, stage: str) -> str:
        if stage != "train":
            return STAGE_WORDS[stage]
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs not in (None, -1) else ""
        return f"Epoch {trainer.current_epoch + 1}{epochs}"

    def _elapsed(self, now: float) -> str:
        seconds = now - self._started
        minutes, rest = divmod(int(seconds), 60)
        took = f"{seconds:.1f} s" if seconds < 60 else f"{minutes}:{rest:02d} min"
        rate = f", {self._items / seconds:.1f} epochs/s" if seconds > 0 and self._items else ""
        return f"{took}{rate}"

    def _line(self, text: str) -> None:
        if self.trainer.is_global_zero:
            print(text, flush=True)

    # -- training ----------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        self._advance(trainer, "train", batch, batch_idx, trainer.num_training_batches)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {key: value for key, value in self.get_metrics(trainer, pl_module).items() if key != "v_num"}
        shown = ", ".join(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}"
                          for key, value in metrics.items())  # fmt: skip
        self._finish(trainer, "train", f"; {shown}" if shown else "")

    # -- evaluation and prediction (validation inside fit is summarised by the epoch's line) ----
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":  # inside fit, the epoch's line reports validation too
            self._start()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._finish(trainer, "validate")

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        self._advance(trainer, "test", batch, batch_idx, trainer.num_test_batches[dataloader_idx])

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finish(trainer, "test")

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start()

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        self._advance(trainer, "predict", batch, batch_idx, trainer.num_predict_batches[dataloader_idx])
    # a prediction's end is reported by its writer (NightWriter: epochs, nights, rate, where)


class NightProgressBar(TQDMProgressBar):
    """The predict bar in a terminal, with the rate in 30 s epochs per second (a batch holds many epochs)."""

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._epochs = 0
        self._since = 0.0

    def init_predict_tqdm(self) -> Any:
        bar = super().init_predict_tqdm()
        bar.set_description("Staging (batches)")
        return bar

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_predict_start(trainer, pl_module)
        self._epochs, self._since = 0, time.perf_counter()

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        self._epochs += items_in(batch)
        rate = self._epochs / max(time.perf_counter() - self._since, 1e-9)
        self.predict_progress_bar.set_postfix({"epochs": self._epochs, "epochs/s": f"{rate:.1f}"}, refresh=False)
