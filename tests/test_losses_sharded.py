"""Sharded loss (``train.sharded_loss``): each gloo process computes only its own rows against the gathered
batch; the processes' losses add up to the single-process loss and DDP yields the single-process gradients."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_train_ddp import GLOBAL as MODEL_BATCH
from test_train_ddp import _items

GLOBAL = 6  # divisible by 2 and 3
LOSSES = {"infonce": {}, "cement": {"lam": 2.0}, "clip": {}, "hinge": {"threshold": 0.3}, "hn-ce": {}}


def _step(rank: int, world: int, sharded: bool) -> tuple[dict[str, float], dict[str, torch.Tensor], int]:
    from negkit.plugins import get_component
    from negkit.recipe import ModelConfig
    from negkit.train.batch import Collator
    from negkit.train.loop import WeightedLoss, combine_losses, loss_inputs, resolve_precision
    from negkit.train.model import TwoTower, create_model

    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)
    local = MODEL_BATCH // world
    batch = Collator(clip.tokenize, 1)(_items()[rank * local:(rank + 1) * local])
    net: torch.nn.Module = TwoTower(clip.model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    losses = [WeightedLoss(n, get_component("losses", n)(**kw), 1.0) for n, kw in LOSSES.items()]
    x = loss_inputs(net, batch, resolve_precision("fp32", torch.device("cpu")), ("swap",), world,
                    sharded=sharded)
    total, terms = combine_losses(losses, x)
    (total * world).backward()  # what the loop does: DDP's mean over ranks then gives the global gradient
    logits = losses[0].loss.logits(x)
    elements = logits.i2t.numel() + (logits.t2i_rows.numel() if logits.t2i_rows is not None else 0)
    grads = {n: p.grad.detach().clone() for n, p in clip.model.named_parameters() if p.grad is not None}
    parts = {k: float(v) for k, v in terms.items() if k.endswith("loss")}
    return parts, grads, elements


def _features(rows: slice) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(7)
    raw = torch.randn(GLOBAL, 3, 9, generator=g, dtype=torch.float64)  # image, text, 2 negatives' inputs
    raw_neg = torch.randn(GLOBAL, 2, 9, generator=g, dtype=torch.float64)
    weight = torch.randn(9, 5, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True, False], [True, True], [False, False], [True, True], [False, True], [True, True]])
    conc = torch.tensor([[4.5, float("nan")], [1.2, 3.3], [2.0, 2.0], [5.0, 1.0], [3.0, 4.0], [float("nan"), 2.5]],
                        dtype=torch.float64)
    return raw[rows], raw_neg[rows], weight, mask[rows], conc[rows]


def _feature_step(rank: int, world: int, gather) -> dict[str, tuple[float, torch.Tensor]]:
    """Per loss: this process's loss and the gradient of a linear tower shared by images and texts."""
    import torch.nn.functional as F

    from negkit.losses.base import LossInputs
    from negkit.losses.cement import Cement
    from negkit.losses.clip import ClipLoss
    from negkit.losses.hinge import Hinge
    from negkit.losses.hn_ce import HardNegativeCE
    from negkit.losses.infonce import InfoNCE

    local = GLOBAL // world
    rows = slice(rank * local, (rank + 1) * local)
    raw, raw_neg, weight, mask, conc = _features(rows)
    out = {}
    for name, loss in (("infonce", InfoNCE()), ("cement", Cement(lam=2.0)), ("clip", ClipLoss()),
                       ("hinge", Hinge(threshold=0.3)), ("hn-ce", HardNegativeCE(focal_gamma=1.0))):
        w = weight.clone().requires_grad_()
        scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
        image, text = (F.normalize(raw[:, i] @ w, dim=-1) for i in (0, 1))
        neg = F.normalize(raw_neg @ w, dim=-1)
        x = LossInputs(gather(image), gather(text), gather(neg), _plain(mask, world), _plain(conc, world), scale.exp(),
                       rows=rows if world > 1 else None)
        value = next(v for k, v in loss(x).items() if k.endswith("loss"))
        (value * world).backward()
        scale_grad = scale.grad if scale.grad is not None else torch.zeros_like(scale)  # hinge has no scale
        grads = torch.cat([w.grad.flatten(), scale_grad.flatten()])
        if world > 1:  # DDP's mean
            dist.all_reduce(grads)
            grads /= world
        out[name] = (float(value.detach()), grads)
    return out


def _plain(t: torch.Tensor, world: int) -> torch.Tensor:
    if world == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t)
    return torch.cat(parts)


def _worker(rank: int, world: int, init_file: str, out: str, model: bool) -> None:
    from negkit.distributed import gather_with_grad

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        result = _step(rank, world, sharded=True) if model else _feature_step(rank, world, gather_with_grad)
        torch.save(result, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _spawn(tmp_path, world: int, model: bool) -> list:
    mp.spawn(_worker, args=(world, str(tmp_path / "init"), str(tmp_path / "out"), model), nprocs=world, join=True)
    return [torch.load(tmp_path / f"out.{r}") for r in range(world)]


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_losses_equal_single_process(tmp_path, world):
    """Every built-in loss, float64: the ranks' losses add up to the global loss, and the tower's gradient
    (and the logit scale's) after DDP's mean is the single-process one."""
    ranks = _spawn(tmp_path, world, model=False)
    want = _feature_step(0, 1, lambda t: t)
    for name, (value, grads) in want.items():
        assert sum(r[name][0] for r in ranks) == pytest.approx(value, rel=1e-12, abs=1e-12), name
        for r in ranks:
            torch.testing.assert_close(r[name][1], grads, msg=name)


def test_sharded_training_step_equals_single_process(tmp_path):
    """negkit-tiny under DDP with ``loss_inputs(sharded=True)``: the loop's path on 2 gloo processes."""
    world = 2
    ranks = _spawn(tmp_path, world, model=True)
    want_terms, want_grads, full_elements = _step(0, 1, sharded=False)
    for key, value in want_terms.items():  # each rank holds its rows' share of every loss term
        assert sum(r[0][key] for r in ranks) == pytest.approx(value, rel=1e-5, abs=1e-7), key
    for _, grads, _ in ranks:
        assert grads.keys() == want_grads.keys()
        for name, grad in grads.items():  # float32: the sums run in another order
            torch.testing.assert_close(grad, want_grads[name], rtol=1e-4, atol=3e-5, msg=name)
    # logits per rank: its B/world rows of [B + B*K] columns, plus its texts' [B/world, B] text->image rows
    b, local = MODEL_BATCH, MODEL_BATCH // world
    assert all(r[2] == local * (b + b * 1) + local * b for r in ranks)
    assert full_elements == b * (b + b * 1)


def test_sharded_loss_refuses_losses_that_cannot_shard():
    from negkit.errors import RecipeError
    from negkit.losses.base import Loss
    from negkit.train.loop import WeightedLoss, check_shardable

    class Whole(Loss):
        name = "whole"

    with pytest.raises(RecipeError, match="whole.*shardable"):
        check_shardable([WeightedLoss("whole", Whole(), 1.0)], exact_accumulation=False)
    from negkit.plugins import get_component

    with pytest.raises(RecipeError, match="exact accumulation"):
        check_shardable([WeightedLoss("clip", get_component("losses", "clip")(), 1.0)], exact_accumulation=True)


def test_sharded_loss_refuses_image_negatives():
    """Image negatives are computed over the whole batch only: the Trainer says so, and a loss given both
    ``rows`` and ``neg_image`` stops rather than computing the wrong share."""
    import dataclasses

    from test_losses import make_inputs
    from test_losses_image_negatives import with_images

    from negkit.errors import RecipeError
    from negkit.plugins import get_component
    from negkit.train.loop import WeightedLoss, check_shardable

    with pytest.raises(RecipeError, match="image negatives"):
        check_shardable([WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0)],
                        exact_accumulation=False, image_negatives=2)
    x = dataclasses.replace(with_images(make_inputs()), rows=slice(0, 2))
    with pytest.raises(ValueError, match="sharded"):
        get_component("losses", "infonce")()(x)
