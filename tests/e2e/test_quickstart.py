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
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Training the EEG teacher" in out
    assert "\r" not in out + done.stderr  # not a terminal: progress comes as whole lines
    assert re.findall(r"^Epoch (\d+)/10 done", out, flags=re.M)[-10:] == [str(epoch) for epoch in range(1, 11)]
    assert re.search(r"accuracy \d\.\d{4}\s+macro-F1 \d\.\d{4}\s+kappa -?\d\.\d{4}", out)
    assert len(re.findall(r"^  accuracy ", out, flags=re.M)) == 2  # the teacher's test and the student's, each once
    teacher_row = re.search(r"EEG teacher \(sees EEG\)\s+accuracy (\d\.\d{4})", out)
    assert teacher_row and "stratified random guess" in out
    teacher_best, student_best = re.findall(r"best checkpoint: (\S+\.ckpt)", out)
    assert "teachers" in teacher_best and Path(tmp_path, student_best).is_file() and "per-epoch metrics" in out
    run = Path(tmp_path, student_best).parents[1]
    assert run.parent == tmp_path / "runs" / "quickstart" / "sacd"  # the method's own folder
    assert (run / "metrics.csv").is_file() and list(run.glob("events.out.tfevents.*"))  # CSV and TensorBoard
    report = json.loads(Path(tmp_path, student_best).with_suffix(".test.json").read_text())
    assert report["num_epochs"] == 3 * 100  # the three test subjects' nights, nothing else
    (teacher,) = (tmp_path / "runs" / "teachers").glob("*/teacher.ckpt")
    teacher_report = json.loads(teacher.with_name("teacher.test.json").read_text())
    assert teacher_report["subjects"] == report["subjects"]
    assert float(teacher_row.group(1)) == pytest.approx(teacher_report["acc"], abs=1e-4)
