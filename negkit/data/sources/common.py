"""Shared helpers of the file-backed data sources: path checks, line-numbered parse errors, missing images."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from negkit.data.base import DataSource
from negkit.errors import DataError


class DataWarning(UserWarning):
    """Data that negkit skipped or repaired (missing images, malformed rows); the message says how many."""


def require_file(path: str | Path | None, *, key: str, expected: str, source: str) -> Path:
    """``path`` as a ``Path`` if it is an existing file; otherwise a ``DataError`` naming the key."""
    return _require(path, key=key, expected=expected, source=source, folder=False)


def require_dir(path: str | Path | None, *, key: str, expected: str, source: str) -> Path:
    """``path`` as a ``Path`` if it is an existing folder; otherwise a ``DataError`` naming the key."""
    return _require(path, key=key, expected=expected, source=source, folder=True)


def _require(path: str | Path | None, *, key: str, expected: str, source: str, folder: bool) -> Path:
    if not path:
        raise DataError(f"{source}: '{key}' is not set; expected {expected}")
    p = Path(path).expanduser()
    if not (p.is_dir() if folder else p.is_file()):
        if not p.exists():
            what = "not found"
        else:
            what = "a file, not a folder" if folder else "a folder, not a file"
        raise DataError(f"{source}: '{key}' = {str(path)!r}: {what}; expected {expected}")
    return p


@contextlib.contextmanager
def open_text(path: Path, *, source: str, encoding: str = "utf-8", newline: str | None = None) -> Iterator[IO[str]]:
    """Open a text file to read; bytes that are not ``encoding`` become a ``DataError`` naming the file, the
    line and the encoding (raised wherever in the body the bad bytes are met)."""
    try:
        with open(path, encoding=encoding, newline=newline) as fh:
            yield fh
    except UnicodeDecodeError:
        raise decode_error(path, source=source, encoding=encoding) from None
    except LookupError as exc:  # an unknown encoding name
        raise DataError(f"{source}: encoding = {encoding!r}: {exc}") from None


def decode_error(path: Path, *, source: str, encoding: str = "utf-8") -> DataError:
    """Where in ``path`` its text stops being ``encoding``: line, column and the offending byte."""
    raw = Path(path).read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        where = f"line {line}, column {column}: byte 0x{raw[exc.start]:02x} is not valid {encoding}"
    else:  # pragma: no cover - decoding failed only in chunks
        where = f"not valid {encoding}"
    return DataError(f"{source}: {str(path)!r} {where}; save the file as {encoding}, or give its encoding "
                     f"(e.g. encoding = \"latin-1\" in [data])")


def read_json(path: Path, *, source: str, key: str) -> Any:
    """Parse a JSON file; a syntax error names the file, line and column."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: '{key}' = {str(path)!r}: malformed JSON at line {exc.lineno}, "
                        f"column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise decode_error(path, source=f"{source}: '{key}'") from None


def iter_jsonl(path: Path, *, source: str, key: str, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line; a bad line raises naming its number."""
    with open_text(path, source=source, encoding=encoding) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{source}: {str(path)!r} line {lineno}: malformed JSON ({exc.msg}, "
                                f"column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{source}: {str(path)!r} line {lineno}: expected a JSON object, got "
                                f"{type(obj).__name__}")
            yield lineno, obj


def resolve_image(root: Path, name: str) -> Path:
    """An image path relative to ``root`` (absolute paths are kept)."""
    p = Path(name).expanduser()
    return p if p.is_absolute() else root / p


@dataclass
class MissingImages:
    """Image files a source referenced but could not find: counted, reported, never dropped silently."""

    source: str
    total: int = 0
    missing: list[str] = field(default_factory=list)

    def check(self, path: Path) -> bool:
        self.total += 1
        if path.is_file():
            return True
        self.missing.append(str(path))
        return False

    def report(self, *, drop: bool) -> None:
        """Warn (or raise when nothing is left) with the count and a few examples."""
        if not self.missing:
            return
        n = len(self.missing)
        examples = ", ".join(self.missing[:3])
        if n == self.total:
            raise DataError(f"{self.source}: none of the {n} referenced image files exist (e.g. {examples}); "
                            f"check the image folder setting")
        what = "dropped those records" if drop else "kept them (they will fail when read)"
        more = ", ..." if n > 3 else ""
        warnings.warn(f"{self.source}: {n} of {self.total} image files are missing ({examples}{more}); {what}",
                      DataWarning, stacklevel=3)

    def as_dict(self) -> dict[str, Any]:
        return {"referenced": self.total, "missing": len(self.missing), "examples": self.missing[:10]}


class ListRecords(Sequence):
    """Random-access records over a list of dicts (what ``DataSource.records`` returns)."""

    def __init__(self, rows: list[dict[str, Any]], *, info: Mapping[str, Any] | None = None) -> None:
        self.rows = rows
        self.info: dict[str, Any] = dict(info or {})  # counts of missing / skipped rows, for reports

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return ListRecords(self.rows[index], info=self.info)
        return self.rows[index]


def check_split(source: str, split: str, splits: Sequence[str]) -> None:
    if split not in splits:
        raise DataError(f"{source}: no split {split!r}; this source has {', '.join(splits)}")


def check_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return limit


class CachedSource(DataSource):
    """A source that reads each split once, on first use, in ``_load(split)``."""

    def records(self, split: str = "train") -> Any:
        cache = self.__dict__.setdefault("_split_cache", {})
        if split not in cache:
            cache[split] = self._load(split)
        return cache[split]

    def _load(self, split: str) -> Any:
        raise NotImplementedError


class FileSource(CachedSource):
    """A source read from one file per split: ``path`` is a file (the ``train`` split) or a table mapping
    split names to files; image paths are relative to ``image_root`` (default: the file's folder)."""

    def __init__(self, path: str | dict[str, str] = "", image_root: str = "", check_images: bool = True,
                 drop_missing: bool = True, limit: int = 0) -> None:
        self.path = path
        self.image_root = image_root
        self.check_images = check_images
        self.drop_missing = drop_missing
        self.limit = check_limit(limit)

    def splits(self) -> tuple[str, ...]:
        return tuple(self.path) if isinstance(self.path, dict) else ("train",)

    def split_file(self, split: str, expected: str) -> Path:
        """The existing file of ``split``; a ``DataError`` naming ``path`` (or ``path.<split>``) otherwise."""
        check_split(self.name, split, self.splits())
        if isinstance(self.path, dict):
            return require_file(self.path[split], key=f"path.{split}", expected=expected, source=self.name)
        return require_file(self.path, key="path", expected=expected, source=self.name)

    def image_folder(self, file: Path) -> Path:
        if not self.image_root:
            return file.parent
        return require_dir(self.image_root, key="image_root", expected="the folder image paths are relative to",
                           source=self.name)
