"""Errors a person reads: the project's refusals in one line, mistyped options with the one meant."""

from __future__ import annotations

import pytest
from conftest import distiller_config, run_main, write_config

from sacd.user_errors import raised_by_a_check


def _config(tmp_path, **data_args) -> str:
    config = distiller_config(tmp_path, "distillers.Vanilla", None)
    config["data"]["init_args"].update(data_args)
    return str(write_config(tmp_path / "config.yaml", config))


def test_a_refusal_of_the_projects_checks_prints_one_line_and_no_traceback(tmp_path):
    text, code = run_main(["fit", "-c", _config(tmp_path, num_subjects=3, val_subjects=1, test_subjects=2)])
    assert code == 1 and "Traceback" not in text
    assert "sacd fit: error: too few subjects: 3 cannot give 2 test + 1 val" in text
    assert "lower --data.init_args.val_subjects or --data.init_args.test_subjects" in text
    assert "add --debug" in text


def test_debug_keeps_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="too few subjects"):
        run_main(["fit", "-c", _config(tmp_path, num_subjects=3, val_subjects=1, test_subjects=2), "--debug"])


def test_test_after_fit_without_test_subjects_is_refused_before_anything_runs(tmp_path):
    config = distiller_config(tmp_path, "distillers.Vanilla", None)
    config["test_after_fit"] = True
    config["data"]["init_args"]["test_subjects"] = 0
    text, code = run_main(["fit", "-c", str(write_config(tmp_path / "config.yaml", config))])
    assert code == 1 and "test_after_fit is set, but the data holds no test subjects" in text
    assert "--data.init_args.test_subjects to 1 or more, or --test_after_fit false" in text
    assert not (tmp_path / "vanilla").exists()  # nothing was trained or written


def test_errors_from_elsewhere_keep_their_traceback():
    import torch

    try:
        torch.zeros(2) @ torch.zeros(3)  # a library's own failure
    except RuntimeError as error:
        assert not raised_by_a_check(error)
    try:
        raise KeyError("a bug")
    except KeyError as error:
        assert not raised_by_a_check(error)


@pytest.mark.parametrize(("args", "expected"), [
    (["--trainer.max_epoch", "3"], "unknown option --trainer.max_epoch; did you mean --trainer.max_epochs?"),
    (["--data.init_args.num_subject", "3"],
     "data.init_args.num_subject: datamodules.SyntheticNights has no parameter 'num_subject'; "
     "did you mean data.init_args.num_subjects?"),
    (["--model.init_args.cache_teacher_output", "false"],
     "model.init_args.cache_teacher_output: distillers.Vanilla has no parameter 'cache_teacher_output'; "
     "did you mean model.init_args.cache_teacher_outputs?"),
])
def test_a_mistyped_option_names_the_one_meant_without_the_usage(tmp_path, args, expected):
    text, code = run_main(["fit", "-c", _config(tmp_path), *args])
    assert code == 2 and expected in text
    assert "usage:" not in text and len(text.splitlines()) <= 4


def test_a_mistyped_key_in_a_config_file_and_a_mistyped_command(tmp_path):
    (tmp_path / "typo.yaml").write_text("trainer:\n  max_epoch: 3\n")
    text, code = run_main(["fit", "-c", _config(tmp_path), "-c", str(tmp_path / "typo.yaml")])
    assert code == 2 and "did you mean --trainer.max_epochs?" in text
    text, code = run_main(["swep", "experiments/sweeps/smoke.yaml"])
    assert code == 2 and "unknown command 'swep'" in text and "did you mean sweep?" in text
