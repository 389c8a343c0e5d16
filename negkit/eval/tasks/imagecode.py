"""``imagecode``: ImageCoDe (Krojer et al. 2022): pick the one image of ten that a description singles out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir, require_file
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator
from negkit.eval.tasks.common import choice_correct, mean_or_nan, read_rows_json

TIE_RULE = ("the first image (by index) among the highest-scoring ones is the prediction (ImageCoDe's zero_shot.py "
            "sorts with numpy's argsort, which leaves ties undefined)")
IMAGE_NAME = re.compile(r"^img(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


class ImageCoDe(Evaluator):
    """ImageCoDe zero-shot retrieval: for each description, the images of its set (``img0.jpg`` ...
    ``img9.jpg``) are ranked by similarity; right when the described image ranks first. Sets whose name
    contains ``open-images`` are static pictures, the others video frames (ImageCoDe's
    ``baselines/clip/zero_shot.py``).

    Outputs ``acc`` (all descriptions: the single number the compositional suite uses, as vl_compo's table
    reports it), ``video/acc``, ``static/acc``, ``n``, ``video/n``, ``static/n``.

    Parameters:
        data_file: ImageCoDe's ``valid_data.json`` (``{set: {image index: description}}``).
        image_dir: the folder of the image sets (``<set>/img<k>.jpg``).
        limit: score only the first ``limit`` sets (0 = all).
        skip_missing: skip the sets whose folder is missing or incomplete and report ``missing-sets``.
        images_per_set: every set must hold exactly ``img0.jpg`` ... ``img<n-1>.jpg`` (ImageCoDe: 10), so that a
            missing image never makes a description easier.
    """

    name = "imagecode"

    def __init__(self, data_file: str = "", image_dir: str = "", limit: int = 0, skip_missing: bool = False,
                 images_per_set: int = 10) -> None:
        if limit < 0 or images_per_set < 2:
            raise ValueError(f"limit must be >= 0 and images_per_set >= 2, got {limit}, {images_per_set}")
        self.images_per_set = images_per_set
        self.data_file, self.image_dir, self.limit, self.skip_missing = data_file, image_dir, limit, skip_missing

    def load(self) -> dict[str, dict[int, str]]:
        path = require_file(self.data_file, key="data_file", source=self.name,
                            expected="ImageCoDe's valid_data.json (negkit data get imagecode)")
        data = read_rows_json(self.name, path, "data_file")
        if not isinstance(data, dict):
            raise DataError(f"{self.name}: {str(path)!r}: expected an object mapping image sets to descriptions")
        sets: dict[str, dict[int, str]] = {}
        for name, entries in data.items():
            if not isinstance(entries, dict):
                raise DataError(f"{self.name}: {str(path)!r}: set {name!r} is not an object of index: description")
            try:
                sets[name] = {int(k): str(v).strip() for k, v in entries.items()}
            except ValueError:
                raise DataError(f"{self.name}: {str(path)!r}: set {name!r} has a non-numeric image index") from None
            if self.limit and len(sets) >= self.limit:
                break
        return sets

    def images_of(self, folder: Path) -> list[Path]:
        found = sorted(((int(m.group(1)), p) for p in folder.iterdir() if (m := IMAGE_NAME.match(p.name))),
                       key=lambda t: t[0]) if folder.is_dir() else []
        return [p for _, p in found]

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        root = require_dir(self.image_dir, key="image_dir", source=self.name,
                           expected="ImageCoDe's image-sets folder (<set>/img0.jpg ... img9.jpg)")
        sets = self.load()
        missing: list[str] = []
        items: list[dict[str, Any]] = []
        for name, entries in sets.items():
            images = self.images_of(root / name)
            if [p.name.lower() for p in images] != [f"img{k}.jpg" for k in range(self.images_per_set)]:
                missing.append(name)
                continue
            for index, text in entries.items():
                items.append({"key": f"{name}/{index}", "set": name, "images": images, "target": index,
                              "text": text, "static": "open-images" in name})
        if missing and (not self.skip_missing or len(missing) == len(sets)):
            hint = "" if self.skip_missing else "; set skip_missing = true to score the rest (the count is reported)"
            raise DataError(f"{self.name}: {len(missing)} of {len(sets)} image sets are missing or incomplete under "
                            f"'image_dir' (e.g. {root / missing[0]}){hint}")
        image_lists = [it["images"] for it in items]
        width = max((len(x) for x in image_lists), default=0)
        flat = [p for x in image_lists for p in x]
        feats = ctx.encode_images(flat).numpy() if flat else np.zeros((0, 0))
        texts = ctx.encode_texts([it["text"] for it in items]).numpy() if items else np.zeros((0, 0))
        scores = np.full((len(items), width), -np.inf)
        start = 0
        for i, imgs in enumerate(image_lists):
            scores[i, : len(imgs)] = feats[start:start + len(imgs)] @ texts[i]
            start += len(imgs)
        correct = choice_correct(scores, [it["target"] for it in items], ties="first")
        static = np.array([it["static"] for it in items], dtype=bool)
        ids = np.array([it["key"] for it in items])
        ctx.record_items("all", ids, correct)
        out = {"acc": mean_or_nan(correct), "n": float(len(items)),
               "video/acc": mean_or_nan(correct[~static]), "video/n": float((~static).sum()),
               "static/acc": mean_or_nan(correct[static]), "static/n": float(static.sum())}
        if self.skip_missing:
            out["missing-sets"] = float(len(missing))
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "acc": "micro over all descriptions",
                               "static": "sets whose name contains 'open-images'", "missing_sets": len(missing)}
        return out
