"""The data-source contract: random-access (image, caption) records per split."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

GROUP_KEYS = ("image_id", "filename", "image_group", "image")  # record keys naming a caption's image, best first


class Records(Protocol):
    """A random-access table of records; a ``datasets.Dataset`` with these columns qualifies."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


class DataSource(ABC):
    """Base class of data sources.

    Subclasses set ``name`` (the ``[data] source`` value) and take the other ``[data]`` keys as keyword
    arguments of ``__init__``. Check paths and settings in ``__init__`` (raise
    ``negkit.errors.DataError`` / ``RecipeError`` naming the key); do the heavy reading in ``records``.
    """

    name: ClassVar[str]

    def splits(self) -> tuple[str, ...]:
        """The split names this source provides."""
        return ("train",)

    @abstractmethod
    def records(self, split: str = "train") -> Records:
        """``len(records)`` and ``records[i] -> {"image": PIL image or file path, "caption": str}``.

        Records may carry more keys (``"negatives"`` for sources with precomputed negatives, labels for
        probes). Order is stable: the mining stage keys negatives by row index.
        """

    def caption_groups(self, split: str = "train") -> list[Any] | None:
        """The image each caption of ``split`` describes, in record order (a record's ``image_id``, else its
        ``filename``, ``image_group``, or ``image`` where that is a file path), so that the mining stage knows
        which captions describe the same image (``negkit.mining.siblings``); ``None`` where the records say
        nothing (one caption per image, or records that would have to render images to tell). Read from
        columns for a ``datasets.Dataset`` and from the rows of a list of records; other sources return
        ``None`` unless they override this."""
        records = self.records(split)
        if hasattr(records, "column_names"):
            for key in GROUP_KEYS:
                # an image column of decoded images is no key (and reading it would decode every image)
                if key in records.column_names and (
                        key != "image" or getattr(records.features.get(key), "dtype", None) == "string"):
                    return list(records[key])
            return None
        rows = records if isinstance(records, list) else getattr(records, "rows", None)
        if not isinstance(rows, list) or not rows:
            return None
        for key in GROUP_KEYS:
            if all(isinstance(r, Mapping) and key in r and (key != "image" or isinstance(r[key], str)) for r in rows):
                return [r[key] for r in rows]
        return None

    def captions(self, split: str = "train") -> list[str]:
        """Every caption of ``split`` in record order, without decoding images where the source can."""
        records = self.records(split)
        if hasattr(records, "column_names"):  # datasets.Dataset: read one column, not the images
            return list(records["caption"])
        return [records[i]["caption"] for i in range(len(records))]
