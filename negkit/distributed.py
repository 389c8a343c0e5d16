"""torch.distributed helpers shared by training and losses. No-ops when not distributed."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


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
