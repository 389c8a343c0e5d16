"""``infonce``: InfoNCE with mined hard negatives in the NegCLIP layout."""

from __future__ import annotations

from torch import Tensor

from negkit.losses.base import Loss, LossInputs
from negkit.losses.logits import ContrastiveLogits, build_logits, contrastive_terms


class InfoNCE(Loss):
    """InfoNCE with hard negatives (NegCLIP): each image's softmax runs over all positive captions of the
    batch plus all mined negatives of the batch; each caption's softmax runs over the images only.

    With image negatives (``neg_image``, TripletCLIP's form) each caption's softmax also runs over all
    image negatives of the batch, symmetric to the text negatives; without them it is the same loss as
    before, exactly.

    The loss is ``(CE_image->text + CE_text->image) / 2``. Masked negatives (``neg_mask`` False) get
    ``-inf`` logits, so with every negative masked, or K = 0, it equals ``clip``. Under DDP the training
    loop gathers the features of all ranks first, so the logits are those of the global batch.

    Returns ``contrastive_loss`` plus detached diagnostics: ``grad_share_hard`` and ``grad_share_inbatch``
    (where the image->text gradient on negatives goes), ``pos_pull`` and ``hard_neg_acc``; with image
    negatives also ``grad_share_hard_image``, ``grad_share_inbatch_image`` and ``pos_pull_image`` for the
    text->image side. Takes no parameters.
    """

    name = "infonce"
    uses_image_negatives = True
    shardable = True

    def __init__(self) -> None:
        super().__init__()

    def logits(self, inputs: LossInputs) -> ContrastiveLogits:
        """The image->text logits this loss takes its softmax over."""
        return build_logits(inputs)

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:
        lg = self.logits(inputs)
        return contrastive_terms(lg)
