"""The data-source contract: random-access (image, caption) records per split."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol


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

    def captions(self, split: str = "train") -> list[str]:
        """Every caption of ``split`` in record order, without decoding images where the source can."""
        records = self.records(split)
        if hasattr(records, "column_names"):  # datasets.Dataset: read one column, not the images
            return list(records["caption"])
        return [records[i]["caption"] for i in range(len(records))]
