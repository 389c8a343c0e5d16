"""pairwise-margin: each image's positive must beat its own negatives by a margin."""

from __future__ import annotations

import torch

from negkit import Loss, LossInputs


class PairwiseMargin(Loss):
    """mean over valid negatives of relu(margin - (s(I, T) - s(I, T-))), with cosine similarities.

    Parameters:
        margin: the gap the positive must keep over each of its negatives.
    """

    name = "pairwise-margin"

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        image, text, neg = inputs.image.float(), inputs.text.float(), inputs.neg_text.float()
        pos = (image * text).sum(-1, keepdim=True)  # [B, 1]
        negs = torch.einsum("bd,bkd->bk", image, neg)  # [B, K]
        hinge = torch.relu(self.margin - (pos - negs)) * inputs.neg_mask
        valid = inputs.neg_mask.sum()
        loss = hinge.sum() / valid.clamp(min=1)
        return {"margin_loss": loss, "violations": ((hinge > 0) & inputs.neg_mask).sum().detach() / valid.clamp(min=1)}
