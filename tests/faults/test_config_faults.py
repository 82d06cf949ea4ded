"""Mistakes in what a run is told: misspelt config keys and classes, the wrong teacher checkpoint, a sweep
file typo. Each is refused before anything is written, with the key or file named and the fix."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import distiller_config, teacher_config, write_config
from faultkit import (  # noqa: F401 - fixtures are found by name
    _one_torch_thread,
    finished_run,
    assert_no_partials,
    assert_unchanged,
    copy_of,
    fit,
    new_entries,
    run_main,
    session_folder,
    snapshot,
)

RUN = Path("kd") / "version_0"



@pytest.fixture
def runs(tmp_path: Path, finished_run: Path) -> Path:
    """This test's copy of the finished run, which the refused command must leave as it is."""
    return copy_of(finished_run, tmp_path / "runs")


def _train_other_teacher(folder: Path) -> None:
    config = teacher_config(folder)
    config["trainer"]["limit_train_batches"] = 1
    config["model"]["init_args"].update(width=16, embed_dim=32)
    config["data"]["init_args"]["eeg_channels"] = ["C4-M1", "EOG"]
    fit(["-c", str(write_config(folder / "teacher.yaml", config))])


@pytest.fixture
def other_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher of other widths, trained on two EEG channels (the tiny data has one)."""
    folder = session_folder("other-teacher", tmp_path_factory, _train_other_teacher)
    return folder / "teacher" / "version_0" / "checkpoints" / "last.ckpt"


def _refused(runs: Path, error: type[Exception], args: list[str], *fragments: str) -> str:
    """Run ``sacd fit ARGS``: it must raise ``error`` naming every fragment, and write nothing into ``runs``."""
    before = snapshot(runs)
    with pytest.raises(error) as caught:
        fit(args)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert "Does not validate against any of the Union subtypes" not in message
    assert_unchanged(before, runs)
    assert not new_entries(before, runs), "the refused fit wrote into the run folder"
    assert_no_partials(runs)
    return message


# -- misspelt config -----------------------------------------------------------------------------------


def _misspell_top_level(config: dict[str, Any]) -> None:
    config["trainr"] = config.pop("trainer")


def _misspell_model_argument(config: dict[str, Any]) -> None:
    config["model"]["init_args"]["temprature"] = 2.0


def _misspell_data_argument(config: dict[str, Any]) -> None:
    config["data"]["init_args"]["batchsize"] = 8


def _misspell_class_path(config: dict[str, Any]) -> None:
    config["model"]["class_path"] = "distillers.KDD"


@pytest.mark.parametrize(("misspell", "fragments"), [
    (_misspell_top_level, ["unknown option --trainr.", "did you mean --trainer.", "sacd fit --help"]),
    (_misspell_model_argument, ["model.init_args.temprature: distillers.KD has no parameter 'temprature'",
                                "did you mean model.init_args.temperature?", "sacd fit --help"]),
    (_misspell_data_argument, ["data.init_args.batchsize: datamodules.SyntheticNights has no parameter 'batchsize'",
                               "did you mean data.init_args.batch_size?", "sacd fit --help"]),
    (_misspell_class_path, ["'distillers.KDD'", "has no attribute 'KDD'", "sacd fit --help"]),
], ids=["top-level key", "model init arg", "data init arg", "class_path"])  # fmt: skip
def test_a_misspelt_config_is_refused_naming_the_key(
    runs: Path, tiny_teacher: Path, misspell: Any, fragments: list[str]
) -> None:
    """The parser stops with exit code 2 before any folder exists, naming the key and where the options are."""
    config = distiller_config(runs, "distillers.KD", str(tiny_teacher))
    misspell(config)
    path = write_config(runs.parent / "typo.yaml", config)
    before = snapshot(runs)
    text, code = run_main(["fit", "-c", str(path)])
    assert code == 2
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in: {text[-2000:]}"
    assert_unchanged(before, runs)
    assert not new_entries(before, runs)


# -- the wrong teacher ---------------------------------------------------------------------------------


def test_a_student_checkpoint_given_as_the_teacher_is_refused(runs: Path) -> None:
    """A student's checkpoint has no EEG network: say whose checkpoint it is and which one to give."""
    student = runs / RUN / "checkpoints" / "last.ckpt"
    config = write_config(runs.parent / "kd.yaml", distiller_config(runs, "distillers.KD", str(student)))
    _refused(runs, ValueError, ["-c", str(config)], str(student), "not an EEG teacher checkpoint", "distillers.KD",
             "sacd fit -c experiments/teacher.yaml")  # fmt: skip


@pytest.mark.parametrize("class_path", ["distillers.KD", "distillers.FitNets"])
def test_a_teacher_trained_on_other_eeg_input_is_refused_before_training(
    runs: Path, other_teacher: Path, class_path: str
) -> None:
    """A two-channel teacher cannot read this data's one channel: the error names the checkpoint and both
    shapes, instead of a shape error from inside the network (KD: mid-training; FitNets: while probing)."""
    teacher = other_teacher
    config = write_config(runs.parent / "kd.yaml", distiller_config(runs, class_path, str(teacher)))
    _refused(runs, ValueError, ["-c", str(config)], f"teacher checkpoint {teacher}", "other EEG input",
             "eeg_shape (2, 3840) (the data gives (1, 3840))", "Train a teacher on this run's data")  # fmt: skip


def test_a_teacher_replaced_by_one_of_other_widths_stops_the_resume(
    tmp_path: Path, other_teacher: Path, tiny_teacher: Path
) -> None:
    """CRD sizes its heads from the teacher: a teacher file overwritten by a wider retrain must not be
    picked up silently when the run resumes; the recorded hash names the change."""
    teacher = tmp_path / "teacher.ckpt"
    shutil.copyfile(tiny_teacher, teacher)
    runs = tmp_path / "runs"
    config = distiller_config(runs, "distillers.CRD", str(teacher))
    config["trainer"]["limit_train_batches"] = 1
    config["data"]["init_args"]["batch_size"] = 4
    first = fit(["-c", str(write_config(tmp_path / "crd.yaml", config))])
    last = Path(first.trainer.checkpoint_callback.last_model_path)
    shutil.copyfile(other_teacher, teacher)
    longer = copy.deepcopy(config)
    longer["trainer"]["max_epochs"] = 2
    _refused(runs, ValueError, ["-c", str(write_config(tmp_path / "crd2.yaml", longer)), "--ckpt_path", str(last)],
             f"teacher checkpoint {teacher}", "the file changed",
             "Point teacher_checkpoint at the original file")  # fmt: skip


def test_a_truncated_teacher_checkpoint_is_named(runs: Path, tiny_teacher: Path) -> None:
    """A teacher cut short by an interrupted copy: name it and say to copy or train it again."""
    teacher = runs.parent / "teacher.ckpt"
    teacher.write_bytes(tiny_teacher.read_bytes()[:2048])
    config = write_config(runs.parent / "kd.yaml", distiller_config(runs, "distillers.KD", str(teacher)))
    _refused(runs, ValueError, ["-c", str(config)], f"teacher checkpoint {teacher} cannot be read",
             "retrain or re-copy it")  # fmt: skip


# -- a sweep file typo ---------------------------------------------------------------------------------


def _sweep(folder: Path, **fields: Any) -> tuple[Path, Path]:
    """A sweep file and its sweep folder, which already holds results of an earlier, correct version of it."""
    (folder / "base.yaml").write_text("seed_everything: 0\n")
    out = folder / "sweep-out"
    good = {"base": "base.yaml", "methods": [{"name": "KD", "class_path": "distillers.KD"}], "out": str(out)}
    (out / "KD-fold0-seed0").mkdir(parents=True)
    (out / "sweep.yaml").write_text(yaml.safe_dump(good))
    (out / "results.csv").write_text("run_id,acc,macro_f1,kappa\nKD-fold0-seed0,0.61,0.52,0.44\n")
    (out / "KD-fold0-seed0" / "run.json").write_text('{"status": "finished"}\n')
    spec = folder / "sweep.yaml"
    spec.write_text(yaml.safe_dump({**good, **fields}))
    return spec, out


@pytest.mark.parametrize(("fields", "fragments"), [
    ({"methodz": [{"class_path": "distillers.CRD"}]}, ["unknown keys ['methodz']", "a sweep knows"]),
    ({"methods": [{"name": "KD", "class_path": "distillers.KDD"}]},
     ["method 'KD' has class_path 'distillers.KDD'", "names no importable class", "sacd fit --help"]),
], ids=["unknown key", "method class_path"])  # fmt: skip
def test_a_sweep_file_typo_is_refused_before_anything_runs(
    tmp_path: Path, fields: dict[str, Any], fragments: list[str]
) -> None:
    """`sacd sweep` exits 2 naming the file and the mistake, before training teachers or touching the sweep
    folder (its saved sweep.yaml and results stay those of the earlier run)."""
    spec, out = _sweep(tmp_path, **fields)
    before = snapshot(out)
    text, code = run_main(["sweep", str(spec)])
    assert code == 2
    for fragment in [str(spec), *fragments]:
        assert fragment in text, f"{fragment!r} not in: {text}"
    assert_unchanged(before, out)
    assert not new_entries(before, out)
    assert_no_partials(out)
