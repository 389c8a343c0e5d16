"""Shared evaluation metrics: pairwise accuracy and its tie rule, recall@k with several positives, mAP."""

from __future__ import annotations

import math

import numpy as np
import pytest

from negkit.eval.metrics import (
    TIE_RULE,
    accuracy,
    balanced_accuracy,
    mean_average_precision,
    micro_macro,
    pairwise_accuracy,
    pairwise_correct,
    recall_at_k,
)


def test_pairwise_accuracy_counts_ties_wrong():
    assert "tie counts as wrong" in TIE_RULE
    assert pairwise_correct([1.0, 0.5, 0.2], [0.5, 0.5, 0.3]).tolist() == [True, False, False]
    assert pairwise_accuracy([1.0, 0.5, 0.2, 0.9], [0.5, 0.5, 0.3, 0.1]) == 0.5
    assert math.isnan(pairwise_accuracy([], []))
    with pytest.raises(ValueError, match="shape"):
        pairwise_accuracy([1.0], [1.0, 2.0])


def test_micro_and_macro_weigh_items_and_groups():
    micro, macro = micro_macro({"a": [True, True, True, False], "b": [False, False], "empty": []})
    assert micro == pytest.approx(3 / 6)
    assert macro == pytest.approx((0.75 + 0.0) / 2)


def test_recall_at_k_with_several_correct_items_and_pessimistic_ties():
    sim = np.array([
        [0.9, 0.1, 0.5],   # correct item 0 ranks first
        [0.9, 0.1, 0.5],   # correct items 1, 2: best is 2, behind 0 -> rank 1
        [0.5, 0.5, 0.1],   # correct item 1 ties with wrong item 0 -> counted behind it
        [0.3, 0.2, 0.1],   # no correct item: left out
    ])
    pos = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0], [0, 0, 0]], dtype=bool)
    r = recall_at_k(sim, pos, ks=(1, 2, 3))
    assert r[1] == pytest.approx(1 / 3)
    assert r[2] == pytest.approx(1.0)
    assert r[3] == pytest.approx(1.0)


def test_mean_average_precision_skips_classes_without_positives():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    perfect = y.astype(float)
    mean_ap, ap = mean_average_precision(y, perfect)
    assert mean_ap == 1.0 and math.isnan(ap[2])
    reversed_scores = 1 - perfect
    assert mean_average_precision(y, reversed_scores)[0] < 0.7


def test_accuracies():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0]) == 0.5
