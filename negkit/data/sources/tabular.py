"""Image-caption tables in CSV/TSV or JSON Lines files, image paths relative to the file."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from negkit.data.sources.common import FileSource, ListRecords, MissingImages, iter_jsonl, open_text, resolve_image
from negkit.errors import DataError


class _TableSource(FileSource):
    kind = "table"

    def __init__(self, path: str | dict[str, str] = "", image_column: str = "image",
                 caption_column: str = "caption", image_root: str = "", check_images: bool = True,
                 drop_missing: bool = True, limit: int = 0, encoding: str = "utf-8") -> None:
        super().__init__(path, image_root, check_images, drop_missing, limit)
        self.image_column = image_column
        self.caption_column = caption_column
        self.encoding = encoding

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        raise NotImplementedError

    def _load(self, split: str) -> ListRecords:
        path = self.split_file(split, f"a {self.kind} file with columns {self.image_column!r} and "
                                      f"{self.caption_column!r}")
        root = self.image_folder(path)
        missing = MissingImages(f"{self.name} ({split})")
        rows = []
        n = 0
        for lineno, row in self._rows(path):
            where = f"{self.name}: {str(path)!r} line {lineno}"
            for col in (self.image_column, self.caption_column):
                if col not in row:
                    raise DataError(f"{where}: no column {col!r}; columns: {', '.join(row)} (set image_column / "
                                    f"caption_column)")
            image, caption = row[self.image_column], row[self.caption_column]
            if not isinstance(image, str) or not image.strip():
                raise DataError(f"{where}: {self.image_column!r} must be a non-empty path, got {image!r}")
            if not isinstance(caption, str):
                raise DataError(f"{where}: {self.caption_column!r} must be text, got {caption!r}")
            n += 1
            image_path = resolve_image(root, image.strip())
            if self.check_images and not missing.check(image_path) and self.drop_missing:
                continue
            extra = {k: v for k, v in row.items() if k not in (self.image_column, self.caption_column)}
            rows.append({**extra, "image": str(image_path), "caption": " ".join(caption.split())})
            if self.limit and len(rows) >= self.limit:
                break
        missing.report(drop=self.drop_missing)
        return ListRecords(rows, info={"file": str(path), "rows": n, "kept": len(rows),
                                       "images_missing": len(missing.missing)})


class CsvSource(_TableSource):
    """A CSV (or TSV) file with a header, one image-caption pair per row. Other columns are kept as extra
    record keys (labels for probes, ids).

    Parameters:
        path: the file, or a table mapping split names to files.
        image_column: the column holding the image path (relative to ``image_root``).
        caption_column: the column holding the caption.
        image_root: the folder image paths are relative to; default: the file's folder.
        delimiter: the field separator ("," for CSV, "\\t" for TSV).
        check_images: look for every image file when the split is first read and report missing ones.
        drop_missing: leave rows with missing images out (counted and warned).
        limit: keep only the first ``limit`` rows (0 = all).
        encoding: the file's text encoding (bytes that are not are an error naming the line).
    """

    name = "csv"
    kind = "CSV"

    def __init__(self, path: str | dict[str, str] = "", image_column: str = "image",
                 caption_column: str = "caption", image_root: str = "", delimiter: str = ",",
                 check_images: bool = True, drop_missing: bool = True, limit: int = 0, encoding: str = "utf-8") -> None:
        super().__init__(path, image_column, caption_column, image_root, check_images, drop_missing, limit, encoding)
        if len(delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {delimiter!r}")
        self.delimiter = delimiter

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        with open_text(path, source=self.name, encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            header = next(reader, None)
            if not header:
                raise DataError(f"{self.name}: {str(path)!r} is empty; expected a header row")
            for fields in reader:
                if not fields or not any(f.strip() for f in fields):
                    continue
                if len(fields) != len(header):
                    raise DataError(f"{self.name}: {str(path)!r} line {reader.line_num}: {len(fields)} fields, "
                                    f"the header has {len(header)} (wrong delimiter or unquoted separator?)")
                yield reader.line_num, dict(zip(header, fields))


class JsonlSource(_TableSource):
    """A JSON Lines file, one object per line with an image path and a caption. Other keys are kept as
    extra record keys (lists allowed, e.g. multi-label targets).

    Parameters:
        path: the file, or a table mapping split names to files.
        image_column: the key holding the image path (relative to ``image_root``).
        caption_column: the key holding the caption.
        image_root: the folder image paths are relative to; default: the file's folder.
        check_images: look for every image file when the split is first read and report missing ones.
        drop_missing: leave rows with missing images out (counted and warned).
        limit: keep only the first ``limit`` rows (0 = all).
        encoding: the file's text encoding (bytes that are not are an error naming the line).
    """

    name = "jsonl"
    kind = "JSON Lines"

    def __init__(self, path: str | dict[str, str] = "", image_column: str = "image",
                 caption_column: str = "caption", image_root: str = "", check_images: bool = True,
                 drop_missing: bool = True, limit: int = 0, encoding: str = "utf-8") -> None:
        super().__init__(path, image_column, caption_column, image_root, check_images, drop_missing, limit, encoding)

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        yield from iter_jsonl(path, source=self.name, key="path", encoding=self.encoding)
