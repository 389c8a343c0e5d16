"""Labelled image sets for zero-shot classification and linear probes: ImageFolder trees, Pascal VOC 2007
and COCO object labels. Records carry the caption a zero-shot prompt would use plus label keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from negkit.data.sources.common import (
    CachedSource,
    ListRecords,
    MissingImages,
    check_limit,
    read_json,
    require_dir,
    require_file,
)
from negkit.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


class ImageFolder(CachedSource):
    """A classification set laid out as ``root/<split>/<class>/<image>`` (or ``root/<class>/<image>`` for a
    single split), as torchvision's ImageFolder reads it. Classes are the sorted folder names.

    Records: ``{"image", "caption": class name, "label": class index}``; ``class_names("label")`` gives the
    names (readable ones from ``class_names_file`` when given), which the ``zero-shot`` and
    ``linear-probe`` evaluators use.

    Parameters:
        root: the data set folder.
        split_dirs: map split names to sub-folders of ``root`` (default: every sub-folder whose own
            sub-folders hold images is a split; otherwise ``root`` itself is the single split ``test``).
        class_names_file: a text file with one readable class name per line, in sorted-folder order
            (e.g. ImageNet's names for its wnid folders).
        limit: keep only the first ``limit`` images of a split (0 = all; evaluators sample with seeds).
        templates: zero-shot prompt templates for this set, each with one ``{}`` for the class name
            (``zero-shot`` uses them unless its own ``templates`` are given).
    """

    name = "imagefolder"

    def __init__(self, root: str = "", split_dirs: dict[str, str] | None = None, class_names_file: str = "",
                 limit: int = 0, templates: list[str] | None = None) -> None:
        if templates is not None and (not templates or any(t.count("{}") != 1 for t in templates)):
            raise ValueError("templates: give at least one, each with exactly one {} for the class name")
        self._templates = list(templates) if templates else None
        self.root = root
        self.split_dirs = dict(split_dirs) if split_dirs else None
        self.class_names_file = class_names_file
        self.limit = check_limit(limit)
        self._classes: list[str] | None = None

    def _root(self) -> Path:
        return require_dir(self.root, key="root", expected="an ImageFolder tree root/<split>/<class>/<image>",
                           source=self.name)

    def _split_map(self) -> dict[str, Path]:
        root = self._root()
        if self.split_dirs is not None:
            return {s: root / d for s, d in self.split_dirs.items()}
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        nested = [d for d in subdirs if any(c.is_dir() for c in d.iterdir())]
        if nested and len(nested) == len(subdirs):
            return {d.name: d for d in subdirs}
        return {"test": root}

    def splits(self) -> tuple[str, ...]:
        if not self.root or not Path(self.root).is_dir():
            return tuple(self.split_dirs or ("test",))
        return tuple(self._split_map())

    def class_names(self, label: str = "label") -> list[str]:
        if label != "label":
            raise KeyError(label)
        if self._classes is None:
            self.records(self.splits()[0])
        assert self._classes is not None
        return list(self._classes)

    def templates(self, label: str = "label") -> list[str]:
        if label != "label" or self._templates is None:
            raise KeyError(label)
        return list(self._templates)

    def _load(self, split: str) -> ListRecords:
        splits = self._split_map()
        if split not in splits:
            raise DataError(f"{self.name}: no split {split!r} under {self.root!r}; splits: {', '.join(splits)}")
        folder = require_dir(splits[split], key=f"split_dirs.{split}", expected="a folder of class folders",
                             source=self.name)
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not classes:
            raise DataError(f"{self.name}: {str(folder)!r} has no class folders; expected <class>/<image> inside")
        names = classes
        if self.class_names_file:
            path = require_file(self.class_names_file, key="class_names_file",
                                expected="one class name per line", source=self.name)
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if len(names) != len(classes):
                raise DataError(f"{self.name}: class_names_file has {len(names)} names but {str(folder)!r} has "
                                f"{len(classes)} class folders")
        if self._classes is not None and self._classes != names:
            raise DataError(f"{self.name}: split {split!r} has different classes from the other splits")
        self._classes = names
        rows = []
        for idx, cls in enumerate(classes):
            for image in sorted((folder / cls).iterdir()):
                if image.suffix.lower() in IMAGE_SUFFIXES:
                    rows.append({"image": str(image), "caption": names[idx], "label": idx})
        if self.limit:
            rows = rows[: self.limit]
        return ListRecords(rows, info={"classes": len(classes), "images": len(rows)})


class VOC2007(CachedSource):
    """Pascal VOC 2007 multi-label classification (for the multi-label linear probe): ``root`` is the
    ``VOC2007`` folder with ``JPEGImages/``, ``Annotations/`` and ``ImageSets/Main/{split}.txt``.

    Records: ``{"image", "caption": "", "labels": [class names present]}``; ``class_names("labels")``
    gives the 20 VOC classes. Objects marked ``difficult`` count as present (as in CLIP's VOC probe).

    Parameters:
        root: the VOC2007 folder.
        limit: keep only the first ``limit`` images of a split (0 = all).
    """

    name = "voc2007"

    def __init__(self, root: str = "", limit: int = 0) -> None:
        self.root = root
        self.limit = check_limit(limit)

    def splits(self) -> tuple[str, ...]:
        return ("train", "val", "trainval", "test")

    def class_names(self, label: str = "labels") -> list[str]:
        if label != "labels":
            raise KeyError(label)
        return list(VOC_CLASSES)

    def _load(self, split: str) -> ListRecords:
        import xml.etree.ElementTree as ET

        root = require_dir(self.root, key="root", expected="the VOC2007 folder (JPEGImages/, Annotations/, "
                           "ImageSets/Main/)", source=self.name)
        ids_file = require_file(root / "ImageSets" / "Main" / f"{split}.txt", key="root",
                                expected=f"ImageSets/Main/{split}.txt inside the VOC2007 folder", source=self.name)
        ids = [line.split()[0] for line in ids_file.read_text().splitlines() if line.strip()]
        if self.limit:
            ids = ids[: self.limit]
        missing = MissingImages(f"{self.name} ({split})")
        rows = []
        for image_id in ids:
            image = root / "JPEGImages" / f"{image_id}.jpg"
            if not missing.check(image):
                continue
            ann = root / "Annotations" / f"{image_id}.xml"
            try:
                tree = ET.parse(ann)
            except (OSError, ET.ParseError) as exc:
                raise DataError(f"{self.name}: annotation {str(ann)!r} cannot be read ({exc})") from None
            labels = sorted({o.findtext("name", "").strip() for o in tree.iter("object")} - {""})
            unknown = [lab for lab in labels if lab not in VOC_CLASSES]
            if unknown:
                raise DataError(f"{self.name}: {str(ann)!r}: unknown class {unknown[0]!r}")
            rows.append({"image": str(image), "caption": "", "labels": labels, "image_id": image_id})
        missing.report(drop=True)
        return ListRecords(rows, info={"images": len(rows), "images_missing": len(missing.missing)})


class CocoLabels(CachedSource):
    """COCO object labels as multi-label classification: which of the 80 categories appear in each image,
    from ``instances_{train,val}{2014,2017}.json``.

    Records: ``{"image", "caption": "", "labels": [category names]}`` (images without objects included
    with no labels); ``class_names("labels")`` lists categories in id order.

    Parameters:
        annotations: a table mapping split names to instances JSON files (``{train = ..., test = ...}``).
        image_dirs: a table mapping split names to image folders (``{train = "train2014", ...}``).
        limit: keep only the first ``limit`` images of a split (0 = all).
    """

    name = "coco-labels"

    def __init__(self, annotations: dict[str, str] | None = None, image_dirs: dict[str, str] | None = None,
                 limit: int = 0) -> None:
        self.annotations = dict(annotations or {})
        self.image_dirs = dict(image_dirs or {})
        self.limit = check_limit(limit)
        self._classes: list[str] | None = None

    def splits(self) -> tuple[str, ...]:
        return tuple(self.annotations) or ("train", "test")

    def class_names(self, label: str = "labels") -> list[str]:
        if label != "labels":
            raise KeyError(label)
        if self._classes is None:
            self.records(self.splits()[0])
        assert self._classes is not None
        return list(self._classes)

    def _load(self, split: str) -> ListRecords:
        if split not in self.annotations:
            raise DataError(f"{self.name}: 'annotations' has no split {split!r}; expected a table "
                            f"{{{split} = \"instances_....json\"}}")
        path = require_file(self.annotations[split], key=f"annotations.{split}",
                            expected="a COCO instances_*.json file", source=self.name)
        folder = require_dir(self.image_dirs.get(split), key=f"image_dirs.{split}",
                             expected="the folder of that split's images", source=self.name)
        data = read_json(path, source=self.name, key=f"annotations.{split}")
        if not isinstance(data, dict) or "categories" not in data or "annotations" not in data:
            raise DataError(f"{self.name}: {str(path)!r} is not an instances file (no 'categories'); captions "
                            f"files belong to coco-captions")
        cats = sorted(data["categories"], key=lambda c: c["id"])
        names = {c["id"]: c["name"] for c in cats}
        classes = [c["name"] for c in cats]
        if self._classes is not None and self._classes != classes:
            raise DataError(f"{self.name}: split {split!r} has different categories from the other splits")
        self._classes = classes
        labels: dict[Any, set[str]] = {}
        for ann in data["annotations"]:
            labels.setdefault(ann["image_id"], set()).add(names[ann["category_id"]])
        images = sorted(data["images"], key=lambda im: im["id"])
        if self.limit:
            images = images[: self.limit]
        missing = MissingImages(f"{self.name} ({split})")
        rows = []
        for im in images:
            image = folder / im["file_name"]
            if missing.check(image):
                rows.append({"image": str(image), "caption": "", "labels": sorted(labels.get(im["id"], ())),
                             "image_id": im["id"]})
        missing.report(drop=True)
        return ListRecords(rows, info={"images": len(rows), "images_missing": len(missing.missing)})
