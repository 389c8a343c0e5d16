"""``eqben``: EqBen (Wang et al. 2023): Winoground-style pairs of two images and two captions from video
frames (AG, GEBC, YouCook2), Kubric renders and Stable Diffusion images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir, require_file
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.tasks.common import (
    encode_keyed_images,
    mean_or_nan,
    npy_or_image,
    present_pairs,
    read_rows_json,
    two_by_two,
)

SUBSETS = ("eqbenag", "eqbengebc", "eqbenyoucook2", "eqbenkubric_loc", "eqbenkubric_cnt", "eqbenkubric_attr",
           "eqbensd")
# The headline's five sources; Kubric's three subsets count as one source (their mean).
SOURCES = {"ag": ("eqbenag",), "gebc": ("eqbengebc",), "youcook2": ("eqbenyoucook2",),
           "kubric": ("eqbenkubric_loc", "eqbenkubric_cnt", "eqbenkubric_attr"), "sd": ("eqbensd",)}
FIELDS = ("image0", "image1", "caption0", "caption1")
TIE_RULE = "strict inequalities (EqBen's eqben_acc.cal_wino_score): a tie counts as wrong"


def flatten_pairs(data: Any) -> list[dict[str, Any]]:
    """EqBen's annotation layouts as one list of pairs: a list of pairs (Kubric, SD), ``{video: [pairs]}``
    (GEBC, YouCook2) or ``{video: {subject: [pairs]}}`` (AG). A caption given as a list is its first entry,
    as EqBen's AG loader takes."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [pair for value in data.values() for pair in flatten_pairs(value)]
    return [data]


class EqBen(Evaluator):
    """EqBen: for each pair (two images, two captions) the Winoground text, image and group scores with
    strict inequalities (EqBen's ``src/eqben/eqben_acc.py``).

    Outputs ``<subset>/text``, ``<subset>/image``, ``<subset>/group`` and ``<subset>/n`` per subset, and
    ``avg``: the mean group score over EqBen's five sources (AG, GEBC, YouCook2, Kubric, SD) with Kubric's three
    subsets averaged into one, the single number the compositional suite uses (it reproduces the EqBen column
    of vl_compo's published table from its per-subset columns).

    Parameters:
        data_dir: the folder of the annotation files, one ``<subset>.json`` per subset (e.g. ``eqbenag.json``).
        files: per subset, an annotation file to use instead of ``<data_dir>/<subset>.json``.
        image_dir: the folder the files' ``image0``/``image1`` paths are relative to (YouCook2 frames are
            ``.npy`` arrays in BGR order and are read as such).
        subsets: which subsets to score (default: all seven).
        limit: score only the first ``limit`` pairs of each subset (0 = all).
        skip_missing: score the pairs whose images exist and report ``missing-images``.
    """

    name = "eqben"

    def __init__(self, data_dir: str = "", files: dict[str, str] | None = None, image_dir: str = "",
                 subsets: list[str] | None = None, limit: int = 0, skip_missing: bool = False) -> None:
        self.subsets = check_choices("subsets", subsets, SUBSETS, "subset")
        unknown = [k for k in (files or {}) if k not in SUBSETS]
        if unknown:
            raise ValueError(f"files: unknown subset {unknown[0]!r}; choose from {', '.join(SUBSETS)}")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_dir, self.files, self.image_dir = data_dir, dict(files or {}), image_dir
        self.limit, self.skip_missing = limit, skip_missing

    def load(self, subset: str) -> list[dict[str, Any]]:
        if subset in self.files:
            path = require_file(self.files[subset], key=f"files.{subset}", source=self.name,
                                expected=f"EqBen's {subset} annotation file")
            key = f"files.{subset}"
        else:
            folder = require_dir(self.data_dir, key="data_dir", source=self.name,
                                 expected="the folder of EqBen's annotation files (<subset>.json)")
            path, key = folder / f"{subset}.json", "data_dir"
            if not path.is_file():
                raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {subset}.json; set "
                                f"files.{subset} or remove it from `subsets` (EqBen's files: see docs/evaluation.md)")
        pairs = []
        for i, pair in enumerate(flatten_pairs(read_rows_json(self.name, path, key))):
            if not isinstance(pair, dict) or any(f not in pair for f in FIELDS):
                raise DataError(f"{self.name}: {str(path)!r}: pair {i} lacks one of {', '.join(FIELDS)}")
            captions = [pair[c][0] if isinstance(pair[c], list) and pair[c] else pair[c] for c in FIELDS[2:]]
            if not all(isinstance(c, str) for c in captions):
                raise DataError(f"{self.name}: {str(path)!r}: pair {i}: caption0/caption1 must be text")
            pairs.append({"key": f"{subset}/{i}", "image0": str(pair["image0"]), "image1": str(pair["image1"]),
                          "caption0": captions[0], "caption1": captions[1]})
            if self.limit and len(pairs) >= self.limit:
                break
        return pairs

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        root = require_dir(self.image_dir, key="image_dir", source=self.name, expected="EqBen's image folder")
        pairs = [(s, p) for s in self.subsets for p in self.load(s)]
        img0 = [root / p["image0"] for _, p in pairs]
        img1 = [root / p["image1"] for _, p in pairs]
        pairs, img0, img1, n_missing = present_pairs(self.name, pairs, img0, img1, key="image_dir",
                                                      skip_missing=self.skip_missing, where="the EqBen files")
        feats = encode_keyed_images(ctx, [str(p) for p in img0 + img1], lambda path: npy_or_image(Path(path)))
        i0, i1 = feats[: len(pairs)], feats[len(pairs):]
        texts = ctx.encode_texts([p["caption0"] for _, p in pairs] + [p["caption1"] for _, p in pairs]).numpy()
        c0, c1 = texts[: len(pairs)], texts[len(pairs):]
        text, image, group = two_by_two(c0, c1, i0, i1) if pairs else (np.zeros(0, bool),) * 3
        subset_of = np.array([s for s, _ in pairs])
        ids = np.array([p["key"] for _, p in pairs])
        out: dict[str, float] = {}
        for s in self.subsets:
            m = subset_of == s
            for label, right in (("text", text), ("image", image), ("group", group)):
                out[f"{s}/{label}"] = mean_or_nan(right[m])
                ctx.record_items(f"{s}/{label}", ids[m], right[m])
            out[f"{s}/n"] = float(m.sum())
        sources = {src: float(np.mean([out[f"{s}/group"] for s in subs]))
                   for src, subs in SOURCES.items() if all(s in self.subsets for s in subs)}
        out["avg"] = float(np.mean(list(sources.values()))) if sources else float("nan")
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "avg": "mean group score over the sources "
                               f"{', '.join(sources)} (Kubric = mean of its three subsets)",
                               "missing_images": n_missing, "limit": self.limit}
        return out
