"""Share mined negatives: the mined table as Parquet or JSON Lines (``negkit mine RECIPE --export PATH``).

One row per caption: ``caption``, ``negatives`` (texts), and per negative (lists of the same length)
``kinds``, ``edits`` (``[index, before, after]`` triples, as text), ``concreteness`` (of the edited words)
and ``new_concreteness`` (of the words put in; None for word-order negatives). Both formats load with
``datasets.load_dataset("parquet" | "json", data_files=PATH)``, and the ``precomputed`` miner serves them
back with their concreteness, so that an adaptive margin (Cement) works on shared negatives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from negkit.errors import NegkitError

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def export_format(path: Path | str) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise NegkitError(f"--export {str(path)!r}: give a .parquet or .jsonl path")
    return fmt


def export_rows(table: Iterable[dict[str, Any]], norms: Any = None) -> list[dict[str, Any]]:
    """The export rows of a mined table (rows of ``caption`` and ``negatives`` as the mining stage writes them)."""
    out = []
    for row in table:
        negs = row["negatives"] or []
        out.append({
            "caption": row["caption"],
            "negatives": [n["text"] for n in negs],
            "kinds": [n["kind"] for n in negs],
            "edits": [[[str(x) for x in e] for e in (n.get("edits") or [])] for n in negs],
            "concreteness": [n.get("concreteness") for n in negs],
            "new_concreteness": [_new_concreteness(n, norms) for n in negs],
        })
    return out


def _new_concreteness(neg: dict[str, Any], norms: Any) -> float | None:
    if norms is None:
        return None
    edits = neg.get("edits") or []
    befores = sorted(str(e[1]).lower() for e in edits)
    afters = sorted(str(e[2]).lower() for e in edits)
    if not afters or befores == afters:  # a swap or a shuffle puts no new word in
        return None
    scores = [s for a in afters if (s := norms.score(a)) is not None]
    return sum(scores) / len(scores) if scores else None


def export_table(table: Iterable[dict[str, Any]], path: Path | str, norms: Any = None) -> Path:
    """Write ``table`` to ``path`` (.parquet, or .jsonl/.json for JSON Lines), atomically."""
    import datasets

    path = Path(path).expanduser()
    fmt = export_format(path)
    rows = export_rows(table, norms)
    features = datasets.Features({
        "caption": datasets.Value("string"), "negatives": datasets.List(datasets.Value("string")),
        "kinds": datasets.List(datasets.Value("string")),
        "edits": datasets.List(datasets.List(datasets.List(datasets.Value("string")))),
        "concreteness": datasets.List(datasets.Value("float64")),
        "new_concreteness": datasets.List(datasets.Value("float64"))})
    ds = datasets.Dataset.from_list(rows, features=features)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            ds.to_parquet(tmp)
        else:
            ds.to_json(tmp, lines=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
