"""What the general evaluators share: where their data comes from and which rows they read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from negkit.eval.base import EvalContext, Evaluator
from negkit.eval.sources import build_source, check_split, resolve_source, subset

if TYPE_CHECKING:
    from negkit.data.base import DataSource


class SourceEvaluator(Evaluator):
    """An evaluator that reads (image, caption, label) records from any data source.

    ``source`` names a registered dataset built from ``data`` (when the evaluator's table gives one), else
    the run's own data source is used. ``split`` and ``limit`` choose the rows (a seeded sample of
    ``limit`` rows; 0 = all).
    """

    def __init__(self, *, source: str | None, data: dict[str, Any] | None, split: str, limit: int, seed: int) -> None:
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.source = build_source(source, data, self.name)
        if self.source is not None:
            check_split(self.source, split, self.name)
        self.split, self.limit, self.seed = split, limit, seed

    def data_source(self, ctx: EvalContext) -> DataSource:
        source = resolve_source(self.source, ctx, self.name)
        check_split(source, self.split, self.name)
        return source

    def rows(self, source: DataSource, split: str, limit: int) -> tuple[Any, list[int]]:
        records = source.records(split)
        return records, subset(len(records), limit, self.seed)
