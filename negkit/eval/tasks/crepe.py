"""``crepe``: CREPE's productivity split with hard negatives (Ma et al. 2023): atom, swap and negate."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import require_dir
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.tasks.common import choice_correct, encode_keyed_images, iter_csv, mean_or_nan, present_images

TYPES = ("atom", "swap", "negate")
COMPLEXITIES = tuple(range(4, 13))
COLUMNS = ("image_id", "x", "y", "width", "height", "caption", "hard_negs")
TIE_RULE = ("a tie counts as wrong: the caption must rank strictly first among itself and its hard negatives "
            "(CREPE ranks with an unstable argsort, which leaves ties undefined)")
VG_SUBFOLDERS = ("", "VG_100K", "VG_100K_2")


def file_name(kind: str, complexity: int) -> str:
    """The official file of one negative type and caption complexity, relative to ``data_dir``."""
    return f"{kind}/prod_vg_hard_negs_{kind}_complexity_{complexity}.csv"


class CREPE(Evaluator):
    """CREPE productivity: a Visual Genome region (the image cropped to ``x, y, width, height``) against
    its caption and the caption's hard negatives, for captions of 4 to 12 atoms.

    Rules, as in CREPE's ``crepe_prod_eval_clip.py`` and ``crepe_eval_utils.py``: the caption is listed first,
    the options are ranked by image-text similarity and an item is right when the caption ranks first (R@1).
    Ties count as wrong (``ctx.meta`` says so). Outputs per negative type ``<type>/r1`` (micro over all its
    complexities), ``<type>/n`` and ``<type>/c<k>/r1`` per complexity; ``avg``: the mean of the types' R@1,
    the single number the compositional suite uses (the way vl_compo's table reports CREPE as the mean of
    atom, swap and negate).

    Parameters:
        data_dir: the folder holding ``<type>/prod_vg_hard_negs_<type>_complexity_<k>.csv``
            (CREPE's ``data/prod_hard_negatives``; ``negkit data get crepe``).
        image_dir: the Visual Genome image folder (``<image_id>.jpg`` directly or under ``VG_100K``/``VG_100K_2``).
        types: which negative types to score (default: atom, swap, negate).
        complexities: which caption complexities (default: 4 to 12).
        limit: score only the first ``limit`` rows of each file (0 = all).
        skip_missing: score the items whose images exist and report ``missing-images``.
    """

    name = "crepe"

    def __init__(self, data_dir: str = "", image_dir: str = "", types: list[str] | None = None,
                 complexities: list[int] | None = None, limit: int = 0, skip_missing: bool = False) -> None:
        self.types = check_choices("types", types, TYPES, "negative type")
        chosen = [int(c) for c in (complexities if complexities is not None else COMPLEXITIES)]
        bad = [c for c in chosen if c not in COMPLEXITIES]
        if bad or not chosen:
            raise ValueError(f"complexities: choose from 4 to 12, got {complexities}")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.complexities = sorted(set(chosen))
        self.data_dir, self.image_dir, self.limit, self.skip_missing = data_dir, image_dir, limit, skip_missing

    def load(self, kind: str, complexity: int) -> list[dict[str, Any]]:
        folder = require_dir(self.data_dir, key="data_dir", source=self.name,
                             expected="CREPE's prod_hard_negatives folder (negkit data get crepe)")
        path = folder / file_name(kind, complexity)
        if not path.is_file():
            raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {file_name(kind, complexity)}; "
                            f"fetch CREPE's data/prod_hard_negatives (negkit data get crepe)")
        rows = []
        for lineno, row in iter_csv(self.name, path, COLUMNS, "a CREPE productivity file"):
            try:
                negs = ast.literal_eval(row["hard_negs"])
                box = tuple(float(row[k]) for k in ("x", "y", "width", "height"))
            except (ValueError, SyntaxError):
                raise DataError(f"{self.name}: {str(path)!r} line {lineno}: unreadable box or hard_negs") from None
            if not isinstance(negs, (list, tuple)) or not negs or not all(isinstance(n, str) for n in negs):
                raise DataError(f"{self.name}: {str(path)!r} line {lineno}: hard_negs is not a list of captions")
            rows.append({"key": f"{kind}/c{complexity}/{lineno - 2}", "image_id": row["image_id"].strip(),
                         "box": box, "options": [row["caption"], *negs]})
            if self.limit and len(rows) >= self.limit:
                break
        return rows

    def _image(self, root: Path, image_id: str) -> Path:
        for sub in VG_SUBFOLDERS:
            path = root / sub / f"{image_id}.jpg"
            if path.is_file():
                return path
        return root / f"{image_id}.jpg"

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        from negkit.images import load_rgb_image

        root = require_dir(self.image_dir, key="image_dir", source=self.name,
                           expected="the Visual Genome image folder (VG_100K and VG_100K_2)")
        items = [(kind, c, row) for kind in self.types for c in self.complexities for row in self.load(kind, c)]
        paths = [self._image(root, row["image_id"]) for _, _, row in items]
        mask, n_missing = present_images(self.name, paths, key="image_dir", skip_missing=self.skip_missing,
                                         where="the CREPE files")
        items = [it for it, ok in zip(items, mask) if ok]
        paths = [p for p, ok in zip(paths, mask) if ok]

        @functools.lru_cache(maxsize=16)
        def whole(path: str) -> Any:
            return load_rgb_image(path)

        def crop(key: Any) -> Any:
            path, x, y, w, h = key
            return whole(path).crop((x, y, x + w, y + h))

        keys = [(str(p), *row["box"]) for p, (_, _, row) in zip(paths, items)]
        feats = encode_keyed_images(ctx, keys, crop)
        texts = [t for _, _, row in items for t in row["options"]]
        text_feats = ctx.encode_texts(texts).numpy() if texts else np.zeros((0, 0))
        correct = np.zeros(len(items), dtype=bool)
        start = 0
        for i, (_, _, row) in enumerate(items):
            k = len(row["options"])
            scores = text_feats[start:start + k] @ feats[i]
            correct[i] = choice_correct(scores[None, :], [0], ties="wrong")[0]
            start += k
        out: dict[str, float] = {}
        kinds = np.array([kind for kind, _, _ in items])
        comps = np.array([c for _, c, _ in items])
        ids = np.array([row["key"] for _, _, row in items])
        headlines = []
        for kind in self.types:
            m = kinds == kind
            ctx.record_items(kind, ids[m], correct[m])
            out[f"{kind}/r1"] = mean_or_nan(correct[m])
            out[f"{kind}/n"] = float(m.sum())
            headlines.append(out[f"{kind}/r1"])
            for c in self.complexities:
                out[f"{kind}/c{c}/r1"] = mean_or_nan(correct[m & (comps == c)])
        out["avg"] = float(np.mean(headlines))
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "metric": "R@1 of the caption among caption + hard negatives",
                               "type_score": "micro over the chosen complexities", "avg": "mean of the types' R@1",
                               "complexities": self.complexities, "missing_images": n_missing, "limit": self.limit}
        return out
