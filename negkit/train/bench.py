"""``negkit bench step``: the negkit training step against a plain open_clip loop, same model, batch and negatives.

The plain loop is what a user would write with open_clip alone: texts tokenised at the full context length,
positives and negatives through ``encode_text``, image->text logits with the negatives appended as extra
columns, symmetric cross-entropy, AdamW. The negkit step is the engine's own: padding trimmed to the batch's
longest text, the recipe loss taken from the registry, open_clip's parameter groups, the same optimiser step
the training loop runs. Both start from the same weights and see the same images and captions; their steps
are interleaved in rounds so that a busy machine slows both alike, and the median step time is reported.
"""

from __future__ import annotations

import copy
import random
import statistics
import time
import typing
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

# Dense bf16 peak (TFLOP/s) by GPU name, for MFU.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0,
               "RTX 4090": 165.0, "RTX 3090": 71.0}

_OBJECTS = ["dog", "cat", "man", "woman", "bicycle", "car", "plate", "pizza", "chair", "table", "bus", "horse"]
_COLOURS = ["red", "blue", "green", "white", "black", "yellow", "brown"]
_PLACES = ["on a busy street", "in a small kitchen", "next to a wooden fence", "on the green grass",
           "under a large tree", "in front of a building"]


def captions(n: int, seed: int = 0) -> list[str]:
    """COCO-like captions (8-14 words)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(f"a {rng.choice(_COLOURS)} {rng.choice(_OBJECTS)} and a {rng.choice(_COLOURS)} "
                   f"{rng.choice(_OBJECTS)} {rng.choice(_PLACES)}")
    return out


@dataclass
class BenchResult:
    model: str
    device: str
    precision: str
    batch_size: int
    negatives: int
    steps: int
    text_tokens_negkit: int
    text_tokens_plain: int
    negkit_step_s: float
    plain_step_s: float
    negkit_img_s: float
    plain_img_s: float
    ratio: float
    negkit_tflop_per_step: float | None = None
    plain_tflop_per_step: float | None = None
    negkit_mfu: float | None = None
    plain_mfu: float | None = None
    gpu: str | None = None
    candidates: int = 0  # hardest-of-K: K candidates per caption, keeping ``negatives`` (0 = not measured)
    hardest_step_s: float | None = None
    hardest_extra: float | None = None  # hardest-of-K step / plain negkit step - 1, same run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _flops(fn: Any) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            fn()
        return float(counter.get_total_flops())
    except Exception:  # flop counting is a report nicety; a model it cannot trace must not stop the bench
        return None


def peak_tflops(device: torch.device) -> tuple[str | None, float | None]:
    if device.type != "cuda":
        return None, None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_TFLOPS.items():
        if key in name:
            return name, peak
    return name, None


def bench_step(model: str = "negkit-tiny", *, batch_size: int = 64, negatives: int = 1, steps: int = 10,
               warmup: int = 2, precision: str = "fp32", device: str = "auto", compile: bool = False,
               loss: str = "infonce", seed: int = 0, compile_plain: bool = False, candidates: int = 0) -> BenchResult:
    """Median step times of both loops. ``compile`` compiles the negkit step only (the target compares
    against the plain *eager* loop); ``compile_plain`` also compiles the plain loop. ``candidates = K``
    (> ``negatives``) also times the negkit step with hardest-of-K selection (K candidates mined per
    caption, the ``negatives`` hardest kept), interleaved with the others, and reports its extra time over
    the negkit step with ``negatives`` mined negatives."""
    from negkit.components import ComponentSpec
    from negkit.distributed import resolve_device
    from negkit.errors import RecipeError
    from negkit.sections import ModelConfig, PrecisionName, TrainConfig
    from negkit.train.batch import Batch, Collator
    from negkit.train.loop import WeightedLoss, forward_loss, optimizer_step, resolve_precision
    from negkit.train.model import TwoTower, create_model
    from negkit.train.optim import build_optimizer, build_scheduler

    if precision not in typing.get_args(PrecisionName):
        raise RecipeError(f"--precision {precision!r}: one of {', '.join(typing.get_args(PrecisionName))}")
    dev = resolve_device(device)
    clip = create_model(ModelConfig(name=model, precision=precision), dev, seed=seed)
    prec = resolve_precision(precision, dev)
    plain_model = copy.deepcopy(clip.model)
    size = clip.preprocess_val.transforms[0].size if hasattr(clip.preprocess_val, "transforms") else 224
    size = size if isinstance(size, int) else size[0]
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, 3, size, size, generator=gen).to(dev)
    caps = captions(batch_size * (1 + negatives), seed)
    pos, negs = caps[:batch_size], caps[batch_size:]

    # negkit: the engine's collate, forward, losses and optimiser step
    items = [{"index": i, "caption": pos[i], "image": images[i].cpu(),
              "negatives": tuple((negs[i * negatives + j], 4.0, 0) for j in range(negatives))}
             for i in range(batch_size)]
    batch = Collator(clip.tokenize, negatives, pad_multiple=8 if dev.type == "cuda" else 1)(items).to(dev)
    losses = [WeightedLoss(loss, ComponentSpec("losses", loss, loss).build(), 1.0)]
    cfg = TrainConfig(lr=1e-5, warmup_steps=0)
    net: Any = TwoTower(clip.model).train()
    if compile:
        net = torch.compile(net)
    opt = build_optimizer(clip.model, cfg)
    sched = build_scheduler(opt, 0, 10**9)

    def negkit_step(on: Batch | None = None) -> None:
        total, terms = forward_loss(net, on or batch, losses, prec, ("bench",))
        torch.stack([v.float().mean() for v in terms.values()]).tolist()  # the loop's one sync per step
        (prec.scaler.scale(total) if prec.scaler else total).backward()
        optimizer_step(opt, sched, clip.model, prec.scaler, want_norm=False)

    loops: list[tuple[str, Any]] = [("negkit", negkit_step)]
    if candidates:
        if candidates <= negatives:
            raise RecipeError(f"--candidates {candidates} must be more than --negatives {negatives}")
        cand_caps = captions(batch_size * candidates, seed + 1)
        cand_items = [{**it, "negatives": tuple((cand_caps[i * candidates + j], 4.0, 0) for j in range(candidates))}
                      for i, it in enumerate(items)]
        cand_batch = Collator(clip.tokenize, candidates, pad_multiple=8 if dev.type == "cuda" else 1,
                              keep=negatives)(cand_items).to(dev)
        loops.append(("hardest", lambda: negkit_step(cand_batch)))

    # plain open_clip: full context, negatives appended as logit columns, CE, AdamW
    full_tokens = clip.tokenize(pos + negs).to(dev)
    plain_forward: Any = plain_model.train()
    if compile_plain:
        plain_forward = torch.compile(plain_model)
    plain_opt = torch.optim.AdamW(plain_model.parameters(), lr=1e-5, weight_decay=0.1)
    plain_scaler = torch.amp.GradScaler("cuda") if prec.scaler is not None else None
    labels = torch.arange(batch_size, device=dev)

    def plain_step() -> None:
        with prec.autocast():
            img_f, txt_f, scale = plain_forward(images, full_tokens)[:3]
            logits = scale * img_f @ txt_f.T  # [B, B + B*K]: the negatives are extra columns
            loss_v = (F.cross_entropy(logits, labels) + F.cross_entropy(logits[:, :batch_size].T, labels)) / 2
        loss_v.item()
        if plain_scaler is not None:
            plain_scaler.scale(loss_v).backward()
            plain_scaler.step(plain_opt)
            plain_scaler.update()
        else:
            loss_v.backward()
            plain_opt.step()
        plain_opt.zero_grad(set_to_none=True)

    loops.append(("plain", plain_step))
    for _ in range(warmup):
        for _, fn in loops:
            fn()
    _sync(dev)
    times: dict[str, list[float]] = {name: [] for name, _ in loops}
    for i in range(steps):
        for name, fn in (loops if i % 2 == 0 else loops[::-1]):
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            times[name].append(time.perf_counter() - t0)
    nk, pl = statistics.median(times["negkit"]), statistics.median(times["plain"])
    gpu, peak = peak_tflops(dev)
    nk_flops = _flops(negkit_step)
    pl_flops = _flops(plain_step)
    res = BenchResult(model, str(dev), prec.name, batch_size, negatives, steps, int(batch.tokens.shape[1]),
                      int(full_tokens.shape[1]), nk, pl, batch_size / nk, batch_size / pl, pl / nk,
                      nk_flops / 1e12 if nk_flops else None, pl_flops / 1e12 if pl_flops else None, gpu=gpu)
    if candidates:
        res.candidates = candidates
        res.hardest_step_s = statistics.median(times["hardest"])
        res.hardest_extra = res.hardest_step_s / nk - 1
    if peak and nk_flops and pl_flops:
        res.negkit_mfu = nk_flops / nk / (peak * 1e12)
        res.plain_mfu = pl_flops / pl / (peak * 1e12)
    return res


def step_table(res: BenchResult) -> Any:
    """``negkit bench step``'s result as a rich table: the plain open_clip loop and negkit's, side by side."""
    from rich.table import Table

    table = Table(title=f"training step: {res.model}, batch {res.batch_size}, {res.negatives} negative(s), "
                        f"{res.precision}, {res.device}{' ' + res.gpu if res.gpu else ''}")
    for col in ("loop", "text tokens", "step (ms)", "images/s", "TFLOP/step", "MFU"):
        table.add_column(col, justify="right" if col != "loop" else "left")

    def opt(v: float | None, f: str) -> str:
        return "-" if v is None else format(v, f)

    table.add_row("plain open_clip", str(res.text_tokens_plain), f"{res.plain_step_s * 1e3:.1f}",
                  f"{res.plain_img_s:.1f}", opt(res.plain_tflop_per_step, ".4f"), opt(res.plain_mfu, ".1%"))
    table.add_row("negkit", str(res.text_tokens_negkit), f"{res.negkit_step_s * 1e3:.1f}",
                  f"{res.negkit_img_s:.1f}", opt(res.negkit_tflop_per_step, ".4f"), opt(res.negkit_mfu, ".1%"))
    if res.hardest_step_s is not None:
        table.add_row(f"negkit, hardest {res.negatives} of {res.candidates}", "-", f"{res.hardest_step_s * 1e3:.1f}",
                      f"{res.batch_size / res.hardest_step_s:.1f}", "-", "-")
    return table
