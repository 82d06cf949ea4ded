"""A cache of the frozen teacher's outputs per training sample.

The teacher never changes during distillation and its EEG input for a training sample is the same
every epoch, so its embedding, logits and tapped feature maps are computed once per sample (the
first time the sample is drawn) and read back afterwards. An epoch then costs little more than
training the student alone.

Entries are keyed by the sample's position in the training set (the batch's ``"index"``) and the
cache belongs to one teacher: it records the teacher's SHA-256 and refuses outputs of another.
Embeddings and logits are kept in float32; tapped feature maps, which can be large, may be kept in
reduced precision. The cache lives in host memory. It is written once (whenever it has grown) to a
file beside the run's checkpoints rather than into every checkpoint, and a run resumed from one of
them reads it back, so it continues with exactly the values the interrupted run used.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sacd.safe_checkpoints import load_checkpoint

TAP_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class TeacherOutputCache:
    """Teacher outputs for ``size`` training samples, filled on first sight.

    Args:
        size: number of training samples (slot ``i`` holds the sample with ``"index"`` i).
        teacher_sha256: content hash of the teacher these outputs come from.
        tap_dtype: storage dtype of tapped feature maps: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
    """

    def __init__(self, size: int, teacher_sha256: str, tap_dtype: str = "float16") -> None:
        if size < 1:
            raise ValueError(f"a teacher-output cache needs size >= 1, got {size}")
        if tap_dtype not in TAP_DTYPES:
            raise ValueError(f"tap_dtype must be one of {sorted(TAP_DTYPES)}, got {tap_dtype!r}")
        self.size = size
        self.teacher_sha256 = teacher_sha256
        self.tap_dtype = TAP_DTYPES[tap_dtype]
        self.filled = torch.zeros(size, dtype=torch.bool)
        self.store: dict[str, torch.Tensor] = {}
        self._saved_count = 0
        self._shared = torch.zeros(size, dtype=torch.bool)  # entries every DDP rank already holds

    @property
    def file_name(self) -> str:
        """The file a run's cache is saved to, beside its checkpoints (one per teacher)."""
        return f"teacher-outputs-{self.teacher_sha256[:16]}.pt"

    def save(self, path: Path) -> bool:
        """Write the cache (atomically) if it grew since the last save; return whether it wrote."""
        if len(self) == self._saved_count:
            return False
        from sacd.atomic import staged

        state = {"teacher_sha256": self.teacher_sha256, "filled": self.filled, "store": self.store}
        with staged([path]) as (tmp,):
            torch.save(state, tmp)
        self._saved_count = len(self)
        return True

    def share_across_processes(self) -> None:
        """Under DDP, give every rank the entries the others filled since the last call (a collective).

        Each rank trains on its own shard and fills its own entries; after this, all ranks hold the
        same cache, so the file rank 0 saves is complete and a resumed run reads back exactly the
        values every rank would have used. Entries travel as pickled CPU tensors, which works with
        any process-group backend. A no-op in a single process.
        """
        from sacd.distributed import gather_objects, world_size

        if world_size() == 1:
            return
        new = (self.filled & ~self._shared).nonzero().squeeze(1)
        parts = gather_objects({"ids": new, "rows": {name: stored[new] for name, stored in self.store.items()}})
        for part in parts:
            if len(part["ids"]):
                self._put_stored(part["ids"], part["rows"])
        self._shared = self.filled.clone()

    def load(self, path: Path) -> None:
        """Read a saved cache of the same teacher and training set."""
        state = load_checkpoint(path)
        self.check_teacher(state["teacher_sha256"])
        if len(state["filled"]) != self.size:
            raise ValueError(f"{path} caches {len(state['filled'])} samples, this training set has {self.size}")
        self.filled = state["filled"].clone()
        self.store = {name: value.clone() for name, value in state["store"].items()}
        self._saved_count = len(self)
        self._shared = self.filled.clone()  # under DDP every rank reads the same file

    def __len__(self) -> int:
        """Number of samples whose outputs are cached."""
        return int(self.filled.sum())

    def check_teacher(self, teacher_sha256: str) -> None:
        if teacher_sha256 != self.teacher_sha256:
            raise RuntimeError(
                f"this teacher-output cache holds outputs of teacher {self.teacher_sha256[:12]}, not of "
                f"{teacher_sha256[:12]}; build a new cache for the new teacher"
            )

    def missing(self, ids: torch.Tensor) -> torch.Tensor:
        """Boolean mask over ``ids`` of the samples not cached yet."""
        ids = self._checked(ids)
        return ~self.filled[ids]

    def put(self, ids: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
        """Store named outputs (first dimension aligned with ``ids``); names starting ``tap:`` are tapped maps."""
        ids = self._checked(ids)
        for name, value in outputs.items():
            if len(value) != len(ids):
                raise ValueError(f"output {name!r} has {len(value)} rows for {len(ids)} sample ids")
        self._put_stored(ids, {name: value.detach().to("cpu", self._dtype_of(name)) for name, value in outputs.items()})

    def _dtype_of(self, name: str) -> torch.dtype:
        return self.tap_dtype if name.startswith("tap:") else torch.float32

    def _put_stored(self, ids: torch.Tensor, rows: dict[str, torch.Tensor]) -> None:
        for name, value in rows.items():
            if name not in self.store:
                self.store[name] = torch.zeros((self.size, *value.shape[1:]), dtype=self._dtype_of(name))
            elif self.store[name].shape[1:] != value.shape[1:]:
                raise ValueError(f"output {name!r} changed shape: {tuple(self.store[name].shape[1:])} -> {tuple(value.shape[1:])}")
            self.store[name][ids] = value
        self.filled[ids] = True

    def get(self, ids: torch.Tensor, device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The stored outputs of ``ids`` (all must be cached), on ``device`` and in ``dtype``."""
        cpu_ids = self._checked(ids)
        if not bool(self.filled[cpu_ids].all()):
            raise KeyError("some requested samples are not in the teacher-output cache yet")
        return {name: stored[cpu_ids].to(device=device, dtype=dtype, non_blocking=True) for name, stored in self.store.items()}

    def _checked(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.detach().to("cpu", torch.long)
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.size):
            raise IndexError(
                f"sample ids must be in [0, {self.size}), got {int(ids.min())}..{int(ids.max())}: the cache is "
                "sized by num_train_samples, which must match the training set"
            )
        return ids
