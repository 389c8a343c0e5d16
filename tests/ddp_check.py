"""Run one training step on 2 gloo processes and compare it with the same step on one process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2
Step = Callable[[int, int], tuple[float, dict[str, torch.Tensor]]]


def _worker(rank: int, step: Step, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        loss, grads = step(rank, WORLD)
        torch.save({"loss": loss, "grads": grads}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def assert_ddp_step_equals_single_process(step: Step, tmp_path: Path) -> dict[str, torch.Tensor]:
    """``step(rank, world) -> (loss, gradients)`` on 2 processes gives the single-process loss and gradients."""
    mp.spawn(_worker, args=(step, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=WORLD, join=True)
    loss, grads = step(0, 1)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"out.{rank}", weights_only=True)
        assert got["loss"] == pytest.approx(loss, rel=1e-5)
        assert set(got["grads"]) == set(grads)
        for name, grad in grads.items():
            torch.testing.assert_close(got["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    return grads
