"""Spatial and relational words and their opposites ("on" -> "under", "behind" -> "in front of").

WordNet has no prepositions, so relation replacements come from this short hand-made table of
opposites. Keys and values are lower-case; multi-word relations are matched as token sequences.
"""

from __future__ import annotations

RELATION_OPPOSITES: dict[str, tuple[str, ...]] = {
    "on": ("under", "beneath"),
    "on top of": ("under", "beneath"),
    "atop": ("under", "beneath"),
    "under": ("on", "above"),
    "underneath": ("on top of", "above"),
    "beneath": ("on", "above"),
    "below": ("above",),
    "above": ("below", "under"),
    "over": ("under",),
    "in": ("outside",),
    "inside": ("outside",),
    "outside": ("inside",),
    "outside of": ("inside",),
    "behind": ("in front of",),
    "in front of": ("behind",),
    "near": ("far from",),
    "next to": ("far from",),
    "beside": ("far from",),
    "far from": ("next to", "near"),
    "into": ("out of",),
    "out of": ("into",),
    "toward": ("away from",),
    "towards": ("away from",),
    "away from": ("toward",),
    "up": ("down",),
    "down": ("up",),
    "with": ("without",),
    "without": ("with",),
    "before": ("after",),
    "after": ("before",),
}

# first word -> the multi-word relations starting with it, longest first
RELATION_PHRASES: dict[str, tuple[tuple[str, ...], ...]] = {}
for _phrase in sorted(RELATION_OPPOSITES, key=lambda p: -len(p.split())):
    _words = tuple(_phrase.split())
    RELATION_PHRASES[_words[0]] = RELATION_PHRASES.get(_words[0], ()) + (_words,)


def match_relation(words: list[str], start: int) -> int:
    """Length (in words) of the longest relation in the table at ``words[start:]`` (lower-case), or 0."""
    for phrase in RELATION_PHRASES.get(words[start], ()):
        if tuple(words[start:start + len(phrase)]) == phrase:
            return len(phrase)
    return 0
