"""``sugarcrepe``: SugarCrepe's seven hard-negative subsets on COCO val2017 images."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import DataWarning, read_json, require_dir
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.metrics import TIE_RULE, micro_macro, pairwise_correct
from negkit.eval.tasks.common import present_images, sha256_of, text_scores

SUBSETS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
# Item counts and sha256 of the official files (RAIVNLab/sugar-crepe, data/*.json).
OFFICIAL: dict[str, tuple[int, str]] = {
    "add_att": (692, "012d88d729693d193760e6f3393b06a1cf874380a9db0062e937201199fe044d"),
    "add_obj": (2062, "1b9d76b93139a937b8dc1ada92a4f05ecc821bb3c291d752428bafadd4bb0682"),
    "replace_att": (788, "9fe55fd4c0a9ad1f85d486d9f6d0215b41f867eb025026e7f7b5ce44352545ee"),
    "replace_obj": (1652, "9d299600639947e9d15281a9ded1382b376cf4ea088a8d08a1314bfe76e81898"),
    "replace_rel": (1406, "356bcc2fc4c6aed3f4d9fd50acc58489bb1fe70c28791f9368d4cbf9ea39cdc9"),
    "swap_att": (666, "7a7ce04e5c4c80412b48c6f0c1347fb1a2f5d54c0be6aa429b64d390e442f8d0"),
    "swap_obj": (245, "073cdb8e253d053614e80710834d9773b09dbc1dd0a412f6f9492262caa1dcad"),
}
FIELDS = ("filename", "caption", "negative_caption")


def subset_key(name: str) -> str:
    """``swap-att`` / ``swap_att`` -> ``swap_att`` (the file stem)."""
    return name.strip().lower().replace("-", "_")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def family_of(items: list[dict[str, str]]) -> str | None:
    """Which kind of edit the items' negatives show: ``add`` (the negative is longer), ``swap`` (the same
    words reordered) or ``replace``; None for fewer than 20 items. On the official files the deciding
    fraction is >= 0.975 (add), >= 0.61 (swap), <= 0.29 / <= 0.0 for the others."""
    if len(items) < 20:
        return None
    n = len(items)
    longer = sum(len(_words(i["negative_caption"])) > len(_words(i["caption"])) for i in items) / n
    if longer > 0.8:
        return "add"
    same = sum(sorted(_words(i["negative_caption"])) == sorted(_words(i["caption"])) for i in items) / n
    return "swap" if same > 0.4 else "replace"


class SugarCrepe(Evaluator):
    """SugarCrepe (Hsieh et al. 2023): for each COCO val2017 image, its caption against a hard negative
    made by replacing, swapping or adding an object, attribute or relation.

    Rules, as in the official script: an item is right only when the image is strictly more similar to
    the caption than to the negative (a tie counts as wrong; ``ctx.meta`` names the rule). Item keys are
    opaque strings (never parsed as numbers; order is the file's). Outputs per subset ``<subset>/acc``
    and ``<subset>/n`` (subset names with dashes: ``swap-att``), ``micro/acc`` (over all items, as in the
    SugarCrepe paper), ``macro/acc`` (the mean of the subsets, as later papers report), ``ties`` (items
    whose scores were equal) and, with ``skip_missing``, ``missing-images``.

    Each file is checked to be the subset it is named after: a file identical to another subset's official
    file, or whose negatives show another kind of edit (add / swap / replace), is an error. A file that
    differs from the official one is scored with a warning and flagged in ``ctx.meta``.

    Parameters:
        data_dir: the folder holding ``add_att.json`` ... ``swap_obj.json`` (``negkit data get sugarcrepe``).
        image_dir: the COCO val2017 image folder (``000000xxxxxx.jpg``).
        subsets: which subsets to score (default: all seven; ``swap_att`` or ``swap-att``).
        limit: score only the first ``limit`` items of each subset (0 = all); the output then says so
            through ``<subset>/n``.
        skip_missing: score the items whose images exist and report ``missing-images`` instead of failing.
        require_official: fail (instead of warning) when a file differs from the official one.
    """

    name = "sugarcrepe"

    def __init__(self, data_dir: str = "", image_dir: str = "", subsets: list[str] | None = None,
                 limit: int = 0, skip_missing: bool = False, require_official: bool = False) -> None:
        chosen = check_choices("subsets", None if subsets is None else [subset_key(s) for s in subsets], SUBSETS,
                               "subset")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_dir, self.image_dir = data_dir, image_dir
        self.subsets = chosen
        self.limit, self.skip_missing, self.require_official = limit, skip_missing, require_official

    # -- reading ------------------------------------------------------------------------------------

    def load_subset(self, subset: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The items of one subset (``key`` added) and facts about its file (official or not)."""
        folder = require_dir(self.data_dir, key="data_dir", source=self.name,
                             expected="the folder of SugarCrepe's JSON files (negkit data get sugarcrepe)")
        path = folder / f"{subset}.json"
        if not path.is_file():
            raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {subset}.json; expected the "
                            f"seven files {', '.join(s + '.json' for s in SUBSETS)}")
        data = read_json(path, source=self.name, key="data_dir")
        if not isinstance(data, dict):
            raise DataError(f"{self.name}: {str(path)!r}: expected an object mapping item keys to "
                            f"{{filename, caption, negative_caption}}, got a {type(data).__name__}")
        items = []
        for key, item in data.items():
            if not isinstance(item, dict) or any(not isinstance(item.get(f), str) for f in FIELDS):
                raise DataError(f"{self.name}: {str(path)!r}: item {key!r} lacks one of {', '.join(FIELDS)}")
            items.append({"key": str(key), **{f: item[f] for f in FIELDS}})
        facts = self._check_file(subset, path, items)
        return items, facts

    def _check_file(self, subset: str, path: Path, items: list[dict[str, str]]) -> dict[str, Any]:
        digest = sha256_of(path)
        official_n, official_sha = OFFICIAL[subset]
        other = next((s for s, (_, sha) in OFFICIAL.items() if sha == digest and s != subset), None)
        if other:
            raise DataError(f"{self.name}: {str(path)!r} is the official {other}.json, not {subset}.json; "
                            f"wrong subset file")
        family = family_of(items)
        expected_family = subset.split("_")[0]
        if family is not None and family != expected_family:
            raise DataError(f"{self.name}: {str(path)!r}: its negatives look like {family} edits, but "
                            f"{subset} holds {expected_family} edits; wrong subset file?")
        official = digest == official_sha
        if not official:
            msg = (f"{self.name}: {str(path)!r} is not the official {subset}.json ({len(items)} items, official "
                   f"{official_n}); scores are not comparable to published ones")
            if self.require_official:
                raise DataError(msg + " (require_official = true)")
            warnings.warn(msg, DataWarning, stacklevel=3)
        return {"file": str(path), "items": len(items), "official": official, "sha256": digest}

    # -- scoring ------------------------------------------------------------------------------------

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        image_root = require_dir(self.image_dir, key="image_dir", source=self.name,
                                 expected="the COCO val2017 image folder")
        per_subset: dict[str, list[dict[str, str]]] = {}
        files: dict[str, Any] = {}
        for subset in self.subsets:
            items, facts = self.load_subset(subset)
            per_subset[subset] = items[: self.limit] if self.limit else items
            files[subset] = facts
        flat = [(s, it) for s, items in per_subset.items() for it in items]
        paths = [image_root / it["filename"] for _, it in flat]
        mask, n_missing = present_images(self.name, paths, key="image_dir", skip_missing=self.skip_missing,
                                         where="the SugarCrepe files")
        kept = [pair for pair, ok in zip(flat, mask) if ok]
        kept_paths = [p for p, ok in zip(paths, mask) if ok]
        image_feats = ctx.encode_images(kept_paths).numpy()
        pos = text_scores(ctx, image_feats, [it["caption"] for _, it in kept])
        neg = text_scores(ctx, image_feats, [it["negative_caption"] for _, it in kept])
        correct = pairwise_correct(pos, neg)
        subset_of = np.array([s for s, _ in kept])
        by_subset = {s: correct[subset_of == s] for s in self.subsets}
        out: dict[str, float] = {}
        keys = np.array([it["key"] for _, it in kept])
        for s, c in by_subset.items():
            label = s.replace("_", "-")
            ctx.record_items(label, keys[subset_of == s], c)
            out[f"{label}/acc"] = float(c.mean()) if len(c) else float("nan")
            out[f"{label}/n"] = float(len(c))
        out["micro/acc"], out["macro/acc"] = micro_macro(by_subset)
        out["ties"] = float((pos == neg).sum())
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {
            "tie_rule": TIE_RULE, "micro": "mean over all items (SugarCrepe paper)",
            "macro": f"mean of the {len(self.subsets)} subset accuracies", "limit": self.limit,
            "files": files, "missing_images": n_missing,
        }
        return out
