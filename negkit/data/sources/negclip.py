"""NegCLIP's training TSV: ``title, filepath, neg_caption, neg_image`` with precomputed negatives."""

from __future__ import annotations

import ast
import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from negkit.data.sources.common import FileSource, ListRecords, MissingImages, open_text
from negkit.errors import DataError

REQUIRED_COLUMNS = ("title", "filepath", "neg_caption", "neg_image")


def _literal_list(text: str, *, where: str, column: str, item_type: type) -> list:
    try:
        value = ast.literal_eval(text) if text.strip() else []
    except (ValueError, SyntaxError):
        raise DataError(f"{where}: column {column!r} is not a list literal: {text[:80]!r}") from None
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, item_type) for v in value):
        raise DataError(f"{where}: column {column!r} must be a list of {item_type.__name__}, got {text[:80]!r}")
    return list(value)


def iter_negclip_rows(path: Path, *, source: str = "negclip-tsv", delimiter: str = "\t"
                      ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` with ``neg_caption`` and ``neg_image`` parsed; bad rows raise with their line."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open_text(path, source=source, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{source}: {str(path)!r} is empty; expected a header "
                            f"{', '.join(REQUIRED_COLUMNS)}") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{source}: {str(path)!r} line 1: header lacks column(s) {', '.join(missing)}; "
                            f"expected {', '.join(REQUIRED_COLUMNS)} (tab-separated), got {', '.join(header)}")
        col = {c: header.index(c) for c in REQUIRED_COLUMNS}
        for fields in reader:
            lineno = reader.line_num
            if not fields or not any(f.strip() for f in fields):
                continue
            where = f"{source}: {str(path)!r} line {lineno}"
            if len(fields) != len(header):
                raise DataError(f"{where}: {len(fields)} fields, the header has {len(header)}")
            yield lineno, {
                "title": " ".join(fields[col["title"]].split()),
                "filepath": fields[col["filepath"]],
                "neg_caption": [" ".join(t.split()) for t in
                                _literal_list(fields[col["neg_caption"]], where=where, column="neg_caption",
                                              item_type=str)],
                "neg_image": _literal_list(fields[col["neg_image"]], where=where, column="neg_image",
                                           item_type=int),
            }


class NegClipTsv(FileSource):
    """NegCLIP's COCO training file (``train_neg_clip.tsv``): a tab-separated table with a header and the
    columns ``title`` (the caption), ``filepath`` (the image), ``neg_caption`` (a Python list literal of
    negative captions made by NegCLIP's swaps) and ``neg_image`` (a list literal of row indices of
    hard-negative images).

    Records: ``{"image", "caption", "negatives": [str, ...], "neg_image": [row index, ...]}``. Serve the
    ``negatives`` through the ``precomputed`` miner to train on NegCLIP's own negatives without mining.

    Parameters:
        path: the TSV file, or a table mapping split names to files.
        image_root: where images are. Relative ``filepath`` values are joined to it; absolute ones from
            another machine that do not exist are looked up here by file name. Default: the TSV's folder.
        check_images: look for every image file when the split is first read and report missing ones.
        drop_missing: leave rows with missing images out (counted and warned). ``neg_image`` indices
            keep pointing at the original rows (``row`` key); dropped targets are removed from them.
        limit: keep only the first ``limit`` rows (0 = all).
    """

    name = "negclip-tsv"

    def tsv_path(self, split: str = "train") -> Path:
        return self.split_file(split, "NegCLIP's tab-separated file with columns title, filepath, neg_caption, "
                                      "neg_image")

    def _load(self, split: str) -> ListRecords:
        path = self.tsv_path(split)
        root = self.image_folder(path)
        raw = []
        for _, row in iter_negclip_rows(path, source=self.name):
            raw.append(row)
            if self.limit and len(raw) >= self.limit:
                break
        missing = MissingImages(f"{self.name} ({split})")
        rows: list[dict[str, Any]] = []
        new_index: dict[int, int] = {}
        for i, row in enumerate(raw):
            image = self._image_path(root, row["filepath"])
            if self.check_images and not missing.check(image) and self.drop_missing:
                continue
            new_index[i] = len(rows)
            rows.append({"image": str(image), "caption": row["title"], "negatives": row["neg_caption"],
                         "neg_image": row["neg_image"], "row": i})
        dangling = 0
        for r in rows:  # neg_image indexes rows of the file; re-point it at kept records
            kept = [new_index[j] for j in r["neg_image"] if j in new_index]
            dangling += len(r["neg_image"]) - len(kept)
            r["neg_image"] = kept
        missing.report(drop=self.drop_missing)
        info = {"file": str(path), "rows": len(raw), "kept": len(rows), "images_missing": len(missing.missing),
                "neg_image_dropped": dangling}
        return ListRecords(rows, info=info)

    def _image_path(self, root: Path, filepath: str) -> Path:
        p = Path(filepath).expanduser()
        if not p.is_absolute():
            return root / p
        if p.is_file() or not self.image_root:
            return p
        return root / p.name
