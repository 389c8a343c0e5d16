"""The loss contract: normalised embeddings in, named scalar terms out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn


@dataclass
class LossInputs:
    """Everything a loss sees of one (global) batch.

    Under DDP the training loop gathers features from every rank before building this, so a loss always
    sees the global batch; only the local shard carries gradients.
    """

    image: Tensor  # [B, D] normalised image embeddings
    text: Tensor  # [B, D] normalised positive caption embeddings
    neg_text: Tensor  # [B, K, D] normalised negative caption embeddings (padded; K may be 0)
    neg_mask: Tensor  # [B, K] bool: False where the miner gave fewer than K
    neg_concreteness: Tensor  # [B, K] float, NaN where unknown
    logit_scale: Tensor  # scalar, already exponentiated (as open_clip's model returns it)
    logit_bias: Tensor | None = None
    neg_kind_ids: Tensor | None = None  # [B, K] long index into kind_names, -1 where masked
    kind_names: tuple[str, ...] = field(default=())  # what each kind id means ("swap-adj", ...)
    neg_image: Tensor | None = None  # [B, M, D] normalised image-negative embeddings (padded), or None
    neg_image_mask: Tensor | None = None  # [B, M] bool: False where a sample has fewer than M
    # Sharded loss (train.sharded_loss): this process computes only these rows (its own images and texts)
    # against every column; the loss terms are then this process's share of the global sum. None = all rows.
    rows: slice | None = None

    @property
    def batch_size(self) -> int:
        return int(self.image.shape[0])

    @property
    def num_negatives(self) -> int:
        return int(self.neg_text.shape[1])

    @property
    def num_image_negatives(self) -> int:
        return 0 if self.neg_image is None else int(self.neg_image.shape[1])

    @property
    def own_rows(self) -> slice:
        """The rows this process computes: ``rows``, or every row."""
        return self.rows if self.rows is not None else slice(0, self.batch_size)

    @classmethod
    def without_negatives(cls, image: Tensor, text: Tensor, logit_scale: Tensor,
                          logit_bias: Tensor | None = None) -> LossInputs:
        b, d = image.shape
        return cls(image, text, image.new_zeros(b, 0, d), torch.zeros(b, 0, dtype=torch.bool, device=image.device),
                   image.new_full((b, 0), float("nan")), logit_scale, logit_bias)


class Loss(nn.Module):
    """Base class of training losses.

    Subclasses set ``name`` (the recipe name), take their parameters as keyword arguments of ``__init__``
    and implement ``forward``. Compute logits and softmax in float32 (``inputs.image.float()``) so that
    bf16 autocast cannot overflow, vectorise over the batch, and stay finite when K = 0, every negative
    is masked, or B = 1. A loss that honours ``inputs.rows`` sets ``shardable = True``.

    ``uses_image_negatives`` says whether the loss reads ``neg_image`` (image negatives on the
    text->image side); ``negkit list-plugins`` and the run report say so for losses that do not.
    """

    name: ClassVar[str]
    uses_image_negatives: ClassVar[bool] = False
    # True when forward honours ``inputs.rows`` (computes only those rows and divides by the global count),
    # so that train.sharded_loss can use it
    shardable: ClassVar[bool] = False

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:  # pragma: no cover - abstract
        """Named scalar terms. Keys ending in ``"loss"`` are weighted by the recipe and summed into the
        objective; every other key is a detached diagnostic that is logged."""
        raise NotImplementedError
