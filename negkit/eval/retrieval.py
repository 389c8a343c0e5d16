"""``retrieval``: image-to-text and text-to-image recall@k on any captioned split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.eval.base import EvalContext
from negkit.eval.general import SourceEvaluator
from negkit.eval.metrics import recall_hits


class Retrieval(SourceEvaluator):
    """Cross-modal retrieval within a split: every image against every distinct caption.

    A caption is correct for every image it belongs to: records that share an image (a file path repeated,
    as in one-record-per-caption COCO tables) are one gallery image, records whose ``caption_key`` holds a
    list give several captions, and equal caption strings are one text correct for all their images.
    Ties in similarity count against the query. Outputs ``i2t/R@k``, ``t2i/R@k`` and ``mean/R`` (the
    mean of all of them). Per query, whether it was found at each k is recorded as items of the groups
    ``i2t/R@k`` (keyed by image path, or record row) and ``t2i/R@k`` (keyed by caption text).

    Parameters:
        split: the split to search.
        limit: records to use (a seeded sample; 0 = all).
        ks: the k of recall@k.
        caption_key: the record key holding the caption (a string or a list of strings).
        source: a registered dataset name to evaluate on; default: the run's data source.
        data: constructor arguments of ``source``.
        seed: seed of the record sample.
    """

    name = "retrieval"

    def __init__(self, split: str = "test", limit: int = 1000, ks: list[int] | None = None,
                 caption_key: str = "caption", source: str | None = None, data: dict[str, Any] | None = None,
                 seed: int = 0) -> None:
        super().__init__(source=source, data=data, split=split, limit=limit, seed=seed)
        self.ks = list(ks or (1, 5, 10))
        if any(k < 1 for k in self.ks):
            raise ValueError(f"ks: every k must be >= 1, got {self.ks}")
        self.caption_key = caption_key

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        from negkit.eval.sources import label_of

        source = self.data_source(ctx)
        records, rows = self.rows(source, self.split, self.limit)
        image_index: dict[Any, int] = {}
        images: list[Any] = []
        text_index: dict[str, int] = {}
        pairs: set[tuple[int, int]] = set()
        for row in rows:
            record = records[row]
            image = record["image"]
            key = str(image) if isinstance(image, (str, Path)) else ("row", row)
            if key not in image_index:
                image_index[key] = len(images)
                images.append(image)
            captions = label_of(record, self.caption_key, self.name)
            for caption in [captions] if isinstance(captions, str) else captions:
                t = text_index.setdefault(caption, len(text_index))
                pairs.add((image_index[key], t))
        texts = list(text_index)
        positives = np.zeros((len(images), len(texts)), dtype=bool)
        for i, t in pairs:
            positives[i, t] = True
        sim = ctx.encode_images(images).numpy() @ ctx.encode_texts(texts).numpy().T
        out: dict[str, float] = {}
        image_ids = [str(key[1]) if isinstance(key, tuple) else key for key in image_index]
        for direction, s, p, ids in (("i2t", sim, positives, image_ids), ("t2i", sim.T, positives.T, texts)):
            kept, hits = recall_hits(s, p, self.ks)
            for k, found in hits.items():
                out[f"{direction}/R@{k}"] = float(found.mean()) if found.size else float("nan")
                ctx.record_items(f"{direction}/R@{k}", [ids[q] for q in kept], found)
        out["mean/R"] = float(np.mean(list(out.values())))
        out["images"], out["texts"] = float(len(images)), float(len(texts))
        ctx.meta[self.name] = {"split": self.split, "tie_rule": "ties rank the correct item below wrong ones",
                               "seed": self.seed}
        return out
