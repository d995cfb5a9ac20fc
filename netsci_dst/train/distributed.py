"""Data-parallel training on ``torch.distributed``: several processes, one model, identical topology decisions.

Launch with ``torchrun --nproc-per-node N -m netsci_dst.cli train ...`` (or ``dstnet train ... --nproc N``, which
runs torchrun for you). Every process builds the same model from the same seed and trains on its share of each
global batch (rows ``rank, rank + N, ...``); after ``backward`` the gradients are summed over the processes with
one ``all_reduce`` and divided by ``N`` (the mean of the per-process mean losses, as DDP computes it), so every
process takes the same optimizer step and holds the same weights. The DST engine then sees the same weights and the
same gradients and draws from the same seeded generator on every process, so its decisions agree; the masks of
each update are nevertheless broadcast from rank 0 and any process whose masks differ takes rank 0's (and says
so). Rank 0 alone writes the run directory (checkpoints atomically, metrics, snapshots); the checkpoint holds the
global state, so a run resumes under any number of processes. The process group is gloo on the CPU and NCCL on
CUDA.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
import torch.distributed as dist

from netsci_dst.errors import DstnetError

__all__ = ["Group", "init_from_env"]


class Group:
    """The processes of a run: ``rank`` of ``world``; a single process is ``Group(0, 1)`` and every collective is a
    no-op."""

    def __init__(self, rank: int = 0, world: int = 1, device: torch.device | None = None) -> None:
        self.rank, self.world = rank, world
        self.device = device if device is not None else torch.device("cpu")  # where collectives' tensors live

    @property
    def main(self) -> bool:
        """Whether this process writes the run directory and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard(self, batch: Any) -> Any:
        """This process's rows of a global batch (every ``world``-th, from ``rank``)."""
        return batch[self.rank :: self.world] if self.active else batch

    def share(self, n: int) -> float:
        """The factor ``world * n / N`` (``N``: the global batch's items) that makes the average over processes of
        each one's weighted mean loss the mean over the global batch; 1 for a single process."""
        if not self.active:
            return 1.0
        total = self.sum([float(n)])[0]
        return self.world * n / total if total else 0.0

    def all_reduce_gradients(self, parameters: list[torch.nn.Parameter], extra: list[torch.Tensor] = ()) -> None:
        """Sum ``grad / world`` over the processes in one flat ``all_reduce``; ``extra`` tensors (the sparse
        backend's captured dense gradients) are averaged in place the same way. A parameter whose gradient is
        absent on every process keeps ``None`` (optimizers skip it, as with one process)."""
        if not self.active:
            return
        present = self.sum([float(p.grad is not None) for p in parameters]) if parameters else []
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        tensors = grads + list(extra)
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for k, t in enumerate(tensors):
            n = t.numel()
            value = flat[offset : offset + n].view_as(t)
            offset += n
            if k >= len(parameters):
                t.copy_(value)
            elif present[k] == 0:
                parameters[k].grad = None
            elif parameters[k].grad is None:
                parameters[k].grad = value.clone()
            else:
                parameters[k].grad.copy_(value)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of ``values`` over the processes (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any process."""
        return bool(self.sum([float(flag)])[0]) if self.active else flag

    def sync_masks(self, engine: Any) -> list[str]:
        """Broadcast every sparse layer's mask from rank 0; a process whose mask differs takes rank 0's (weights
        and optimizer state of the links that change are zeroed, as an update does); then ``backend="auto"`` turns
        sparse if due (the trainer sets ``engine.defer_backend_turn`` under several processes). Returns the layers
        that differed here."""
        if not self.active or not engine.layers:
            return []
        differed = []
        for name, mask in engine.masks.items():
            theirs = mask.to(device=self.device, dtype=torch.uint8).contiguous()
            dist.broadcast(theirs, src=0)
            theirs = theirs.bool().to(mask.device)
            if not torch.equal(theirs, mask):
                differed.append(name)
                engine._set_mask(name, theirs)  # the engine's own path for a changed link set
        if differed:
            warnings.warn(f"rank {self.rank}: masks of {differed} differed from rank 0's; replaced", stacklevel=2)
        engine.turn_sparse_if_due()  # on rank 0's masks: every process turns at the same update (the engine defers)
        return differed

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process (pickled over the process group)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def init_from_env(device: torch.device) -> Group:
    """The process group torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``...), or
    a single process when there is none. gloo on the CPU, NCCL on CUDA (each process on GPU ``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    if not dist.is_available():
        raise DstnetError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    if device.type not in ("cpu", "cuda"):
        raise DstnetError(f"multi-process training runs on cpu or cuda devices, not {device}")
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)  # collectives and pickled objects on this rank's GPU
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Group(dist.get_rank(), dist.get_world_size(), device)
