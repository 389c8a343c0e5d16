"""Captions of shapes scenes, and negatives that the scene graph proves false.

A caption is a ``Plan``: the objects it mentions (with the attributes it names), the relation between the
first two, the phrase chosen for that relation, and abstract filler before and after. ``text(plan)``
renders it. Filler ("an idea of", "perhaps", "in this moment") never changes what a caption claims, so a
miner that edits only filler makes a caption that is still true: that is the concreteness hypothesis,
built into the data.

Negatives follow SugarCrepe's categories. Each is an edited plan that ``possibly_true`` rejects: no way
of matching its mentions to distinct scene objects satisfies every named attribute and the stated
relation, even reading "same row/column" relations generously.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace

from negkit.data.shapes.scene import OPPOSITE, SIZES, Obj, Scene, possibly_holds

PREFIXES = ("", "", "", "an idea of ", "a nice view of ", "the concept of ", "a sense of ", "perhaps ",
            "simply ", "a pleasant thought of ", "in essence, ")
SUFFIXES = ("", "", "", ", perhaps", " in this moment", ", in a sense", ", truly", " for a while",
            ", somehow", ", as it happens")
FILLER_WORDS = frozenset(w.strip(",") for phrase in PREFIXES + SUFFIXES for w in phrase.split())
RELATION_PHRASES = {
    "left": ("to the left of", "left of"),
    "right": ("to the right of", "right of"),
    "above": ("above", "over"),
    "below": ("below", "under"),
}
CATEGORIES = ("replace-obj", "replace-att", "replace-rel", "swap-obj", "swap-att", "add-obj", "add-att", "shuffle",
              "bind-colour", "replace-size")
# What each category needs beyond a bag of words: binding (which attribute goes with which object), a relation,
# word order; the others need only the concepts themselves (docs/shapes.md).
NEEDS_BINDING = frozenset({"swap-obj", "swap-att", "bind-colour", "replace-rel", "shuffle"})


@dataclass(frozen=True)
class Mention:
    """An object as a caption names it: always its shape, its colour and size only when named."""

    shape: str
    colour: str | None
    size: str | None


@dataclass(frozen=True)
class Plan:
    mentions: tuple[Mention, ...]
    relation: str | None  # between mentions[0] and mentions[1]
    phrase: int  # which wording of the relation
    prefix: str
    suffix: str


def noun_phrase(m: Mention) -> str:
    words = [w for w in (m.size, m.colour, m.shape) if w]
    article = "an" if words[0][0] in "aeiou" else "a"
    return f"{article} {' '.join(words)}"


def text(plan: Plan) -> str:
    parts = [noun_phrase(plan.mentions[0])]
    rest = plan.mentions[1:]
    if plan.relation is not None and rest:
        phrases = RELATION_PHRASES[plan.relation]
        parts.append(f"{phrases[plan.phrase % len(phrases)]} {noun_phrase(rest[0])}")
        rest = rest[1:]
    parts.extend(f"and {noun_phrase(m)}" for m in rest)
    return f"{plan.prefix}{' '.join(parts)}{plan.suffix}"


def describe(scene: Scene, rng: random.Random, *, p_colour: float = 0.85, p_size: float = 0.5) -> Plan:
    """A true caption plan of ``scene``: every object, in scene order, and the scene's relation."""
    mentions = tuple(Mention(o.shape, o.colour if rng.random() < p_colour else None,
                             o.size if rng.random() < p_size else None) for o in scene.objects)
    return Plan(mentions, scene.relation, rng.randrange(2), rng.choice(PREFIXES), rng.choice(SUFFIXES))


def concrete_words(plan: Plan) -> list[str]:
    """The words of ``text(plan)`` that carry meaning (shapes, colours, sizes, relation words)."""
    return [w for w in text(plan).replace(",", "").split() if w not in FILLER_WORDS
            and w not in ("a", "an", "the", "of", "to", "and")]


# -- truth -------------------------------------------------------------------------------------------


def _matches(m: Mention, o: Obj) -> bool:
    return m.shape == o.shape and (m.colour is None or m.colour == o.colour) and (m.size is None or m.size == o.size)


def possibly_true(plan: Plan, scene: Scene) -> bool:
    """Whether some assignment of the plan's mentions to distinct scene objects fits every named attribute
    and (generously) the stated relation. A negative is accepted only when this is False."""
    objs = scene.objects
    if len(plan.mentions) > len(objs):
        return False
    candidates = [[i for i, o in enumerate(objs) if _matches(m, o)] for m in plan.mentions]
    if any(not c for c in candidates):
        return False
    for assignment in itertools.product(*candidates):
        if len(set(assignment)) < len(assignment):
            continue
        if plan.relation is not None and len(assignment) >= 2:
            if not possibly_holds(plan.relation, objs[assignment[0]], objs[assignment[1]]):
                continue
        return True
    return False


# -- negatives ----------------------------------------------------------------------------------------


def negative(category: str, plan: Plan, scene: Scene, rng: random.Random, *, shapes: tuple[str, ...],
             colours: tuple[str, ...]) -> str | None:
    """A caption of ``category`` that is false of ``scene``, or None when the plan allows none."""
    if category == "shuffle":
        return _shuffle(plan, rng)
    for candidate in _candidates(category, plan, rng, shapes, colours):
        if not possibly_true(candidate, scene):
            return text(candidate)
    return None


def _with(plan: Plan, i: int, m: Mention) -> Plan:
    mentions = list(plan.mentions)
    mentions[i] = m
    return replace(plan, mentions=tuple(mentions))


def _shuffled(rng: random.Random, items):
    items = list(items)
    rng.shuffle(items)
    return items


def _candidates(category: str, plan: Plan, rng: random.Random, shapes: tuple[str, ...],
                colours: tuple[str, ...]):
    ms = plan.mentions
    idx = _shuffled(rng, range(len(ms)))
    if category == "replace-obj":
        for i in idx:
            for s in _shuffled(rng, shapes):
                if s != ms[i].shape:
                    yield _with(plan, i, replace(ms[i], shape=s))
    elif category == "replace-att":
        for i in idx:
            for attr in _shuffled(rng, ("colour", "size")):
                current = getattr(ms[i], attr)
                if current is None:
                    continue
                for v in _shuffled(rng, colours if attr == "colour" else SIZES):
                    if v != current:
                        yield _with(plan, i, replace(ms[i], **{attr: v}))
    elif category == "replace-rel":
        if plan.relation is not None:
            yield replace(plan, relation=OPPOSITE[plan.relation])
    elif category == "swap-obj":
        for i, j in _shuffled(rng, itertools.combinations(range(len(ms)), 2)):
            if ms[i].shape != ms[j].shape:
                yield _with(_with(plan, i, replace(ms[i], shape=ms[j].shape)), j, replace(ms[j], shape=ms[i].shape))
    elif category == "swap-att":
        for i, j in _shuffled(rng, itertools.combinations(range(len(ms)), 2)):
            for attr in _shuffled(rng, ("colour", "size")):
                a, b = getattr(ms[i], attr), getattr(ms[j], attr)
                if a is not None and b is not None and a != b:
                    yield _with(_with(plan, i, replace(ms[i], **{attr: b})), j, replace(ms[j], **{attr: a}))
    elif category == "bind-colour":  # attribute binding: two named colours exchanged, the words kept
        for i, j in _shuffled(rng, itertools.combinations(range(len(ms)), 2)):
            a, b = ms[i].colour, ms[j].colour
            if a is not None and b is not None and a != b:
                yield _with(_with(plan, i, replace(ms[i], colour=b)), j, replace(ms[j], colour=a))
    elif category == "replace-size":
        for i in idx:
            if ms[i].size is not None:
                yield _with(plan, i, replace(ms[i], size=next(s for s in SIZES if s != ms[i].size)))
    elif category == "add-obj":
        named = {m.shape for m in ms}
        for s in sorted(_shuffled(rng, shapes), key=lambda s: s in named):  # a new kind of object first
            for c in _shuffled(rng, colours):
                yield replace(plan, mentions=ms + (Mention(s, c, None),))
    elif category == "add-att":
        for i in idx:
            for attr in _shuffled(rng, ("colour", "size")):
                if getattr(ms[i], attr) is not None:
                    continue
                for v in _shuffled(rng, colours if attr == "colour" else SIZES):
                    yield _with(plan, i, replace(ms[i], **{attr: v}))
    else:
        raise ValueError(f"unknown category {category!r}; categories: {', '.join(CATEGORIES)}")


def _shuffle(plan: Plan, rng: random.Random, attempts: int = 20) -> str | None:
    """A permutation of the caption's words in which the concrete words come in a different order
    (ARO's COCO-Order style: ungrammatical, and no longer binding attributes to the right objects)."""
    words = text(plan).split()
    original = concrete_words(plan)
    if len(set(original)) < 2:
        return None
    for _ in range(attempts):
        perm = _shuffled(rng, words)
        order = [w.strip(",") for w in perm if w.strip(",") in original]
        if order != original:
            return " ".join(perm)
    return None
