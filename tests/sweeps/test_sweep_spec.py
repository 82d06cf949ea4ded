"""Sweep files expand into the expected runs, and mistakes in them are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sacd.sweeps.spec import SweepSpecError, load_sweep

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, **fields) -> Path:
    (tmp_path / "base.yaml").write_text("seed_everything: 0\n")
    spec = {"base": "base.yaml", "methods": [{"name": "Vanilla", "class_path": "distillers.Vanilla"}], **fields}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_grid_expands_methods_by_grid_by_folds_by_seeds(tmp_path):
    path = _spec(
        tmp_path,
        methods=[
            {"name": "Vanilla", "class_path": "distillers.Vanilla"},
            {"name": "KD", "class_path": "distillers.KD", "init_args": {"temperature": 4.0},
             "grid": {"model.init_args.temperature": [2.0, 8.0]}},
        ],
        grid={"trainer.max_epochs": [1, 3]},
        seeds=[0, 1],
        folds=3,
        set={"data.init_args.frames": 4},
    )
    spec = load_sweep(path)
    assert len(spec.runs) == (1 * 2 + 2 * 2) * 3 * 2  # (Vanilla x epochs + KD x temperatures x epochs) x folds x seeds
    assert len({run.run_id for run in spec.runs}) == len(spec.runs)
    kd = next(run for run in spec.runs if run.method == "KD" and run.fold == 2 and run.seed == 1
              and run.params == {"model.init_args.temperature": 8.0, "trainer.max_epochs": 3})
    assert kd.run_id == "KD-temperature8.0-max_epochs3-fold2-seed1"
    assert kd.overlay["model"] == {"class_path": "distillers.KD", "init_args": {"temperature": 8.0}}
    assert kd.overlay["data"]["init_args"] == {"frames": 4, "num_folds": 3, "fold": 2}
    assert kd.overlay["seed_everything"] == 1 and kd.overlay["trainer"]["max_epochs"] == 3
    assert kd.overlay["test_after_fit"] is True
    assert spec.base == [tmp_path / "base.yaml"] and spec.out == Path("runs/sweeps/sweep")


def test_one_fold_keeps_the_base_split_and_only_picks_folds(tmp_path):
    single = load_sweep(_spec(tmp_path, folds=1, seeds=[5]))
    assert [run.run_id for run in single.runs] == ["Vanilla-fold0-seed5"]
    assert "data" not in single.runs[0].overlay
    some = load_sweep(_spec(tmp_path, folds={"num_folds": 5, "only": [1, 3]}))
    assert [run.fold for run in some.runs] == [1, 3]


@pytest.mark.parametrize(("fields", "message"), [
    ({"methodz": []}, "unknown keys"),
    ({"base": "nowhere.yaml"}, "does not exist"),
    ({"methods": []}, "give `methods`"),
    ({"methods": [{"name": "x"}]}, "needs a class_path"),
    ({"methods": [{"class_path": "distillers.KD", "init_arg": {}}]}, "unknown keys"),
    ({"folds": 0}, "folds must be"),
    ({"folds": {"num_folds": 3, "only": [4]}}, "folds.only"),
    ({"grid": {"trainer.max_epochs": []}}, "non-empty list"),
    ({"methods": [{"class_path": "distillers.KD"}, {"class_path": "distillers.KD"}]}, "appear twice"),
    ({"set": {"model..x": 1}}, "dotted config key"),
])
def test_mistakes_in_a_sweep_file_are_named(tmp_path, fields, message):
    with pytest.raises(SweepSpecError, match=message):
        load_sweep(_spec(tmp_path, **fields))


def test_missing_or_invalid_files_are_named(tmp_path):
    with pytest.raises(SweepSpecError, match="does not exist"):
        load_sweep(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(SweepSpecError, match="not valid YAML"):
        load_sweep(bad)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "experiments" / "sweeps").glob("*.yaml")))
def test_the_shipped_sweeps_expand(name):
    spec = load_sweep(REPO / "experiments" / "sweeps" / name)
    assert spec.runs and all(config.is_file() for config in spec.base)
    assert {run.method for run in spec.runs} >= {"Vanilla"}


@pytest.mark.parametrize("name, methods, folds, seeds", [
    ("benchmark_cpu.yaml", ["Vanilla", "KD", "FitNets", "PKT", "RKD", "DKD", "CRD", "CCL", "SACD"], 5, 3),
    ("smoke.yaml", ["Vanilla", "KD", "SACD"], 2, 2),
])  # fmt: skip
def test_the_cross_validated_sweeps_test_every_subject_once_with_every_method_in_every_block(name, methods, folds, seeds):
    from sacd.sweep_cli import block_order
    from sacd.sweeps.spec import compose_run_config

    spec = load_sweep(REPO / "experiments" / "sweeps" / name)
    assert list(dict.fromkeys(run.method for run in spec.runs)) == methods
    assert len(spec.runs) == len(methods) * folds * seeds
    assert {(run.fold, run.seed) for run in spec.runs} == {(f, s) for f in range(folds) for s in range(seeds)}
    # executed block by block: each (fold, seed) holds every method before the next block starts
    ordered = block_order(spec.runs)
    assert [run.method for run in ordered[: len(methods)]] == methods
    assert len({(run.fold, run.seed) for run in ordered[: len(methods)]}) == 1
    from datamodules.splits import subject_split

    tested = []
    for fold in range(folds):
        data = compose_run_config(spec.base, next(run for run in spec.runs if run.fold == fold))["data"]["init_args"]
        split = subject_split(range(data["num_subjects"]), val=data["val_subjects"], test=data["test_subjects"],
                              seed=data["seed"], num_folds=data["num_folds"], fold=data["fold"])  # fmt: skip
        tested += list(split.test)
    assert sorted(tested) == list(range(data["num_subjects"]))


def test_a_method_switch_keeps_the_shared_settings_and_drops_the_other_methods_own(tmp_path):
    from sacd.sweeps.spec import compose_run_config

    base = {"seed_everything": 0, "model": {"class_path": "distillers.KD", "init_args": {
        "temperature": 4.0, "student": {"class_path": "sacd.models.X3D"}, "teacher_config": "t.yaml",
        "loss_weights": {"kd": 0.5}, "optimizer": {"class_path": "torch.optim.SGD"}}}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"base": "base.yaml", "methods": [
        {"name": "CRD", "class_path": "distillers.CRD"},
        {"name": "KD2", "class_path": "distillers.KD", "init_args": {"temperature": 2.0}}]}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    crd, kd = load_sweep(tmp_path / "sweep.yaml").runs
    model = compose_run_config([tmp_path / "base.yaml"], crd)["model"]
    assert model["class_path"] == "distillers.CRD"
    assert model["init_args"] == {"student": {"class_path": "sacd.models.X3D"}, "teacher_config": "t.yaml",
                                  "optimizer": {"class_path": "torch.optim.SGD"}}  # no KD temperature, no KD weights
    same_class = compose_run_config([tmp_path / "base.yaml"], kd)["model"]["init_args"]
    assert same_class["temperature"] == 2.0 and same_class["loss_weights"] == {"kd": 0.5}


def test_each_distinct_teacher_is_prepared_once(tmp_path, monkeypatch):
    """Runs that differ only in seed or method share a teacher; a teacher_data grid makes one teacher each."""
    import sacd.cli
    from sacd.sweeps.teachers import prepare_teachers

    resolved: list[dict] = []

    class ParseOnly:
        def __init__(self, args, run):
            resolved.append(yaml.safe_load(Path(args[1]).read_text()))

    monkeypatch.setattr(sacd.cli, "SacdCLI", ParseOnly)
    spec = load_sweep(_spec(
        tmp_path,
        methods=[{"name": "Vanilla", "class_path": "distillers.Vanilla"}, {"name": "KD", "class_path": "distillers.KD"},
                 {"name": "RKD", "class_path": "distillers.RKD"}],
        grid={"model.init_args.teacher_data": [{"train_nights": 1}, {"train_nights": 3}]},
        seeds=[0, 1], folds=2,
    ))  # fmt: skip
    assert prepare_teachers(spec.runs, spec.base, tmp_path / "scratch") == 4  # 2 folds x 2 teacher_data
    chosen = {(c["data"]["init_args"]["fold"], c["model"]["init_args"]["teacher_data"]["train_nights"])
              for c in resolved}  # fmt: skip
    assert len(resolved) == 4 and chosen == {(0, 1), (0, 3), (1, 1), (1, 3)}
    assert all(c["model"]["class_path"] != "distillers.Vanilla" for c in resolved)  # a teacher-free method trains none
