"""What the benchmark evaluators share: file checks, missing-image accounting, batched scoring."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from negkit.data.catalog import sha256_file as sha256_of  # noqa: F401 - re-exported
from negkit.errors import DataError

if TYPE_CHECKING:
    from negkit.eval.base import EvalContext


def present_images(evaluator: str, paths: Sequence[Path], *, key: str, skip_missing: bool,
                   where: str) -> tuple[np.ndarray, int]:
    """A mask of the images that exist (each distinct path checked once) and the number missing.

    Missing images are an error naming ``key`` unless ``skip_missing``; then the caller evaluates the
    rest and reports the count, so a smaller benchmark is never silent.
    """
    exists: dict[Path, bool] = {}
    mask = np.array([exists.setdefault(p, p.is_file()) for p in paths], dtype=bool)
    missing = [p for p, ok in exists.items() if not ok]
    if missing and (not skip_missing or len(missing) == len(exists)):
        hint = "" if skip_missing else "; set skip_missing = true to score the rest (the count is reported)"
        raise DataError(f"{evaluator}: {len(missing)} of {len(exists)} images referenced by {where} are missing "
                        f"under '{key}' (e.g. {missing[0]}){hint}")
    return mask, len(missing)


def encode_keyed_images(ctx: EvalContext, keys: Sequence[Hashable], load: Callable[[Hashable], Any],
                        chunk: int = 1024) -> np.ndarray:
    """Embeddings of images built on the fly (crops), each distinct key loaded and encoded once; only one
    chunk of decoded images is held in memory at a time."""
    unique: dict[Hashable, int] = {}
    for k in keys:
        unique.setdefault(k, len(unique))
    order = list(unique)
    feats = []
    for start in range(0, len(order), chunk):
        feats.append(ctx.encode_images([load(k) for k in order[start:start + chunk]]).numpy())
    if not feats:
        return np.zeros((0, 0), dtype=np.float32)
    all_feats = np.concatenate(feats)
    return all_feats[[unique[k] for k in keys]]


def text_scores(ctx: EvalContext, image_feats: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of row i of ``image_feats`` with ``texts[i]``."""
    text_feats = ctx.encode_texts(list(texts)).numpy()
    return (image_feats * text_feats).sum(axis=1)


def as_float(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items()}
