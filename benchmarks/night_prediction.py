"""Staging a whole night of video: decoding and inference measured apart, and end to end.

    python benchmarks/night_prediction.py                      # 8 h at 112x112, 5 fps, X3D-XS on 16 frames
    python benchmarks/night_prediction.py --hours 1 --student x3d_tiny --frames 8 --frame-size 32

Exports one synthetic night (``sacd synth``), makes a student checkpoint of the requested size
through ``sacd fit`` (one training step: speed does not depend on the weights), then measures:

1. decoding alone: iterating the prediction dataloader (both passes over the video, standardisation);
2. inference alone: the student's forward pass on the same number of epochs of random clips;
3. end to end: ``sacd predict`` (decoding, inference and writing the outputs), with its peak memory
   (the child's own high-water mark, see ``process_memory.py``).

Prints epochs per second for each and the ratio of decoding to inference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from process_memory import MemorySampler


def make_student(folder: Path, student: str, frames: int, size: int) -> Path:
    """A student checkpoint of the given clip size, from one training step through the CLI."""
    config = {
        "seed_everything": 0,
        "trainer": {"max_steps": 1, "limit_val_batches": 1, "accelerator": "cpu", "devices": 1, "logger": False,
                    "enable_progress_bar": False, "default_root_dir": str(folder)},
        "checkpoint": {"dirpath": str(folder / "checkpoints")},
        "model": {"class_path": "distillers.Vanilla", "init_args": {
            "student": {"class_path": "sacd.models.X3D" if student.startswith("x3d") else "sacd.models.R2Plus1D"}}},
        "data": {"class_path": "datamodules.SyntheticNights", "init_args": {
            "num_subjects": 3, "epochs_per_night": 20, "val_subjects": 1, "test_subjects": 1,
            "frames": frames, "frame_size": size, "batch_size": 4}},
    }
    if student == "x3d_tiny":
        config["model"]["init_args"]["student"]["init_args"] = {
            "widths": [16, 32, 64], "depths": [1, 2, 2], "stem_width": 16, "embed_dim": 128}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "student.yaml"
    path.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "sacd", "fit", "-c", str(path)], check=True, capture_output=True)
    return folder / "checkpoints" / "last.ckpt"


def time_decoding(video: Path, frames: int, size: int) -> tuple[int, float]:
    from datamodules import NightVideos

    data = NightVideos(video=str(video), frames=frames, frame_size=size, batch_size=32)
    data.setup("predict")
    start = time.perf_counter()
    count = sum(len(batch["epoch"]) for batch in data.predict_dataloader())
    return count, time.perf_counter() - start


def time_inference(checkpoint: Path, epochs: int, frames: int, size: int, batch: int = 32) -> float:
    import torch

    from sacd.predict_setup import checkpoint_model, stager_config
    from sacd.stager import VideoStager

    config, _ = stager_config(checkpoint_model(str(checkpoint)), str(checkpoint))
    from lightning.pytorch.cli import instantiate_class

    student = instantiate_class((), config["init_args"]["student"])
    model = VideoStager(student, video_shape=(1, frames, size, size)).eval()
    clips = torch.randn(batch, 1, frames, size, size)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, epochs, batch):
            model.predict_logits({"video": clips[: min(batch, epochs - first)]})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--video-size", type=int, default=112, help="exported video height and width")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--student", default="x3d_xs", choices=["x3d_xs", "x3d_tiny", "r2plus1d_18"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=112)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sacd", "synth", "--out", str(folder / "night"), "--subjects", "1",
                        "--hours", str(args.hours), "--size", str(args.video_size), "--fps", str(args.fps),
                        "--no-report"], check=True, capture_output=True)  # fmt: skip
        video = next((folder / "night").glob("sub-*/*_video.mp4"))
        print(f"exported a {args.hours:g} h night at {args.video_size} px, {args.fps:g} fps "
              f"in {time.perf_counter() - start:.0f} s ({video.stat().st_size / 2**20:.0f} MiB)")  # fmt: skip
        checkpoint = make_student(folder / "student", args.student, args.frames, args.frame_size)

        epochs, decode_s = time_decoding(video, args.frames, args.frame_size)
        infer_s = time_inference(checkpoint, epochs, args.frames, args.frame_size)
        command = [sys.executable, "-m", "sacd", "predict", "-c", "experiments/predict.yaml", "--ckpt_path",
                   str(checkpoint), "--data.video", str(video), "--trainer.accelerator", "cpu",
                   "--trainer.callbacks.init_args.output_dir", str(folder / "out")]  # fmt: skip
        print(f"  decoding alone   {decode_s:7.1f} s  {epochs / decode_s:8.1f} epochs/s", flush=True)
        print(f"  inference alone  {infer_s:7.1f} s  {epochs / infer_s:8.1f} epochs/s", flush=True)
        start = time.perf_counter()
        with open(folder / "predict.log", "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            sampler = MemorySampler(process.pid)  # the child's own high-water mark (see process_memory)
            sampler.start()
            returncode = process.wait()
            sampler.stop()
        total_s = time.perf_counter() - start
        if returncode != 0:
            raise SystemExit(f"sacd predict failed:\n{(folder / 'predict.log').read_text()[-3000:]}")
        peak_gib = sampler.peaks["hwm"] / 1024
        scratch_gib = sampler.peaks["file"] / 1024

    print(f"{epochs} epochs, {args.frames} frames of {args.frame_size} px, student {args.student}")
    print(f"  sacd predict     {total_s:7.1f} s  {epochs / total_s:8.1f} epochs/s (process start and outputs included)")
    print(f"  decoding / inference time: {decode_s / infer_s:.2f}; peak memory of sacd predict {peak_gib:.2f} GiB "
          f"(file-backed at most {scratch_gib:.2f} GiB: libraries and the clip scratch's pages)")  # fmt: skip


if __name__ == "__main__":
    main()
