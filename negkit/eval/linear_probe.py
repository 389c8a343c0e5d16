"""``linear-probe``: logistic regression on frozen image features, single- or multi-label."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from negkit.errors import DataError
from negkit.eval.base import EvalContext
from negkit.eval.general import SourceEvaluator
from negkit.eval.labels import Labelled, read_labels
from negkit.eval.sources import check_split


class LinearProbe(SourceEvaluator):
    """Fits scikit-learn's ``LogisticRegression`` (on standardised features) to the frozen image features
    of one set of records and scores it on another.

    Single label (a class name or index per record): multinomial regression; outputs ``<label>/acc`` and
    ``<label>/balanced-acc``. Multi-label (a list per record): one-vs-rest, one binary regression per
    class; outputs ``<label>/mAP`` (scikit-learn's ``average_precision_score``, macro over the classes that
    occur in the test rows). Records whose ``label`` is None are skipped. Single-label probes record per
    test image whether it was classified right (items of group ``<label>``).

    Train and test rows: ``train_split`` when given (with ``train_limit``), else a seeded
    ``test_fraction`` of ``split`` is held out for testing.

    Parameters:
        label: the record key holding the class or the list of classes.
        split: the test split (or the split divided into train and test).
        train_split: the split to fit on; None divides ``split``.
        test_fraction: share of ``split`` tested on when ``train_split`` is None.
        limit: test (or whole-split) records to read (seeded sample; 0 = all).
        train_limit: training records to read from ``train_split`` (seeded sample; 0 = all).
        class_names: the classes, in label-index order; default: the source's ``class_names(label)``, else
            the sorted distinct label strings.
        c: inverse regularisation strength of the regression.
        max_iter: solver iterations.
        source: a registered dataset name to evaluate on; default: the run's data source.
        data: constructor arguments of ``source``.
        seed: seed of the samples and of the train/test division.
    """

    name = "linear-probe"

    def __init__(self, label: str = "label", split: str = "test", train_split: str | None = None,
                 test_fraction: float = 0.5, limit: int = 0, train_limit: int = 0,
                 class_names: list[str] | None = None, c: float = 1.0, max_iter: int = 1000,
                 source: str | None = None, data: dict[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__(source=source, data=data, split=split, limit=limit, seed=seed)
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
        if c <= 0:
            raise ValueError(f"c: must be > 0, got {c}")
        if train_limit < 0:
            raise ValueError(f"train_limit: must be >= 0, got {train_limit}")
        if train_split is not None and self.source is not None:
            check_split(self.source, train_split, self.name, "train_split")
        self.label, self.train_split, self.test_fraction = label, train_split, test_fraction
        self.train_limit, self.class_names, self.c, self.max_iter = train_limit, class_names, c, max_iter

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        source = self.data_source(ctx)
        records, rows = self.rows(source, self.split, self.limit)
        test = read_labels(records, rows, self.label, source, self.class_names, self.name)
        if self.train_split is not None:
            check_split(source, self.train_split, self.name, "train_split")
            train_records, train_rows = self.rows(source, self.train_split, self.train_limit)
            train = read_labels(train_records, train_rows, self.label, source, test.names, self.name)
        else:
            train, test = _divide(test, self.test_fraction, self.seed)
        x_train = ctx.encode_images(train.images).numpy()
        x_test = ctx.encode_images(test.images).numpy()
        scores = self._fit_predict(x_train, train, x_test)
        out = test.score(scores, self.label)
        test.record_correct(ctx, scores, self.label)
        out[f"{self.label}/n-train"] = float(len(train.y))
        ctx.meta[self.name + "/" + self.label] = {"split": self.split, "train_split": self.train_split,
                                                  "multilabel": test.multilabel, "c": self.c, "seed": self.seed}
        return out

    def _fit_predict(self, x_train: np.ndarray, train: Labelled, x_test: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        regression = LogisticRegression(C=self.c, max_iter=self.max_iter, random_state=self.seed)
        n_classes = len(train.names)
        if train.multilabel:
            y = train.y
            present = y.any(axis=0) & ~y.all(axis=0)  # a class needs both outcomes to be fitted
            model = make_pipeline(StandardScaler(), OneVsRestClassifier(regression))
            scores = np.zeros((len(x_test), n_classes))
            if present.any():
                model.fit(x_train, y[:, present])
                scores[:, present] = model.predict_proba(x_test)
            scores[:, ~present] = y[:, ~present].mean(axis=0) if len(y) else 0.0
            return scores
        classes = np.unique(train.y)
        if len(classes) < 2:
            raise DataError(f"{self.name}: the training rows hold one class of {self.label!r}; nothing to fit")
        model = make_pipeline(StandardScaler(), regression)
        model.fit(x_train, train.y)
        scores = np.full((len(x_test), n_classes), -np.inf)
        scores[:, classes] = model.predict_proba(x_test)
        return scores


def _divide(data: Labelled, test_fraction: float, seed: int) -> tuple[Labelled, Labelled]:
    n = len(data.y)
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n - n_test < 2:
        raise DataError(f"linear-probe: {n} labelled records are too few to divide into train and test")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    test_rows, train_rows = sorted(order[:n_test]), sorted(order[n_test:])

    def take(rows: list[int]) -> Labelled:
        return Labelled([data.images[i] for i in rows], data.names, data.multilabel, data.y[rows])

    return take(train_rows), take(test_rows)
