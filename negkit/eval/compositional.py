"""``shapes-compositional``: a SugarCrepe-style benchmark on held-out shapes scenes, with negatives the
scene graph proves false."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from negkit.data.shapes.captions import CATEGORIES, NEEDS_BINDING, negative, text
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.metrics import TIE_RULE, micro_macro, pairwise_correct
from negkit.eval.sources import subset
from negkit.seeding import stable_hash

if TYPE_CHECKING:
    from negkit.data.shapes.world import ShapesWorld


class ShapesCompositional(Evaluator):
    """For each held-out scene, its true caption against one negative per category: replace-obj,
    replace-att, replace-rel, swap-obj, swap-att, add-obj, add-att (SugarCrepe's seven), shuffle (word
    order), bind-colour (two objects' colours exchanged: attribute binding) and replace-size (a named size
    changed). Every negative is checked false against the scene graph. An item is right when the image is
    strictly more similar to the positive than to the negative (ties count wrong).

    Outputs ``<category>/acc`` and ``<category>/n`` per category, ``micro/acc`` (all items),
    ``macro/acc`` (mean over categories), ``binding/acc`` and ``concepts/acc`` (mean over the scored
    categories that need binding, a relation or word order, and over the others), ``novel/acc`` and
    ``novel/n`` (items whose scene shows a colour-shape combination held out of training) and ``ties``
    (items whose two scores were equal). Per-item results (1 right, 0
    wrong; item key ``"<scene row>:<category>"``) are recorded for each category, ``micro`` and ``novel``.

    Parameters:
        split: the shapes split whose scenes are used (test: never seen in training).
        limit: scenes to use (a seeded sample; 0 = all).
        categories: which categories to score (default: all ten).
        seed: seed of the scene sample and of the negatives; fixed by default so that every run is scored
            on the same items.
        data: arguments of a shapes world to build; by default the run's data source when it is a shapes
            world, else a default shapes world.
    """

    name = "shapes-compositional"

    def __init__(self, split: str = "test", limit: int = 1000, categories: list[str] | None = None,
                 seed: int = 0, data: dict[str, Any] | None = None) -> None:
        from negkit.data.shapes.world import SPLITS, ShapesWorld

        if split not in SPLITS:
            raise ValueError(f"split: {split!r} is not a shapes split; splits: {', '.join(SPLITS)}")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        categories = check_choices("categories", categories, CATEGORIES, "category")
        self.split, self.limit, self.categories, self.seed = split, limit, categories, seed
        self.world: ShapesWorld | None = ShapesWorld(**data) if data is not None else None

    def items(self, world: ShapesWorld) -> list[dict[str, Any]]:
        """The benchmark items: ``{"row", "category", "positive", "negative", "novel"}``."""
        items = []
        for row in subset(world.sizes[self.split], self.limit, self.seed):
            scene = world.scene(self.split, row)
            plan = world.plan(self.split, row, scene)
            positive = text(plan)
            novel = bool(scene.combos & world.holdout)
            for category in self.categories:
                rng = random.Random(stable_hash("shapes-compositional", self.seed, self.split, row, category))
                neg = negative(category, plan, scene, rng, shapes=world.shapes, colours=world.colours)
                if neg is not None:
                    items.append({"row": row, "category": category, "positive": positive, "negative": neg,
                                  "novel": novel})
        return items

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        from negkit.data.shapes.world import ShapesWorld

        world = self.world
        if world is None:
            world = ctx.data if isinstance(ctx.data, ShapesWorld) else ShapesWorld()
        items = self.items(world)
        rows = sorted({it["row"] for it in items})
        where = {row: i for i, row in enumerate(rows)}
        images = ctx.encode_images([world.render(world.scene(self.split, row)) for row in rows]).numpy()
        texts = ctx.encode_texts([it["positive"] for it in items] + [it["negative"] for it in items]).numpy()
        img = images[[where[it["row"]] for it in items]]
        pos = (img * texts[:len(items)]).sum(axis=1)
        neg = (img * texts[len(items):]).sum(axis=1)
        correct = pairwise_correct(pos, neg)

        out: dict[str, float] = {}
        by_category: dict[str, np.ndarray] = {}
        cats = np.array([it["category"] for it in items])
        ids = np.array([f"{it['row']}:{it['category']}" for it in items])
        for category in self.categories:
            mask = cats == category
            by_category[category] = correct[mask]
            ctx.record_items(category, ids[mask], correct[mask])
            out[f"{category}/acc"] = float(correct[mask].mean()) if mask.any() else float("nan")
            out[f"{category}/n"] = float(mask.sum())
        out["micro/acc"], out["macro/acc"] = micro_macro(by_category)
        for group, members in (("binding", [c for c in self.categories if c in NEEDS_BINDING]),
                               ("concepts", [c for c in self.categories if c not in NEEDS_BINDING])):
            accs = [out[f"{c}/acc"] for c in members if by_category[c].size]
            out[f"{group}/acc"] = float(np.mean(accs)) if accs else float("nan")
        ctx.record_items("micro", ids, correct)
        novel = np.array([it["novel"] for it in items], dtype=bool)
        ctx.record_items("novel", ids[novel], correct[novel])
        out["novel/acc"] = float(correct[novel].mean()) if novel.any() else float("nan")
        out["novel/n"] = float(novel.sum())
        out["ties"] = float((pos == neg).sum())
        ctx.meta[self.name] = {"tie_rule": TIE_RULE, "split": self.split, "scenes": len(rows),
                               "items": len(items), "seed": self.seed,
                               "macro": f"mean over {len(self.categories)} categories"}
        return out
