"""``hinge``: CE-CLIP's cross-modal rank loss on each image's own hard negatives."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from negkit.losses.base import Loss, LossInputs
from negkit.losses.logits import full_precision, hard_negative_accuracy, own_similarities


class Hinge(Loss):
    """CE-CLIP's cross-modal rank loss: ``relu(threshold + s(I, T-) - s(I, T))`` averaged over the valid
    mined negatives of the batch, with ``s`` the cosine similarity (no logit scale). negkit's
    implementation with fixed thresholds, not the authors' code (CE-CLIP adapts its thresholds during
    training; here they are recipe parameters).

    A negative's threshold is ``thresholds[kind]`` when ``thresholds`` names its miner kind (from
    ``neg_kind_ids`` / ``kind_names`` of the batch), else ``threshold``. Use it beside a contrastive loss
    with a recipe weight. The loss is 0 (still attached to the graph) when no negative is valid.

    Returns ``hinge_loss`` plus detached diagnostics ``hinge_active`` (fraction of valid negatives inside
    the threshold, i.e. with a non-zero gradient) and ``hard_neg_acc``.

    Parameters:
        threshold: required similarity gap between the positive and a negative, in cosine units.
        thresholds: per-kind gaps, e.g. ``{"swap-adj" = 0.05, "replace-noun" = 0.1}``; other kinds use
            ``threshold``.
    """

    name = "hinge"
    shardable = True

    def __init__(self, threshold: float = 0.1, thresholds: dict[str, float] | None = None) -> None:
        super().__init__()
        thresholds = dict(thresholds or {})
        for key, value in {"threshold": threshold, **{f"thresholds.{k}": v for k, v in thresholds.items()}}.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value!r}")
        self.threshold = float(threshold)
        self.thresholds = {str(k): float(v) for k, v in thresholds.items()}

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, thresholds={self.thresholds}"

    def gaps(self, inputs: LossInputs, dtype: torch.dtype) -> Tensor:
        """``[B, K]`` threshold of each negative."""
        shape, device = inputs.neg_mask.shape, inputs.neg_mask.device
        if not self.thresholds or inputs.neg_kind_ids is None or not inputs.kind_names:
            return torch.full(shape, self.threshold, dtype=dtype, device=device)
        table = torch.tensor([self.thresholds.get(kind, self.threshold) for kind in inputs.kind_names] +
                             [self.threshold], dtype=dtype, device=device)
        ids = inputs.neg_kind_ids.to(device=device, dtype=torch.long)
        ids = torch.where(ids < 0, torch.full_like(ids, len(inputs.kind_names)), ids)
        return table[ids]

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:
        pos, neg = own_similarities(inputs)
        rows = inputs.own_rows
        mask = inputs.neg_mask.to(torch.bool)[rows]
        with full_precision(pos.device):
            violation = torch.relu(self.gaps(inputs, pos.dtype)[rows] + neg - pos[:, None]) * mask
            n_valid = inputs.neg_mask.to(torch.bool).sum().clamp(min=1)  # of the whole batch (sharded: all rows)
            loss = violation.sum() / n_valid
        with torch.no_grad():
            active = ((violation > 0) & mask).sum().to(pos.dtype) / n_valid
        return {"hinge_loss": loss, "hinge_active": active, "hard_neg_acc": hard_negative_accuracy(pos, neg, mask)}
