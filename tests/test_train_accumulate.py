"""Exact accumulation: N micro-batches of B give the loss and gradients of one batch of N*B."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from test_train_world import recipe_dict, run_world
from torch import Tensor, nn

from negkit.losses.base import Loss, LossInputs
from negkit.plugins import get_component
from negkit.train.accumulate import concat_rows, exact_accumulation, row_fields
from negkit.train.checkpoint import read_checkpoint
from negkit.train.loop import WeightedLoss, combine_losses

N, B, K, RAW, D = 3, 4, 2, 6, 5


@dataclass
class WithImageNegatives(LossInputs):
    """LossInputs with one more per-sample field, as image negatives add: accumulation must carry it."""

    neg_image: Tensor | None = None  # [B, K, D]


class ImageNegativeLoss(Loss):
    name = "test-image-negatives"

    def forward(self, x: WithImageNegatives) -> dict[str, Tensor]:
        # every text against every image negative of the batch: couples all rows, like a contrastive loss
        sims = x.logit_scale * x.text @ x.neg_image.reshape(-1, x.neg_image.shape[-1]).T
        pos = x.logit_scale * (x.text * x.image).sum(-1, keepdim=True)
        return {"image_neg_loss": F.cross_entropy(torch.cat([pos, sims], 1), torch.zeros(len(pos), dtype=torch.long))}


class Tower(nn.Module):
    """A linear two-tower model with dropout: the recomputation must replay the random state."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.img = nn.Parameter(torch.randn(RAW, D, generator=g, dtype=torch.float64))
        self.txt = nn.Parameter(torch.randn(RAW, D, generator=g, dtype=torch.float64))
        self.logit_scale = nn.Parameter(torch.tensor(2.5, dtype=torch.float64))
        self.drop = nn.Dropout(0.3)

    def forward(self, batch: dict[str, Tensor]) -> WithImageNegatives:
        image = F.normalize(self.drop(batch["image"]) @ self.img, dim=-1)
        text = F.normalize(batch["text"] @ self.txt, dim=-1)
        neg = F.normalize(batch["neg"] @ self.txt, dim=-1)
        neg_image = F.normalize(batch["neg_image"] @ self.img, dim=-1)
        return WithImageNegatives(image, text, neg, batch["mask"], batch["conc"], self.logit_scale.exp(),
                                  neg_kind_ids=torch.zeros(len(image), K, dtype=torch.long), kind_names=("k",),
                                  neg_image=neg_image)


def micro_batches() -> list[dict[str, Tensor]]:
    g = torch.Generator().manual_seed(5)
    out = []
    for _ in range(N):
        mask = torch.rand(B, K, generator=g) > 0.3
        conc = 1 + 4 * torch.rand(B, K, generator=g, dtype=torch.float64)
        conc[0, 0] = float("nan")
        out.append({"image": torch.randn(B, RAW, generator=g, dtype=torch.float64),
                    "text": torch.randn(B, RAW, generator=g, dtype=torch.float64),
                    "neg": torch.randn(B, K, RAW, generator=g, dtype=torch.float64),
                    "neg_image": torch.randn(B, K, RAW, generator=g, dtype=torch.float64),
                    "mask": mask, "conc": conc})
    return out


def weighted_losses() -> list[WeightedLoss]:
    names = ["infonce", "cement", "hinge", "hn-ce", "clip"]
    out = [WeightedLoss(n, get_component("losses", n)(), 1.0 if n != "hinge" else 0.5) for n in names]
    return [*out, WeightedLoss("img", ImageNegativeLoss(), 0.7)]


def test_exact_accumulation_equals_one_large_batch():
    losses = weighted_losses()
    parts = micro_batches()

    # one batch of N*B: the same samples, and the dropout masks the micro-batches draw in order
    big_model = Tower()
    torch.manual_seed(0)
    masks_rng = torch.get_rng_state()
    drawn = []
    for p in parts:
        drawn.append(big_model.drop(torch.ones_like(p["image"])))
    torch.set_rng_state(masks_rng)

    class Replay(nn.Module):  # the big batch with the micro-batches' dropout masks
        def forward(self, x: Tensor) -> Tensor:
            return x * torch.cat(drawn)

    big_model.drop = Replay()
    whole = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    loss, terms = combine_losses(losses, big_model(whole))
    loss.backward()

    model = Tower()
    torch.manual_seed(0)
    got_terms = exact_accumulation(parts, model, lambda x: combine_losses(losses, x),
                                   lambda total, t: (total.backward(), t)[1])
    for key, value in terms.items():
        torch.testing.assert_close(got_terms[key], value, msg=key)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, dict(big_model.named_parameters())[name].grad, msg=name)


def test_summation_is_not_the_large_batch():
    """The plain summation sees only B in-batch negatives: its gradient differs (why exact exists)."""
    losses = [WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0)]
    parts = micro_batches()
    model = Tower().eval()
    for p in parts:
        (combine_losses(losses, model(p))[0] / N).backward()
    summed = model.img.grad.clone()
    model.zero_grad()
    exact_accumulation(parts, model, lambda x: combine_losses(losses, x), lambda total, t: total.backward())
    assert not torch.allclose(summed, model.img.grad)


def test_row_fields_follow_the_dataclass():
    x = Tower()(micro_batches()[0])
    assert set(row_fields(x)) == {"image", "text", "neg_text", "neg_mask", "neg_concreteness", "neg_kind_ids",
                                  "neg_image"}
    joined = concat_rows([x, x], x, 2)
    assert joined.neg_image.shape == (2 * B, K, D) and joined.kind_names == ("k",)
    torch.testing.assert_close(joined.logit_scale, x.logit_scale)


def test_trainer_exact_accumulation_matches_the_large_batch(tmp_path):
    """negkit-tiny end to end: 2 micro-batches of 4 train like batch 8 (sum mode does not)."""
    def final(name: str, **train) -> dict[str, Tensor]:
        raw = recipe_dict(data={"n": 16}, train={"max_steps": 2, "warmup_steps": 0, **train}, eval=[],
                          run={"name": name, "seed": 0, "device": "cpu"})
        run_world(raw, tmp_path)
        return read_checkpoint(tmp_path / name / "checkpoints" / "final.pt")["state_dict"]

    big = final("big", batch_size=8)
    exact = final("exact", batch_size=4, accum_steps=2, accum_mode="exact")
    summed = final("sum", batch_size=4, accum_steps=2, accum_mode="sum")
    for key in big:
        torch.testing.assert_close(exact[key], big[key], rtol=1e-4, atol=1e-5, msg=key)
    assert any(not torch.allclose(summed[k], big[k], rtol=1e-4, atol=1e-5) for k in big)
    log = [json.loads(line) for line in (tmp_path / "exact" / "log.jsonl").read_text().splitlines()]
    big_log = [json.loads(line) for line in (tmp_path / "big" / "log.jsonl").read_text().splitlines()]
    assert log[0]["loss"] == pytest.approx(big_log[0]["loss"], rel=1e-5)


def test_accum_mode_is_validated():
    from test_train_world import make_recipe

    from negkit.errors import RecipeError

    with pytest.raises(RecipeError, match="accum_mode"):
        make_recipe(recipe_dict(train={"accum_steps": 2, "accum_mode": "mean"}))
