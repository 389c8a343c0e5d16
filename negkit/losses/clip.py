"""``clip``: the symmetric InfoNCE of CLIP, mined negatives ignored."""

from __future__ import annotations

from torch import Tensor

from negkit.losses.base import Loss, LossInputs
from negkit.losses.logits import ContrastiveLogits, build_logits, contrastive_terms


class ClipLoss(Loss):
    """CLIP's symmetric contrastive loss over the in-batch pairs; mined negatives (text and image) are ignored.

    Equal to ``open_clip.loss.ClipLoss`` on the same (global) features, logit scale and bias. Returns
    ``contrastive_loss`` and the gradient-share diagnostics (``grad_share_hard`` is 0: there are no hard
    negatives in its softmax). Takes no parameters.
    """

    name = "clip"
    shardable = True

    def __init__(self) -> None:
        super().__init__()

    def logits(self, inputs: LossInputs) -> ContrastiveLogits:
        """The image->text logits this loss takes its softmax over."""
        return build_logits(inputs, negatives=False, image_negatives=False)

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:
        lg = self.logits(inputs)
        return contrastive_terms(lg)
