"""The README's first command, end to end (slow: a few minutes on 2 cores)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_trains_a_teacher_distils_a_student_and_reports(tmp_path):
    command = [
        sys.executable, "-m", "sacd", "fit", "--config", str(REPO / "experiments" / "quickstart.yaml"),
        "--model.init_args.teacher_config", str(REPO / "experiments" / "quickstart_teacher.yaml"),
        "--model.init_args.teacher_cache_dir", str(tmp_path / "teachers"),
        "--trainer.default_root_dir", str(tmp_path),
        "--trainer.logger.init_args.save_dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Training the EEG teacher" in out
    assert re.search(r"accuracy \d\.\d{4}\s+macro-F1 \d\.\d{4}\s+kappa -?\d\.\d{4}", out)
    teacher_best, student_best = re.findall(r"best checkpoint: (\S+\.ckpt)", out)
    assert "teachers" in teacher_best and Path(student_best).is_file() and "per-epoch metrics" in out
    best = student_best
    report = json.loads(Path(best).with_suffix(".test.json").read_text())
    assert report["num_epochs"] == 3 * 100  # the three test subjects' nights, nothing else
    assert len(list((tmp_path / "teachers").glob("*/teacher.ckpt"))) == 1
