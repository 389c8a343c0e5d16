"""Evaluation: an ``EvalContext`` over the trained open_clip model, and the recipe's evaluators run on it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from negkit.eval.base import EvalContext, Evaluator
from negkit.eval.loading import default_workers, weights_version
from negkit.train.model import ClipModel, encode_text


def eval_context(clip: ClipModel, device: torch.device, autocast: Callable[[], Any], *, batch_size: int = 256,
                 seed: int = 0, data: Any = None, out_dir: Path | None = None,
                 workers: int | None = None) -> EvalContext:
    """Batch encoders for evaluators: open_clip's eval transform for images (run by ``workers`` loader
    processes; None: ``default_workers()``); texts tokenised and encoded with padding trimmed to the batch's
    longest text. Cached features are tied to the model's weights (``weights_version``)."""
    model = clip.model

    def encode_images(pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast():
            return model.encode_image(pixels.to(device, non_blocking=True), normalize=True).float()

    def encode_texts(texts: list[str]) -> torch.Tensor:
        tokens = clip.tokenize_trimmed(list(texts)).to(device)
        with torch.no_grad(), autocast():
            return encode_text(model, tokens).float()

    return EvalContext(encode_images, encode_texts, batch_size=batch_size, seed=seed, data=data, device=str(device),
                       out_dir=out_dir, preprocess=clip.preprocess_val,
                       workers=default_workers() if workers is None else workers,
                       model_state=lambda: weights_version(model))


@dataclass(frozen=True)
class NamedEvaluator:
    """A built evaluator and the prefix of its metrics (``name``, or ``name[i]`` when a name repeats)."""

    name: str
    prefix: str
    evaluator: Evaluator


def named_evaluators(built: Sequence[tuple[str, Evaluator]]) -> list[NamedEvaluator]:
    """``(name, evaluator)`` pairs in recipe order -> their metric prefixes: an evaluator used twice (COCO and
    Flickr retrieval) is told apart by its occurrence, ``"retrieval[1]/..."``."""
    names = [name for name, _ in built]
    return [NamedEvaluator(name, name if names.count(name) == 1 else f"{name}[{names[:i].count(name)}]", evaluator)
            for i, (name, evaluator) in enumerate(built)]


def run_evaluators(evaluators: Sequence[NamedEvaluator], ctx: EvalContext, *,
                   say: Callable[[str], None] | None = None) -> dict[str, float]:
    """Every evaluator on ``ctx``; metrics keyed ``"<prefix>/<key>"``."""
    metrics: dict[str, float] = {}
    items: dict[str, tuple[list[str], list[float]]] = {}
    for named in evaluators:
        if say:
            say(f"evaluating {named.name}")
        ctx.items = {}
        prefix = named.prefix
        with ctx.benchmark(prefix):
            result = named.evaluator.evaluate(ctx)
        for key, value in result.items():
            metrics[f"{prefix}/{key}"] = float(value)
        items.update({f"{prefix}/{group}": rows for group, rows in ctx.items.items()})
    if ctx.out_dir is not None and items:
        from negkit.rundir import ITEMS, write_items

        write_items(Path(ctx.out_dir) / ITEMS, items)
    if ctx.out_dir is not None and ctx.meta:  # the rules evaluators applied (tie rules, seeds, filters)
        from negkit.rundir import EVAL_META, write_json

        Path(ctx.out_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(ctx.out_dir) / EVAL_META, json.loads(json.dumps(ctx.meta, default=str)))
    return metrics


def evaluate_model(clip: ClipModel, evaluators: Sequence[NamedEvaluator], device: torch.device,
                   autocast: Callable[[], Any], *, seed: int = 0, data: Any = None, out_dir: Path | None = None,
                   batch_size: int = 256, say: Callable[[str], None] | None = None,
                   workers: int | None = None) -> dict[str, float]:
    training = clip.model.training
    clip.model.eval()
    try:
        ctx = eval_context(clip, device, autocast, batch_size=batch_size, seed=seed, data=data, out_dir=out_dir,
                           workers=workers)
        return run_evaluators(evaluators, ctx, say=say)
    finally:
        clip.model.train(training)
