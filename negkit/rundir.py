"""The run directory: what a run writes (recipe, plugins, environment, metrics) and how it is read back.

```
<out>/<run name>/
  recipe.json     the resolved recipe (every default filled in)
  plugins.json    loaded plugins, their versions and what they register
  env.json        python, torch, open_clip, negkit versions; device; processes
  log.jsonl       one JSON object per logged step
  checkpoints/    step-N.pt (last N kept) and final.pt, each with <name>.checksum.json
  mining.json     the mining fingerprint the run trained on
  base.json       the base model a [model] init run started from (negkit.base_stage)
  resumes.jsonl   what each --resume --force changed
  .negkit.lock    held by the live run (negkit.locks.DirectoryLock)
  metrics.json    {"run": {...}, "metrics": {"<evaluator>/<metric>": value}}
  items.jsonl     per-item results: {"group": "<evaluator>/<group>", "item": key, "value": 1.0}
  report.md       metrics table and plots/
  plots/          PNG plots of the logged values over steps
```
"""

from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

from negkit.atomic import atomic_write, write_text
from negkit.errors import DataError

RECIPE = "recipe.json"
PLUGINS = "plugins.json"
ENV = "env.json"
LOG = "log.jsonl"
METRICS = "metrics.json"
REPORT = "report.md"
CHECKPOINTS = "checkpoints"
PLOTS = "plots"
EVAL_META = "eval_meta.json"
ITEMS = "items.jsonl"
REFERENCE = "reference"  # the step-0 evaluation: its own metrics.json, items.jsonl and eval_meta.json


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (temp file + rename): a killed run never leaves half a file."""
    write_text(path, json.dumps(_finite(data), indent=2, sort_keys=False) + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found (is {path.parent} a negkit run directory?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None


def environment(device: str = "cpu", world: int = 1) -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "negkit": version("negkit"),
        "torch": version("torch"),
        "open_clip_torch": version("open_clip_torch"),
        "datasets": version("datasets"),
        "device": device,
        "processes": world,
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        env["cpu_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return env


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl`` (a torn last line from a killed run is skipped)."""
    return [record for _, record in log_lines(Path(run_dir) / LOG)]


def log_lines(path: Path) -> list[tuple[bytes, dict[str, Any]]]:
    """Each readable record of a JSON Lines log with its raw line. Torn or damaged lines (half a line, bytes
    that are not UTF-8, NUL padding a crash left) are skipped, never fatal: the log is a record, not state."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(record, dict):
            out.append((line, record))
    return out


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir)
    if path.is_file() and path.name == METRICS:
        path = path.parent
    data = read_json(path / METRICS)
    if not isinstance(data, dict) or "metrics" not in data:
        raise DataError(f"{path / METRICS} has no \"metrics\" table")
    return data


def write_items(path: Path, items: dict[str, tuple[list[str], list[float]]]) -> None:
    """Per-item results as JSON Lines (atomic), one row per (group, item)."""
    with atomic_write(path) as fh:
        for group, (ids, values) in items.items():
            for item, value in zip(ids, values):
                fh.write(json.dumps({"group": group, "item": item, "value": _finite(value)}) + "\n")


def read_items(run_dir: Path) -> dict[str, dict[str, float]]:
    """``items.jsonl`` of a run as ``{group: {item: value}}`` (empty when the run recorded none)."""
    path = Path(run_dir) / ITEMS
    if not path.is_file():
        return {}
    out: dict[str, dict[str, float]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            value = row["value"]
            out.setdefault(str(row["group"]), {})[str(row["item"])] = float("nan") if value is None else float(value)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"{path}:{n}: not a per-item record {{group, item, value}}") from None
    return out
