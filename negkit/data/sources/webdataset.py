"""WebDataset tar shards (``key.jpg`` + ``key.txt`` / ``key.json``): indexed for random access when local,
streamed through the ``webdataset`` library otherwise."""

from __future__ import annotations

import io
import json
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from negkit.data.base import DataSource
from negkit.data.sources.common import DataWarning, check_split
from negkit.errors import DataError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp")
_REMOTE = ("http://", "https://", "pipe:", "s3://", "gs://", "hf://")


def _split_key(name: str) -> tuple[str, str]:
    """WebDataset's convention: the key is the path up to the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower() if dot else ""


def expand_shards(shards: str | list[str]) -> list[str]:
    """Brace-expanded shard list (``data-{000..009}.tar``) as webdataset writes it."""
    from braceexpand import braceexpand

    items = [shards] if isinstance(shards, str) else list(shards)
    return [s for item in items for s in braceexpand(item)]


class _ShardRecords:
    """Random access over members of local tar files: the index holds offsets; images decode on access."""

    def __init__(self, entries: list[dict[str, Any]], info: dict[str, Any]) -> None:
        self.entries = entries
        self.info = info

    def __len__(self) -> int:
        return len(self.entries)

    def _read(self, shard: str, offset: int, size: int) -> bytes:
        with open(shard, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image

        e = self.entries[index]
        data = self._read(e["shard"], *e["image"])
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as exc:  # noqa: BLE001 - OSError, DecompressionBombError, decoders failing on crafted bytes
            raise DataError(f"webdataset: {e['shard']}: sample {e['key']!r}: image cannot be decoded ({exc})") from None
        return {**e["extra"], "image": image, "caption": e["caption"], "key": e["key"]}


class WebDatasetSource(DataSource):
    """Image-caption pairs in WebDataset tar shards: each sample is files sharing a key, an image
    (``.jpg``/``.jpeg``/``.png``/``.webp``) plus its caption in ``.txt`` or a field of ``.json``.

    Local shards are indexed once (member offsets, no extraction), so records are random-access and images
    decode on access. Remote shards (``http(s)://``, ``pipe:``, ``s3://``) are read with :meth:`stream`,
    which goes through the ``webdataset`` library and never stores the data set.

    Parameters:
        shards: a shard path or brace pattern (``"data/train-{000000..000099}.tar"``), a list of them, or a
            table mapping split names to either.
        caption_key: the caption's file extension (``"txt"``) or ``"json"`` to read ``json_field`` from it.
        json_field: the caption's field inside the ``.json`` member.
        limit: keep only the first ``limit`` samples (0 = all).
    """

    name = "webdataset"

    def __init__(self, shards: str | list[str] | dict[str, str | list[str]] = "", caption_key: str = "txt",
                 json_field: str = "caption", limit: int = 0) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.shards = shards
        self.caption_key = caption_key
        self.json_field = json_field
        self.limit = limit
        self._cache: dict[str, _ShardRecords] = {}

    def splits(self) -> tuple[str, ...]:
        return tuple(self.shards) if isinstance(self.shards, dict) else ("train",)

    def shard_list(self, split: str = "train") -> tuple[list[str], str]:
        if isinstance(self.shards, dict):
            check_split(self.name, split, tuple(self.shards))
            key = f"shards.{split}"
            value = self.shards[split]
        else:
            check_split(self.name, split, ("train",))
            key, value = "shards", self.shards
        if not value:
            raise DataError(f"{self.name}: '{key}' is not set; expected tar shard paths or a brace pattern")
        return expand_shards(value), key

    def records(self, split: str = "train") -> _ShardRecords:
        if split not in self._cache:
            self._cache[split] = self._index(split)
        return self._cache[split]

    def captions(self, split: str = "train") -> list[str]:
        return [e["caption"] for e in self.records(split).entries]

    def _caption_from(self, data: bytes, where: str) -> str | None:
        text = data.decode("utf-8", errors="replace")
        if self.caption_key != "json":
            return " ".join(text.split())
        try:
            value = json.loads(text).get(self.json_field)
        except (json.JSONDecodeError, AttributeError):
            raise DataError(f"{self.name}: {where}: malformed .json member") from None
        return " ".join(value.split()) if isinstance(value, str) else None

    def _index(self, split: str) -> _ShardRecords:
        shards, key = self.shard_list(split)
        remote = [s for s in shards if s.startswith(_REMOTE)]
        if remote:
            raise DataError(f"{self.name}: '{key}' names remote shards ({remote[0]}); random access needs local "
                            f"files: download them, or read them with WebDatasetSource.stream()")
        missing = [s for s in shards if not Path(s).is_file()]
        if missing:
            raise DataError(f"{self.name}: '{key}': {len(missing)} of {len(shards)} shard file(s) not found "
                            f"(e.g. {missing[0]}); expected .tar shards")
        entries: list[dict[str, Any]] = []
        no_image = no_caption = 0
        for shard in shards:
            samples: dict[str, dict[str, Any]] = {}
            order: list[str] = []
            try:
                with tarfile.open(shard, "r:") as tar:
                    for member in tar:
                        if not member.isfile():
                            continue
                        k, ext = _split_key(member.name)
                        if k not in samples:
                            samples[k] = {}
                            order.append(k)
                        samples[k][ext] = (member.offset_data, member.size)
            except tarfile.TarError as exc:
                raise DataError(f"{self.name}: {shard}: not a readable tar file ({exc})") from None
            with open(shard, "rb") as fh:
                for k in order:
                    members = samples[k]
                    image = next((members[e] for e in IMAGE_EXTS if e in members), None)
                    cap = members.get(self.caption_key)
                    if image is None:
                        no_image += 1
                        continue
                    caption = None
                    if cap is not None:
                        fh.seek(cap[0])
                        caption = self._caption_from(fh.read(cap[1]), f"{shard}: sample {k!r}")
                    if caption is None:
                        no_caption += 1
                        continue
                    entries.append({"shard": shard, "key": k, "image": image, "caption": caption, "extra": {}})
                    if self.limit and len(entries) >= self.limit:
                        break
            if self.limit and len(entries) >= self.limit:
                break
        if no_image or no_caption:
            warnings.warn(f"{self.name} ({split}): skipped {no_image} sample(s) without an image and {no_caption} "
                          f"without a .{self.caption_key} caption", DataWarning, stacklevel=2)
        if not entries:
            raise DataError(f"{self.name}: '{key}': no samples with an image and a .{self.caption_key} caption "
                            f"in {len(shards)} shard(s)")
        return _ShardRecords(entries, {"shards": len(shards), "kept": len(entries), "no_image": no_image,
                                       "no_caption": no_caption})

    def stream(self, split: str = "train") -> Iterator[dict[str, Any]]:
        """Samples one by one through the ``webdataset`` library (local or remote shards, nothing stored)."""
        try:
            import webdataset as wds
        except ImportError as exc:
            raise DataError("webdataset: streaming needs the webdataset package (pip install "
                            "'negkit[webdataset]')") from exc
        shards, _ = self.shard_list(split)
        dataset = wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode("pil")
        n = 0
        for sample in dataset:
            image = next((sample[e] for e in IMAGE_EXTS if e in sample), None)
            cap = sample.get(self.caption_key)
            if isinstance(cap, dict):
                cap = cap.get(self.json_field)
            if isinstance(cap, bytes):
                cap = cap.decode("utf-8", errors="replace")
            if image is None or not isinstance(cap, str):
                continue
            yield {"image": image, "caption": " ".join(cap.split()), "key": sample["__key__"]}
            n += 1
            if self.limit and n >= self.limit:
                return
