"""Image negatives of the shapes world: the scene with one attribute or the relation changed, drawn.

Each edit changes the scene graph, not the caption, so that the record's caption becomes false of the
edited scene (``captions.possibly_true`` rejects it), and applies the same change to the caption plan, so
that the edited plan is a caption that IS true of the edited scene: the text negative and its true image
negative come as a pair. Rendering keeps every other choice of the scene (cells, jitter, tint, background,
texture), so the two images differ only where the edit is. This is the one place where image negatives
are exactly right.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from negkit.data.shapes.captions import Plan, possibly_true
from negkit.data.shapes.scene import OPPOSITE, SIZES, Scene

EDITS = ("colour", "shape", "size", "swap-colour", "swap-shape", "relation")


def _set(items: tuple, i: int, value) -> tuple:
    out = list(items)
    out[i] = value
    return tuple(out)


def _candidates(kind: str, scene: Scene, plan: Plan, rng: random.Random, shapes: tuple[str, ...],
                colours: tuple[str, ...]):
    objs, ms = scene.objects, plan.mentions
    idx = list(range(len(ms)))
    rng.shuffle(idx)
    if kind in ("colour", "shape", "size"):
        values = {"colour": colours, "shape": shapes, "size": SIZES}[kind]
        for i in idx:
            if getattr(ms[i], kind) is None:
                continue  # the caption does not name it: changing it would leave the caption true
            for v in rng.sample(list(values), len(values)):
                if v != getattr(objs[i], kind):
                    yield (replace(scene, objects=_set(objs, i, replace(objs[i], **{kind: v}))),
                           replace(plan, mentions=_set(ms, i, replace(ms[i], **{kind: v}))))
    elif kind in ("swap-colour", "swap-shape"):
        attr = kind.removeprefix("swap-")
        pairs = list(itertools.combinations(range(len(ms)), 2))
        rng.shuffle(pairs)
        for i, j in pairs:
            a, b = getattr(objs[i], attr), getattr(objs[j], attr)
            if a == b or getattr(ms[i], attr) is None or getattr(ms[j], attr) is None:
                continue
            new_objs = _set(_set(objs, i, replace(objs[i], **{attr: b})), j, replace(objs[j], **{attr: a}))
            new_ms = _set(_set(ms, i, replace(ms[i], **{attr: b})), j, replace(ms[j], **{attr: a}))
            yield replace(scene, objects=new_objs), replace(plan, mentions=new_ms)
    elif kind == "relation":
        if plan.relation is not None and len(objs) >= 2:
            a, b = objs[0], objs[1]
            moved = _set(_set(objs, 0, replace(a, row=b.row, col=b.col)), 1, replace(b, row=a.row, col=a.col))
            yield (replace(scene, objects=moved, relation=OPPOSITE[scene.relation] if scene.relation else None),
                   replace(plan, relation=OPPOSITE[plan.relation]))
    else:
        raise ValueError(f"unknown edit {kind!r}; edits: {', '.join(EDITS)}")


def edited_scenes(scene: Scene, plan: Plan, rng: random.Random, k: int, *, shapes: tuple[str, ...],
                  colours: tuple[str, ...], banned: frozenset[str] = frozenset()) -> list[tuple[str, Scene, Plan]]:
    """Up to ``k`` (edit kind, edited scene, edited plan), each of a different kind, in a seeded order.

    The positive ``plan`` is false of every edited scene and the edited plan true of it; edited scenes
    never show a ``banned`` (held-out) colour-shape combination.
    """
    out: list[tuple[str, Scene, Plan]] = []
    for kind in rng.sample(EDITS, len(EDITS)):
        if len(out) >= k:
            break
        for new_scene, new_plan in _candidates(kind, scene, plan, rng, shapes, colours):
            if new_scene.combos & banned:
                continue
            if not possibly_true(plan, new_scene) and possibly_true(new_plan, new_scene):
                out.append((kind, new_scene, new_plan))
                break
    return out
