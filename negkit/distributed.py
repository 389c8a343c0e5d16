"""Processes and devices: the device a run uses, the torchrun process group, and every collective the run
makes (gathering features with or without gradients, sharing a scalar, broadcasting a choice of rank 0).

The training loop and the pipeline use these; losses do not (they see one global batch in ``LossInputs``).
Every helper is a no-op in a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from negkit.errors import RecipeError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def gather_with_local_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every rank along dim 0; only this rank's slice carries gradients.

    Every rank then computes the loss of the global batch; the training loop multiplies the loss by the
    world size so that DDP's gradient averaging yields the single-process gradient of that batch.
    """
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[rank()] = tensor
    return torch.cat(parts, dim=0)


def gather(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, without gradients (masks, counts, ids)."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def share_scalar(t: Tensor | None) -> Tensor | None:
    """Every rank computes the global loss from the same scalar; each rank's copy takes 1/world of its
    gradient so that, after the loop's x world and DDP's mean, it gets the single-process gradient once."""
    if t is None or not is_distributed():
        return t
    world = world_size()
    return t / world + t.detach() * (1 - 1 / world)


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank when ``flag`` is true on at least one (so all ranks stop at the same step)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def sum_over_ranks(t: Tensor) -> Tensor:
    """The element-wise sum of ``t`` over every rank (``t`` itself in a single process)."""
    if is_distributed():
        t = t.clone()
        dist.all_reduce(t)
    return t


def broadcast_from_main(value: object) -> object:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient of this rank's slice (an all_reduce, which gloo
    has, unlike reduce_scatter)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        ctx.rank, ctx.rows = rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` (same shape on every rank) along dim 0, with gradients flowing back to every
    rank: a rank's slice receives the sum of all ranks' gradients on it (open_clip's ``gather_with_grad``).

    For a sharded loss: each rank computes only its own rows against the gathered columns, and the sum of the
    ranks' losses has the gradient of the global loss.
    """
    if not is_distributed():
        return tensor
    return _GatherWithGrad.apply(tensor)


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
