"""Loss-only timing of the built-in losses against the two matrix products every loss must pay.

    .venv/bin/python benchmarks/loss.py                       # CPU, B=512, K=3, D=512
    .venv/bin/python benchmarks/loss.py --device cuda --amp   # GPU, features in bf16 under autocast

Each row is forward + backward of one loss w.r.t. the image, text and negative features. The baseline,
timed in alternating rounds with each row on the same tensors, is forward + backward of the two logit products
(``image @ text.T`` and ``image @ negatives.T``) with a plain sum: the cost no loss over these logits can
avoid. ``ratio`` is loss time / baseline time; open_clip's ``ClipLoss`` (no negatives) is a reference row.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from negkit.losses import LossInputs
from negkit.plugins import get_component

LOSSES = {"clip": {}, "infonce": {}, "cement": {"mode": "adaptive"}, "hn-ce": {"focal_gamma": 2.0,
          "label_smoothing": 0.1}, "hinge": {}}


def make_inputs(b: int, k: int, d: int, device: str, dtype: torch.dtype) -> LossInputs:
    g = torch.Generator().manual_seed(0)
    image = F.normalize(torch.randn(b, d, generator=g), dim=-1)
    text = F.normalize(image + torch.randn(b, d, generator=g), dim=-1)
    neg = F.normalize(text[:, None] + 0.5 * torch.randn(b, k, d, generator=g), dim=-1)
    mask = torch.rand(b, k, generator=g) < 0.9
    conc = 1 + 4 * torch.rand(b, k, generator=g)
    image, text, neg = (t.to(device=device, dtype=dtype).requires_grad_() for t in (image, text, neg))
    return LossInputs(image, text, neg, mask.to(device), conc.to(device), torch.tensor(100.0, device=device))


def grads(value: torch.Tensor, x: LossInputs) -> tuple:
    """Backward to the features, without accumulating into ``.grad`` between timed calls."""
    return torch.autograd.grad(value, [x.image, x.text, x.neg_text], allow_unused=True)


def baseline(x: LossInputs) -> tuple:
    b, k, d = x.neg_text.shape
    logits = x.image @ x.text.T
    neg = x.image @ x.neg_text.reshape(b * k, d).T
    return grads(logits.sum() + neg.sum(), x)


def step(loss: torch.nn.Module, x: LossInputs, amp: bool) -> tuple:
    ctx = torch.autocast(x.image.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with ctx:
        out = loss(x)
    return grads(sum(v for key, v in out.items() if key.endswith("loss")), x)


def timer(fn, x: LossInputs) -> Timer:
    return Timer("fn(x)", globals={"fn": fn, "x": x}, num_threads=torch.get_num_threads())


def measure_against(fn, base_fn, x: LossInputs, rounds: int) -> tuple[float, float]:
    """Median seconds per call of ``fn`` and of the baseline, timed in alternating rounds so that load
    from other processes hits both alike (CUDA is synchronised by the timer)."""
    loss_timer, base_timer = timer(fn, x), timer(base_fn, x)
    number = max(1, int(0.1 / max(loss_timer.timeit(1).median, 1e-6)))  # about 0.1 s per round
    loss_t, base_t = [], []
    for _ in range(rounds):
        base_t.append(base_timer.timeit(number).median)
        loss_t.append(loss_timer.timeit(number).median)
    return statistics.median(loss_t), statistics.median(base_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="bf16 features and bf16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds per row")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.amp else torch.float32
    x = make_inputs(args.batch, args.k, args.dim, args.device, dtype)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"B={args.batch} K={args.k} D={args.dim} device={args.device} ({device_name}) "
          f"threads={torch.get_num_threads()} dtype={dtype} torch={torch.__version__}")

    print(f"{'row':<22}{'ms (fwd+bwd)':>14}{'baseline ms':>13}{'ratio':>8}")
    from open_clip.loss import ClipLoss as OpenClipLoss

    ref = OpenClipLoss()
    rows = {"open_clip ClipLoss": lambda y: grads(ref(y.image, y.text, y.logit_scale), y)}
    for name, kwargs in LOSSES.items():
        loss = get_component("losses", name)(**kwargs).to(args.device)
        rows[name] = lambda y, loss=loss: step(loss, y, args.amp)
    for name, fn in rows.items():
        fn(x), baseline(x)  # warm-up
        t, base = measure_against(fn, baseline, x, args.rounds)
        print(f"{name:<22}{t * 1e3:>14.3f}{base * 1e3:>13.3f}{t / base:>8.2f}")

if __name__ == "__main__":
    main()
