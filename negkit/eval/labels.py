"""Labels read from record keys: single-label (a class name or index) or multi-label (a list of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from negkit.errors import DataError
from negkit.eval.metrics import accuracy, balanced_accuracy, mean_average_precision
from negkit.eval.sources import class_names_for, label_of, to_index


@dataclass
class Labelled:
    """Images of the records that carry a label, and their labels as class indices."""

    images: list[Any]
    names: list[str]
    multilabel: bool
    y: np.ndarray  # [N] class index, or [N, C] 0/1 for multi-label

    def record_correct(self, ctx: Any, scores: np.ndarray, label: str) -> None:
        """Per-item results of single-label scores: 1 where the top class is right, keyed by position (the
        rows are the same for every run on the same data and seed). Multi-label (mAP) has no per-item result."""
        if not self.multilabel:
            ctx.record_items(label, [str(i) for i in range(len(self.y))], scores.argmax(axis=1) == self.y)

    def score(self, scores: np.ndarray, label: str) -> dict[str, float]:
        """Metrics of ``[N, C]`` class scores."""
        if self.multilabel:
            mean_ap, _ = mean_average_precision(self.y, scores)
            return {f"{label}/mAP": mean_ap, f"{label}/n": float(len(self.y))}
        pred = scores.argmax(axis=1)
        return {f"{label}/acc": accuracy(self.y, pred), f"{label}/balanced-acc": balanced_accuracy(self.y, pred),
                f"{label}/n": float(len(self.y))}


def read_labels(records: Any, rows: list[int], label: str, source: Any, class_names: list[str] | None,
                evaluator: str) -> Labelled:
    images, values = [], []
    for row in rows:
        record = records[row]
        value = label_of(record, label, evaluator)
        if value is None:
            continue
        images.append(record["image"])
        values.append(value)
    if not values:
        raise DataError(f"{evaluator}: no record of the split has a {label!r} label")
    multi = isinstance(values[0], (list, tuple))
    if any(isinstance(v, (list, tuple)) != multi for v in values):
        raise DataError(f"{evaluator}: {label!r} mixes single labels and lists")
    names = class_names_for(source, label, class_names, values, evaluator)
    index = {n: i for i, n in enumerate(names)}
    if multi:
        y = np.zeros((len(values), len(names)), dtype=np.int8)
        for r, value in enumerate(values):
            for v in value:
                y[r, to_index(v, names, index, evaluator, label)] = 1
    else:
        y = np.array([to_index(v, names, index, evaluator, label) for v in values])
    return Labelled(images, names, multi, y)
