"""Built-in losses: definitions against references, edge cases, gradients, the gradient-share probe."""

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from negkit.errors import RecipeError
from negkit.losses import LossInputs
from negkit.losses.cement import Cement
from negkit.losses.clip import ClipLoss
from negkit.losses.hinge import Hinge
from negkit.losses.hn_ce import HardNegativeCE
from negkit.losses.infonce import InfoNCE
from negkit.plugins import get_component, get_host
from negkit.recipe import ComponentSpec, check_arguments

ALL_LOSSES = [ClipLoss, InfoNCE, Cement, HardNegativeCE, Hinge]


def unit(t):
    return t / t.norm(dim=-1, keepdim=True)


def make_inputs(b=4, k=2, d=8, *, seed=0, dtype=torch.float64, scale=10.0, bias=None, mask=None,
                concreteness=None, grad=False, kinds=None):
    g = torch.Generator().manual_seed(seed)
    image = unit(torch.randn(b, d, generator=g, dtype=dtype))
    text = unit(image + 0.8 * torch.randn(b, d, generator=g, dtype=dtype))
    neg = unit(text[:, None, :] + 0.5 * torch.randn(b, k, d, generator=g, dtype=dtype))
    if mask is None:
        mask = torch.ones(b, k, dtype=torch.bool)
    if concreteness is None:
        concreteness = 1 + 4 * torch.rand(b, k, generator=g, dtype=torch.float64)
    if grad:
        image, text, neg = (t.detach().requires_grad_() for t in (image, text, neg))
    kind_ids, kind_names = None, ()
    if kinds is not None:
        kind_ids, kind_names = kinds
    return LossInputs(image, text, neg, mask, concreteness.to(dtype), torch.tensor(scale, dtype=dtype),
                      None if bias is None else torch.tensor(bias, dtype=dtype), kind_ids, kind_names)


def objective(out):
    return sum(v for key, v in out.items() if key.endswith("loss"))


# -- registration ---------------------------------------------------------------------------------------


def test_builtin_losses_are_registered_by_name():
    for cls in ALL_LOSSES:
        assert get_component("losses", cls.name) is cls


def test_listing_losses_does_not_import_torch():
    code = ("import sys; from negkit.plugins import get_host; h = get_host(); "
            "assert {'clip', 'infonce', 'cement', 'hn-ce', 'hinge'} <= set(h.registries['losses'].names()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"NEGKIT_LOAD_PLUGINS": "", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_recipe_checks_loss_arguments():
    cement = get_host().ref("losses", "cement")
    check_arguments(cement, {"mode": "fixed", "margin": 2, "units": "cosine"}, where="r.toml", key="losses[0]")
    with pytest.raises(RecipeError, match="mode"):
        check_arguments(cement, {"mode": "sometimes"}, where="r.toml", key="losses[0]")
    with pytest.raises(RecipeError, match="thresholds"):
        check_arguments(get_host().ref("losses", "hinge"), {"thresholds": {"swap-adj": "big"}}, where="r.toml",
                        key="losses[0]")
    with pytest.raises(RecipeError, match="c_max"):
        ComponentSpec("losses", "cement", "losses[0]", {"c_min": 3, "c_max": 2}).build("r.toml")
    assert isinstance(ComponentSpec("losses", "hn-ce", "losses[1]", {"focal_gamma": 2}).build("r.toml"),
                      HardNegativeCE)


# -- definitions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [None, -2.5])
def test_clip_equals_open_clip(bias):
    from open_clip.loss import ClipLoss as OpenClipLoss

    x = make_inputs(b=6, k=2, d=16, dtype=torch.float32, scale=50.0, bias=bias)
    ours = ClipLoss()(x)["contrastive_loss"]
    ref = OpenClipLoss()(x.image, x.text, x.logit_scale, x.logit_bias)
    torch.testing.assert_close(ours, ref)


def reference_infonce(x, own_margin=None):
    """One image and one caption at a time, written from the definition."""
    b, k = x.neg_mask.shape
    s, i2t = x.logit_scale, []
    for i in range(b):
        row = [s * x.image[i] @ x.text[j] for j in range(b)]
        for j in range(b):
            for n in range(k):
                if x.neg_mask[j, n]:
                    m = own_margin[i, n] if (own_margin is not None and i == j) else 0.0
                    row.append(s * x.image[i] @ x.neg_text[j, n] + m)
        i2t.append(-torch.log_softmax(torch.stack(row), 0)[i])
    t2i = [-torch.log_softmax(torch.stack([s * x.text[i] @ x.image[j] for j in range(b)]), 0)[i] for i in range(b)]
    return (torch.stack(i2t).mean() + torch.stack(t2i).mean()) / 2


def test_infonce_matches_the_definition_with_masks():
    mask = torch.tensor([[True, False], [False, False], [True, True], [False, True]])
    x = make_inputs(mask=mask)
    torch.testing.assert_close(InfoNCE()(x)["contrastive_loss"], reference_infonce(x))


def test_infonce_without_valid_negatives_is_clip():
    x = make_inputs(mask=torch.zeros(4, 2, dtype=torch.bool), bias=1.0)
    torch.testing.assert_close(InfoNCE()(x)["contrastive_loss"], ClipLoss()(x)["contrastive_loss"])
    empty = LossInputs.without_negatives(x.image, x.text, x.logit_scale, x.logit_bias)
    torch.testing.assert_close(InfoNCE()(empty)["contrastive_loss"], ClipLoss()(x)["contrastive_loss"])
    # ...and the negatives do count when they are valid
    assert not torch.allclose(InfoNCE()(make_inputs())["contrastive_loss"], ClipLoss()(x)["contrastive_loss"])


def test_cement_with_zero_margin_is_infonce_exactly():
    x = make_inputs(mask=torch.tensor([[True, False], [True, True], [False, False], [True, True]]))
    expected = InfoNCE()(x)
    for loss in (Cement(mode="fixed", margin=0.0), Cement(mode="adaptive", lam=0.0)):
        out = loss(x)
        for key, value in expected.items():
            assert torch.equal(out[key], value), key


def test_cement_adaptive_margins_follow_concreteness():
    c = torch.tensor([[1.0, 3.0, 5.0, float("nan"), 0.2, 7.0]], dtype=torch.float64)
    x = make_inputs(b=1, k=6, concreteness=c)
    m = Cement(lam=2.0, fallback_margin=0.3).margins(x)
    torch.testing.assert_close(m, torch.tensor([[0.0, 1.0, 2.0, 0.3, 0.0, 2.0]], dtype=torch.float64))
    squared = Cement(lam=2.0, power=2.0).margins(x)
    assert squared[0, 1].item() == pytest.approx(0.5)
    # unknown concreteness defaults to the margin of mid-scale concreteness
    assert Cement(lam=2.0).margins(x)[0, 3].item() == pytest.approx(1.0)
    assert squared[0, 3].item() == pytest.approx(0.5)
    cosine = Cement(mode="fixed", margin=0.02, units="cosine").margins(x)
    torch.testing.assert_close(cosine, torch.full((1, 6), 0.02 * 10.0, dtype=torch.float64))
    masked = make_inputs(b=1, k=6, concreteness=c, mask=torch.tensor([[True, False, True, True, True, True]]))
    assert Cement(lam=2.0).margins(masked)[0, 1].item() == 0.0


def test_cement_matches_the_definition():
    mask = torch.tensor([[True, True], [False, True], [True, False], [True, True]])
    x = make_inputs(mask=mask)
    loss = Cement(lam=3.0)
    torch.testing.assert_close(loss(x)["contrastive_loss"], reference_infonce(x, loss.margins(x)))


def test_margins_move_the_hard_share_up():
    x = make_inputs(b=6, k=2, seed=3)
    shares = [Cement(mode="fixed", margin=m)(x)["grad_share_hard"].item() for m in (-2.0, 0.0, 1.0, 3.0)]
    assert shares == sorted(shares) and len(set(shares)) == 4
    assert shares[1] == pytest.approx(InfoNCE()(x)["grad_share_hard"].item())
    # adaptive: more concrete negatives get larger margins, hence more of the push
    low = make_inputs(b=6, k=2, seed=3, concreteness=torch.full((6, 2), 1.5, dtype=torch.float64))
    high = make_inputs(b=6, k=2, seed=3, concreteness=torch.full((6, 2), 4.5, dtype=torch.float64))
    assert Cement(lam=2.0)(high)["grad_share_hard"] > Cement(lam=2.0)(low)["grad_share_hard"]


def reference_hn_ce(x, gamma, eps):
    losses = []
    for i in range(x.batch_size):
        cols = [x.image[i] @ x.text[i]] + [x.image[i] @ x.neg_text[i, n] for n in range(x.num_negatives)
                                           if x.neg_mask[i, n]]
        if len(cols) == 1:
            continue
        logp = torch.log_softmax(x.logit_scale * torch.stack(cols), 0)
        q = torch.tensor([1 - eps] + [eps / (len(cols) - 1)] * (len(cols) - 1), dtype=logp.dtype)
        losses.append(-(q * (1 - logp.exp()) ** gamma * logp).sum())
    return torch.stack(losses).mean()


@pytest.mark.parametrize("gamma,eps", [(0.0, 0.0), (0.0, 0.1), (2.0, 0.2)])
def test_hn_ce_matches_the_definition(gamma, eps):
    mask = torch.tensor([[True, True, False], [False, False, False], [True, False, False], [True, True, True]])
    x = make_inputs(k=3, mask=mask)
    out = HardNegativeCE(focal_gamma=gamma, label_smoothing=eps)(x)
    torch.testing.assert_close(out["hn_loss"], reference_hn_ce(x, gamma, eps))
    if gamma == 0 and eps == 0:  # plain CE on the valid columns
        rows = [i for i in range(4) if mask[i].any()]
        ce = [F.cross_entropy(x.logit_scale * torch.cat([x.image[i:i + 1] @ x.text[i:i + 1].T,
                                                         x.image[i:i + 1] @ x.neg_text[i][mask[i]].T], 1),
                              torch.tensor([0])) for i in rows]
        torch.testing.assert_close(out["hn_loss"], torch.stack(ce).mean())


def test_hinge_with_per_kind_thresholds():
    kinds = ("swap-adj", "replace-noun", "shuffle-ngram")
    ids = torch.tensor([[0, 1], [2, -1], [1, 1], [0, 2]])
    mask = ids >= 0
    x = make_inputs(mask=mask, kinds=(ids, kinds))
    loss = Hinge(threshold=0.3, thresholds={"swap-adj": 0.05, "replace-noun": 0.5, "unused": 9.0})
    expected, n = 0.0, 0
    for i in range(4):
        for k in range(2):
            if mask[i, k]:
                thr = {0: 0.05, 1: 0.5, 2: 0.3}[int(ids[i, k])]
                expected = expected + torch.relu(thr + x.image[i] @ x.neg_text[i, k] - x.image[i] @ x.text[i])
                n += 1
    torch.testing.assert_close(loss(x)["hinge_loss"], expected / n)
    # without kind information every negative gets the fixed threshold
    plain = make_inputs(mask=mask)
    torch.testing.assert_close(loss(plain)["hinge_loss"], Hinge(threshold=0.3)(plain)["hinge_loss"])


# -- gradients ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [ClipLoss(), InfoNCE(), Cement(), Cement(mode="fixed", margin=0.05, units="cosine"),
                                  HardNegativeCE(focal_gamma=2.0, label_smoothing=0.1), Hinge(threshold=0.2)],
                         ids=lambda m: m.name)
def test_gradcheck(loss):
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    x = make_inputs(b=3, k=2, d=4, seed=1, mask=mask, bias=0.5)

    def f(image, text, neg, scale):
        y = LossInputs(image, text, neg, x.neg_mask, x.neg_concreteness, scale, x.logit_bias)
        return objective(loss(y))

    args = [t.detach().clone().requires_grad_() for t in (x.image, x.text, x.neg_text, x.logit_scale)]
    assert torch.autograd.gradcheck(f, args)


@pytest.mark.parametrize("loss", [ClipLoss(), InfoNCE(), Cement(lam=2.0)], ids=lambda m: m.name)
def test_probe_matches_autograd(loss):
    mask = torch.tensor([[True, True], [False, True], [True, False], [True, True], [False, False]])
    x = make_inputs(b=5, k=2, seed=2, mask=mask)
    out = loss(x)
    logits = loss.logits(x).i2t.detach().requires_grad_()
    F.cross_entropy(logits, torch.arange(5), reduction="sum").backward()
    g = logits.grad
    b, k = 5, x.num_negatives if loss.name != "clip" else 0
    pos = g.diagonal()[:5]
    own = torch.zeros(5, dtype=g.dtype)
    if k:
        own = torch.stack([g[i, 5 + i * k: 5 + (i + 1) * k].sum() for i in range(b)])
    push = g.sum(1) - pos  # total gradient on every non-positive column
    torch.testing.assert_close(push, -pos)  # the pull on the positive equals the push on the negatives
    torch.testing.assert_close(out["grad_share_hard"], own.sum() / push.sum())
    torch.testing.assert_close(out["grad_share_inbatch"], (push - own).sum() / push.sum())
    torch.testing.assert_close(out["pos_pull"], -pos.mean())
    # the loss is the symmetric CE of exactly these logits
    t2i = F.cross_entropy(logits.detach()[:, :5].T, torch.arange(5))
    torch.testing.assert_close(out["contrastive_loss"], (F.cross_entropy(logits.detach(), torch.arange(5)) + t2i) / 2)
    for key, value in out.items():
        assert not value.requires_grad or key.endswith("loss"), key


def test_probe_is_stable_when_the_positive_dominates():
    x = make_inputs(b=4, k=2, scale=3000.0, seed=5)
    out = InfoNCE()(x)
    assert all(torch.isfinite(v) for v in out.values())
    assert out["grad_share_hard"] + out["grad_share_inbatch"] == pytest.approx(1.0)


# -- edge cases and precision ---------------------------------------------------------------------------


def edge_cases():
    yield "K=0", make_inputs(b=4, k=0, grad=True)
    yield "all masked", make_inputs(b=4, k=3, mask=torch.zeros(4, 3, dtype=torch.bool), grad=True)
    yield "B=1", make_inputs(b=1, k=2, grad=True)
    yield "B=1 K=0", make_inputs(b=1, k=0, grad=True)
    yield "unknown concreteness", make_inputs(concreteness=torch.full((4, 2), float("nan")), grad=True)


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.name)
def test_finite_on_edge_cases(cls):
    for label, x in edge_cases():
        out = cls()(x)
        assert all(torch.isfinite(v).all() for v in out.values()), (label, out)
        objective(out).backward()
        for t in (x.image, x.text, x.neg_text):
            assert t.grad is None or torch.isfinite(t.grad).all(), label


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.name)
@pytest.mark.parametrize("scale", [100.0, 1e4])
def test_bf16_autocast_computes_in_float32(cls, scale):
    x = make_inputs(b=8, k=2, d=32, dtype=torch.bfloat16, scale=scale, grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cls()(x)
    up = LossInputs(x.image.float(), x.text.float(), x.neg_text.float(), x.neg_mask, x.neg_concreteness.float(),
                    x.logit_scale.float())
    ref = cls()(up)
    for key, value in out.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), key
        torch.testing.assert_close(value, ref[key], rtol=1e-5, atol=1e-5)
    objective(out).backward()
    assert x.image.grad.dtype == torch.bfloat16 and torch.isfinite(x.image.grad.float()).all()


def test_invalid_parameters_raise():
    with pytest.raises(ValueError):
        Cement(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Cement(power=0)
    with pytest.raises(ValueError):
        Cement(margin=math.inf)
    with pytest.raises(ValueError):
        HardNegativeCE(label_smoothing=1.0)
    with pytest.raises(ValueError):
        HardNegativeCE(focal_gamma=-1)
    with pytest.raises(ValueError):
        Hinge(thresholds={"swap-adj": float("nan")})
