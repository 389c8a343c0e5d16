"""COCO-style caption data: the official caption JSON, Karpathy split JSON and BLIP's Karpathy lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from negkit.data.sources.common import (
    CachedSource,
    ListRecords,
    MissingImages,
    check_limit,
    check_split,
    read_json,
    require_dir,
    require_file,
    resolve_image,
)
from negkit.errors import DataError

# Karpathy's split names; NegCLIP (and BLIP's coco_karpathy_train.json) train on train + restval.
DEFAULT_KARPATHY_SPLITS: dict[str, list[str]] = {"train": ["train", "restval"], "val": ["val"], "test": ["test"]}

_OFFICIAL_FOLDER = re.compile(r"^COCO_((?:train|val|test)\d{4})_")

FORMATS = ("official", "karpathy", "blip")


class CocoCaptions(CachedSource):
    """Image-caption pairs from COCO (2014 or 2017) or any dataset shipped in the same formats.

    Three annotation formats are recognised by their content:

    - ``official``: ``captions_train2014.json`` (``images`` with ``file_name`` + ``annotations`` with
      ``image_id`` and ``caption``); one file per split.
    - ``karpathy``: Karpathy's ``dataset_coco.json`` / ``dataset_flickr30k.json`` (``images`` with
      ``filepath``, ``filename``, ``split`` and ``sentences``); one file holds every split.
    - ``blip``: BLIP's ``coco_karpathy_train.json`` / ``coco_karpathy_test.json`` / ``flickr30k_test.json``
      (a list of ``{"image", "caption"}``, the caption a string or a list); one file per split.

    One record per caption: ``{"image": path, "caption": str, "image_id": str}``.

    Parameters:
        annotations: the annotation file, or a table mapping split names to files
            (``{train = "captions_train2014.json", test = "coco_karpathy_test.json"}``).
            A single official or BLIP file is the ``train`` split; a single Karpathy file serves every
            split named in ``karpathy_splits``.
        image_root: the folder image paths are relative to: the COCO root holding ``train2014/`` and
            ``val2014/`` (Karpathy, BLIP, and official files whose names start ``COCO_train2014_``), or the
            image folder itself (official 2017 files). Default: the annotation file's folder.
        karpathy_splits: which Karpathy ``split`` values make each split (default: train = train +
            restval, as NegCLIP; val; test).
        check_images: look for every image file when the split is first read and report missing ones.
        drop_missing: leave records with missing images out (counted and warned); if false they are
            kept and fail when read.
        limit: keep only the first ``limit`` records of each split (0 = all); for smoke tests.
    """

    name = "coco-captions"

    def __init__(self, annotations: str | dict[str, str] = "", image_root: str = "",
                 karpathy_splits: dict[str, list[str]] | None = None, check_images: bool = True,
                 drop_missing: bool = True, limit: int = 0) -> None:
        self.annotations = annotations
        self.image_root = image_root
        self.karpathy_splits = dict(karpathy_splits or DEFAULT_KARPATHY_SPLITS)
        self.check_images = check_images
        self.drop_missing = drop_missing
        self.limit = check_limit(limit)
        self.report: dict[str, dict[str, Any]] = {}  # per split: format, counts, missing images

    # -- public -------------------------------------------------------------------------------------

    def splits(self) -> tuple[str, ...]:
        if isinstance(self.annotations, dict):
            return tuple(self.annotations)
        if not self.annotations:
            return ("train",)
        path = Path(self.annotations).expanduser()
        if not path.is_file():  # unknown until the file exists; allow what a Karpathy file would give
            return tuple(dict.fromkeys(["train", *self.karpathy_splits]))
        with open(path, "rb") as fh:  # a peek, not a parse: Karpathy files hold "sentences" near the start
            head = fh.read(4096)
        return tuple(self.karpathy_splits) if b'"sentences"' in head or b'"filepath"' in head else ("train",)

    # -- loading ------------------------------------------------------------------------------------

    def _file_for(self, split: str) -> tuple[Path, str]:
        expected = "a COCO caption JSON (official, Karpathy or BLIP format)"
        if isinstance(self.annotations, dict):
            check_split(self.name, split, tuple(self.annotations))
            key = f"annotations.{split}"
            return require_file(self.annotations[split], key=key, expected=expected, source=self.name), key
        return require_file(self.annotations, key="annotations", expected=expected, source=self.name), "annotations"

    def _load(self, split: str) -> ListRecords:
        path, key = self._file_for(split)
        data = read_json(path, source=self.name, key=key)
        fmt = self._detect(data, path)
        if not isinstance(self.annotations, dict) and fmt != "karpathy" and split != "train":
            raise DataError(f"{self.name}: {str(path)!r} is a single-split {fmt} file, which serves only "
                            f"split 'train'; for {split!r} give annotations as a table "
                            f"{{{split} = \"file.json\"}}")
        root = (require_dir(self.image_root, key="image_root", expected="the folder the image paths are "
                            "relative to", source=self.name) if self.image_root else path.parent)
        pairs = getattr(self, f"_parse_{fmt}")(data, split, path)
        if self.limit:
            pairs = pairs[: self.limit]
        missing = MissingImages(f"{self.name} ({split})")
        rows = []
        for image, caption, image_id in pairs:
            image_path = self._image_path(root, image, fmt)
            if self.check_images and not missing.check(image_path) and self.drop_missing:
                continue
            rows.append({"image": str(image_path), "caption": caption, "image_id": str(image_id)})
        missing.report(drop=self.drop_missing)
        info = {"format": fmt, "file": str(path), "captions": len(pairs), "kept": len(rows),
                "images_missing": len(missing.missing)}
        self.report[split] = info
        return ListRecords(rows, info=info)

    def _image_path(self, root: Path, image: str, fmt: str) -> Path:
        path = resolve_image(root, image)
        if fmt == "official" and not path.is_file():
            m = _OFFICIAL_FOLDER.match(Path(image).name)
            if m:  # image_root may be the COCO root rather than train2014/ itself
                alt = root / m.group(1) / image
                if alt.is_file():
                    return alt
        return path

    def _detect(self, data: Any, path: Path) -> str:
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            first = data["images"][0] if data["images"] else {}
            if "annotations" in data and "file_name" in first:
                if data["annotations"] and "caption" not in data["annotations"][0]:
                    raise DataError(f"{self.name}: {str(path)!r} is a COCO annotation file without captions "
                                    f"(instances or keypoints?); expected captions_*.json")
                return "official"
            if "sentences" in first and "filename" in first:
                return "karpathy"
        if isinstance(data, list) and data and isinstance(data[0], dict) and {"image", "caption"} <= set(data[0]):
            return "blip"
        raise DataError(f"{self.name}: {str(path)!r}: unrecognised annotation format; expected COCO "
                        f"captions_*.json, Karpathy dataset_*.json or BLIP *_karpathy_*.json")

    def _parse_official(self, data: dict, split: str, path: Path) -> list[tuple[str, str, Any]]:
        names = {}
        for i, img in enumerate(data["images"]):
            try:
                names[img["id"]] = img["file_name"]
            except (KeyError, TypeError):
                raise DataError(f"{self.name}: {str(path)!r}: images[{i}] lacks 'id' or 'file_name'") from None
        out = []
        for i, ann in enumerate(data["annotations"]):
            try:
                out.append((names[ann["image_id"]], _text(ann["caption"]), ann["image_id"]))
            except (KeyError, TypeError):
                raise DataError(f"{self.name}: {str(path)!r}: annotations[{i}] has no 'caption' or an "
                                f"'image_id' missing from images") from None
        return out

    def _parse_karpathy(self, data: dict, split: str, path: Path) -> list[tuple[str, str, Any]]:
        check_split(self.name, split, tuple(self.karpathy_splits))
        wanted = set(self.karpathy_splits[split])
        out = []
        for i, img in enumerate(data["images"]):
            try:
                if img["split"] not in wanted:
                    continue
                rel = str(Path(img.get("filepath", "")) / img["filename"])
                image_id = img.get("cocoid", img.get("imgid", i))
                out.extend((rel, _text(s["raw"]), image_id) for s in img["sentences"])
            except (KeyError, TypeError):
                raise DataError(f"{self.name}: {str(path)!r}: images[{i}] lacks 'split', 'filename' or "
                                f"'sentences[].raw'") from None
        return out

    def _parse_blip(self, data: list, split: str, path: Path) -> list[tuple[str, str, Any]]:
        out = []
        for i, item in enumerate(data):
            try:
                captions = item["caption"]
                image = item["image"]
            except (KeyError, TypeError):
                raise DataError(f"{self.name}: {str(path)!r}: item {i} lacks 'image' or 'caption'") from None
            image_id = item.get("image_id", image)
            for caption in captions if isinstance(captions, list) else [captions]:
                out.append((image, _text(caption), image_id))
        return out


class Karpathy(CocoCaptions):
    """Karpathy-split caption data (COCO 5k / Flickr30k 1k test sets for retrieval), the same reader as
    ``coco-captions`` under the name retrieval recipes use. See ``coco-captions`` for the parameters;
    ``annotations`` is typically ``dataset_coco.json`` / ``dataset_flickr30k.json`` or BLIP's
    ``coco_karpathy_test.json`` / ``flickr30k_test.json``.

    Parameters:
        annotations: the Karpathy (or BLIP) JSON, or a table mapping split names to files.
        image_root: the folder image paths are relative to (COCO root, or Flickr30k's image folder).
        karpathy_splits: which Karpathy ``split`` values make each split.
        check_images: look for every image file when the split is first read.
        drop_missing: leave records with missing images out (counted and warned).
        limit: keep only the first ``limit`` records of each split (0 = all).
    """

    name = "karpathy"

    def __init__(self, annotations: str | dict[str, str] = "", image_root: str = "",
                 karpathy_splits: dict[str, list[str]] | None = None, check_images: bool = True,
                 drop_missing: bool = True, limit: int = 0) -> None:
        super().__init__(annotations, image_root, karpathy_splits, check_images, drop_missing, limit)


def _text(caption: Any) -> str:
    if not isinstance(caption, str):
        raise TypeError(caption)
    return " ".join(caption.split())
