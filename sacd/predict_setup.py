"""How ``sacd predict`` turns a training checkpoint into a video-only stager for whole nights.

Lightning fills the model's config from the checkpoint's hyper-parameters (its class, its student
network and the data spec it was trained with). Prediction keeps only the student: the config is
rewritten to :class:`sacd.VideoStager`, so no teacher is loaded and the method's training-only
heads are never built. The night datamodule's clip size defaults to the student's, and a clip size
that differs from the one the student was trained on is an error, not a silent resize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sacd.class_paths import import_class_path

#: what the predict parser starts from before the checkpoint's hyper-parameters replace it
PLACEHOLDER_MODEL = {"class_path": "sacd.VideoStager", "init_args": {"student": {"class_path": "sacd.models.X3D"}}}
#: data-spec hyper-parameters a student checkpoint carries over to the stager
CARRIED = ("num_classes", "class_names", "video_shape")


class CheckpointKindError(ValueError):
    """A checkpoint that cannot stage video: a teacher's, or not a student's of the expected clip size."""


def checkpoint_model(ckpt_path: str | None) -> dict[str, Any]:
    """The model a checkpoint was trained as: ``class_path`` and its recorded hyper-parameters."""
    if not ckpt_path:
        raise CheckpointKindError("sacd predict stages video with a trained student: give --ckpt_path STUDENT.ckpt")
    from sacd.safe_checkpoints import UnsafeCheckpointError, load_checkpoint

    try:
        checkpoint = load_checkpoint(ckpt_path)
    except UnsafeCheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CheckpointKindError(
            f"{ckpt_path} is not a readable checkpoint ({type(error).__name__}: {error}); it is truncated or not a "
            "checkpoint: give a student's .ckpt written by `sacd fit`"
        ) from error
    hparams = dict(checkpoint.get("hyper_parameters") or {}) if isinstance(checkpoint, dict) else {}
    return {"class_path": str(hparams.pop("_class_path", "")), "init_args": hparams}


def stager_config(model: dict[str, Any], ckpt_path: str | None) -> tuple[dict[str, Any], tuple[int, ...] | None]:
    """The VideoStager config for a checkpoint's model, and the clip shape its student expects."""
    from sacd.teacher import EEGTeacher

    class_path = str(model.get("class_path", ""))
    arguments = dict(model.get("init_args") or {})
    cls = import_class_path(class_path)
    if isinstance(cls, type) and issubclass(cls, EEGTeacher):
        raise CheckpointKindError(
            f"{ckpt_path} is an EEG teacher's checkpoint ({class_path}); sacd predict stages infrared video with a "
            "student: give the checkpoint of a distiller run (runs/.../checkpoints/*.ckpt of `sacd fit` with a student)"
        )
    student = arguments.get("student")
    if not student:
        raise CheckpointKindError(
            f"{ckpt_path} ({class_path or 'no model class recorded'}) holds no student network to stage video with; "
            "give a checkpoint written by `sacd fit` with a distiller"
        )
    init_args = {"student": student, **{key: arguments[key] for key in CARRIED if arguments.get(key) is not None}}
    shape = tuple(int(v) for v in arguments["video_shape"]) if arguments.get("video_shape") else None
    return {"class_path": "sacd.VideoStager", "init_args": init_args}, shape


#: the usual way to stage a night, quoted by every refusal of a prediction set up the wrong way
PREDICT_USAGE = "sacd predict -c experiments/predict.yaml --ckpt_path STUDENT.ckpt --data.video NIGHT.mp4"


def check_night_source(class_path: str | None) -> None:
    """Refuse a prediction whose datamodule is not a source of whole nights of video (a training config)."""
    from datamodules.night_videos import NightVideos

    cls = import_class_path(str(class_path or ""))
    if not (isinstance(cls, type) and issubclass(cls, NightVideos)):
        raise CheckpointKindError(
            f"sacd predict stages whole nights of video, but the config's data is {class_path or 'not set'}, a "
            f"training datamodule; use the prediction config: {PREDICT_USAGE}"
        )


def match_clip_size(data_args: dict[str, Any], shape: tuple[int, ...] | None, ckpt_path: str) -> dict[str, Any]:
    """The night datamodule's frames and frame_size: the student's by default, and never different from it."""
    if shape is None:
        return data_args
    _, frames, height, width = shape
    updated = dict(data_args)
    for key, expected in (("frames", frames), ("frame_size", height)):
        given = data_args.get(key)
        if given is None:
            updated[key] = expected
        elif int(given) != expected:
            raise CheckpointKindError(
                f"{Path(ckpt_path).name} is a student of clips of {frames} frames of {height}x{width}, but the data asks "
                f"for {data_args.get('frames')} frames of {data_args.get('frame_size')}px; leave data.frames and "
                "data.frame_size unset (they follow the checkpoint) or use a student trained at that size"
            )
    if height != width:
        raise CheckpointKindError(f"{ckpt_path}: the student was trained on {height}x{width} clips; nights are cut square")
    return updated
