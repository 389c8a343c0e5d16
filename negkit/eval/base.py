"""The evaluator contract and the context that gives evaluators batched access to a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from negkit.data.base import DataSource



@dataclass
class EvalContext:
    """What an evaluator may use: two batch encoders and a little run context.

    ``encode_text_batch`` takes a list of strings and returns a ``[N, D]`` tensor. ``encode_image_batch``
    takes a batch of images: a list of RGB PIL images, or, when ``preprocess`` is set, the stacked
    ``[N, C, H, W]`` tensor of ``preprocess``'s outputs. The training engine builds them from the open_clip
    model, its preprocess and tokenizer; tests build them from anything (fixed random embeddings, say).

    Evaluators call ``encode_images`` / ``encode_texts``, which batch, encode each distinct input once,
    L2-normalise and return float32 on the CPU. Images are opened and preprocessed by a DataLoader with
    ``workers`` processes (``negkit.eval.loading``), in order. Features are cached per benchmark (``scope``,
    set by ``benchmark(name)``) and per model state (``model_state``, a token of the weights): an image path,
    image key or text seen before in the same benchmark under the same weights is not encoded again, and a
    change of either drops the cache, so two model states never share features.
    """

    encode_image_batch: Callable[[Any], Tensor]
    encode_text_batch: Callable[[list[str]], Tensor]
    batch_size: int = 256
    seed: int = 0
    data: DataSource | None = None  # the run's data source, for evaluators that score its held-out split
    device: str = "cpu"
    out_dir: Path | None = None  # where an evaluator may write extra files (plots, per-item results)
    meta: dict[str, Any] = field(default_factory=dict)  # evaluators add notes here (tie rules, seeds)
    progress: Callable[[str, int], Any] | None = None
    items: dict[str, tuple[list[str], list[float]]] = field(default_factory=dict)
    preprocess: Callable[[Image.Image], Tensor] | None = None  # per image, run in the loader's workers
    workers: int = 0  # image-loading processes (0: this process)
    model_state: Callable[[], Hashable] | None = None  # changes when the weights change (None: fixed encoders)
    scope: str = ""  # the benchmark being evaluated; features are cached within it
    _cache: dict[Hashable, Tensor] = field(default_factory=dict, repr=False)
    _cache_token: Any = field(default=None, repr=False)

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

    @contextmanager
    def benchmark(self, name: str) -> Iterator[None]:
        """Evaluate one benchmark inside: its features are cached together and dropped when it ends."""
        outer = self.scope
        self.scope = f"{outer}/{name}" if outer else name
        try:
            yield
        finally:
            self.scope = outer
            self._cache.clear()

    def encode_texts(self, texts: Sequence[str]) -> Tensor:
        texts = list(texts)
        return self._cached(texts, [("text", t) for t in texts],
                            lambda todo: self._batched(todo, self.encode_text_batch))

    def encode_images(self, images: Sequence[Any], load: Callable[[Any], Any] | None = None) -> Tensor:
        """Encode images given as PIL images or file paths, or as keys that ``load`` turns into a PIL image
        (crops, frames). ``load`` runs in the loader's worker processes; a key must name the pixels fully
        (``(path, box)``, not a row number), since it is what the cache knows the image by. Paths and keys
        are cached; in-memory PIL images are encoded once per call (their identity cannot outlive it)."""
        images = list(images)
        if load is not None:
            keys: list[Hashable] = [("key", k) for k in images]
        else:
            keys = [("path", str(im)) if isinstance(im, (str, Path)) else ("pil", id(im)) for im in images]
        return self._cached(images, keys, lambda todo: self._encode_image_items(todo, load))

    def _cached(self, items: list, keys: list[Hashable], encode: Callable[[list], Tensor]) -> Tensor:
        import torch

        token = (self.scope, self.model_state() if self.model_state is not None else None)
        if token != self._cache_token:
            self._cache.clear()
            self._cache_token = token
        first: dict[Hashable, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        todo = [k for k in first if k not in self._cache]
        if todo:
            feats = encode([items[first[k]] for k in todo])
            fresh = dict(zip(todo, feats))
            for k, row in fresh.items():
                if k[0] != "pil":
                    self._cache[k] = row
        else:
            fresh = {}
        if not keys:
            return torch.zeros(0, 0)
        return torch.stack([fresh[k] if k in fresh else self._cache[k] for k in keys])

    def _encode_image_items(self, items: list, load: Callable[[Any], Any] | None) -> Tensor:
        import torch

        from negkit.eval.loading import image_batches

        out = []
        with torch.no_grad():
            for batch in image_batches(items, load=load, preprocess=self.preprocess, batch_size=self.batch_size,
                                       workers=self.workers, pin_memory=self.device.startswith("cuda")):
                out.append(self.encode_image_batch(batch).float().cpu())
        return torch.nn.functional.normalize(torch.cat(out), dim=-1) if out else torch.zeros(0, 0)

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

