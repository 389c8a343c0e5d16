"""The sweep's bootstrap against closed forms: the variance of a resampled mean, a two-point distribution
enumerated by hand, a two-way (seeds x items) resample of an additive table, and the p-value's extremes."""

from __future__ import annotations

import numpy as np
import pytest

from negkit.sweep.stats import bootstrap_means, mean_interval, paired_difference, sign_flip_p, two_way_means


def test_bootstrap_variance_of_the_mean_matches_the_closed_form():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=40)
    draws = bootstrap_means(x, 40000, seed=0)
    # resampling n values with replacement: Var(mean*) = (1/n) * mean((x - mean(x))^2), exactly
    expected = np.sqrt(x.var(ddof=0) / len(x))
    assert draws.std() == pytest.approx(expected, rel=0.03)
    assert draws.mean() == pytest.approx(x.mean(), abs=0.02)
    interval = mean_interval(x, resamples=40000, seed=0)
    assert interval.value == pytest.approx(x.mean())
    # about normal for n = 40: the percentile interval is close to mean +- 1.96 * sd
    assert interval.low == pytest.approx(x.mean() - 1.96 * expected, abs=0.15 * expected)
    assert interval.high == pytest.approx(x.mean() + 1.96 * expected, abs=0.15 * expected)


def test_two_values_give_the_enumerated_distribution():
    # seeds scoring 0 and 1: a resample's mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4
    draws = bootstrap_means(np.array([0.0, 1.0]), 40000, seed=3)
    freq = {v: np.mean(draws == v) for v in (0.0, 0.5, 1.0)}
    assert freq[0.0] == pytest.approx(0.25, abs=0.01)
    assert freq[0.5] == pytest.approx(0.50, abs=0.01)
    assert freq[1.0] == pytest.approx(0.25, abs=0.01)
    interval = mean_interval([0.0, 1.0], resamples=40000, seed=3)
    assert (interval.low, interval.value, interval.high) == (0.0, 0.5, 1.0)


def test_two_way_bootstrap_of_an_additive_table_adds_the_two_variances():
    rng = np.random.default_rng(7)
    seeds, items = rng.normal(0, 1.0, size=5), rng.normal(0, 3.0, size=300)
    table = seeds[:, None] + items[None, :]
    draws = two_way_means(table, 30000, seed=0)
    # seeds and items are drawn independently, so Var = var0(seed effects)/S + var0(item effects)/I
    expected = np.sqrt(seeds.var() / len(seeds) + items.var() / len(items))
    assert draws.std() == pytest.approx(expected, rel=0.04)


def test_paired_difference_intervals_and_p_values():
    base = np.random.default_rng(0).integers(0, 2, size=(3, 200)).astype(float)
    same = paired_difference(base, base, resamples=2000)
    assert (same.value, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_difference(base + 0.25, base, resamples=2000)  # a constant difference: no spread at all
    assert shifted.value == pytest.approx(0.25) and shifted.low == pytest.approx(0.25)
    assert shifted.p_value == pytest.approx(1 / 2001)
    assert shifted.items == 200 and shifted.n == 3
    noisy = np.random.default_rng(5).normal(0, 1, size=(3, 200))
    null = paired_difference(noisy, np.zeros_like(noisy), resamples=4000)
    assert null.low < 0 < null.high and null.p_value > 0.05
    # per-seed values only (no items): seeds resampled, the difference paired by seed
    seeds_only = paired_difference(np.array([0.6, 0.7, 0.8]), np.array([0.5, 0.6, 0.7]), resamples=2000)
    assert seeds_only.value == pytest.approx(0.1) and seeds_only.items == 0
    # ... its p-value is the exact sign-flip test: 3 equal positive differences, 2 of 8 patterns as extreme
    assert seeds_only.p_value == pytest.approx(0.25)
    # seeded: the same call gives the same interval
    assert paired_difference(noisy, np.zeros_like(noisy), resamples=4000) == null
    with pytest.raises(ValueError):
        paired_difference(np.zeros((2, 3)), np.zeros((3, 3)))


def test_sign_flip_p_values_by_enumeration():
    # differences 0.1 and 0.2: pattern means 0.15, 0.05, -0.05, -0.15; two of four reach |0.15|
    assert sign_flip_p(np.array([0.1, 0.2])) == 0.5
    # 1, 2, 3, -1 (sum 5): the signed sums reaching |5| are 6 +- 1 and 4 + 1 and their negations: 6 of 16
    assert sign_flip_p(np.array([1.0, 2.0, 3.0, -1.0])) == 0.375
    assert sign_flip_p(np.zeros(3)) == 1.0
    many = np.full(30, 0.1)  # beyond 16 values: random patterns, as extreme only when all signs agree
    assert sign_flip_p(many, resamples=2000) == pytest.approx(1 / 2001)
