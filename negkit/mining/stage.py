"""The mining stage: every training caption through the recipe's miners, once, into a table.

First version: mines in-process through ``datasets.map``. Caching by fingerprint, resume and
``num_proc`` are the mining issue's to finish; the interface below is what training relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from negkit.mining.base import Miner, Negative

if TYPE_CHECKING:
    import datasets

    from negkit.recipe import Recipe


def run_mining(recipe: "Recipe", captions: Sequence[str], **_: Any) -> "datasets.Dataset":
    """A ``datasets.Dataset`` with one row per caption (same order): columns ``caption`` and
    ``negatives`` (a list of ``Negative.as_dict()``, at most ``recipe.mining.k``)."""
    import datasets

    miners = [(spec.build(), spec.weight) for spec in recipe.miners]
    k, seed = recipe.mining.k, recipe.mining_seed
    table = datasets.Dataset.from_dict({"caption": list(captions)})

    def mine_batch(batch: dict[str, list]) -> dict[str, list]:
        return {"negatives": [[n.as_dict() for n in negs] for negs in mine_combined(miners, batch["caption"], k, seed)]}

    return table.map(mine_batch, batched=True, batch_size=recipe.mining.batch_size)


def mine_combined(miners: list[tuple[Miner, float]], captions: list[str], k: int, seed: int) -> list[list[Negative]]:
    """Up to k negatives per caption from several miners: each miner's share follows its weight."""
    if k <= 0 or not miners:
        return [[] for _ in captions]
    total = sum(w for _, w in miners) or 1.0
    quotas = [max(1, round(k * w / total)) if w > 0 else 0 for _, w in miners]
    per_miner = [m.mine(captions, k=q, seed=seed) if q else [[] for _ in captions]
                 for (m, _), q in zip(miners, quotas)]
    out = []
    for i, caption in enumerate(captions):
        merged: list[Negative] = []
        seen = {caption.strip().lower()}
        for negs in per_miner:
            for neg in negs[i]:
                key = neg.text.strip().lower()
                if key not in seen:
                    seen.add(key)
                    merged.append(neg)
        out.append(merged[:k])
    return out
