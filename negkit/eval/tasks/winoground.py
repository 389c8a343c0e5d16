"""``winoground``: Winoground's text, image and group scores (Thrush et al. 2022)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import iter_jsonl, require_dir, require_file
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator
from negkit.eval.tasks.common import image_with_suffix, present_pairs, two_by_two

FIELDS = ("id", "image_0", "image_1", "caption_0", "caption_1")
TIE_RULE = "strict inequalities: a tie between the two similarities counts as wrong"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Winoground(Evaluator):
    """Winoground: 400 items of two images and two captions with the same words in another order.

    With s(c, i) the similarity of caption c and image i, an item's text score is right when
    s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1); its image score when s(c0, i0) > s(c0, i1) and
    s(c1, i1) > s(c1, i0); its group score when both are. All inequalities are strict (ties wrong).
    Outputs ``text``, ``image``, ``group``, ``n`` and the three scores per ``collapsed_tag``
    (``<tag>/text`` ...) when the file has that field.

    Parameters:
        examples_file: ``examples.jsonl`` from the Winoground release (``negkit data get winoground``).
        image_dir: the folder of its images (``<image_0>.png``); default: ``images/`` beside the file.
        limit: score only the first ``limit`` items (0 = all).
        skip_missing: score the items whose images exist and report ``missing-images``.
    """

    name = "winoground"

    def __init__(self, examples_file: str = "", image_dir: str = "", limit: int = 0,
                 skip_missing: bool = False) -> None:
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.examples_file, self.image_dir = examples_file, image_dir
        self.limit, self.skip_missing = limit, skip_missing

    def load(self) -> tuple[list[dict[str, Any]], Path]:
        path = require_file(self.examples_file, key="examples_file", source=self.name,
                            expected="Winoground's examples.jsonl")
        root = (require_dir(self.image_dir, key="image_dir", source=self.name, expected="Winoground's image folder")
                if self.image_dir else path.parent / "images")
        if not root.is_dir():
            raise DataError(f"{self.name}: no image folder: 'image_dir' is not set and {str(root)!r} does not exist; "
                            f"expected Winoground's images (unpacked images.zip)")
        items = []
        for lineno, obj in iter_jsonl(path, source=self.name, key="examples_file"):
            missing = [f for f in FIELDS if f not in obj]
            if missing:
                raise DataError(f"{self.name}: {str(path)!r} line {lineno}: lacks {', '.join(missing)}; is this "
                                f"Winoground's examples.jsonl?")
            items.append(obj)
        return (items[: self.limit] if self.limit else items), root

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        items, root = self.load()
        img0 = [image_with_suffix(root, str(it["image_0"]), IMAGE_SUFFIXES) for it in items]
        img1 = [image_with_suffix(root, str(it["image_1"]), IMAGE_SUFFIXES) for it in items]
        items, img0, img1, n_missing = present_pairs(self.name, items, img0, img1, key="image_dir",
                                                      skip_missing=self.skip_missing, where="examples_file")
        i0, i1 = ctx.encode_images(img0).numpy(), ctx.encode_images(img1).numpy()
        texts = ctx.encode_texts([it["caption_0"] for it in items] + [it["caption_1"] for it in items]).numpy()
        c0, c1 = texts[: len(items)], texts[len(items):]
        text, image, group = two_by_two(c0, c1, i0, i1)
        ids = [it["id"] for it in items]
        for label, right in (("text", text), ("image", image), ("group", group)):
            ctx.record_items(label, ids, right)
        out = _scores(text, image, group)
        out["n"] = float(len(items))
        tags = [it.get("collapsed_tag") for it in items]
        if items and all(isinstance(t, str) for t in tags):
            tags_arr = np.array(tags)
            for tag in sorted(set(tags)):
                m = tags_arr == tag
                for k, v in _scores(text[m], image[m], group[m]).items():
                    out[f"{tag.lower()}/{k}"] = v
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "missing_images": n_missing, "limit": self.limit}
        return out


def _scores(text: np.ndarray, image: np.ndarray, group: np.ndarray) -> dict[str, float]:
    def mean(a: np.ndarray) -> float:
        return float(a.mean()) if len(a) else float("nan")

    return {"text": mean(text), "image": mean(image), "group": mean(group)}
