"""Checkpoints: atomic writes, the last N kept plus the final one, and every state that exact resume needs.

A checkpoint is a plain ``torch.save`` dict loadable with ``weights_only=True``. ``state_dict`` holds the
open_clip model's weights under the key open_clip itself reads, so a negkit checkpoint is also a valid
``pretrained`` file for open_clip; ``negkit`` holds metadata (model name, step, epoch, data position).
``<name>.checksum.json`` beside it records its size and hash when written; reading checks them.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from negkit import rundir
from negkit.atomic import atomic_write, check_file, file_checksum
from negkit.errors import IntegrityError, TrainingError

FORMAT = 1
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")
FINAL = "final.pt"
CHECKSUM_SUFFIX = ".checksum.json"


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


def checksum_path(path: Path) -> Path:
    """The sidecar holding the size and hash ``path`` had when it was written."""
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def atomic_save(obj: Any, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, rename over ``path``, then record its checksum."""
    path = Path(path)
    previous = path.stat().st_size if path.is_file() else None
    with atomic_write(path, "wb", need=previous, what="checkpoint") as fh:
        torch.save(obj, fh)
        checksum_path(path).unlink(missing_ok=True)  # the old checksum must not outlive the file it describes
    rundir.write_json(checksum_path(path), file_checksum(path))


def verify_checkpoint(path: Path) -> None:
    """Compare ``path`` with the checksum recorded when negkit wrote it (files without one are not checked:
    checkpoints from elsewhere, or from before checksums were recorded)."""
    sidecar = checksum_path(Path(path))
    if not sidecar.is_file():
        return
    try:
        expected = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        expected = None
    problem = check_file(path, expected)
    if problem:
        raise IntegrityError(f"checkpoint {path} is damaged: {problem} (recorded in {sidecar.name}); resume from "
                             f"an earlier checkpoint by deleting it, or start over with --force")


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with the errors a user can act on."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint file not found: {path}")
    verify_checkpoint(path)
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
        checksum_path(path).unlink(missing_ok=True)


def checkpoint_meta(path: Path) -> dict[str, Any]:
    """The ``negkit`` metadata of a checkpoint after checking its checksum, without reading its tensors
    into memory (memory-mapped)."""
    verify_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - read_checkpoint gives the full message when the run loads it
        return read_checkpoint(path).get("negkit", {})
    return state.get("negkit", {}) if isinstance(state, dict) else {}


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding NaN or infinity."""
    return [k for k, v in tensors.items() if torch.is_tensor(v) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]
