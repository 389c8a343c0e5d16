"""Logits shared by the contrastive losses, and the gradient-share probe.

Layout of the image->text logits (NegCLIP): row ``i`` is image ``i``; columns ``0..B-1`` are the batch's
positive captions (column ``i`` is image ``i``'s positive); column ``B + j*K + k`` is the ``k``-th mined
negative of sample ``j``. Every image therefore competes its positive against all positives and all
mined negatives of the batch. Masked negatives are ``-inf`` in every row, so they take no probability.

Image negatives (``neg_image``, TripletCLIP's form) mirror this on the text->image side: row ``i`` of
``t2i`` is caption ``i``; columns ``0..B-1`` are the batch's images, column ``B + j*M + m`` is the
``m``-th image negative of sample ``j``. Without image negatives ``t2i`` is the plain ``[B, B]`` block.

Everything here runs with autocast off and in at least float32 (float64 stays float64, for gradcheck):
bf16 keeps 8 significant bits, so logits at CLIP's scale (~100) would be rounded to steps of up to 0.5.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from negkit.losses.base import LossInputs


def compute_dtype(t: Tensor) -> torch.dtype:
    """float32 for half types, the tensor's own dtype when it is already float32 or float64."""
    return torch.promote_types(t.dtype, torch.float32)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """A context with autocast disabled on ``device`` (matmuls stay in the dtype of their inputs)."""
    return torch.autocast(device_type=device.type, enabled=False)


@dataclass
class ContrastiveLogits:
    """Image->text logits of one batch in the NegCLIP layout, plus the raw similarities a loss may need.

    ``i2t`` is ``[N, B + B*K]`` for the N rows computed here (all B, or a process's own rows under a sharded
    loss, starting at global row ``offset``): scaled, biased, margins added, masked negatives at ``-inf``.
    ``pos_sim`` is ``[N]`` (cosine of each image with its positive) and ``own_neg_sim`` ``[N, K]`` (with its
    own negatives), both unscaled. ``t2i_rows`` holds the text->image logits of the N texts when they are not
    a slice of ``i2t`` (sharded). ``t2i_neg`` (``[B, B*M]``) holds the text->image logits of the image
    negatives (never sharded: the Trainer refuses image negatives with a sharded loss).
    """

    i2t: Tensor
    pos_sim: Tensor
    own_neg_sim: Tensor
    neg_mask: Tensor
    batch: int
    k: int
    offset: int = 0
    t2i_rows: Tensor | None = None
    t2i_neg: Tensor | None = None  # [B, B*M] text->image logits of the image negatives (None: none)
    m: int = 0

    @property
    def rows(self) -> int:
        return int(self.i2t.shape[0])

    @property
    def t2i(self) -> Tensor:
        """Text->image logits of the computed texts: ``[N, B]`` over the images, then ``[N, B*M]`` over the
        image negatives."""
        block = self.i2t[:, : self.batch].T if self.t2i_rows is None else self.t2i_rows
        return block if self.t2i_neg is None else torch.cat([block, self.t2i_neg], dim=1)

    @property
    def labels(self) -> Tensor:
        """The column of each computed row's positive."""
        return torch.arange(self.offset, self.offset + self.rows, device=self.i2t.device)


def build_logits(x: LossInputs, *, negatives: bool = True, own_margin: Tensor | None = None,
                 image_negatives: bool = True, own_image_margin: Tensor | None = None) -> ContrastiveLogits:
    """The NegCLIP-layout logits of ``x`` (of its ``own_rows`` against every column).

    ``negatives=False`` leaves the mined negatives out (plain CLIP). ``own_margin`` (``[B, K]``, logit
    units, finite) is added to each image's logits of its own negatives before masking.
    ``image_negatives=False`` leaves ``x.neg_image`` out; ``own_image_margin`` (``[B, M]``) is added to each
    caption's logits of its own image negatives.
    """
    lg = _text_negative_logits(x, negatives, own_margin)
    if image_negatives and x.num_image_negatives > 0:
        if x.rows is not None:
            raise ValueError("image negatives are not computed per row: a sharded loss cannot take them")
        lg.t2i_neg = _own_layout_logits(x.text, x.neg_image, x.neg_image_mask, x, own_image_margin)
        lg.m = x.num_image_negatives
    return lg


def _own_layout_logits(anchor: Tensor, negs: Tensor, mask: Tensor | None, x: LossInputs,
                       own_margin: Tensor | None) -> Tensor:
    """``[B, B*M]`` logits of every anchor against every negative of the batch, own ones with a margin."""
    dtype = compute_dtype(x.image)
    b, m, d = negs.shape
    with full_precision(anchor.device):
        logits = x.logit_scale.to(dtype) * (anchor.to(dtype) @ negs.to(dtype).reshape(b * m, d).T)
        if x.logit_bias is not None:
            logits = logits + x.logit_bias.to(dtype)
        if own_margin is not None:
            row = torch.arange(b, device=anchor.device)
            own_cols = row[:, None] * m + torch.arange(m, device=anchor.device)[None, :]
            logits = logits.index_put((row[:, None].expand(b, m), own_cols), own_margin.to(dtype), accumulate=True)
        if mask is None:
            mask = torch.ones(b, m, dtype=torch.bool, device=anchor.device)
        return logits.masked_fill(~mask.to(torch.bool).reshape(1, b * m), float("-inf"))


def _text_negative_logits(x: LossInputs, negatives: bool, own_margin: Tensor | None) -> ContrastiveLogits:
    dtype = compute_dtype(x.image)
    b, d = x.image.shape
    k = x.num_negatives if negatives else 0
    rows = x.own_rows
    lo = rows.start
    sharded = x.rows is not None
    with full_precision(x.image.device):
        all_images = x.image.to(dtype)
        image = all_images[rows]
        text = x.text.to(dtype)
        n = image.shape[0]
        scale = x.logit_scale.to(dtype)
        pos = image @ text.T  # [N, B]
        pos_sim = pos.diagonal(offset=lo)
        logits = scale * pos
        t2i_rows = None
        if sharded:
            t2i_rows = scale * (text[rows] @ all_images.T)
        if x.logit_bias is not None:
            logits = logits + x.logit_bias.to(dtype)
            if t2i_rows is not None:
                t2i_rows = t2i_rows + x.logit_bias.to(dtype)
        if k == 0:
            mask = torch.zeros(n, 0, dtype=torch.bool, device=image.device)
            return ContrastiveLogits(logits, pos_sim, image.new_zeros(n, 0), mask, b, 0, lo, t2i_rows)

        mask = x.neg_mask.to(torch.bool)
        neg = x.neg_text.to(dtype).reshape(b * k, d)
        neg_sim = image @ neg.T  # [N, B*K]
        own_neg_sim = neg_sim.view(n, b, k).diagonal(offset=lo, dim1=0, dim2=1).T  # [N, K]
        # in place on a fresh product: no [N, B*K] copies, and autograd needs none of the overwritten values
        neg_logits = scale * neg_sim
        if x.logit_bias is not None:
            neg_logits.add_(x.logit_bias.to(dtype))
        if own_margin is not None:
            row = torch.arange(n, device=image.device)
            own_cols = (row[:, None] + lo) * k + torch.arange(k, device=image.device)[None, :]
            neg_logits.index_put_((row[:, None].expand(n, k), own_cols), own_margin[rows].to(dtype),
                                  accumulate=True)
        neg_logits.masked_fill_(~mask.reshape(1, b * k), float("-inf"))
        return ContrastiveLogits(torch.cat([logits, neg_logits], dim=1), pos_sim, own_neg_sim, mask[rows], b, k,
                                 lo, t2i_rows)


def contrastive_terms(lg: ContrastiveLogits) -> dict[str, Tensor]:
    """``contrastive_loss`` (mean of image->text cross-entropy over all columns and text->image
    cross-entropy over the images and any image negatives) plus the gradient-share probe, from one
    log-softmax. Under a sharded loss the rows' sums are divided by the global batch: the processes' losses
    add up to the global one."""
    labels = lg.labels
    logp = torch.log_softmax(lg.i2t, dim=1)
    if lg.rows == lg.batch:
        loss = (F.nll_loss(logp, labels) + F.cross_entropy(lg.t2i, labels)) / 2
    else:
        loss = (F.nll_loss(logp, labels, reduction="sum") + F.cross_entropy(lg.t2i, labels, reduction="sum")) \
            / (2 * lg.batch)
    return {"contrastive_loss": loss, **gradient_probe(lg, logp.detach())}


def gradient_probe(lg: ContrastiveLogits, logp: Tensor | None = None) -> dict[str, Tensor]:
    """Where the image->text softmax sends its gradient (detached diagnostics).

    With p the softmax of row i, the cross-entropy gradient on logit c is ``p_c`` for every negative and
    ``-(1 - p_pos)`` for the positive: the pull on the positive equals the total push on the negatives.

    - ``grad_share_hard``: share of the batch's negative gradient mass on each image's own mined negatives,
      ``sum_i p_hard_i / sum_i (1 - p_pos_i)``;
    - ``grad_share_inbatch``: share on every other text of the batch (other positives and other samples'
      negatives), ``sum_i sum_j p_ij / sum_i (1 - p_pos_i)``; the two shares add up to 1;
    - ``pos_pull``: mean over images of ``1 - p_pos``, the size of the pull on the positive (in units of
      the logit scale);
    - ``hard_neg_acc``: fraction of valid own negatives scored below their positive (0 when none).

    Batch shares are ratios of sums (mass-weighted), computed in log space so they stay finite when
    ``p_pos`` is close to 1. A share is 0 when the batch has no negative at all (B = 1, K = 0).
    ``logp`` is the row log-softmax of ``lg.i2t`` when the caller already has it.

    With image negatives the same three numbers for the text->image softmax are reported separately:
    ``grad_share_hard_image`` (on each caption's own image negatives), ``grad_share_inbatch_image`` and
    ``pos_pull_image``.
    """
    with torch.no_grad(), full_precision(lg.i2t.device):
        if logp is None:
            logp = torch.log_softmax(lg.i2t, dim=1)
        hard, inbatch, pull = _shares(logp, lg.batch, lg.k, lg.offset)
        out = {"grad_share_hard": hard, "grad_share_inbatch": inbatch, "pos_pull": pull,
               "hard_neg_acc": hard_negative_accuracy(lg.pos_sim, lg.own_neg_sim, lg.neg_mask)}
        if lg.t2i_neg is not None:  # the text->image side, where the image negatives are
            hard, inbatch, pull = _shares(torch.log_softmax(lg.t2i, dim=1), lg.batch, lg.m, lg.offset)
            out.update(grad_share_hard_image=hard, grad_share_inbatch_image=inbatch, pos_pull_image=pull)
        return out


def _shares(logp: Tensor, b: int, k: int, offset: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(hard share, in-batch share, mean pull) of row log-softmaxes laid out ``[B positives | B*K negatives]``;
    row ``r`` of ``logp`` is global row ``offset + r``."""
    row = torch.arange(logp.shape[0], device=logp.device)
    col = row + offset  # the global index of each computed row
    hard_cols = b + col[:, None] * k + torch.arange(k, device=logp.device)[None, :]  # [N, K]
    log_hard = logp.gather(1, hard_cols).logsumexp(dim=1)  # -inf when K = 0
    others = logp.clone()
    others[row, col] = float("-inf")
    others.scatter_(1, hard_cols, float("-inf"))
    log_other = others.logsumexp(dim=1)
    log_neg = torch.logaddexp(log_hard, log_other)  # log(1 - p_pos), per row
    log_total = log_neg.logsumexp(dim=0)
    has_mass = torch.isfinite(log_total)
    zero = logp.new_zeros(())
    share_hard = torch.where(has_mass, (log_hard.logsumexp(dim=0) - log_total).exp(), zero)
    share_inbatch = torch.where(has_mass, (log_other.logsumexp(dim=0) - log_total).exp(), zero)
    return share_hard, share_inbatch, log_neg.exp().mean()


def hard_negative_accuracy(pos_sim: Tensor, own_neg_sim: Tensor, neg_mask: Tensor) -> Tensor:
    """Fraction of valid negatives whose similarity is strictly below the positive's (0 when none)."""
    with torch.no_grad():
        won = (own_neg_sim < pos_sim[:, None]) & neg_mask
        return won.sum().to(pos_sim.dtype) / neg_mask.sum().clamp(min=1).to(pos_sim.dtype)


def own_similarities(x: LossInputs) -> tuple[Tensor, Tensor]:
    """``(pos_sim [N], own_neg_sim [N, K])`` of the ``own_rows`` in full precision, without the in-batch
    products."""
    dtype = compute_dtype(x.image)
    rows = x.own_rows
    with full_precision(x.image.device):
        image = x.image[rows].to(dtype)
        pos = (image * x.text[rows].to(dtype)).sum(dim=-1)
        neg = (image[:, None, :] * x.neg_text[rows].to(dtype)).sum(dim=-1)  # faster than bmm on CPU, same on GPU
    return pos, neg
