"""DDP on the CPU (gloo, 2 processes) with neighbour groups, image negatives and hardest-of-K: one step's
loss and gradients equal those of one process on the same global batch, and no group is split."""

from __future__ import annotations

import pytest
import torch
from ddp_check import WORLD, assert_ddp_step_equals_single_process

N = 16
GLOBAL = 8


def _records() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    colours = ["red", "green", "blue", "yellow", "white", "black"]
    out = []
    for i in range(N):
        a, b = colours[i % 6], colours[(i + 2) % 6]
        negs = tuple((f"a {b} {s} on a {a} background", 4.5, 0) for s in ("square", "circle", "star"))
        out.append({"index": i, "caption": f"a {a} square on a {b} background" + " today" * (i % 4),
                    "image": torch.randn(3, 64, 64, generator=gen), "negatives": negs if i % 3 else negs[:1],
                    "neg_images": [torch.randn(3, 64, 64, generator=gen)] if i % 2 else [],
                    "neg_image": [(i + 5) % N, (i + 7) % N]})
    return out


def _global_batch() -> tuple[list[int], int]:
    from negkit.train.samplers import NeighboursSampler

    sampler = NeighboursSampler(k=1)
    sampler.setup([{"image": r["image"], "neg_image": r["neg_image"]} for r in _records()], batch_size=GLOBAL,
                  world=WORLD, seed=0)
    flat = [i for group in sampler.batches(0)[0] for i in group]
    return flat, sampler.filled_randomly


def _step(rank: int, world: int) -> tuple[float, dict[str, torch.Tensor]]:
    from negkit.plugins import get_component
    from negkit.recipe import ModelConfig
    from negkit.train.batch import Collator
    from negkit.train.loop import WeightedLoss, forward_loss, resolve_precision
    from negkit.train.model import TwoTower, create_model
    from negkit.train.samplers import NeighboursSampler, SampledBatches

    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)
    records = _records()
    sampler = NeighboursSampler(k=1)
    sampler.setup([{"image": r["image"], "neg_image": r["neg_image"]} for r in records], batch_size=GLOBAL,
                  world=world, seed=0)
    wrapper = SampledBatches(sampler, rank, world)
    wrapper.set_epoch(0, 0, 1)
    local = [records[i] for _, i in next(iter(wrapper))]
    batch = Collator(clip.tokenize, 3, image_negatives=1, keep=1)(local)
    net: torch.nn.Module = TwoTower(clip.model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    losses = [WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0),
              WeightedLoss("cement", get_component("losses", "cement")(image_margin=1.0), 0.5)]
    total, terms = forward_loss(net, batch, losses, resolve_precision("fp32", torch.device("cpu")), ("swap",), world)
    assert "infonce/grad_share_hard_image" in terms
    (total * world).backward()
    grads = {n: p.grad.detach().clone() for n, p in clip.model.named_parameters() if p.grad is not None}
    return float(total.detach()), grads


def test_neighbour_groups_are_never_split_across_ranks():
    flat, filled = _global_batch()
    records = _records()
    assert filled == 0
    local = GLOBAL // WORLD
    for rank in range(WORLD):
        mine = set(flat[rank * local:(rank + 1) * local])
        for anchor, neighbour in zip(flat[::2], flat[1::2]):
            assert (anchor in mine) == (neighbour in mine)
            assert neighbour in records[anchor]["neg_image"]


@pytest.mark.slow
def test_ddp_step_with_neighbours_image_negatives_and_hardest_of_k_equals_one_process(tmp_path):
    grads = assert_ddp_step_equals_single_process(_step, tmp_path)
    assert grads["visual.conv1.weight"].abs().sum() > 0
