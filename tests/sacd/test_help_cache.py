"""A repeated ``--help`` is printed from a kept copy, without importing Lightning, and never goes stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sacd.help_cache import help_key, is_plain_help, print_help

REPO = Path(__file__).resolve().parents[2]


def test_only_a_bare_help_is_kept():
    assert is_plain_help(["--help"]) and is_plain_help(["fit", "-h"]) and is_plain_help(["predict", "--help"])
    assert not is_plain_help(["fit", "-c", "x.yaml", "--help"])  # a config changes the text
    assert not is_plain_help(["sweep", "--help"]) and not is_plain_help(["fit"])


def test_the_copy_is_printed_instead_of_rendering_and_a_failure_is_not_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SACD_CACHE_DIR", str(tmp_path))
    calls = []

    def render(code: int = 0) -> None:
        calls.append(code)
        print("usage: sacd fit ...")
        raise SystemExit(code)

    for _ in range(2):
        with pytest.raises(SystemExit) as done:
            print_help(["fit", "--help"], render)
        assert done.value.code == 0 and capsys.readouterr().out == "usage: sacd fit ...\n"
    assert calls == [0]  # rendered once, then read back
    with pytest.raises(SystemExit):
        print_help(["test", "--help"], lambda: render(2))
    with pytest.raises(SystemExit):
        print_help(["test", "--help"], lambda: render(2))
    assert calls == [0, 2, 2]
    monkeypatch.setenv("SACD_HELP_CACHE", "0")
    with pytest.raises(SystemExit):
        print_help(["fit", "--help"], render)
    assert calls == [0, 2, 2, 0]


def test_an_edited_source_file_or_other_words_change_the_key(tmp_path):
    for package in ("sacd", "distillers", "datamodules"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    first = help_key(["fit", "--help"], tmp_path)
    assert help_key(["fit", "--help"], tmp_path) == first
    assert help_key(["test", "--help"], tmp_path) != first
    (tmp_path / "distillers" / "a.py").write_text("x = 22\n")
    assert help_key(["fit", "--help"], tmp_path) != first


def test_a_kept_help_imports_no_lightning_and_matches_a_fresh_one(tmp_path):
    script = ("import sys\nfrom sacd.entry_point import main\ntry:\n    main(['fit', '--help'])\nexcept SystemExit:\n"
              "    pass\nprint('LIGHTNING' if 'lightning' in sys.modules else 'LIGHT', file=sys.stderr)\n")  # fmt: skip
    env = {**os.environ, "SACD_CACHE_DIR": str(tmp_path), "COLUMNS": "100"}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=300) for _ in range(2)]  # fmt: skip
    assert [run.stderr.split()[-1] for run in runs] == ["LIGHTNING", "LIGHT"]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.startswith("usage: sacd fit -c ")


def test_importing_the_package_or_the_command_imports_no_torch():
    script = "import sys, sacd, sacd.entry_point\nprint('torch' in sys.modules, sacd.__version__)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.stdout.split()[0] == "False"
    import sacd

    assert sacd.EEGTeacher.__name__ == "EEGTeacher" and "VideoStager" in dir(sacd)  # still there when asked for
