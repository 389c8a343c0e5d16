"""Checkpoints: atomic writes, the last N kept plus the final one, and every state that exact resume needs.

A checkpoint is a plain ``torch.save`` dict loadable with ``weights_only=True``. ``state_dict`` holds the
open_clip model's weights under the key open_clip itself reads, so a negkit checkpoint is also a valid
``pretrained`` file for open_clip; ``negkit`` holds metadata (model name, step, epoch, data position).
"""

from __future__ import annotations

import os
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from negkit.errors import TrainingError

FORMAT = 1
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")
FINAL = "final.pt"


def rng_state() -> dict[str, Any]:
    """Every random generator a training step may touch, in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with the errors a user can act on."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        # torch's own message goes on to suggest weights_only=False, which would run the file's code: keep
        # only its first sentence
        first = str(exc).strip().splitlines()[0].split(". ")[0][:160] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"cannot read checkpoint {path}: truncated, corrupt, or not a safe weights file "
                            f"({first}); negkit loads checkpoints with weights_only=True") from None


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``step-N.pt`` files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint to resume from: the final one if training finished, else the newest step."""
    if (folder / FINAL).is_file():
        return folder / FINAL
    steps = step_checkpoints(folder)
    return steps[-1][1] if steps else None


def prune(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints (the final one is never pruned)."""
    for _, path in step_checkpoints(folder)[:-keep] if keep > 0 else step_checkpoints(folder):
        path.unlink(missing_ok=True)
