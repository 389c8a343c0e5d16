"""``hn-ce``: FSC-CLIP's hard-negative loss, a (1+K)-way classification of each image's own captions."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from negkit.losses.base import Loss, LossInputs
from negkit.losses.logits import full_precision, hard_negative_accuracy, own_similarities


class HardNegativeCE(Loss):
    """Per image, a (1+K)-way cross-entropy (or focal loss) over its positive caption and its own mined
    negatives (FSC-CLIP's global hard-negative loss; negkit's implementation, not the authors' code).

    The logits are ``logit_scale * cos + logit_bias``; masked negatives are left out of the softmax.
    The target puts ``1 - label_smoothing`` on the positive and spreads ``label_smoothing`` evenly over
    the image's VALID negatives only. The per-image loss is ``-sum_c q_c (1 - p_c) ** focal_gamma * log p_c``
    (``focal_gamma = 0`` is plain cross-entropy). Images without a valid negative are skipped; the loss is
    the mean over the others (0, still attached to the graph, when there are none). Use it beside a
    contrastive loss (``clip`` or ``infonce``) with a recipe weight.

    Returns ``hn_loss`` plus detached diagnostics ``pos_pull`` (mean ``1 - p_pos`` over the images that
    count) and ``hard_neg_acc``. Its softmax holds only the image's own negatives, so all of its push goes
    to them (there is no in-batch share to report).

    Parameters:
        focal_gamma: focusing exponent of the focal loss; 0 gives cross-entropy.
        label_smoothing: probability mass moved from the positive to the valid negatives (0 <= eps < 1).
    """

    name = "hn-ce"
    shardable = True

    def __init__(self, focal_gamma: float = 0.0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not (math.isfinite(focal_gamma) and focal_gamma >= 0):
            raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.focal_gamma = float(focal_gamma)
        self.label_smoothing = float(label_smoothing)

    def extra_repr(self) -> str:
        return f"focal_gamma={self.focal_gamma}, label_smoothing={self.label_smoothing}"

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:
        pos, neg = own_similarities(inputs)
        mask = inputs.neg_mask.to(torch.bool)[inputs.own_rows]
        # images that count, in the whole batch (under a sharded loss the other rows live on other processes)
        counted = inputs.neg_mask.to(torch.bool).any(dim=1).sum().clamp(min=1)
        with full_precision(pos.device):
            scale = inputs.logit_scale.to(pos.dtype)
            logits = scale * torch.cat([pos[:, None], neg], dim=1)
            if inputs.logit_bias is not None:
                logits = logits + inputs.logit_bias.to(pos.dtype)
            valid = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)  # [B, 1+K]
            logp = torch.log_softmax(logits.masked_fill(~valid, float("-inf")), dim=1)
            logp = logp.masked_fill(~valid, 0.0)  # keeps 0 * log p finite where q is 0

            n_valid = mask.sum(dim=1, keepdim=True)
            counts = (n_valid > 0).squeeze(1)
            eps = self.label_smoothing
            target = torch.cat([torch.full_like(pos[:, None], 1.0 - eps),
                                eps * mask.to(pos.dtype) / n_valid.clamp(min=1).to(pos.dtype)], dim=1)
            weight = (1.0 - logp.exp()).clamp(min=0.0) ** self.focal_gamma if self.focal_gamma else 1.0
            per_image = -(target * weight * logp).sum(dim=1)
            loss = (per_image * counts).sum() / counted

        with torch.no_grad():
            pull = ((1.0 - logp[:, 0].exp()) * counts).sum() / counts.sum().clamp(min=1)
        return {"hn_loss": loss, "pos_pull": pull, "hard_neg_acc": hard_negative_accuracy(pos, neg, mask)}
