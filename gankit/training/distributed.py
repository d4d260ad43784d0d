"""Multi-process training with torchrun + DistributedDataParallel.

``torchrun --nproc-per-node N -m gankit train ...`` sets RANK, WORLD_SIZE and
LOCAL_RANK; the trainer then joins a process group (NCCL on GPUs, gloo on CPU)
with a timeout, so a crashed rank ends the job with an error instead of a hang.

Data and latents are drawn as one global batch on every rank, and each rank
takes its share (``rank::world_size``): N processes with batch B see exactly
what one process with batch N*B sees, every rank holds the same random states,
and a checkpoint written by rank 0 resumes on any number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from gankit.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, grids, logs and artifacts."""
        return self.rank == 0

    def share(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch."""
        return tensor[self.rank :: self.world_size] if self.enabled else tensor


def from_env() -> DistInfo:
    """Read torchrun's environment (a single process when it is absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(info: DistInfo, device: torch.device, timeout_s: float) -> bool:
    """Join the process group if needed; returns True if this call created it."""
    if not info.enabled or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return True


def device_for(info: DistInfo, name: str) -> torch.device:
    """The device of this rank: its own GPU under torchrun, else as configured."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", info.local_rank if info.enabled else 0)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"device={name!r} is not a device name; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and info.enabled and device.index is None:
        device = torch.device("cuda", info.local_rank)
    _check_available(device)
    return device


def _check_available(device: torch.device) -> None:
    """Raise :class:`ConfigError` for a device this machine does not have."""
    if device.type == "cpu":
        return
    backend = getattr(torch, device.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ConfigError(
            f"device={str(device)!r}, but this machine has no {device.type} device that torch "
            f"can use; use device=auto (a GPU when there is one) or device=cpu"
        )
    count = getattr(backend, "device_count", None)
    if device.index is not None and count is not None and device.index >= count():
        raise ConfigError(
            f"device={str(device)!r}, but this machine has {count()} {device.type} device(s) "
            f"(indices 0 to {count() - 1})"
        )


def any_rank(info: DistInfo, flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any of them (so all ranks stop together)."""
    return max_over_ranks(info, float(flag)) > 0.0


def max_over_ranks(info: DistInfo, value: float) -> float:
    """The largest of every rank's ``value``, on every rank (``value`` for one process)."""
    if not (info.enabled and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for a single process)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
