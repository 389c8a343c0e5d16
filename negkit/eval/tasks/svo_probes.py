"""``svo-probes``: SVO-Probes (Hendricks and Nematzadeh 2021): a sentence, the image it describes and an image
that differs in its subject, verb or object."""

from __future__ import annotations

import numpy as np

from negkit.data.sources.common import require_dir, require_file
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.metrics import TIE_RULE, pairwise_correct
from negkit.eval.tasks.common import image_with_suffix, iter_csv, mean_or_nan, present_pairs

KINDS = ("subj_neg", "verb_neg", "obj_neg")
COLUMNS = ("sentence", "pos_image_id", "neg_image_id", *KINDS)
SUFFIXES = (".jpg", ".jpeg", ".png")


def truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


class SVOProbes(Evaluator):
    """SVO-Probes, scored for a dual encoder: an item is right when the sentence is strictly more similar to
    its positive image than to its negative one (a tie is wrong). The ``subj_neg``, ``verb_neg``, ``obj_neg``
    columns of ``svo_probes.csv`` say which part the negative image changes.

    Outputs ``<kind>/acc`` and ``<kind>/n`` for ``subj-neg``, ``verb-neg``, ``obj-neg``; ``avg``: the mean of the
    three (the single number the compositional suite uses; it reproduces vl_compo's SVO-Probes column from its
    per-kind columns); ``micro/acc`` over all items.

    Parameters:
        data_file: ``svo_probes.csv`` from google-deepmind/svo_probes (``negkit data get svo-probes``).
        image_dir: the folder of the images, named by ``pos_image_id``/``neg_image_id`` (``<id>.jpg``); the
            images are listed by URL in the release's ``image_urls.txt`` and must be fetched by the user.
        limit: score only the first ``limit`` rows (0 = all).
        skip_missing: score the items whose two images exist and report ``missing-images`` (many of the
            original URLs are dead, so published numbers use the subset still available).
    """

    name = "svo-probes"

    def __init__(self, data_file: str = "", image_dir: str = "", kinds: list[str] | None = None, limit: int = 0,
                 skip_missing: bool = False) -> None:
        self.kinds = check_choices("kinds", kinds, KINDS, "negative kind")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_file, self.image_dir, self.limit, self.skip_missing = data_file, image_dir, limit, skip_missing

    def load(self) -> list[dict[str, str]]:
        path = require_file(self.data_file, key="data_file", source=self.name,
                            expected="svo_probes.csv (negkit data get svo-probes)")
        rows = []
        for lineno, row in iter_csv(self.name, path, COLUMNS, "svo_probes.csv"):
            kinds = [k for k in KINDS if truthy(row[k] or "")]
            if len(kinds) != 1:
                raise DataError(f"{self.name}: {str(path)!r} line {lineno}: exactly one of "
                                f"{', '.join(KINDS)} must be true")
            if kinds[0] in self.kinds:
                key = row.get("") or row.get("index") or str(lineno - 2)
                rows.append({"key": str(key), "kind": kinds[0], "sentence": row["sentence"],
                             "pos": row["pos_image_id"].strip(), "neg": row["neg_image_id"].strip()})
            if self.limit and len(rows) >= self.limit:
                break
        return rows

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        root = require_dir(self.image_dir, key="image_dir", source=self.name,
                           expected="the SVO-Probes image folder (<image id>.jpg)")
        rows = self.load()
        pos = [image_with_suffix(root, r["pos"], SUFFIXES) for r in rows]
        neg = [image_with_suffix(root, r["neg"], SUFFIXES) for r in rows]
        rows, pos, neg, n_missing = present_pairs(self.name, rows, pos, neg, key="image_dir",
                                                  skip_missing=self.skip_missing, where="data_file")
        feats = ctx.encode_images(pos + neg).numpy()
        text = ctx.encode_texts([r["sentence"] for r in rows]).numpy()
        n = len(rows)
        correct = pairwise_correct((feats[:n] * text).sum(1), (feats[n:] * text).sum(1)) if n else np.zeros(0, bool)
        kinds = np.array([r["kind"] for r in rows])
        ids = np.array([r["key"] for r in rows])
        out: dict[str, float] = {}
        for kind in self.kinds:
            m = kinds == kind
            label = kind.replace("_", "-")
            ctx.record_items(label, ids[m], correct[m])
            out[f"{label}/acc"] = mean_or_nan(correct[m])
            out[f"{label}/n"] = float(m.sum())
        out["avg"] = float(np.mean([out[f"{k.replace('_', '-')}/acc"] for k in self.kinds]))
        out["micro/acc"] = mean_or_nan(correct)
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"tie_rule": TIE_RULE,
                               "rule": "s(sentence, positive image) > s(sentence, negative image)",
                               "avg": "mean of the kinds' accuracies", "missing_images": n_missing}
        return out
