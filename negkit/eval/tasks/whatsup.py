"""``whatsup``: What'sUp (Kamath et al. 2023): spatial relations, in controlled photographs (A, B) and in
COCO and Visual Genome images with one or two objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.tasks.common import choice_correct, mean_or_nan, present_images, read_rows_json

# subset -> (annotation file, image folder under image_root, layout)
SUBSETS: dict[str, tuple[str, str, str]] = {
    "controlled-a": ("controlled_images_dataset.json", "controlled_images", "options"),
    "controlled-b": ("controlled_clevr_dataset.json", "controlled_clevr", "options"),
    "coco-qa-one": ("coco_qa_one_obj.json", "val2017", "coco"),
    "coco-qa-two": ("coco_qa_two_obj.json", "val2017", "coco"),
    "vg-qa-one": ("vg_qa_one_obj.json", "vg_images", "vg"),
    "vg-qa-two": ("vg_qa_two_obj.json", "vg_images", "vg"),
}
TIE_RULE = ("the prediction is the first highest-scoring caption (numpy argmax, as What'sUp's evaluate_scores); the "
            "right caption is listed first, so a tie goes to it")


class WhatsUp(Evaluator):
    """What'sUp: each image against captions that differ only in the preposition; right when the true caption
    (listed first) scores highest, as in What'sUp's ``dataset_zoo/aro_datasets.py`` (Controlled_Images,
    COCO_QA, VG_QA ``evaluate_scores``: individual accuracy).

    Outputs ``<subset>/acc`` and ``<subset>/n`` per subset and ``avg``: the mean of the subsets, the single
    number the compositional suite uses (it reproduces vl_compo's What'sUp column from its six subsets).

    Parameters:
        data_dir: the folder of the six annotation files (``negkit data get whatsup``).
        image_root: the folder holding ``controlled_images/``, ``controlled_clevr/``, ``val2017/`` and
            ``vg_images/`` (What'sUp's data folder); the controlled files' ``image_path`` is resolved by its
            file name inside the subset's folder.
        subsets: which subsets to score (default: all six).
        limit: score only the first ``limit`` items of each subset (0 = all).
        skip_missing: score the items whose images exist and report ``missing-images``.
    """

    name = "whatsup"

    def __init__(self, data_dir: str = "", image_root: str = "", subsets: list[str] | None = None, limit: int = 0,
                 skip_missing: bool = False) -> None:
        self.subsets = check_choices("subsets", subsets, tuple(SUBSETS), "subset")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_dir, self.image_root, self.limit, self.skip_missing = data_dir, image_root, limit, skip_missing

    def load(self, subset: str, root: Path) -> list[dict[str, Any]]:
        file, folder, layout = SUBSETS[subset]
        data_dir = require_dir(self.data_dir, key="data_dir", source=self.name,
                               expected="the folder of What'sUp's annotation files (negkit data get whatsup)")
        path = data_dir / file
        if not path.is_file():
            raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {file} (subset {subset!r}); "
                            f"remove it from `subsets` or fetch it")
        data = read_rows_json(self.name, path, "data_dir")
        if not isinstance(data, list):
            raise DataError(f"{self.name}: {str(path)!r}: expected a list of items")
        items = []
        for i, entry in enumerate(data):
            if layout == "options":
                if not (isinstance(entry, dict) and isinstance(entry.get("image_path"), str)
                        and isinstance(entry.get("caption_options"), list) and len(entry["caption_options"]) >= 2):
                    raise DataError(f"{self.name}: {str(path)!r}: item {i} lacks image_path or caption_options")
                image, options = root / folder / Path(entry["image_path"]).name, entry["caption_options"]
            else:
                if not (isinstance(entry, list) and len(entry) == 3):
                    raise DataError(f"{self.name}: {str(path)!r}: item {i} is not [image id, true, false]")
                name = f"{str(entry[0]).zfill(12)}.jpg" if layout == "coco" else f"{entry[0]}.jpg"
                image, options = root / folder / name, [entry[1], entry[2]]
            items.append({"key": f"{subset}/{i}", "image": image, "options": [str(o) for o in options]})
            if self.limit and len(items) >= self.limit:
                break
        return items

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        root = require_dir(self.image_root, key="image_root", source=self.name,
                           expected="What'sUp's image folder (controlled_images/, controlled_clevr/, val2017/, "
                                    "vg_images/)")
        out: dict[str, float] = {}
        rows = [dict(it, subset=subset) for subset in self.subsets for it in self.load(subset, root)]
        mask, n_missing = present_images(self.name, [it["image"] for it in rows], key="image_root",
                                         skip_missing=self.skip_missing, where="the What'sUp files")
        items = [it for it, ok in zip(rows, mask) if ok]
        # every image and caption once, across subsets (the COCO subsets share images)
        feats = ctx.encode_images([it["image"] for it in items]).numpy()
        texts = ctx.encode_texts([o for it in items for o in it["options"]]).numpy() if items else None
        scores = np.full((len(items), max((len(it["options"]) for it in items), default=0)), -np.inf)
        start = 0
        for i, it in enumerate(items):
            k = len(it["options"])
            scores[i, :k] = texts[start:start + k] @ feats[i]
            start += k
        correct = choice_correct(scores, np.zeros(len(items), dtype=int), ties="first")
        subset_of = np.array([it["subset"] for it in items])
        ids = np.array([it["key"] for it in items])
        for subset in self.subsets:
            m = subset_of == subset
            ctx.record_items(subset, ids[m], correct[m])
            out[f"{subset}/acc"] = mean_or_nan(correct[m])
            out[f"{subset}/n"] = float(m.sum())
        out["avg"] = float(np.mean([out[f"{s}/acc"] for s in self.subsets]))
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "avg": "mean of the subsets' accuracies",
                               "missing_images": n_missing, "limit": self.limit}
        return out
