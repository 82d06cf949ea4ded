"""A sweep definition (YAML) and its expansion into runs: methods x grid x folds x seeds.

```yaml
base: ../quickstart.yaml            # one or more fit configs, relative to this file
set:                                # dotted overrides applied to every run (optional)
  trainer.max_epochs: 20
methods:
  - {name: Vanilla, class_path: distillers.Vanilla}
  - name: KD
    class_path: distillers.KD
    init_args: {temperature: 4.0}
    grid: {model.init_args.temperature: [2.0, 4.0]}   # this method only (optional)
grid: {}                            # dotted key -> values, for every method (optional); the report
                                    # compares methods within each value, never across values
references: [KD]                    # methods the report pairs every method with, beside Vanilla (optional)
seeds: [0, 1, 2]
folds: 1                            # 1: the base split; k >= 2: k-fold over subjects, every fold
out: runs/sweeps/NAME               # where runs and results go (relative to the working directory)
```

Every run is an ordinary ``sacd fit`` of one config: the base configs merged, then the run's
method, seed, fold and grid values on top (:func:`compose_run_config`), so a run can be replayed
on its own. When a method's class differs from the base config's, only the base's shared model
settings carry over (student, teacher, optimiser, scheduler, cache): another method's
hyper-parameters never leak into it because they happen to share a name (``temperature``).
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPEC_KEYS = {"base", "set", "methods", "grid", "seeds", "folds", "out", "workers", "threads_per_run", "references"}
METHOD_KEYS = {"name", "class_path", "init_args", "grid"}


class SweepSpecError(ValueError):
    """A sweep file that cannot be expanded; the message names the file and the fix."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: which method, seed, fold and grid values, and the overlay that sets them."""

    run_id: str
    method: str
    class_path: str
    seed: int
    fold: int
    params: dict[str, Any]
    overlay: dict[str, Any] = field(repr=False)


@dataclass
class SweepSpec:
    """A parsed sweep file."""

    path: Path
    base: list[Path]
    out: Path
    runs: list[RunSpec]
    workers: int | None = None
    threads_per_run: int | None = None


def load_sweep(path: str | Path, extra_set: dict[str, Any] | None = None) -> SweepSpec:
    """Parse and expand a sweep file, checking everything that can be checked before any run starts.

    ``extra_set`` holds dotted overrides given on the command line; they apply to every run, after
    the file's own ``set``.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepSpecError(f"sweep file {path} does not exist (sweeps live in experiments/sweeps/)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SweepSpecError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{path} must hold a mapping with base, methods, seeds, ...")
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        raise SweepSpecError(f"{path}: unknown keys {unknown}; a sweep knows {sorted(SPEC_KEYS)}")
    base = [path.parent / item for item in _as_list(raw.get("base"), "base", path)]
    if not base:
        raise SweepSpecError(f"{path}: give `base`, the fit config(s) every run starts from")
    for config in base:
        if not config.is_file():
            raise SweepSpecError(f"{path}: base config {config} does not exist")
    methods = raw.get("methods")
    if not methods or not isinstance(methods, list):
        raise SweepSpecError(f"{path}: give `methods`, a list of {{name, class_path, init_args}}")
    seeds = [int(seed) for seed in _as_list(raw.get("seeds", [0]), "seeds", path)]
    folds, num_folds = _folds(raw.get("folds", 1), path)
    shared = _overlay_from_dotted(raw.get("set") or {}, path)
    _merge(shared, _overlay_from_dotted(extra_set or {}, path))
    grid = raw.get("grid") or {}
    runs = []
    for entry in methods:
        runs.extend(_method_runs(entry, grid, seeds, folds, num_folds, shared, path))
    _check_references(raw.get("references"), {run.method for run in runs}, path)
    ids = [run.run_id for run in runs]
    duplicates = sorted({run_id for run_id in ids if ids.count(run_id) > 1})
    if duplicates:
        raise SweepSpecError(f"{path}: runs {duplicates} appear twice; give the methods distinct names")
    out = Path(raw.get("out") or Path("runs") / "sweeps" / path.stem)
    return SweepSpec(path, base, out, runs, raw.get("workers"), raw.get("threads_per_run"))


def compose_run_config(base: list[Path], run: RunSpec) -> dict[str, Any]:
    """The complete fit config of one run: base configs merged in order, then the run's overlay."""
    config: dict[str, Any] = {}
    for path in base:
        _merge(config, yaml.safe_load(Path(path).read_text()) or {})
    model = config.get("model")
    if isinstance(model, dict) and model.get("class_path") != run.class_path:
        shared = shared_model_arguments()
        kept = {key: value for key, value in (model.get("init_args") or {}).items() if key in shared}
        config["model"] = {"class_path": run.class_path, "init_args": kept}
    _merge(config, run.overlay)
    return config


def shared_model_arguments() -> frozenset[str]:
    """Init arguments every distiller takes from its bases (not a method's own hyper-parameters)."""
    import inspect

    from distillers.base import Distiller
    from sacd.staging import StagingModule

    names = set()
    for cls in (Distiller, StagingModule):
        names.update(name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                     if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) and name != "self")  # fmt: skip
    return frozenset(names - {"loss_weights", "teacher_sha256"})


def _method_runs(entry: Any, grid: dict, seeds: list[int], folds: list[int], num_folds: int,
                 shared: dict, path: Path) -> list[RunSpec]:  # fmt: skip
    if not isinstance(entry, dict) or "class_path" not in entry:
        raise SweepSpecError(f"{path}: each method needs a class_path, got {entry!r}")
    unknown = sorted(set(entry) - METHOD_KEYS)
    if unknown:
        raise SweepSpecError(f"{path}: method {entry.get('name')!r} has unknown keys {unknown}; use {sorted(METHOD_KEYS)}")
    class_path = str(entry["class_path"])
    name = str(entry.get("name") or class_path.rsplit(".", 1)[-1])
    _check_class_path(class_path, name, path)
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise SweepSpecError(f"{path}: method name {name!r} must be letters, digits, '_', '.', '+' or '-'")
    method_grid = {**grid, **(entry.get("grid") or {})}
    for key, values in method_grid.items():
        if not isinstance(values, list) or not values:
            raise SweepSpecError(f"{path}: grid entry {key!r} must be a non-empty list of values")
    keys = sorted(method_grid)
    runs = []
    for values in itertools.product(*(method_grid[key] for key in keys)):
        params = dict(zip(keys, values))
        for fold in folds:
            for seed in seeds:
                overlay = copy.deepcopy(shared)
                _merge(overlay, {"seed_everything": seed, "test_after_fit": True,
                                 "model": {"class_path": class_path, "init_args": copy.deepcopy(entry.get("init_args") or {})}})  # fmt: skip
                if num_folds >= 2:
                    _merge(overlay, {"data": {"init_args": {"num_folds": num_folds, "fold": fold}}})
                _merge(overlay, _overlay_from_dotted(params, path))
                run_id = f"{name}{_params_slug(params)}-fold{fold}-seed{seed}"
                runs.append(RunSpec(run_id, name, class_path, seed, fold, params, overlay))
    return runs


def _check_class_path(class_path: str, name: str, path: Path) -> None:
    """A misspelt method is an error now, before any teacher is trained or any run is started."""
    from sacd.class_paths import import_class_path

    found = import_class_path(class_path)
    if not isinstance(found, type):
        raise SweepSpecError(
            f"{path}: method {name!r} has class_path {class_path!r}, which names no importable class; use a model "
            "class such as distillers.KD (`sacd fit --help` lists them)"
        )


def _check_references(references: Any, methods: set[str], path: Path) -> None:
    """``references`` (methods the report pairs every method with, beside the baseline) names methods of the sweep."""
    if references is None:
        return
    if not isinstance(references, list) or not all(isinstance(name, str) for name in references):
        raise SweepSpecError(f"{path}: references must be a list of method names, got {references!r}")
    unknown = [name for name in references if name not in methods]
    if unknown:
        raise SweepSpecError(f"{path}: references names {unknown}, which are not methods of the sweep ({sorted(methods)})")


def _folds(value: Any, path: Path) -> tuple[list[int], int]:
    """(fold indices, k) from ``folds: k`` or ``folds: {num_folds: k, only: [...]}``."""
    if isinstance(value, int):
        if value < 1:
            raise SweepSpecError(f"{path}: folds must be >= 1, got {value}")
        return (list(range(value)), value) if value >= 2 else ([0], 0)
    if isinstance(value, dict) and isinstance(value.get("num_folds"), int) and value["num_folds"] >= 2:
        k = value["num_folds"]
        only = [int(fold) for fold in value.get("only", range(k))]
        if not all(0 <= fold < k for fold in only):
            raise SweepSpecError(f"{path}: folds.only must be in [0, {k}), got {only}")
        return only, k
    raise SweepSpecError(f"{path}: folds must be an integer k or {{num_folds: k, only: [...]}}, got {value!r}")


def _as_list(value: Any, name: str, path: Path) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    if isinstance(value, list):
        return value
    raise SweepSpecError(f"{path}: `{name}` must be a value or a list, got {value!r}")


def _overlay_from_dotted(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """``{"model.init_args.temperature": 2}`` -> ``{"model": {"init_args": {"temperature": 2}}}``."""
    if not isinstance(values, dict):
        raise SweepSpecError(f"{path}: overrides must be a mapping of dotted keys to values, got {values!r}")
    nested: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split(".")
        if not all(parts):
            raise SweepSpecError(f"{path}: {key!r} is not a dotted config key like model.init_args.temperature")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = copy.deepcopy(value)
    return nested


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _params_slug(params: dict[str, Any]) -> str:
    """``-temperature2.0`` style suffix naming a run's grid values (last dotted component of each key)."""
    parts = []
    for key, value in params.items():
        text = re.sub(r"[^A-Za-z0-9_.+-]", "", f"{key.rsplit('.', 1)[-1]}{value}")
        parts.append(text)
    return "".join(f"-{part}" for part in parts)
