"""relation-flip: swap spatial and size words for their opposites."""

from __future__ import annotations

import re
from collections.abc import Sequence

from negkit import Edit, Miner, Negative
from negkit.mining import caption_rng, keep_valid

OPPOSITES = {
    "left": "right", "right": "left", "above": "below", "below": "above", "over": "under", "under": "over",
    "top": "bottom", "bottom": "top", "inside": "outside", "outside": "inside", "front": "behind",
    "behind": "front", "small": "large", "large": "small", "big": "little", "little": "big",
    "tall": "short", "short": "tall",
}
WORD = re.compile(r"[A-Za-z]+")


class RelationFlip(Miner):
    """Flip one spatial or size word of the caption for its opposite.

    Parameters:
        max_flips: how many words one negative flips at most (they are flipped together).
    """

    name = "relation-flip"

    def __init__(self, max_flips: int = 1) -> None:
        if max_flips < 1:
            raise ValueError(f"max_flips must be >= 1, got {max_flips}")
        self.max_flips = max_flips

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        return [self._mine_one(c, k, seed) for c in captions]

    def _mine_one(self, caption: str, k: int, seed: int) -> list[Negative]:
        spots = [m for m in WORD.finditer(caption) if m.group().lower() in OPPOSITES]
        if not spots or k <= 0:
            return []
        rng = caption_rng(caption, seed, self.name)
        order = list(range(len(spots)))
        rng.shuffle(order)
        candidates = []
        for start in range(len(order)):
            chosen = sorted(order[start:start + self.max_flips])
            text, edits, shift = caption, [], 0
            for i in chosen:
                m = spots[i]
                after = _same_case(m.group(), OPPOSITES[m.group().lower()])
                text = text[: m.start() + shift] + after + text[m.end() + shift:]
                shift += len(after) - len(m.group())
                edits.append(Edit(i, m.group(), after))
            candidates.append(Negative(text, "flip-relation", None, tuple(edits)))
        return keep_valid(caption, candidates, k)


def _same_case(original: str, word: str) -> str:
    if original.isupper():
        return word.upper()
    if original[:1].isupper():
        return word.capitalize()
    return word
