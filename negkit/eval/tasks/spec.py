"""``spec``: SPEC (Peng et al. 2024): synthesized images that differ in one attribute (size, position,
existence, count), scored image-to-text and text-to-image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.tasks.common import choice_correct, mean_or_nan, present_images, read_rows_json

SUBSETS = ("absolute_size", "relative_size", "absolute_spatial", "relative_spatial", "existence", "count")
TIE_RULE = "the first highest-scoring candidate (in the file's order) is the prediction (argmax)"
FILES = {"i2t": "image2text.json", "t2i": "text2image.json"}


class SPEC(Evaluator):
    """SPEC: per subset, ``image2text.json`` (a query image against candidate texts) and ``text2image.json``
    (a query text against candidate images), each item ``{"query", "keys", "label"}`` with paths relative to
    the subset's folder (SPEC's ``spec/dataset.py``). Right when the labelled candidate scores highest.

    Outputs per subset ``<subset>/i2t``, ``<subset>/t2i`` and their ``n``; ``i2t`` and ``t2i``: the means over
    subsets, as SPEC's ``spec/eval.py`` prints them; ``avg``: the mean of ``i2t`` and ``t2i``, the single
    number the compositional suite uses (negkit's reading of FSC-CLIP's SPEC column; see docs/evaluation.md).

    Parameters:
        data_dir: the folder holding one folder per subset (``negkit data get spec`` names where to get it).
        subsets: which subsets to score (default: all six).
        limit: score only the first ``limit`` items of each file (0 = all).
        skip_missing: score the items whose images all exist and report ``missing-images``.
    """

    name = "spec"

    def __init__(self, data_dir: str = "", subsets: list[str] | None = None, limit: int = 0,
                 skip_missing: bool = False) -> None:
        self.subsets = check_choices("subsets", subsets, SUBSETS, "subset")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_dir, self.limit, self.skip_missing = data_dir, limit, skip_missing

    def load(self, subset: str, direction: str) -> tuple[list[dict[str, Any]], Path]:
        root = require_dir(self.data_dir, key="data_dir", source=self.name,
                           expected="SPEC's data folder (one folder per subset)")
        folder = root / subset
        path = folder / FILES[direction]
        if not path.is_file():
            raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {subset}/{FILES[direction]}; "
                            f"remove {subset!r} from `subsets` or fetch SPEC's data")
        data = read_rows_json(self.name, path, "data_dir")
        if not isinstance(data, list):
            raise DataError(f"{self.name}: {str(path)!r}: expected a list of {{query, keys, label}} items")
        items = []
        for i, it in enumerate(data):
            ok = (isinstance(it, dict) and isinstance(it.get("query"), str) and isinstance(it.get("keys"), list)
                  and it["keys"] and isinstance(it.get("label"), int) and 0 <= it["label"] < len(it["keys"]))
            if not ok:
                raise DataError(f"{self.name}: {str(path)!r}: item {i} needs query, keys and a label indexing keys")
            items.append({"key": f"{subset}/{direction}/{i}", **it})
            if self.limit and len(items) >= self.limit:
                break
        return items, folder

    def _kept(self, subset: str, direction: str) -> tuple[list[dict[str, Any]], int]:
        """The items of one file whose images all exist, with their image paths resolved."""
        items, folder = self.load(subset, direction)
        image_lists = [[it["query"]] if direction == "i2t" else list(it["keys"]) for it in items]
        paths = [folder / p for imgs in image_lists for p in imgs]
        mask, n_missing = present_images(self.name, paths, key="data_dir", skip_missing=self.skip_missing,
                                         where=f"{subset}/{FILES[direction]}")
        kept, start = [], 0
        for it, imgs in zip(items, image_lists):
            if mask[start:start + len(imgs)].all():
                kept.append(dict(it, subset=subset, direction=direction, images=[folder / p for p in imgs],
                                 texts=[str(t) for t in it["keys"]] if direction == "i2t" else [it["query"]]))
            start += len(imgs)
        return kept, n_missing

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        items: list[dict[str, Any]] = []
        n_missing = 0
        for subset in self.subsets:
            for direction in FILES:
                kept, missing = self._kept(subset, direction)
                items += kept
                n_missing += missing
        # one pass over every distinct image and text of the chosen subsets (both directions share images)
        images = ctx.encode_images([p for it in items for p in it["images"]]).numpy()
        texts = ctx.encode_texts([t for it in items for t in it["texts"]]).numpy()
        scores = np.full((len(items), max((len(it["keys"]) for it in items), default=0)), -np.inf)
        i_at = t_at = 0
        for i, it in enumerate(items):
            img, txt = images[i_at:i_at + len(it["images"])], texts[t_at:t_at + len(it["texts"])]
            i_at, t_at = i_at + len(it["images"]), t_at + len(it["texts"])
            scores[i, : len(it["keys"])] = txt @ img[0] if it["direction"] == "i2t" else img @ txt[0]
        correct = choice_correct(scores, [it["label"] for it in items], ties="first")
        where = np.array([f"{it['subset']}/{it['direction']}" for it in items])
        ids = np.array([it["key"] for it in items])
        out: dict[str, float] = {}
        for subset in self.subsets:
            for direction in FILES:
                m = where == f"{subset}/{direction}"
                ctx.record_items(f"{subset}/{direction}", ids[m], correct[m])
                out[f"{subset}/{direction}"] = mean_or_nan(correct[m])
                out[f"{subset}/{direction}/n"] = float(m.sum())
        for direction in FILES:
            out[direction] = float(np.mean([out[f"{s}/{direction}"] for s in self.subsets]))
        out["avg"] = (out["i2t"] + out["t2i"]) / 2
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "i2t/t2i": "mean over subsets (spec/eval.py)",
                               "avg": "mean of i2t and t2i", "missing_images": n_missing, "limit": self.limit}
        return out
