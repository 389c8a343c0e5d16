"""Process setup: the device a run uses and, under torchrun, the process group (from its environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from negkit.errors import RecipeError


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> the local CUDA device when there is one, else the CPU."""
    if pref == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError(f"device = {pref!r}, but CUDA is not available here (use \"auto\" or \"cpu\")",
                          key="run.device")
    if pref == "cuda":
        return torch.device(f"cuda:{local_rank}")
    try:
        return torch.device(pref)
    except RuntimeError as exc:
        raise RecipeError(f"unknown device {pref!r}: {exc}", key="run.device") from None


def init_distributed(device_pref: str = "auto") -> DistEnv:
    """Join the process group that torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT``): NCCL on CUDA, gloo on the CPU. A single process needs nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local_rank)
    if world <= 1:
        return DistEnv(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    here = False
    if not dist.is_initialized():
        # rank 0 mines (and later evaluates) while the others wait: allow that much longer than the default
        timeout = timedelta(minutes=float(os.environ.get("NEGKIT_DIST_TIMEOUT_MIN", "240")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
        here = True
    return DistEnv(dist.get_rank(), local_rank, dist.get_world_size(), device, here)


def close_distributed(env: DistEnv) -> None:
    if env.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
