"""Keep output users cannot act on out of the CLI's console.

Lightning still calls jsonargparse and torch APIs that emit deprecation warnings on every run, and
advertises a cloud service at start-up; none of it concerns a sacd user.
"""

from __future__ import annotations

import logging
import os
import warnings

_LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip: For seamless cloud" not in record.getMessage()


def silence_third_party_noise() -> None:
    """Idempotently filter the known third-party noise (call before Lightning builds a CLI)."""
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated")
    # nights stream from an iterable dataset; the prediction writer places epochs by their own ids
    warnings.filterwarnings("ignore", message=r"Couldn't infer the batch indices")
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")  # workers take whole nights
    # sacd runs LightningCLI with explicit args on purpose (a teacher_config's teacher, a command without --debug)
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended to run from within Python")
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoAdverts) for f in logger.filters):
            logger.addFilter(_NoAdverts())
