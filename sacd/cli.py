"""``sacd``: one LightningCLI for the teacher and every distiller.

``sacd fit|validate|test|predict`` pick the model (any :class:`distillers.Distiller` subclass or
:class:`sacd.EEGTeacher`) and the datamodule (any :class:`datamodules.PairedDataModule`) by class
path. The datamodule's data-dependent values are linked into the model, never typed twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import datamodules
import distillers
from datamodules import PairedDataModule
from sacd.class_paths import import_class_path
from sacd.cli_parser import SacdArgumentParser
from sacd.checkpointing import AtomicCheckpointIO, ResumableCheckpoint, newest_last_checkpoint
from sacd.callbacks import EnvironmentRecord, FitSummary, ResumableRandomness, TestReportWriter
from sacd.predict_setup import (
    PLACEHOLDER_MODEL,
    check_night_source,
    checkpoint_model,
    match_clip_size,
    stager_config,
)
from sacd.progress import default_progress_bar
from sacd.quiet import silence_third_party_noise
from sacd.run_claims import claimed_run_folder, share_logger_versions
from sacd.safe_checkpoints import UnsafeCheckpointError, is_weights_only_refusal, unsafe_message
from sacd.staging import MONITOR, StagingModule
from sacd.fit_checks import (
    check_resumable,
    check_writable_folder,
    holds_no_test_subjects,
    plain_config,
    run_folders,
)
from sacd.teacher import check_teacher_checkpoint
from sacd.teacher_store import cached_teacher

#: how jsonargparse begins the error it raises around a class that failed to instantiate
UNION_FAILURE = "Does not validate against any of the Union subtypes"
#: datamodule attributes copied into the model's init args when both are instantiated
LINKED_DATA_ATTRIBUTES = (
    "num_classes",
    "class_names",
    "eeg_shape",
    "video_shape",
    "eeg_sample_rate",
    "num_train_samples",
)


def _subclasses(base: type) -> list[type]:
    found, stack = [], [base]
    while stack:
        for cls in stack.pop().__subclasses__():
            found.append(cls)
            stack.append(cls)
    return found


def zoo_description() -> str:
    names = sorted(f"{cls.__module__.split('.')[0]}.{cls.__name__}" for cls in _subclasses(distillers.Distiller))
    data = sorted(f"datamodules.{cls.__name__}" for cls in _subclasses(PairedDataModule))
    return (
        "Cross-modal sleep staging: an EEG teacher distilled into an infrared-video student.\n"
        f"Models (--model): sacd.EEGTeacher, {', '.join(names)}.\n"
        f"Datamodules (--data): {', '.join(data)}.\n"
        "Also: `sacd synth --out DIR --subjects N --hours H` exports synthetic nights as EDF+/MP4/CSV; "
        "`sacd manifest DIR` lists recorded nights; `sacd check-data MANIFEST` checks them; "
        "`sacd sweep SPEC.yaml` runs a benchmark sweep and `sacd report SWEEP_DIR` tabulates it."
    )


#: each Lightning subcommand's usual command (shown first by ``--help``) and what it does
SUBCOMMAND_HELP = {
    "fit": (
        "sacd fit -c experiments/quickstart.yaml [--model distillers.NAME] [options]",
        "Train the EEG teacher or distil it into a video student; with test_after_fit, test the best checkpoint "
        "on the held-out subjects (video only). Results go under trainer.default_root_dir (runs/...).",
    ),
    "validate": (
        "sacd validate -c CONFIG.yaml --ckpt_path RUN.ckpt [options]",
        "Score a checkpoint on the validation subjects of the config's data.",
    ),
    "test": (
        "sacd test -c CONFIG.yaml --ckpt_path RUN.ckpt [options]",
        "Score a checkpoint on the test subjects (students see video only); writes <checkpoint>.test.json/.csv.",
    ),
    "predict": (
        "sacd predict -c experiments/predict.yaml --ckpt_path STUDENT.ckpt --data.video NIGHT.mp4 [options]",
        "Stage whole nights of infrared video with a trained student. Several nights: --data.manifest nights.csv "
        "(a 'video' column); agreement with a scored night: --data.reference_hypnogram NIGHT.csv. Each night's "
        "hypnogram.csv, hypnogram.edf, hypnogram.png and summary.json go to predictions/<night>/ "
        "(--trainer.callbacks.init_args.output_dir DIR to change).",
    ),
}


def subcommand_parser_kwargs() -> dict[str, dict[str, str]]:
    """``parser_kwargs`` of each subcommand: the usual command as its usage line, then what it does."""
    return {name: {"usage": usage, "description": text} for name, (usage, text) in SUBCOMMAND_HELP.items()}


class SacdCLI(LightningCLI):
    """The project's LightningCLI: forced checkpointing and reports, data links, teacher chaining."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        silence_third_party_noise()
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("auto_configure_optimizers", False)
        callbacks = [TestReportWriter(), FitSummary(), EnvironmentRecord(), ResumableRandomness()]
        kwargs.setdefault("trainer_defaults", {"callbacks": callbacks})
        kwargs.setdefault("parser_kwargs", {"description": zoo_description(), "allow_abbrev": False,
                                            **subcommand_parser_kwargs()})
        kwargs.setdefault("parser_class", SacdArgumentParser)
        super().__init__(StagingModule, L.LightningDataModule, args=args, run=run, **kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then settle where the run writes: loggers named after the method for ``fit``, none for
        ``validate``/``test`` (their results go beside the checkpoint they score)."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        if subcommand == "fit":
            name_loggers_after_model(config)
        elif subcommand in ("validate", "test"):
            config.trainer.logger = False
            self.save_config_callback = None

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        """The trainer, with checkpoints written atomically beside their target unless a plugin chose otherwise,
        and loggers that share a folder writing to one version of it."""
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if self.subcommand != "fit":  # a fit claims its versions when it starts (sacd.run_claims)
            share_logger_versions(trainer.loggers)
        return trainer

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> L.Trainer:
        """Add the progress bar that suits the output (:mod:`sacd.progress`) unless one is configured or bars are off."""
        configured = [*(config.get("callbacks") or []), *callbacks, *self.trainer_defaults.get("callbacks", [])]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in configured):
            callbacks = [*callbacks, default_progress_bar(self.subcommand)]
        return super()._instantiate_trainer(config, callbacks)

    @classmethod
    def create(cls, args: Sequence[str]) -> SacdCLI:
        """Run the CLI in-process on an argument list (what tests and the teacher cache use)."""
        return cls(args=list(args))

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="fit only: test the best checkpoint on the test subjects when training ends",
        )
        parser.add_lightning_class_args(ResumableCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": MONITOR,
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for attribute in LINKED_DATA_ATTRIBUTES:
            parser.link_arguments(f"data.{attribute}", f"model.init_args.{attribute}", apply_on="instantiate")

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":  # the model comes from --ckpt_path; this only lets the config omit it
            parser.set_defaults({"model": PLACEHOLDER_MODEL})
        if subcommand == "test":  # the staging table (TestReportWriter) replaces Lightning's table of the same metrics
            parser.set_defaults({"verbose": False})
        parser.set_defaults({"weights_only": True})  # a checkpoint cannot run code (sacd.safe_checkpoints)
        return parser

    def _parse_ckpt_path(self) -> None:
        """Lightning's reading of the checkpoint's hyper-parameters, with an error that names a bad file."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if subcommand == "fit" and ckpt_path == "last":
            ckpt_path = self._resolve_last(self.config[subcommand])
        if ckpt_path and ckpt_path != "last" and not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"checkpoint {ckpt_path} does not exist; give the path of a .ckpt file")
        configured = plain_config(self.config[subcommand].get("model")) if subcommand == "fit" and ckpt_path else {}
        try:
            super()._parse_ckpt_path()
        except Exception as error:  # noqa: BLE001 - torch.load raises many kinds for a file that is not a checkpoint
            if is_weights_only_refusal(error):
                raise UnsafeCheckpointError(unsafe_message(ckpt_path, error)) from error
            raise ValueError(
                f"{ckpt_path} is not a readable Lightning checkpoint ({type(error).__name__}: {error}); it is "
                "truncated or not a checkpoint: give another .ckpt written by `sacd fit` (e.g. the run's best "
                "epochNNN.ckpt)"
            ) from error
        if ckpt_path and ckpt_path != "last" and configured:
            check_resumable(ckpt_path, configured)

    def _resolve_last(self, config: Any) -> str | None:
        """``fit --ckpt_path last``: the newest ``last.ckpt`` of this run's earlier versions, else a fresh start."""
        folders = run_folders(plain_config(config))
        found = newest_last_checkpoint(folders)
        if found is None:
            print(f"--ckpt_path last: no last.ckpt under {', '.join(map(str, folders))}; starting a new fit")
            config["ckpt_path"] = None
            return None
        print(f"--ckpt_path last: resuming from {found}")
        config["ckpt_path"] = str(found)
        return str(found)

    def instantiate_classes(self) -> None:
        """Instantiate; an error that a model's or datamodule's ``__init__`` raises comes out as itself, not
        buried in jsonargparse's report of every type it tried."""
        try:
            super().instantiate_classes()
            return
        except ValueError as error:
            cause = error.__cause__ if str(error).startswith(UNION_FAILURE) else None
            if not isinstance(cause, Exception) or type(cause).__module__.startswith("jsonargparse"):
                raise
        raise cause

    def before_instantiate_classes(self) -> None:
        """Check the teacher checkpoint, or resolve ``teacher_config`` to a cached (or new) one.

        For ``predict``, keep only the student of the checkpoint (see :mod:`sacd.predict_setup`).
        """
        config = self.config[self.subcommand] if self.subcommand else self.config
        if self.subcommand == "predict":
            self._prepare_prediction(config)
            return
        no_test = holds_no_test_subjects(plain_config(config.get("data")))
        if self.subcommand == "fit" and config.get("test_after_fit") and no_test:
            raise ValueError(NO_TEST_SUBJECTS)  # before a teacher is trained for nothing
        init_args = config.model.get("init_args")
        if init_args is None or not getattr(self._configured_model_class(config), "uses_teacher", False):
            return
        if init_args.get("teacher_checkpoint"):
            check_teacher_checkpoint(init_args.teacher_checkpoint, init_args.get("teacher_sha256"))
            return
        if not init_args.get("teacher_config"):
            return
        data_config = yaml.safe_load(self._parser(self.subcommand).dump(config, skip_link_targets=True))["data"]
        teacher_data = plain_config(init_args.get("teacher_data")) or None
        checkpoint = cached_teacher(init_args.teacher_config, data_config, init_args.teacher_cache_dir, teacher_data)
        init_args.teacher_checkpoint = str(checkpoint)
        self._set_seed()  # the student starts from the same RNG state whether the teacher was cached or not

    def _prepare_prediction(self, config: Any) -> None:
        self.save_config_callback = None  # the night writer records what it staged; nothing goes to the working folder
        parser = self._parser(self.subcommand)
        dumped = yaml.safe_load(parser.dump(config, skip_link_targets=True, skip_none=False))
        model, shape = stager_config(checkpoint_model(config.get("ckpt_path")), config.get("ckpt_path"))
        data = dumped.get("data") or {}
        check_night_source(data.get("class_path"))
        data["init_args"] = match_clip_size(data.get("init_args") or {}, shape, config.ckpt_path)
        updated = parser.parse_object({"model": model, "data": data}, defaults=False)
        config.model = updated.model
        config.data = updated.data

    @staticmethod
    def _configured_model_class(config: Any) -> type | None:
        return import_class_path(config.model.class_path)

    def before_fit(self) -> None:
        """Fail now, naming the folder, if the run's logs or checkpoints cannot be written there, or if
        ``test_after_fit`` asks for a test of subjects the data does not have; then claim the run's folder
        for this fit alone (:mod:`sacd.run_claims`)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        split = getattr(self.datamodule, "split", None)
        if config.get("test_after_fit") and split is not None and not split.test:
            raise ValueError(NO_TEST_SUBJECTS)
        folders = [self.trainer.default_root_dir, getattr(self.trainer.checkpoint_callback, "dirpath", None)]
        folders += [getattr(logger, "root_dir", None) or logger.save_dir for logger in self.trainer.loggers]
        for folder in dict.fromkeys(str(f) for f in folders if f):
            if "://" not in folder:  # local folders only
                check_writable_folder(Path(folder))
        self._held.enter_context(claimed_run_folder(self.trainer))

    def _run_subcommand(self, subcommand: str) -> None:
        """Run the subcommand; what it holds (a fit's run folder, see :meth:`before_fit`) is let go at the end,
        however it ends."""
        self._held = contextlib.ExitStack()
        with self._held:
            super()._run_subcommand(subcommand)

    def before_predict(self) -> None:
        """Refuse several processes before any is launched (see :func:`check_single_process`)."""
        from datamodules.night_videos import check_single_process

        check_single_process(self.trainer.world_size)

    def after_fit(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if not config.get("test_after_fit"):
            return
        callback = self.trainer.checkpoint_callback
        ckpt_path = None
        if callback is not None and (callback.best_model_path or callback.last_model_path):
            ckpt_path = callback.best_model_path or callback.last_model_path
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)


def name_loggers_after_model(config: Any) -> None:
    """Loggers whose ``name`` is unset (or Lightning's ``lightning_logs``) take the method's run name, so
    ``--model distillers.CRD`` writes to ``<save_dir>/crd/``, whatever the config was written for."""
    loggers = config.trainer.get("logger")
    entries = loggers if isinstance(loggers, list) else [loggers]
    model = config.get("model")
    class_path = getattr(model, "class_path", None) or (model.get("class_path") if isinstance(model, dict) else None)
    if not class_path:
        return
    name = run_name(class_path)
    for entry in entries:
        init_args = getattr(entry, "init_args", None)
        if init_args is not None and init_args.get("name", "lightning_logs") in (None, "lightning_logs"):
            init_args["name"] = name


def run_name(class_path: str) -> str:
    """The folder name a model's runs log under: its class's ``run_name``, else the class name in lower case."""
    class_name = class_path.rpartition(".")[2]
    return getattr(import_class_path(class_path), "run_name", None) or class_name.lower()


#: the refusal of a fit that would test on no subjects (checked from the config, then from the data)
NO_TEST_SUBJECTS = ("test_after_fit is set, but the data holds no test subjects (data.init_args.test_subjects is 0): "
                    "set --data.init_args.test_subjects to 1 or more, or --test_after_fit false")
def run_lightning_command(words: Sequence[str]) -> None:
    """``sacd fit|validate|test|predict ...``: the LightningCLI on these words."""
    SacdCLI(args=list(words))
