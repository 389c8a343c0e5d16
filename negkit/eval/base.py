"""The evaluator contract and the context that gives evaluators batched access to a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from negkit.images import ImageLike, load_rgb_image

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from negkit.data.base import DataSource



@dataclass
class EvalContext:
    """What an evaluator may use: two batch encoders and a little run context.

    ``encode_image_batch`` takes a list of PIL images and ``encode_text_batch`` a list of strings; each
    returns a ``[N, D]`` tensor. The training engine builds them from the open_clip model, its preprocess
    and tokenizer; tests build them from anything (fixed random embeddings, say). Evaluators call
    ``encode_images`` / ``encode_texts``, which batch, encode each distinct input once, L2-normalise and
    return float32 on the CPU.
    """

    encode_image_batch: Callable[[list[Image.Image]], Tensor]
    encode_text_batch: Callable[[list[str]], Tensor]
    batch_size: int = 256
    seed: int = 0
    data: DataSource | None = None  # the run's data source, for evaluators that score its held-out split
    device: str = "cpu"
    out_dir: Path | None = None  # where an evaluator may write extra files (plots, per-item results)
    meta: dict[str, Any] = field(default_factory=dict)  # evaluators add notes here (tie rules, seeds)
    progress: Callable[[str, int], Any] | None = None
    items: dict[str, tuple[list[str], list[float]]] = field(default_factory=dict)

    def record_items(self, group: str, ids: Sequence[Any], values: Sequence[float]) -> None:
        """Per-item results behind a metric, so that two runs can be compared pairwise on the same items.

        ``group`` names the metric the items make up (``"swap-att"``, ``"text-to-image/r1"``); ``ids`` are
        stable item keys (the benchmark's own keys where it has them) and ``values`` the item's score, 1.0/0.0
        for right/wrong. The engine keys groups like metrics (``"<evaluator>/<group>"``) and writes them to
        the run directory's ``items.jsonl``. Recording a group twice replaces it.
        """
        ids = [str(i) for i in ids]
        values = [float(v) for v in values]
        if len(ids) != len(values):
            raise ValueError(f"record_items({group!r}): {len(ids)} ids but {len(values)} values")
        self.items[group] = (ids, values)

    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        unique, index = _unique(list(texts), key=lambda t: t)
        feats = self._batched(unique, self.encode_text_batch)
        return feats[index]

    def encode_images(self, images: Sequence[ImageLike]) -> Tensor:
        """Encode images given as PIL images or file paths (paths are opened here, each distinct path once)."""
        unique, index = _unique(list(images), key=lambda im: str(im) if isinstance(im, (str, Path)) else id(im))
        feats = self._batched(unique, lambda batch: self.encode_image_batch([load_rgb_image(im) for im in batch]))
        return feats[index]

    def _batched(self, items: list, fn: Callable[[list], Tensor]) -> Tensor:
        import torch

        if not items:
            return torch.zeros(0, 0)
        out = []
        with torch.no_grad():
            for start in range(0, len(items), self.batch_size):
                out.append(fn(items[start:start + self.batch_size]).float().cpu())
        feats = torch.cat(out)
        return torch.nn.functional.normalize(feats, dim=-1)


class Evaluator(ABC):
    """Base class of evaluators.

    Subclasses set ``name`` (the recipe name) and take their parameters (data paths, subsets, limits) as
    keyword arguments of ``__init__``; files are checked in ``__init__`` or at the start of ``evaluate``
    with a ``negkit.errors.DataError`` that names the parameter. ``evaluate`` returns flat keys such as
    ``"swap-att/acc"``; negkit stores them as ``"<evaluator name>/<key>"``.
    """

    name: ClassVar[str]

    @abstractmethod
    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        """Metrics of the model behind ``ctx``."""


def check_choices(param: str, chosen: Sequence[str] | None, allowed: Sequence[str], what: str) -> list[str]:
    """``chosen`` (all of ``allowed`` when None), de-duplicated; a ``ValueError`` naming ``param`` for an empty
    choice or one outside ``allowed`` (evaluator constructors use it for subsets, tasks, categories)."""
    picked = list(dict.fromkeys(allowed if chosen is None else chosen))
    unknown = [c for c in picked if c not in allowed]
    if unknown or not picked:
        problem = f"unknown {what} {unknown[0]!r}" if unknown else "empty"
        raise ValueError(f"{param}: {problem}; choose from {', '.join(allowed)}")
    return picked


def _unique(items: list, key: Callable[[Any], Any]) -> tuple[list, list[int]]:
    first: dict[Any, int] = {}
    unique: list = []
    index: list[int] = []
    for item in items:
        k = key(item)
        if k not in first:
            first[k] = len(unique)
            unique.append(item)
        index.append(first[k])
    return unique, index
