"""Image embeddings from a reference model, computed once per (model, weights, records) and cached, for
samplers that need image neighbours (``[sampler] name = "neighbours"``, ``reference_model``).

The cache is a ``.npy`` file under ``<datasets cache>/negkit/neighbours`` (or ``cache_dir``) named by a
hash of the model name, its weights tag and the records' captions and image paths; it is written
atomically, so a run killed while embedding leaves nothing half-written and the next run starts over.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from negkit.seeding import stable_hash


def default_cache_dir() -> Path:
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "negkit" / "neighbours"


def records_fingerprint(records: Sequence[Mapping[str, Any]], captions: Sequence[str]) -> str:
    """What identifies the records: every caption, and every image that is a path (not decoded images)."""
    first = records[0].get("image") if len(records) else None
    paths = [str(r.get("image")) for r in records] if isinstance(first, (str, Path)) else []
    return str(stable_hash("records", len(records), *captions, *paths))


def reference_embeddings(records: Sequence[Mapping[str, Any]], captions: Sequence[str], model: str,
                         pretrained: str = "", *, cache_dir: str | None = None, batch_size: int = 64,
                         device: str | None = None, on_bad: Callable[[int, str], None] | None = None) -> np.ndarray:
    """``[N, D]`` L2-normalised image embeddings of ``records`` by ``model`` (rows of unreadable images are 0
    and reported to ``on_bad(index, reason)``); read from the cache when it has them."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    key = stable_hash("reference-embeddings", model, pretrained, records_fingerprint(records, captions))
    path = root / f"{model.replace('/', '_')}-{key:x}.npy"
    if path.is_file():
        return np.load(path)
    from negkit.sections import ModelConfig
    from negkit.train.batch import BadImage, open_image
    from negkit.train.model import create_model

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    clip = create_model(ModelConfig(name=model, pretrained=pretrained, precision="fp32"), dev, seed=0)
    clip.model.eval()
    out: np.ndarray | None = None
    for lo in range(0, len(records), batch_size):
        idx = list(range(lo, min(lo + batch_size, len(records))))
        images, good = [], []
        for i in idx:
            try:
                images.append(clip.preprocess_val(open_image(records[i]["image"])))
                good.append(i)
            except BadImage as exc:
                if on_bad is not None:
                    on_bad(i, str(exc))
        if not good:
            continue
        with torch.no_grad():
            feats = clip.model.encode_image(torch.stack(images).to(dev), normalize=True).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(records), feats.shape[1]), dtype=np.float32)
        out[good] = feats
    if out is None:
        out = np.zeros((len(records), 1), dtype=np.float32)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, out)
    os.replace(tmp, path)
    return out
