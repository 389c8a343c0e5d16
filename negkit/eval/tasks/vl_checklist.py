"""``vl-checklist``: VL-CheckList (Zhao et al. 2022): objects, attributes and relations, each checked with a
positive and a negative caption of an image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.metrics import TIE_RULE, pairwise_correct
from negkit.eval.tasks.common import mean_or_nan, present_images, read_rows_json

# The subsets vl_compo reports (corpus folders of the official repository: corpus/<Category>/...).
SUBSETS = ("Object/Location/center", "Object/Location/margin", "Object/Location/mid", "Object/Size/large",
           "Object/Size/medium", "Object/Size/small", "Attribute/action", "Attribute/color", "Attribute/material",
           "Attribute/size", "Attribute/state", "Relation/action", "Relation/spatial")
CATEGORIES = ("Object", "Attribute", "Relation")


def label(subset: str) -> str:
    """``Object/Location/center`` -> ``object-location-center`` (a metric key)."""
    return subset.lower().replace("/", "-")


class VLCheckList(Evaluator):
    """VL-CheckList, image-text contrast (its ``itc`` task): an item is an image with a positive and a negative
    caption (the first of each list); right when the positive scores strictly higher (ties wrong), as in
    VL-CheckList's ``vl_checklist/evaluate.py``.

    The data is described the official way: a corpus folder of YAML files, ``<subset>/<source>.yaml``, each
    naming an annotation file (``ANNO_PATH``: a list of ``[image path, {"POS": [...], "NEG": [...]}]``) and its
    image folder (``IMG_ROOT``); paths in them are relative to ``root``. A subset's items are those of all its
    sources (micro within the subset). Outputs ``<subset>/acc`` and ``<subset>/n``, ``<category>/acc``
    (mean of its subsets) and ``avg``: the mean of the Object, Attribute and Relation scores, the single
    number the compositional suite uses (it reproduces vl_compo's VL-CheckList column from its per-subset ones).

    Images the YAML names but that are missing are skipped by VL-CheckList's own loader; here they are an
    error unless ``skip_missing`` (then counted in ``missing-images``).

    Parameters:
        corpus_dir: the official ``corpus/`` folder (``negkit data get vl-checklist``).
        root: the folder ``ANNO_PATH`` and ``IMG_ROOT`` are relative to (default: the corpus folder's parent).
        subsets: which subsets to score (default: the thirteen above).
        limit: score only the first ``limit`` items of each source file (0 = all).
        skip_missing: score the items whose images exist and report ``missing-images``.
    """

    name = "vl-checklist"

    def __init__(self, corpus_dir: str = "", root: str = "", subsets: list[str] | None = None, limit: int = 0,
                 skip_missing: bool = False) -> None:
        self.subsets = check_choices("subsets", subsets, SUBSETS, "subset")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.corpus_dir, self.root, self.limit, self.skip_missing = corpus_dir, root, limit, skip_missing

    def sources(self, subset: str) -> list[tuple[Path, Path, Path]]:
        """``(yaml file, annotation file, image folder)`` of each source of ``subset``."""
        import yaml

        corpus = require_dir(self.corpus_dir, key="corpus_dir", source=self.name,
                             expected="VL-CheckList's corpus/ folder of YAML files")
        root = Path(self.root) if self.root else corpus.parent
        folder = corpus / subset
        files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if not files:
            raise DataError(f"{self.name}: 'corpus_dir' = {self.corpus_dir!r} has no {subset}/*.yaml; remove "
                            f"{subset!r} from `subsets` or fetch the corpus (negkit data get vl-checklist)")
        out = []
        for file in files:
            try:
                spec = yaml.safe_load(file.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise DataError(f"{self.name}: {str(file)!r} is not valid YAML ({exc})") from None
            if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) for k in ("ANNO_PATH", "IMG_ROOT")):
                raise DataError(f"{self.name}: {str(file)!r}: needs ANNO_PATH and IMG_ROOT")
            out.append((file, root / spec["ANNO_PATH"], root / spec["IMG_ROOT"]))
        return out

    def load(self, subset: str) -> list[dict[str, Any]]:
        items = []
        for yml, anno, images in self.sources(subset):
            if not anno.is_file():
                raise DataError(f"{self.name}: {str(yml)!r} names ANNO_PATH {str(anno)!r}, which does not exist "
                                f"(set 'root' to the folder it is relative to)")
            data = read_rows_json(self.name, anno, "corpus_dir")
            if not isinstance(data, list):
                raise DataError(f"{self.name}: {str(anno)!r}: expected a list of [image, {{POS, NEG}}] items")
            count = 0
            for i, entry in enumerate(data):
                ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)
                pos = entry[1].get("POS") if ok else None
                neg = entry[1].get("NEG") if ok else None
                if not (ok and isinstance(pos, list) and pos and isinstance(neg, list) and neg):
                    raise DataError(f"{self.name}: {str(anno)!r}: item {i} is not [image, {{POS: [...], NEG: [...]}}]")
                items.append({"key": f"{yml.stem}/{i}", "image": images / str(entry[0]), "pos": str(pos[0]),
                              "neg": str(neg[0])})
                count += 1
                if self.limit and count >= self.limit:
                    break
        return items

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        items = [(s, it) for s in self.subsets for it in self.load(s)]
        mask, n_missing = present_images(self.name, [it["image"] for _, it in items], key="corpus_dir",
                                         skip_missing=self.skip_missing, where="the IMG_ROOT folders")
        items = [x for x, ok in zip(items, mask) if ok]
        feats = ctx.encode_images([it["image"] for _, it in items]).numpy()
        if items:
            texts = ctx.encode_texts([it["pos"] for _, it in items] + [it["neg"] for _, it in items]).numpy()
            pos = (feats * texts[: len(items)]).sum(1)
            neg = (feats * texts[len(items):]).sum(1)
            correct = pairwise_correct(pos, neg)
        else:
            correct = np.zeros(0, dtype=bool)
        subset_of = np.array([s for s, _ in items])
        ids = np.array([it["key"] for _, it in items])
        out: dict[str, float] = {}
        for s in self.subsets:
            m = subset_of == s
            ctx.record_items(label(s), ids[m], correct[m])
            out[f"{label(s)}/acc"] = mean_or_nan(correct[m])
            out[f"{label(s)}/n"] = float(m.sum())
        categories = {}
        for cat in CATEGORIES:
            accs = [out[f"{label(s)}/acc"] for s in self.subsets if s.startswith(cat + "/")]
            if accs:
                categories[cat] = float(np.mean(accs))
                out[f"{cat.lower()}/acc"] = categories[cat]
        out["avg"] = float(np.mean(list(categories.values())))
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "subset": "micro over its sources' items",
                               "category": "mean of its subsets", "avg": "mean of the categories",
                               "missing_images": n_missing, "limit": self.limit}
        return out
