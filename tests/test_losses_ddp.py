"""Under DDP the loop gathers features before the loss: the loss then equals the global-batch loss.

Two gloo processes on the CPU each hold half of one global batch, gather it with
``negkit.distributed.gather_with_local_grad`` and compute the loss; the results are compared with one
process computing the same loss on the whole batch.
"""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from negkit.distributed import gather_with_local_grad
from negkit.losses import LossInputs
from negkit.losses.cement import Cement
from negkit.losses.infonce import InfoNCE

WORLD = 2
B, K, D, RAW = 6, 2, 5, 7  # global batch; RAW is the input size of the tiny linear "tower"


def global_batch():
    g = torch.Generator().manual_seed(11)
    image = F.normalize(torch.randn(B, D, generator=g, dtype=torch.float64), dim=-1)
    text = F.normalize(torch.randn(B, D, generator=g, dtype=torch.float64), dim=-1)
    neg = F.normalize(torch.randn(B, K, D, generator=g, dtype=torch.float64), dim=-1)
    mask = torch.tensor([[True, False], [True, True], [False, False], [True, True], [False, True], [True, True]])
    conc = 1 + 4 * torch.rand(B, K, generator=g, dtype=torch.float64)
    conc[0, 1] = float("nan")
    raw = torch.randn(B, RAW, generator=g, dtype=torch.float64)
    weight = torch.randn(RAW, D, generator=g, dtype=torch.float64)
    return image, text, neg, mask, conc, raw, weight


def losses():
    return {"infonce": InfoNCE(), "cement": Cement(lam=2.0, fallback_margin=0.5)}


def feature_results(image, text, neg, mask, conc, gather):
    """Loss value and gradients w.r.t. the (local) features, for each loss."""
    out = {}
    for name, loss in losses().items():
        leaves = [t.detach().clone().requires_grad_() for t in (image, text, neg)]
        scale = torch.tensor(20.0, dtype=torch.float64)
        x = LossInputs(*(gather(t) for t in leaves), gather(mask), gather(conc), scale)
        value = loss(x)["contrastive_loss"]
        value.backward()
        out[name] = (value.detach(), *(t.grad for t in leaves))
    return out


def tower_grad(raw, weight, mask, conc, gather, scale_by):
    """Gradient of the loss w.r.t. the weight of a linear tower shared by images and texts."""
    w = weight.detach().clone().requires_grad_()
    # images, positives and negatives are fixed per-sample views of the raw rows, all through one tower
    feats = F.normalize(raw @ w, dim=-1)
    text = F.normalize(raw.roll(1, dims=1) @ w, dim=-1)
    neg = F.normalize(torch.stack([raw.roll(k + 2, dims=1) for k in range(K)], dim=1) @ w, dim=-1)
    x = LossInputs(gather(feats), gather(text), gather(neg), gather(mask), gather(conc),
                   torch.tensor(20.0, dtype=torch.float64))
    (InfoNCE()(x)["contrastive_loss"] * scale_by).backward()
    return w.grad


def worker(rank, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        image, text, neg, mask, conc, raw, weight = global_batch()
        part = slice(rank * B // WORLD, (rank + 1) * B // WORLD)
        results = feature_results(image[part], text[part], neg[part], mask[part], conc[part], gather_with_local_grad)
        # the loop's scaling: loss x world size, then DDP averages the parameter gradients over ranks
        grad = tower_grad(raw[part], weight, mask[part], conc[part], gather_with_local_grad, WORLD)
        dist.all_reduce(grad)
        results["tower"] = grad / WORLD
        torch.save(results, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


def test_gathered_loss_and_gradients_equal_single_process(tmp_path):
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path / "out")), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"out.{r}") for r in range(WORLD)]
    image, text, neg, mask, conc, raw, weight = global_batch()
    single = feature_results(image, text, neg, mask, conc, lambda t: t)
    for name in losses():
        loss, *grads = single[name]
        for r, res in enumerate(ranks):
            torch.testing.assert_close(res[name][0], loss)
            part = slice(r * B // WORLD, (r + 1) * B // WORLD)
            # only this rank's slice carries gradients, and that slice gets the full global-batch gradient
            for got, want in zip(res[name][1:], grads):
                torch.testing.assert_close(got, want[part])
    expected = tower_grad(raw, weight, mask, conc, lambda t: t, 1.0)
    for res in ranks:
        torch.testing.assert_close(res["tower"], expected)
