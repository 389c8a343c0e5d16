"""What the benchmark evaluators share: file checks, missing-image accounting, batched scoring."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
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


def present_pairs(evaluator: str, items: list, first: list[Path], second: list[Path], *, key: str,
                  skip_missing: bool, where: str) -> tuple[list, list[Path], list[Path], int]:
    """For items that each need two images: the items whose two images both exist, their two image lists,
    and the number of images missing (``present_images``' rules: an error unless ``skip_missing``)."""
    mask, n_missing = present_images(evaluator, first + second, key=key, skip_missing=skip_missing, where=where)
    keep = mask[: len(items)] & mask[len(items):]

    def kept(values: list) -> list:
        return [v for v, ok in zip(values, keep) if ok]

    return kept(items), kept(first), kept(second), n_missing


def encode_keyed_images(ctx: EvalContext, keys: Sequence[Hashable], load: Callable[[Hashable], Any]) -> np.ndarray:
    """Embeddings of images built on the fly (crops, frames): each distinct key is loaded (by ``load``, in the
    context's loader workers) and encoded once; a key must name the pixels fully, e.g. ``(path, box)``."""
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return ctx.encode_images(list(keys), load=load).numpy()


def text_scores(ctx: EvalContext, image_feats: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of row i of ``image_feats`` with ``texts[i]``."""
    text_feats = ctx.encode_texts(list(texts)).numpy()
    return (image_feats * text_feats).sum(axis=1)


def as_float(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items()}


def mean_or_nan(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def choice_correct(scores: np.ndarray, target: Sequence[int] | np.ndarray, *, ties: str) -> np.ndarray:
    """Per row of ``scores`` ``[N, K]``: whether option ``target[i]`` wins.

    ``ties="first"``: the winner is the first option with the highest score (``numpy.argmax``), so a tie
    goes to whichever tied option the file lists first; ``ties="wrong"``: the target must score strictly
    higher than every other option (a tie counts as wrong).
    """
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    if not len(scores):
        return np.zeros(0, dtype=bool)
    if ties == "first":
        return scores.argmax(axis=1) == target
    if ties == "wrong":
        best = scores[np.arange(len(scores)), target]
        others = scores.copy()
        others[np.arange(len(scores)), target] = -np.inf
        return best > others.max(axis=1)
    raise ValueError(f"ties: {ties!r} is not 'first' or 'wrong'")


def two_by_two(c0: np.ndarray, c1: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
    """Winoground's text, image and group correctness of two captions and two images (rows of unit
    vectors), with strict inequalities (a tie is wrong): text when s(c0,i0) > s(c1,i0) and s(c1,i1) > s(c0,i1),
    image when s(c0,i0) > s(c0,i1) and s(c1,i1) > s(c1,i0), group when both."""
    s00, s01 = (c0 * i0).sum(1), (c0 * i1).sum(1)
    s10, s11 = (c1 * i0).sum(1), (c1 * i1).sum(1)
    text = (s00 > s10) & (s11 > s01)
    image = (s00 > s01) & (s11 > s10)
    return text, image, text & image


def read_rows_json(evaluator: str, path: Path, key: str) -> Any:
    from negkit.data.sources.common import read_json

    return read_json(path, source=evaluator, key=key)


def npy_or_image(path: Path) -> Any:
    """A PIL image from an image file or from a ``.npy`` frame stored BGR (EqBen's YouCook2 frames)."""
    from PIL import Image

    from negkit.images import load_rgb_image

    if Path(path).suffix.lower() != ".npy":
        return load_rgb_image(path)
    try:
        arr = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image array {path} ({exc})") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"image array {path} has shape {arr.shape}; expected height x width x 3 (BGR)")
    return Image.fromarray(np.ascontiguousarray(arr[:, :, ::-1]).astype(np.uint8), "RGB")


def image_with_suffix(root: Path, name: str, suffixes: Sequence[str] = (".png", ".jpg", ".jpeg")) -> Path:
    """``root/name`` when ``name`` has a suffix, else the first ``root/name<suffix>`` that exists (files that
    name images by id alone); the first suffix when none exists, so the missing-image check names it."""
    if Path(name).suffix:
        return root / name
    for suffix in suffixes:
        if (root / f"{name}{suffix}").is_file():
            return root / f"{name}{suffix}"
    return root / f"{name}{suffixes[0]}"


def iter_csv(evaluator: str, path: Path, columns: Sequence[str], expected: str) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV file with a header; a ``DataError`` naming the file when a column
    is missing."""
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{evaluator}: {str(path)!r}: no column {', '.join(missing)}; is this {expected}?")
        yield from enumerate(reader, start=2)
