"""Every distiller trains under bf16 autocast on the CPU: finite losses, banks and caches in float32."""

from __future__ import annotations

import pytest
import torch
from conftest import distiller_config, write_config
from test_distillers import DISTILLERS

from distillers.memory import IndexedBank
from sacd.cli import SacdCLI


@pytest.mark.parametrize("class_path", DISTILLERS)
def test_each_distiller_trains_in_bf16_mixed_precision(tmp_path, tiny_teacher, class_path):
    path = write_config(tmp_path / "config.yaml", distiller_config(tmp_path, class_path, str(tiny_teacher)))
    cli = SacdCLI.create(["fit", "-c", str(path), "--trainer.precision", "bf16-mixed"])
    logged = cli.trainer.callback_metrics
    for name in type(cli.model).default_loss_weights:
        assert torch.isfinite(logged[f"train/{name}"]), name
    for module in cli.model.modules():
        if isinstance(module, IndexedBank):
            assert module.features.dtype == torch.float32 and module.filled().any()
    cache = cli.model.teacher_output_cache
    if cache is not None:
        assert cache.store["features"].dtype == torch.float32 and len(cache) > 0
    assert all(p.dtype == torch.float32 for p in cli.model.student.parameters())  # weights stay float32
