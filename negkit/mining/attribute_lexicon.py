"""The ``attribute-lexicon`` miner: rule-based attribute swaps over colour, size, material and count words.

No tagger, no WordNet: a caption's words are matched against small hand-written lexicons, so it is the
fastest miner and a useful floor. Each lexicon is a list of *scales*; a scale is a list of groups of
interchangeable words (``grey``/``gray``). A replacement comes from another group of the same scale, so it
always changes the attribute (never ``grey`` -> ``gray``, never ``tall`` -> ``big``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from functools import lru_cache

from negkit.lexicon.words import match_case
from negkit.mining.base import Edit, Miner, Negative, keep_valid
from negkit.seeding import caption_rng

Scale = tuple[tuple[str, ...], ...]

LEXICONS: dict[str, tuple[Scale, ...]] = {
    "colour": (
        (("red",), ("orange",), ("yellow",), ("green",), ("blue",), ("purple", "violet"), ("pink",),
         ("brown",), ("black",), ("white",), ("gray", "grey"), ("silver",), ("gold", "golden")),
    ),
    "size": (
        (("small", "little", "tiny"), ("large", "big", "huge", "giant", "enormous")),
        (("tall",), ("short",)),
        (("long",), ("short",)),
        (("wide",), ("narrow",)),
        (("thick",), ("thin",)),
    ),
    "material": (
        (("wooden", "wood"), ("metal", "metallic", "steel"), ("plastic",), ("glass",), ("stone",),
         ("brick",), ("leather",), ("ceramic", "porcelain"), ("concrete",), ("paper", "cardboard"),
         ("wicker",)),
    ),
    "count": (
        (("two",), ("three",), ("four",), ("five",), ("six",), ("seven",), ("eight",), ("nine",), ("ten",)),
    ),
}

# A material word followed by one of these is a noun ("a glass of water"), not an attribute.
_NOT_MODIFIED = frozenset({"of", "and", "or", "with", "on", "in", "at", "to", "is", "are", "that", "which"})
_WORD = re.compile(r"[A-Za-z]+")
_SPACE_WORD = re.compile(r"\S+")


class AttributeLexicon(Miner):
    """Replace a colour, size, material or count word by another of the same list (SugarCrepe's
    replace-att, rule-based); with ``exchange``, also exchange two attributes of the same list within the
    caption (swap-att: "a red car and a blue bus" -> "a blue car and a red bus"). Case is kept; words are
    not re-inflected (these words do not inflect). Deterministic per (caption, seed).

    Parameters:
        categories: which word lists to use, any of "colour", "size", "material", "count".
        exchange: also make negatives that exchange two attributes of one list within the caption.
        norms: concreteness norms for the edited word's score (``negkit.lexicon.norms``: "brysbaert",
            "glasgow", "lancaster", "combined"); when they cannot be loaded, concreteness is None.
    """

    name = "attribute-lexicon"
    _transient = ("_scores",)

    def __init__(self, categories: list[str] = ["colour", "size", "material", "count"],  # noqa: B006
                 exchange: bool = True, norms: str = "brysbaert") -> None:
        unknown = [c for c in categories if c not in LEXICONS]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; choose from {', '.join(LEXICONS)}")
        if not categories:
            raise ValueError("categories must name at least one of " + ", ".join(LEXICONS))
        self.categories = list(categories)
        self.exchange = exchange
        self.norms = norms
        self._scores: dict[str, float | None] | None = None
        # word -> [(category, scale index, group index)]: "short" sits on two scales
        self._index: dict[str, list[tuple[str, int, int]]] = {}
        for cat in self.categories:
            for s, scale in enumerate(LEXICONS[cat]):
                for g, group in enumerate(scale):
                    for word in group:
                        self._index.setdefault(word, []).append((cat, s, g))

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        return [self._mine_one(c, k, seed) if isinstance(c, str) else [] for c in captions]

    def _mine_one(self, caption: str, k: int, seed: int) -> list[Negative]:
        if k <= 0:
            return []
        hits = self._attributes(caption)
        if not hits:
            return []
        rng = caption_rng(caption, seed, self.name, tuple(self.categories), self.exchange)
        starts = [m.start() for m in _SPACE_WORD.finditer(caption)]
        candidates: list[tuple[str, str, list[tuple[int, int, str, str]]]] = []
        for start, end, word, (cat, s, g) in hits:
            for og, group in enumerate(LEXICONS[cat][s]):
                if og != g:
                    candidates.append((f"replace-{cat}", cat, [(start, end, word, rng.choice(group))]))
        if self.exchange:
            for i, (s1, e1, w1, (c1, sc1, g1)) in enumerate(hits):
                for s2, e2, w2, (c2, sc2, g2) in hits[i + 1:]:
                    if (c1, sc1) == (c2, sc2) and g1 != g2:
                        candidates.append((f"swap-{c1}", c1, [(s1, e1, w1, w2.lower()), (s2, e2, w2, w1.lower())]))
        rng.shuffle(candidates)
        out = []
        for kind, _cat, changes in candidates:
            text, edits = caption, []
            for start, end, before, after in sorted(changes, reverse=True):
                after = match_case(after, before)
                text = text[:start] + after + text[end:]
                edits.append(Edit(bisect.bisect_right(starts, start) - 1, before, after))
            scores = [self._concreteness(before.lower()) for _, _, before, _ in changes]
            known = [x for x in scores if x is not None]
            out.append(Negative(text, kind, sum(known) / len(known) if known else None, tuple(reversed(edits))))
        return keep_valid(caption, out, k)

    def _attributes(self, caption: str) -> list[tuple[int, int, str, tuple[str, int, int]]]:
        """(start, end, word, (category, scale, group)) for each attribute word, one entry per scale."""
        hits = []
        matches = list(_WORD.finditer(caption))
        for n, m in enumerate(matches):
            word = m.group()
            entries = self._index.get(word.lower())
            if not entries:
                continue
            nxt = matches[n + 1].group().lower() if n + 1 < len(matches) else None
            for entry in entries:
                if entry[0] == "material" and (nxt is None or nxt in _NOT_MODIFIED):
                    continue
                hits.append((m.start(), m.end(), word, entry))
        return hits

    def _concreteness(self, word: str) -> float | None:
        if self._scores is None:
            self._scores = _lexicon_scores(self.norms, tuple(sorted(self._index)))
        return self._scores.get(word)


@lru_cache(maxsize=8)
def _lexicon_scores(source: str, words: tuple[str, ...]) -> dict[str, float | None]:
    """Concreteness of every lexicon word, looked up once per process; empty when no norms can be loaded."""
    try:
        from negkit.lexicon.norms import load_norms

        norms = load_norms(source)
    except Exception:  # norms missing or broken: concreteness stays unknown, mining goes on
        return {}
    return {word: norms.score(word) for word in words}
