"""A callback for the resume tests: a validation score that only falls, so the best checkpoint is
always the first epoch's, and a resume that forgets it is seen at once."""

from __future__ import annotations

import lightning as L

#: the monitor to give the checkpoint callback (``--checkpoint.monitor``)
MONITOR = "probe/score"


class FallingScore(L.Callback):
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log(MONITOR, -float(trainer.current_epoch))
