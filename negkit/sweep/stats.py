"""Bootstrap statistics of a sweep (numpy only, seeded so that a summary is reproducible).

- :func:`mean_interval`: the mean of one arm's per-seed values and a percentile bootstrap interval, seeds
  resampled with replacement.
- :func:`paired_difference`: an arm minus the baseline, paired: the same seeds and the same evaluation items.
  Each resample draws seeds with replacement and, independently, items with replacement, and takes the mean
  difference over the drawn seeds x items (a two-way bootstrap: it carries both the seed-to-seed and the
  item-to-item variation). Its p-value is two-sided, for "no difference": the share of resampled
  differences, shifted to be centred on zero, at least as far from zero as the observed one.
  Without per-item results the interval resamples seeds only, and the p-value is an exact sign-flip
  (permutation) test over the per-seed differences: under "no difference" each seed's difference is as
  likely negative as positive. A percentile bootstrap of 2 or 3 values would call almost any difference
  significant; the sign-flip test cannot go below 2 / 2^seeds (0.5 with 2 seeds, 0.25 with 3), which says
  honestly how little a few seeds can show. A single seed without items gets no p-value.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

CHUNK = 256  # resamples per vectorised step (bounds memory at CHUNK x items)


@dataclass(frozen=True)
class Interval:
    value: float  # the point estimate (mean, or mean difference)
    low: float
    high: float
    n: int  # seeds
    p_value: float | None = None
    items: int = 0  # items per seed the difference is paired on (0: seeds only)


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = len(values)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)
    return counts @ values / n


def mean_interval(values: list[float] | np.ndarray, *, resamples: int = 10000, confidence: float = 0.95,
                  seed: int = 0) -> Interval:
    """Mean over seeds and its bootstrap interval (a single seed gives an interval of zero width)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not len(x):
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    low, high = _percentiles(bootstrap_means(x, resamples, seed), confidence)
    return Interval(float(x.mean()), low, high, len(x))


def two_way_means(diff: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Bootstrap means of a ``[seeds, items]`` matrix, seeds and items resampled independently."""
    d = np.asarray(diff, dtype=np.float64)
    s, i = d.shape
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for lo in range(0, resamples, CHUNK):
        b = min(CHUNK, resamples - lo)
        seed_counts = rng.multinomial(s, np.full(s, 1.0 / s), size=b)  # [b, s]
        item_counts = rng.multinomial(i, np.full(i, 1.0 / i), size=b)  # [b, i]
        out[lo:lo + b] = np.einsum("bs,si,bi->b", seed_counts, d, item_counts) / (s * i)
    return out


def paired_difference(arm: np.ndarray, baseline: np.ndarray, *, resamples: int = 10000, confidence: float = 0.95,
                      seed: int = 0) -> Interval:
    """``arm - baseline`` paired by seed (rows) and, for 2-D input, by item (columns): the mean difference,
    its bootstrap interval and a two-sided p-value. 1-D input: one value per seed, seeds resampled only."""
    a, b = np.asarray(arm, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"arm {a.shape} and baseline {b.shape} are not paired (shapes differ)")
    d = a - b
    if d.ndim == 1:
        d = d[:, None]
        items = 0
    else:
        items = d.shape[1]
    if d.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, None, items)
    draws = two_way_means(d, resamples, seed) if items else bootstrap_means(d[:, 0], resamples, seed)
    observed = float(d.mean())
    low, high = _percentiles(draws, confidence)
    if not items:
        p_value = sign_flip_p(d[:, 0], resamples, seed) if d.shape[0] > 1 else None
        return Interval(observed, low, high, d.shape[0], p_value, 0)
    extreme = np.abs(draws - observed) >= abs(observed) - 1e-12
    p_value = float((1 + extreme.sum()) / (resamples + 1))
    return Interval(observed, low, high, d.shape[0], min(1.0, p_value), items)


def sign_flip_p(diffs: np.ndarray, resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of "mean difference = 0" by flipping the signs of the paired differences: exact
    (all 2^n sign patterns) up to 16 values, else ``resamples`` random patterns."""
    d = np.asarray(diffs, dtype=np.float64)
    observed = abs(d.mean()) - 1e-12
    if len(d) <= 16:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float(np.mean(np.abs(signs @ d / len(d)) >= observed))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(resamples, len(d)))
    return float((1 + np.sum(np.abs(signs @ d / len(d)) >= observed)) / (resamples + 1))
