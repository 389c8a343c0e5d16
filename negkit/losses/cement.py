"""``cement``: InfoNCE with a margin on each image's own hard-negative logits (negkit's reading of Cement)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from negkit.losses.base import Loss, LossInputs
from negkit.losses.logits import ContrastiveLogits, build_logits, compute_dtype, contrastive_terms

MODES = ("fixed", "adaptive")
UNITS = ("logit", "cosine")


class Cement(Loss):
    """InfoNCE (NegCLIP layout, as ``infonce``) in which each image's logits of its OWN mined negatives
    are raised by a margin before the softmax.

    This is negkit's reading of Cement ("Concrete Jungle", Im, Madhwal & Gupta, 2026): the paper's
    equations and constants are not public, so every unknown is a parameter. Raising the hard-negative
    logit makes the softmax give it more probability, so the image->text gradient sends a larger share of
    its push to the hard negative (``grad_share_hard`` rises with the margin; a negative margin lowers it).
    Other images' negatives are untouched. Image negatives (``neg_image``) enter each caption's softmax
    as in ``infonce``, and each caption's OWN image negatives get a margin too: ``image_margin``, or by
    default the margin of mode "fixed", or ``fallback_margin`` in mode "adaptive" (an image has no
    concreteness). With margin 0 (``mode="fixed",
    margin=0`` or ``lam=0``) it is exactly ``infonce``.

    Margins, per image i and own negative k:

    - ``fixed``: ``m = margin``;
    - ``adaptive``: ``m = lam * clamp((c - c_min) / (c_max - c_min), 0, 1) ** power`` from the negative's
      concreteness ``c`` (default ``lam * (c - 1) / 4`` on the 1-5 Brysbaert scale); a negative of unknown
      concreteness (NaN, e.g. a word-order shuffle) gets ``fallback_margin``, by default the margin of a
      mid-scale concreteness ``(c_min + c_max) / 2`` (``lam / 2`` with the defaults).

    Worth sweeping: ``lam`` (or ``margin``) first, e.g. 0.5, 1, 2, 4 in logit units (CLIP's logit scale
    is 100, so 1 logit is 0.01 of cosine similarity); then ``units``, ``power`` and ``fallback_margin``.

    Parameters:
        mode: "fixed" (one margin for every negative) or "adaptive" (margin from concreteness).
        margin: the margin of mode "fixed".
        lam: the largest adaptive margin (reached at ``c >= c_max``).
        c_min: concreteness that gets margin 0 (the bottom of the norm's scale).
        c_max: concreteness that gets margin ``lam`` (the top of the norm's scale).
        power: shape of the adaptive mapping: 1 is linear, > 1 favours the most concrete words.
        fallback_margin: adaptive margin of negatives whose concreteness is unknown (NaN); None (default)
            gives them the margin of a mid-scale concreteness, 0 makes them plain InfoNCE negatives.
        units: "logit" adds the margin to the logit; "cosine" adds it to the cosine similarity, i.e. adds
            ``margin * logit_scale`` to the logit (it then follows the learned temperature).
        image_margin: the margin of each caption's own image negatives; None: as described above.
    """

    name = "cement"
    uses_image_negatives = True
    shardable = True

    def __init__(
        self,
        mode: Literal["fixed", "adaptive"] = "adaptive",
        margin: float = 1.0,
        lam: float = 1.0,
        c_min: float = 1.0,
        c_max: float = 5.0,
        power: float = 1.0,
        fallback_margin: float | None = None,
        units: Literal["logit", "cosine"] = "logit",
        image_margin: float | None = None,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
        if not c_max > c_min:
            raise ValueError(f"c_max must be greater than c_min, got c_min={c_min}, c_max={c_max}")
        if not power > 0:
            raise ValueError(f"power must be positive, got {power}")
        if fallback_margin is None:
            fallback_margin = lam * 0.5**power
        if image_margin is None:
            image_margin = margin if mode == "fixed" else fallback_margin
        for key, value in (("margin", margin), ("lam", lam), ("fallback_margin", fallback_margin),
                           ("image_margin", image_margin)):
            if not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value}")
        self.mode = mode
        self.margin = float(margin)
        self.lam = float(lam)
        self.c_min = float(c_min)
        self.c_max = float(c_max)
        self.power = float(power)
        self.fallback_margin = float(fallback_margin)
        self.units = units
        self.image_margin = float(image_margin)

    def extra_repr(self) -> str:
        if self.mode == "fixed":
            return f"mode=fixed, margin={self.margin}, units={self.units}, image_margin={self.image_margin}"
        return (f"mode=adaptive, lam={self.lam}, c_min={self.c_min}, c_max={self.c_max}, power={self.power}, "
                f"fallback_margin={self.fallback_margin}, units={self.units}, image_margin={self.image_margin}")

    def margins(self, inputs: LossInputs) -> Tensor:
        """``[B, K]`` margins in logit units (0 where the negative is masked)."""
        dtype = compute_dtype(inputs.image)
        mask = inputs.neg_mask.to(torch.bool)
        if self.mode == "fixed":
            m = torch.full(mask.shape, self.margin, dtype=dtype, device=mask.device)
        else:
            c = inputs.neg_concreteness.to(device=mask.device, dtype=dtype)
            frac = ((c - self.c_min) / (self.c_max - self.c_min)).clamp(0.0, 1.0) ** self.power
            m = torch.where(torch.isnan(c), torch.full_like(c, self.fallback_margin), self.lam * frac)
        if self.units == "cosine":
            m = m * inputs.logit_scale.to(dtype)
        return torch.where(mask, m, torch.zeros_like(m))

    def image_margins(self, inputs: LossInputs) -> Tensor | None:
        """``[B, M]`` margins of each caption's own image negatives in logit units (None without any)."""
        if inputs.num_image_negatives == 0:
            return None
        dtype = compute_dtype(inputs.image)
        mask = inputs.neg_image_mask
        shape = inputs.neg_image.shape[:2]
        m = torch.full(shape, self.image_margin, dtype=dtype, device=inputs.image.device)
        if self.units == "cosine":
            m = m * inputs.logit_scale.to(dtype)
        return m if mask is None else torch.where(mask.to(torch.bool), m, torch.zeros_like(m))

    def logits(self, inputs: LossInputs) -> ContrastiveLogits:
        """The image->text logits this loss takes its softmax over (margins included)."""
        return build_logits(inputs, own_margin=self.margins(inputs), own_image_margin=self.image_margins(inputs))

    def forward(self, inputs: LossInputs) -> dict[str, Tensor]:
        m = self.margins(inputs)
        lg = build_logits(inputs, own_margin=m, own_image_margin=self.image_margins(inputs))
        mask = inputs.neg_mask.to(torch.bool)
        margin_mean = (m.detach() * mask).sum() / mask.sum().clamp(min=1)
        return {**contrastive_terms(lg), "margin_mean": margin_mean}
