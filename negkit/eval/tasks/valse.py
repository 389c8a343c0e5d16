"""``valse``: VALSE's foiling tests (Parcalabescu et al. 2022), pairwise ranking accuracy."""

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
from negkit.eval.tasks.common import present_images, text_scores

# piece -> (file in VALSE's data/ folder, instrument)
PIECES: dict[str, tuple[str, str]] = {
    "existence": ("existence.json", "existence"),
    "plurals": ("plurals.json", "plurality"),
    "counting-hard": ("counting-hard.json", "counting"),
    "counting-small": ("counting-small-quant.json", "counting"),
    "counting-adversarial": ("counting-adversarial.json", "counting"),
    "relations": ("relations.json", "relations"),
    "action-replacement": ("action-replacement.json", "actions"),
    "actant-swap": ("actant-swap.json", "actions"),
    "coreference-standard": ("coreference-standard.json", "coreference"),
    "coreference-hard": ("coreference-hard.json", "coreference"),
    "foil-it": ("foil-it.json", "noun phrases"),
}
FIELDS = ("image_file", "caption", "foil")


class VALSE(Evaluator):
    """VALSE: image, caption and a foil (the caption with one linguistic phenomenon changed), in 11 pieces
    grouped into 6+1 instruments.

    Only the validated items are kept: those where at least two of three annotators chose the caption
    (``mturk.caption >= 2``), as the VALSE authors prescribe; the kept and total counts per piece are
    output (``<piece>/n``, ``<piece>/n-total``) so the filter is visible, and items without ``mturk`` are
    counted as dropped. Metric: pairwise ranking accuracy (acc_r): right when the image is strictly more
    similar to the caption than to the foil (ties wrong). Outputs ``<piece>/acc``, per instrument
    ``instrument/<name>/acc`` (mean of its pieces), ``macro/acc`` (mean of the pieces), ``micro/acc`` (all
    kept items).

    Parameters:
        data_dir: the folder of VALSE's JSON files (``negkit data get valse``).
        image_dir: the image folder used for every piece not in ``image_dirs``.
        image_dirs: per piece or per ``dataset`` value (e.g. ``{"SWiG" = ".../images_512"}``), the folder
            of its images; the piece name wins over the dataset name.
        pieces: which pieces to score (default: all eleven).
        min_caption_votes: the validation filter (VALSE: 2 of 3 annotators).
        limit: score only the first ``limit`` kept items of each piece (0 = all).
        skip_missing: score the items whose images exist and report ``missing-images``.
    """

    name = "valse"

    def __init__(self, data_dir: str = "", image_dir: str = "", image_dirs: dict[str, str] | None = None,
                 pieces: list[str] | None = None, min_caption_votes: int = 2, limit: int = 0,
                 skip_missing: bool = False) -> None:
        chosen = check_choices("pieces", pieces, PIECES, "piece")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_dir, self.image_dir, self.image_dirs = data_dir, image_dir, dict(image_dirs or {})
        self.pieces = chosen
        self.min_caption_votes, self.limit, self.skip_missing = min_caption_votes, limit, skip_missing

    def load_piece(self, piece: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The kept items of one piece and the filter's counts."""
        folder = require_dir(self.data_dir, key="data_dir", source=self.name,
                             expected="the folder of VALSE's JSON files")
        path = folder / PIECES[piece][0]
        if not path.is_file():
            raise DataError(f"{self.name}: 'data_dir' = {self.data_dir!r} has no {PIECES[piece][0]} (piece "
                            f"{piece!r}); remove it from `pieces` or add the file")
        data = read_json(path, source=self.name, key="data_dir")
        if not isinstance(data, dict):
            raise DataError(f"{self.name}: {str(path)!r}: expected an object mapping item ids to items")
        kept, no_votes = [], 0
        phenomena = set()
        for key, item in data.items():
            if not isinstance(item, dict) or any(not isinstance(item.get(f), str) for f in FIELDS):
                raise DataError(f"{self.name}: {str(path)!r}: item {key!r} lacks one of {', '.join(FIELDS)}")
            phenomena.add(item.get("linguistic_phenomena"))
            votes = item.get("mturk")
            if not isinstance(votes, dict) or not isinstance(votes.get("caption"), (int, float)):
                no_votes += 1
                continue
            if votes["caption"] >= self.min_caption_votes:
                kept.append({"key": str(key), **item})
        counts = {"total": len(data), "kept": len(kept), "no_votes": no_votes}
        self._check_phenomena(piece, path, {p for p in phenomena if isinstance(p, str)})
        if self.limit:
            kept = kept[: self.limit]
        return kept, counts

    def _check_phenomena(self, piece: str, path: Path, phenomena: set[str]) -> None:
        """Warn when the items' ``linguistic_phenomena`` do not fit the piece (a file under the wrong name).
        A loose match (a shared word stem), since the field's exact values vary between releases."""
        def stems(text: str) -> set[str]:
            return {w[:4] for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4}

        expected = stems(piece) | stems(PIECES[piece][1])
        odd = sorted(p for p in phenomena if not stems(p) & expected)
        if odd:
            warnings.warn(f"{self.name}: {str(path)!r} (piece {piece!r}) holds items whose linguistic_phenomena is "
                          f"{odd[0]!r}; is it the right file?", DataWarning, stacklevel=3)

    def _image(self, piece: str, item: dict[str, Any]) -> tuple[Path, str]:
        for name in (piece, item.get("dataset")):
            if name in self.image_dirs:
                return Path(self.image_dirs[name]) / item["image_file"], f"image_dirs.{name}"
        if not self.image_dir:
            raise DataError(f"{self.name}: no image folder for piece {piece!r} (dataset {item.get('dataset')!r}); "
                            f"set image_dir or image_dirs")
        return Path(self.image_dir) / item["image_file"], "image_dir"

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        out: dict[str, float] = {}
        correct_by_piece: dict[str, np.ndarray] = {}
        counts_by_piece: dict[str, dict[str, int]] = {}
        n_missing = 0
        for piece in self.pieces:
            items, counts = self.load_piece(piece)
            located = [self._image(piece, it) for it in items]
            paths = [p for p, _ in located]
            key = located[0][1] if located else "image_dir"
            mask, missing = present_images(self.name, paths, key=key, skip_missing=self.skip_missing,
                                           where=f"piece {piece!r}")
            n_missing += missing
            items = [it for it, ok in zip(items, mask) if ok]
            feats = ctx.encode_images([p for p, ok in zip(paths, mask) if ok]).numpy()
            correct = np.zeros(0, dtype=bool)
            if items:
                correct = pairwise_correct(text_scores(ctx, feats, [it["caption"] for it in items]),
                                           text_scores(ctx, feats, [it["foil"] for it in items]))
            correct_by_piece[piece] = correct
            ctx.record_items(piece, [it["key"] for it in items], correct)
            counts_by_piece[piece] = counts
            out[f"{piece}/acc"] = float(correct.mean()) if len(correct) else float("nan")
            out[f"{piece}/n"] = float(len(correct))
            out[f"{piece}/n-total"] = float(counts["total"])
        instruments: dict[str, list[float]] = {}
        for piece, correct in correct_by_piece.items():
            if len(correct):
                instruments.setdefault(PIECES[piece][1], []).append(float(correct.mean()))
        for name, accs in instruments.items():
            out[f"instrument/{name}/acc"] = float(np.mean(accs))
        out["micro/acc"], out["macro/acc"] = micro_macro(correct_by_piece)
        if self.skip_missing:
            out["missing-images"] = float(n_missing)
        ctx.meta[self.name] = {"filter": f"items with mturk.caption >= {self.min_caption_votes}",
                               "metric": "pairwise ranking accuracy acc_r", "tie_rule": TIE_RULE,
                               "counts": counts_by_piece, "missing_images": n_missing}
        return out
