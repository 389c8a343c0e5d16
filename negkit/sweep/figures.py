"""The figures of ``negkit sweep claims``, drawn from the measured claims and the runs' logs, under plots/:

- ``claims-contrast-<n>.png``: per contrast, one group of bars per metric (e.g. per category), one bar per arm,
  each the mean over seeds with its bootstrap interval;
- ``claims-gradient-share.png``: a training diagnostic over steps (by default the hard-negative gradient
  share), one panel per loss that logged it, one line per arm (mean over seeds, band = lowest to highest seed).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from negkit.sweep.spec import LOG_PREFIX

PLOTS = "plots"
DEFAULT_LOG_KEY = "grad_share_hard"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(metric: str) -> str:
    """``shapes-compositional/swap-att/acc`` -> ``swap-att``: the part that differs between a contrast's rows."""
    parts = metric.split("/")
    if len(parts) >= 3 and parts[-1] == "acc":
        return parts[-2]
    return "/".join(parts[1:]) if len(parts) > 1 else metric


def contrast_figure(path: Path, contrast: Any, confidence: float) -> Path:
    plt = _plt()
    arms = [a for a in [contrast.reference, *contrast.arms] if a in contrast.means]
    metrics = contrast.metrics
    width = 0.8 / max(1, len(arms))
    fig, ax = plt.subplots(figsize=(min(18.0, max(5.0, 0.25 * len(metrics) * max(1, len(arms)) + 2.0)), 3.8))
    for j, arm in enumerate(arms):
        means = [contrast.means[arm][m] for m in metrics]
        x = np.arange(len(metrics)) + (j - (len(arms) - 1) / 2) * width
        heights = [m.value if m.n else np.nan for m in means]
        err = np.array([[max(0.0, m.value - m.low) if m.n else 0.0 for m in means],
                        [max(0.0, m.high - m.value) if m.n else 0.0 for m in means]])
        ax.bar(x, heights, width, yerr=err, capsize=2, label=arm)
    ax.set_xticks(range(len(metrics)), [_short(m) for m in metrics], rotation=30, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{contrast.name}: mean over seeds, {round(100 * confidence)}% bootstrap interval", fontsize=8)
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_arms(result: Any) -> tuple[str, list[str]]:
    """The log key the claims use (the first ``log:`` metric, else the gradient share) and the arms they name."""
    keys, arms = [], []
    for c in result.claims:
        if c.metric.startswith(LOG_PREFIX):
            keys.append(c.metric[len(LOG_PREFIX):])
            for x in c.comparisons:
                arms += [a for a in (x.left, x.right) if a]
    return (keys[0] if keys else DEFAULT_LOG_KEY), list(dict.fromkeys(arms))


def gradient_figure(path: Path, runs: Any, key: str, arms: list[str]) -> Path | None:
    """One panel per loss that logged ``key``; None when no run logged it."""
    by_loss: dict[str, dict[str, list[list[tuple[int, float]]]]] = {}
    for arm in arms:
        for seed in sorted(runs.seeds(arm)):
            series = runs.log_series(arm, seed, key)
            if not series:
                continue
            loss = (runs.loss_keys(arm, key) or [key])[0].rsplit("/", 1)[0]
            by_loss.setdefault(loss, {}).setdefault(arm, []).append(series)
    if not by_loss:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(by_loss), figsize=(4.2 * len(by_loss), 3.2), squeeze=False, sharey=True)
    for ax, (loss, per_arm) in zip(axes.flat, sorted(by_loss.items())):
        for arm, seeds in per_arm.items():
            steps = sorted(set.intersection(*(set(s for s, _ in series) for series in seeds)))
            values = np.array([[dict(series)[s] for s in steps] for series in seeds])
            line, = ax.plot(steps, values.mean(axis=0), label=arm, lw=1.2)
            if len(seeds) > 1:
                ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.15)
        ax.set_title(f"loss {loss}", fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes.flat[0].set_ylabel(key, fontsize=7)
    fig.suptitle(f"{key} over training steps (mean over seeds; band: lowest to highest seed)", fontsize=8)
    return _save(plt, fig, path)


def claim_figures(sweep_dir: Path, result: Any, runs: Any) -> list[Path]:
    out = []
    plots = Path(sweep_dir) / PLOTS
    confidence = result.plan["confidence"]
    for i, contrast in enumerate(result.contrasts):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", contrast.name).strip("-").lower() or str(i)
        out.append(contrast_figure(plots / f"claims-contrast-{i + 1}-{slug}.png", contrast, confidence))
    key, arms = log_arms(result)
    if not arms:
        arms = [a["name"] for a in result.plan["arms"]]
    figure = gradient_figure(plots / "claims-gradient-share.png", runs, key, arms)
    if figure is not None:
        out.append(figure)
    return out
