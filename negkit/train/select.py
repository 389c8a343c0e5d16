"""Hardest-of-K selection (model-aware mining): of the K candidate negatives mined offline per caption,
each step keeps the ``keep`` that the current model scores closest to the image.

The choice costs one extra text forward without gradient over the candidates of the captions that have
more valid candidates than they keep (the others keep all of theirs and are not scored). It runs inside the model's
single forward (``TwoTower``), between the image tower and the text tower: the image features are the
ones the step computes anyway, so only the candidates' text features are extra, and the text tower then
runs with gradient on the positives and the chosen negatives only. The choice is a ``topk`` of
similarities (ties to the lower index), so it is deterministic given the weights: a resumed run picks
what the uninterrupted run picked.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from negkit.train.batch import Batch, scatter_negatives
from negkit.train.model import encode_text


class HardestOfK:
    """The selection hook ``TwoTower`` calls between its towers; ``batch`` holds K candidates per caption.

    After the call, ``selected`` is the batch with ``keep`` negatives per caption (tokens, slots, mask,
    concreteness and kinds of the chosen candidates) and ``chosen`` the ``[B, keep]`` candidate indices.
    """

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.selected: Batch | None = None
        self.chosen: Tensor | None = None

    def __call__(self, clip: nn.Module, image_features: Tensor, tokens: Tensor) -> Tensor:
        """Score the candidates (rows ``B..`` of ``tokens``) against the batch's images (the first ``B`` rows
        of ``image_features``; image negatives may follow) and return the tokens to encode with gradient."""
        batch = self.batch
        b, k = batch.size, batch.k
        mask = batch.neg_mask.to(torch.bool)
        # rows with no more valid candidates than they keep need no scoring: they keep them all
        choose = mask.sum(dim=1) > batch.keep
        scored = choose[batch.neg_slot // max(k, 1)] if batch.neg_slot.numel() else choose[:0]
        order = -torch.arange(k, dtype=torch.float32, device=mask.device).expand(b, k)  # keep index order
        sim = order.masked_fill(~mask, float("-inf"))
        if bool(scored.any()):
            with torch.no_grad():
                feats = image_features.new_zeros(batch.neg_slot.numel(), image_features.shape[-1]).float()
                feats[scored] = encode_text(clip, tokens[b:][scored]).float()
                cos = hardness(image_features[:b].detach().float(), scatter_negatives(feats, batch.neg_slot, b, k),
                               mask)
            sim = torch.where(choose[:, None], cos, sim)
        self.chosen = sim.topk(min(batch.keep, k), dim=1).indices  # [B, keep]
        self.selected = keep_chosen(batch, self.chosen)
        return self.selected.tokens


def hardness(image: Tensor, candidates: Tensor, mask: Tensor) -> Tensor:
    """``[B, K]`` cosine of each image with its candidates; masked candidates at ``-inf``."""
    return (image[:, None, :] * candidates).sum(-1).masked_fill(~mask.to(torch.bool), float("-inf"))


def keep_chosen(batch: Batch, chosen: Tensor) -> Batch:
    """The batch with only the ``chosen`` (``[B, keep]``) candidate negatives of each caption."""
    b, k = batch.size, batch.k
    keep = chosen.shape[1]
    mask = batch.neg_mask.gather(1, chosen)
    row_of_slot = torch.full((b * k,), -1, dtype=torch.long, device=batch.neg_slot.device)
    row_of_slot[batch.neg_slot] = torch.arange(batch.neg_slot.numel(), device=batch.neg_slot.device)
    rows = torch.arange(b, device=chosen.device)[:, None]
    token_rows = row_of_slot[(rows * k + chosen).reshape(-1)]
    new_slots = (rows * keep + torch.arange(keep, device=chosen.device)[None, :]).reshape(-1)
    valid = mask.reshape(-1)
    tokens = torch.cat([batch.tokens[:b], batch.tokens[b:][token_rows[valid]]])
    return replace(batch, tokens=tokens, neg_slot=new_slots[valid], neg_mask=mask,
                   neg_concreteness=batch.neg_concreteness.gather(1, chosen),
                   neg_kind_ids=batch.neg_kind_ids.gather(1, chosen), keep=0)
