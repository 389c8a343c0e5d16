"""Image negatives in the losses (TripletCLIP's form): exact reduction without them, references, margins,
gradcheck, and the gradient-share probe of the text->image side."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from test_losses import make_inputs, objective, unit

from negkit.losses.cement import Cement
from negkit.losses.clip import ClipLoss
from negkit.losses.hinge import Hinge
from negkit.losses.hn_ce import HardNegativeCE
from negkit.losses.infonce import InfoNCE


def with_images(x, m=2, *, seed=1, mask=None, grad=False):
    g = torch.Generator().manual_seed(seed)
    b, d = x.image.shape
    neg_image = unit(x.image[:, None, :].detach() + 0.5 * torch.randn(b, m, d, generator=g, dtype=x.image.dtype))
    if grad:
        neg_image.requires_grad_()
    if mask is None:
        mask = torch.ones(b, m, dtype=torch.bool)
    return dataclasses.replace(x, neg_image=neg_image, neg_image_mask=mask)


LOSSES = [InfoNCE(), Cement(mode="fixed", margin=1.5), Cement()]


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_without_image_negatives_the_loss_is_exactly_todays(loss):
    x = make_inputs()
    today = loss(x)
    for other in (dataclasses.replace(x, neg_image=x.image.new_zeros(4, 0, 8),
                                      neg_image_mask=torch.zeros(4, 0, dtype=torch.bool)),
                  with_images(x, mask=torch.zeros(4, 2, dtype=torch.bool))):
        got = loss(other)
        assert torch.equal(got["contrastive_loss"], today["contrastive_loss"])
        for key in today:
            torch.testing.assert_close(got[key], today[key], rtol=0, atol=0)


def test_infonce_text_to_image_softmax_runs_over_every_image_negative():
    x = with_images(make_inputs(b=3, k=2, d=6), m=2)
    s = x.logit_scale
    i2t = s * torch.cat([x.image @ x.text.T, x.image @ x.neg_text.reshape(6, 6).T], dim=1)
    t2i = s * torch.cat([x.text @ x.image.T, x.text @ x.neg_image.reshape(6, 6).T], dim=1)
    labels = torch.arange(3)
    want = (F.cross_entropy(i2t, labels) + F.cross_entropy(t2i, labels)) / 2
    torch.testing.assert_close(InfoNCE()(x)["contrastive_loss"], want)


def test_cement_adds_its_margin_to_each_captions_own_image_negatives():
    x = with_images(make_inputs(b=3, k=1, d=6), m=2, mask=torch.tensor([[True, False], [True, True], [False, False]]))
    loss = Cement(mode="fixed", margin=0.0, image_margin=2.0)
    s = x.logit_scale
    neg = s * (x.text @ x.neg_image.reshape(6, 6).T)
    own = torch.zeros(3, 6, dtype=neg.dtype)
    for i in range(3):
        own[i, 2 * i:2 * i + 2] = 2.0
    neg = (neg + own).masked_fill(~x.neg_image_mask.reshape(1, 6), float("-inf"))
    t2i = torch.cat([s * (x.text @ x.image.T), neg], dim=1)
    i2t = s * torch.cat([x.image @ x.text.T, x.image @ x.neg_text.reshape(3, 6).T], dim=1)
    labels = torch.arange(3)
    want = (F.cross_entropy(i2t, labels) + F.cross_entropy(t2i, labels)) / 2
    torch.testing.assert_close(loss(x)["contrastive_loss"], want)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_gradcheck_with_image_negatives(loss):
    x = with_images(make_inputs(b=3, k=2, d=5, grad=True), m=2, grad=True,
                    mask=torch.tensor([[True, False], [True, True], [False, True]]))

    def f(image, text, neg_text, neg_image):
        return objective(loss(dataclasses.replace(x, image=image, text=text, neg_text=neg_text, neg_image=neg_image)))

    assert torch.autograd.gradcheck(f, (x.image, x.text, x.neg_text, x.neg_image))


def test_probe_reports_the_image_side_separately_and_the_margin_moves_it():
    x = with_images(make_inputs(b=4, k=1), m=2)
    out = InfoNCE()(x)
    assert {"grad_share_hard_image", "grad_share_inbatch_image", "pos_pull_image"} <= set(out)
    assert float(out["grad_share_hard_image"] + out["grad_share_inbatch_image"]) == pytest.approx(1.0)
    assert "grad_share_hard_image" not in InfoNCE()(make_inputs())
    low = Cement(mode="fixed", margin=0.0, image_margin=0.0)(x)["grad_share_hard_image"]
    high = Cement(mode="fixed", margin=0.0, image_margin=3.0)(x)["grad_share_hard_image"]
    assert high > low
    # the text-side shares are the same numbers as without image negatives
    torch.testing.assert_close(out["grad_share_hard"], InfoNCE()(make_inputs(b=4, k=1))["grad_share_hard"])


@pytest.mark.parametrize("loss", [ClipLoss(), HardNegativeCE(), Hinge()], ids=repr)
def test_losses_that_do_not_use_image_negatives_say_so_and_ignore_them(loss):
    x = make_inputs()
    assert not type(loss).uses_image_negatives
    got, want = loss(with_images(x)), loss(x)
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_list_plugins_notes_the_losses_that_ignore_image_negatives():
    from negkit.plugins import plugin_records

    notes = {name: note for row in plugin_records() for name, note in row["notes"].items()}
    assert set(notes) >= {"clip", "hn-ce", "hinge"} and "infonce" not in notes and "cement" not in notes
