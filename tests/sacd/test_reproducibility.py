"""The same config and seed give the same metrics twice in a row, and each run records what made it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import distiller_config, write_config

from sacd.cli import SacdCLI


def _fit_and_test(root: Path, class_path: str, teacher: Path) -> tuple[SacdCLI, list[dict], str]:
    values = distiller_config(root, class_path, str(teacher))
    values["trainer"].update(max_epochs=2, limit_train_batches=3)
    config = str(write_config(root.with_suffix(".yaml"), values))
    fitted = SacdCLI.create(["fit", "-c", config])
    with open(Path(fitted.trainer.log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    last = fitted.trainer.checkpoint_callback.last_model_path
    SacdCLI.create(["test", "-c", config, "--ckpt_path", last])
    return fitted, rows, Path(last).with_name("last.test.csv").read_text()


@pytest.mark.parametrize("class_path", ["distillers.SACD"])  # banks, random negatives, cache
def test_the_same_config_and_seed_give_the_same_metrics_twice(tmp_path, tiny_teacher, class_path):
    first, first_rows, first_test = _fit_and_test(tmp_path / "first", class_path, tiny_teacher)
    second, second_rows, second_test = _fit_and_test(tmp_path / "second", class_path, tiny_teacher)
    assert first_rows == second_rows and any(row.get("val/macro_f1") for row in first_rows)
    assert first_test == second_test
    weights = [torch.load(cli.trainer.checkpoint_callback.last_model_path, weights_only=True)["state_dict"]
               for cli in (first, second)]  # fmt: skip
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    from sacd.checkpointing import AtomicCheckpointIO

    assert isinstance(first.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    for cli in (first, second):  # each run keeps its resolved config, versions and revision beside its results
        folder = Path(cli.trainer.log_dir)
        assert (folder / "config.yaml").is_file()
        versions = json.loads((folder / "environment.json").read_text())["versions"]
        assert {"sacd", "torch", "lightning", "git", "python"} <= versions.keys()
