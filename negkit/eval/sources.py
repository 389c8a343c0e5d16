"""How general evaluators reach data: the run's source or one named in the evaluator's table, a seeded
subset of a split, and labels read from record keys."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from negkit.errors import DataError, RecipeError

if TYPE_CHECKING:
    from negkit.data.base import DataSource, Records
    from negkit.eval.base import EvalContext


def build_source(source: str | None, data: dict[str, Any] | None, evaluator: str) -> DataSource | None:
    """The data source named by an evaluator's ``source`` (built now, so that bad settings fail at
    validation), or None to use the run's source at evaluation time."""
    if source is None:
        if data:
            raise ValueError("data: given without source; name the dataset whose arguments these are")
        return None
    from negkit.plugins import get_host

    cls = get_host().ref("datasets", source).load()
    try:
        return cls(**(data or {}))
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{evaluator}: data source {source!r}: {exc}", key="data") from exc


def resolve_source(own: DataSource | None, ctx: EvalContext, evaluator: str) -> DataSource:
    source = own if own is not None else ctx.data
    if source is None:
        raise DataError(f"{evaluator}: no data source; set `source` (and `data`) in its [[eval]] table")
    return source


def check_split(source: DataSource, split: str, evaluator: str, key: str = "split") -> None:
    splits = source.splits()
    if split not in splits:
        raise DataError(f"{evaluator}: {key} {split!r} is not a split of {source.name!r}; "
                        f"its splits: {', '.join(splits)}")


def subset(n: int, limit: int, seed: int) -> list[int]:
    """Row indices to evaluate: all rows when ``limit`` <= 0 or >= n, else a seeded sample in row order
    (a random sample, not the first rows, so that class-sorted sources stay balanced)."""
    if limit <= 0 or limit >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), limit))


def read_rows(records: Records, rows: Sequence[int]) -> list[Any]:
    return [records[i] for i in rows]


def label_of(record: Any, label: str, evaluator: str) -> Any:
    try:
        return record[label]
    except (KeyError, TypeError):
        keys = ", ".join(sorted(record)) if hasattr(record, "keys") else type(record).__name__
        raise DataError(f"{evaluator}: records have no key {label!r} (set `label`); record keys: {keys}") from None


def class_names_for(source: DataSource, label: str, given: list[str] | None, values: Sequence[Any],
                    evaluator: str) -> list[str]:
    """Class names: the evaluator's ``class_names``, else the source's ``class_names(label)``, else the
    sorted distinct string labels. Integer labels need names from one of the first two."""
    if given:
        return list(given)
    method = getattr(source, "class_names", None)
    if callable(method):
        try:
            return list(method(label))
        except (KeyError, ValueError):
            pass
    flat = {v for value in values for v in (value if isinstance(value, (list, tuple)) else [value])}
    if any(not isinstance(v, str) for v in flat):
        raise DataError(f"{evaluator}: labels of {label!r} are not names and {source.name!r} offers no "
                        f"class_names({label!r}); set `class_names`")
    return sorted(flat)


def to_index(value: Any, names: list[str], index: dict[str, int], evaluator: str, label: str) -> int:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value < len(names):
            raise DataError(f"{evaluator}: label {value} of {label!r} is outside the {len(names)} class names")
        return value
    try:
        return index[value]
    except KeyError:
        raise DataError(f"{evaluator}: label {value!r} of {label!r} is not among the class names "
                        f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})") from None
