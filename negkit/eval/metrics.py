"""Metrics shared by evaluators: pairwise accuracy (with an explicit tie rule), recall@k and mAP.

They take numpy arrays (or anything ``numpy.asarray`` accepts, such as CPU tensors) and return floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

TIE_RULE = "a tie counts as wrong: the positive must score strictly higher than the negative"


def pairwise_correct(positive, negative) -> np.ndarray:
    """Per item: True when the positive scores strictly higher than the negative (ties are wrong, as in
    the official SugarCrepe and ARO scripts)."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if pos.shape != neg.shape:
        raise ValueError(f"positive and negative scores differ in shape: {pos.shape} vs {neg.shape}")
    return pos > neg


def pairwise_accuracy(positive, negative) -> float:
    """Fraction of items whose positive scores strictly higher than its negative (ties wrong); NaN if empty."""
    correct = pairwise_correct(positive, negative)
    return float(correct.mean()) if correct.size else float("nan")


def micro_macro(correct_by_group: Mapping[str, Sequence[bool] | np.ndarray]) -> tuple[float, float]:
    """Micro average (over all items) and macro average (mean of the per-group accuracies) of groups of
    per-item correctness; empty groups are left out of both."""
    groups = [np.asarray(v, dtype=bool) for v in correct_by_group.values() if len(v)]
    if not groups:
        return float("nan"), float("nan")
    micro = float(np.concatenate(groups).mean())
    macro = float(np.mean([g.mean() for g in groups]))
    return micro, macro


def recall_at_k(similarity, positives, ks: Iterable[int] = (1, 5, 10)) -> dict[int, float]:
    """Recall@k of queries (rows) against a gallery (columns).

    ``similarity`` is ``[Q, G]``; ``positives`` a ``[Q, G]`` bool matrix marking every correct gallery item
    of each query (several when, e.g., two images share a caption). A query counts as found at k when a
    correct item ranks in its top k. Ties in score are broken against the query: a correct item ranks
    below every wrong item with an equal score. Queries without any correct item are left out.
    """
    _, hits = recall_hits(similarity, positives, ks)
    return {k: float(h.mean()) if h.size else float("nan") for k, h in hits.items()}


def recall_hits(similarity, positives, ks: Iterable[int] = (1, 5, 10)) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Per query, whether it is found at each k (the items behind :func:`recall_at_k`): the indices of the
    queries kept (those with a correct item) and ``{k: bool array over the kept queries}``."""
    sim = np.asarray(similarity, dtype=np.float64)
    pos = np.asarray(positives, dtype=bool)
    if sim.shape != pos.shape:
        raise ValueError(f"similarity {sim.shape} and positives {pos.shape} differ in shape")
    keep = pos.any(axis=1)
    sim, pos = sim[keep], pos[keep]
    if not len(sim):
        return np.flatnonzero(keep), {k: np.zeros(0, dtype=bool) for k in ks}
    best_correct = np.where(pos, sim, -np.inf).max(axis=1)
    # rank of the best correct item = number of wrong items scoring >= it (pessimistic on ties)
    rank = (np.where(pos, -np.inf, sim) >= best_correct[:, None]).sum(axis=1)
    return np.flatnonzero(keep), {k: rank < k for k in ks}


def mean_average_precision(targets, scores) -> tuple[float, np.ndarray]:
    """Macro mAP over classes with at least one positive, and the per-class AP (NaN for classes without).

    ``targets`` is an ``[N, C]`` 0/1 matrix, ``scores`` ``[N, C]``; AP is scikit-learn's
    ``average_precision_score``.
    """
    from sklearn.metrics import average_precision_score

    y = np.asarray(targets)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"targets {y.shape} and scores {s.shape} differ in shape")
    ap = np.full(y.shape[1], np.nan)
    for c in range(y.shape[1]):
        if y[:, c].any():
            ap[c] = average_precision_score(y[:, c], s[:, c])
    valid = ~np.isnan(ap)
    return (float(ap[valid].mean()) if valid.any() else float("nan")), ap


def accuracy(labels, predictions) -> float:
    """Top-1 accuracy; NaN if empty."""
    y, p = np.asarray(labels), np.asarray(predictions)
    return float((y == p).mean()) if y.size else float("nan")


def balanced_accuracy(labels, predictions) -> float:
    """Mean over the classes present in ``labels`` of the fraction of their items predicted right."""
    y, p = np.asarray(labels), np.asarray(predictions)
    classes = np.unique(y)
    return float(np.mean([(p[y == c] == c).mean() for c in classes])) if len(classes) else float("nan")
