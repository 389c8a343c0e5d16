"""The ``precomputed`` miner: serves negatives that a data set ships with (NegCLIP's TSV, a JSONL file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negkit.errors import DataError
from negkit.mining.base import Miner, Negative, keep_valid
from negkit.seeding import caption_rng

FORMATS = ("auto", "negclip-tsv", "jsonl", "parquet", "negkit-manifest")


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


class Precomputed(Miner):
    """Negatives read from a file instead of mined: NegCLIP's ``train_neg_clip.tsv`` (``title`` ->
    ``neg_caption``), or a JSON Lines or Parquet file of ``{"caption": ..., "negatives": [...]}`` rows, such
    as ``negkit mine --export`` writes: their optional ``concreteness`` and ``kinds`` lists (one entry per
    negative) are kept, so an adaptive margin works on shared negatives.

    Captions are matched by text (whitespace and case normalised), so the miner works with any data
    source whose captions are those of the file, for instance ``negclip-tsv`` itself or ``coco-captions``
    on the same split. A caption listed on several rows gets the union of their negatives (file order).
    When a caption has more than ``k`` negatives, ``k`` are drawn with the caption's own seeded random
    stream, so the choice is deterministic in (caption, seed) like every miner. Captions the file does
    not know get no negatives; their number is kept in ``stats`` (``unmatched``) for the report.

    The mining cache is keyed by the miner's parameters, not the file's content: after editing the file
    in place, give it a new name (or clear the cache) so that it is read again.

    Parameters:
        path: the file with the negatives.
        format: ``"negclip-tsv"``, ``"jsonl"``, ``"parquet"``, ``"negkit-manifest"`` (the ``manifest.json`` of a
            mining table that ``negkit mine --engine ray`` wrote) or ``"auto"`` (``.tsv``/``.csv`` -> negclip-tsv,
            ``.parquet`` -> parquet, ``manifest.json`` -> negkit-manifest, else jsonl).
        caption_key: the caption's key in JSONL objects.
        negatives_key: the negatives' key in JSONL objects (a list of strings).
        kind: the ``Negative.kind`` given to served negatives.
    """

    name = "precomputed"
    _transient = ("_table",)

    def __init__(self, path: str = "", format: str = "auto", caption_key: str = "caption",
                 negatives_key: str = "negatives", kind: str = "precomputed") -> None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        self.path = path
        self.format = format
        self.caption_key = caption_key
        self.negatives_key = negatives_key
        self.kind = kind
        self._table: dict[str, list[Negative]] | None = None
        self.stats = {"served": 0, "unmatched": 0}

    def _load(self) -> dict[str, list[Negative]]:
        from negkit.data.sources.common import iter_jsonl, require_file
        from negkit.data.sources.negclip import iter_negclip_rows

        path = require_file(self.path, key="path", source=self.name,
                            expected="NegCLIP's TSV, a JSONL file of {caption, negatives}, or a mining manifest.json")
        fmt = self.format
        if fmt == "auto":
            suffix = path.suffix.lower()
            fmt = "negclip-tsv" if suffix in (".tsv", ".csv") else "parquet" if suffix == ".parquet" else \
                "negkit-manifest" if path.name == "manifest.json" else "jsonl"
        table: dict[str, list[Negative]] = {}

        def add(caption: str, negatives: list[Negative]) -> None:
            bucket = table.setdefault(_norm(caption), [])
            texts = {n.text for n in bucket}
            for neg in negatives:
                if neg.text not in texts:
                    texts.add(neg.text)
                    bucket.append(neg)

        if fmt == "negclip-tsv":
            for _, row in iter_negclip_rows(path, source=self.name):
                add(row["title"], [Negative(t, self.kind) for t in row["neg_caption"]])
            return table
        if fmt == "negkit-manifest":
            for caption, negatives in iter_manifest(path, source=self.name):
                add(caption, [Negative(n["text"], n.get("kind") or self.kind,
                                       _at([n.get("concreteness")], 0, (int, float))) for n in negatives])
            return table
        rows = iter_jsonl(path, source=self.name, key="path") if fmt == "jsonl" else _parquet_rows(path, self.name)
        for lineno, obj in rows:
            caption, negs = obj.get(self.caption_key), obj.get(self.negatives_key)
            texts_ok = isinstance(negs, list) and all(isinstance(n, str) for n in negs)
            if not isinstance(caption, str) or not texts_ok:
                raise DataError(f"{self.name}: {str(path)!r} row {lineno}: expected {self.caption_key!r} (text) "
                                f"and {self.negatives_key!r} (a list of texts)")
            add(caption, [Negative(t, _at(obj.get("kinds"), i, str) or self.kind,
                                   _at(obj.get("concreteness"), i, (int, float))) for i, t in enumerate(negs)])
        return table

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        if self._table is None:
            self._table = self._load()
        out = []
        for caption in captions:
            pool = self._table.get(_norm(caption)) if isinstance(caption, str) else None
            if not pool or k <= 0:
                self.stats["unmatched"] += pool is None
                out.append([])
                continue
            order = list(pool)
            if len(order) > k:
                caption_rng(caption, seed, self.name).shuffle(order)
            negs = keep_valid(caption, order, k)
            self.stats["served"] += len(negs)
            out.append(negs)
        return out

    def describe(self) -> dict[str, Any]:
        return {"path": str(Path(self.path)), **self.stats}


def iter_manifest(path: Path, *, source: str) -> Any:
    """``(caption, negatives)`` of every row of a mining table's ``manifest.json`` (``negkit mine --engine ray``):
    its shards' Parquet files (or Arrow files of local mining), read with pyarrow."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        shards = json.loads(path.read_text(encoding="utf-8"))["shards"]
        files = [path.parent / f for shard in shards for f in shard["files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{source}: {str(path)!r} is not a negkit mining manifest ({exc})") from None
    for file in files:
        try:
            table = pq.read_table(file) if file.suffix == ".parquet" else pa.ipc.open_stream(
                pa.memory_map(str(file))).read_all()
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{source}: cannot read {str(file)!r} listed in {str(path)!r} ({exc})") from None
        yield from zip(table.column("caption").to_pylist(), table.column("negatives").to_pylist())


def _at(values: Any, i: int, kind: type | tuple[type, ...]) -> Any:
    """``values[i]`` when ``values`` is a list long enough and the entry is of ``kind``; else None."""
    if isinstance(values, list) and i < len(values) and isinstance(values[i], kind) and not isinstance(values[i], bool):
        return float(values[i]) if kind == (int, float) else values[i]
    return None


def _parquet_rows(path: Path, source: str) -> Any:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{source}: {str(path)!r} is not a readable Parquet file ({exc})") from None
    yield from enumerate(table.to_pylist(), start=1)
