"""Captions of the same image: which words describe the same thing, so that replacing one by the other may
leave a caption true.

COCO-style data has several captions per image, written independently. Where one caption of an image says
"a lady" and another "a woman", or "a fence" and "a railing", the two words name the same thing often enough
that "a woman ..." -> "a lady ..." is not a definitely false negative. Two words that are each common but
seldom split across the captions of one image ("cat"/"dog", "red"/"blue") are a real contrast.

``SiblingStats`` holds, for each pair of distinct captions of one image, the lemmas one caption has and the
other lacks (postings per lemma, as ``CaptionCorpus.postings``), and answers

- ``swaps(a, b)``: in how many caption pairs of one image ``a`` is only in one caption and ``b`` only in
  the other (``a`` in neither's place: the captions' words differ there);
- ``pmi(a, b)``: ``log((swaps + PRIOR) / (expected + PRIOR))``, where ``expected = d_a d_b / P``,
  ``d_w`` the number of ordered caption pairs with ``w`` only in the first, and ``P`` the number of ordered
  caption pairs: what chance would give if the two words were split across captions independently.
  ``PRIOR`` pseudo-counts keep rare pairs near 0 (too rare to tell).

A replacing miner rejects a replacement whose pair has at least ``min_sibling_swaps`` swaps and a ``pmi``
above ``max_sibling_pmi`` (``negkit.mining.concrete``; the threshold and how it was chosen: docs/miners.md,
"Captions of the same image"). Without group information (one caption per image, the shapes world) the
corpus has no ``SiblingStats`` and no replacement is rejected this way.

A multi-word lemma ("young man") counts where all its words are only in one caption of the pair.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Hashable, Sequence

PRIOR = 1.0  # pseudo-count added to the observed and the expected number of swaps


def groups_digest(groups: Sequence[Hashable | None]) -> str:
    """A digest of the group of every caption (for the corpus' and the mining cache's keys)."""
    h = hashlib.blake2b(digest_size=16)
    for g in groups:
        h.update(repr(g).encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


class SiblingStats:
    """How often two lemmas are split across two captions of the same image (see the module doc).

    ``lemma_sets[i]`` is the set of lemmas of caption ``i`` and ``groups[i]`` its image (``None``: a caption
    with no group, never paired). Captions with the same lemma set in one group count once.
    """

    def __init__(self, lemma_sets: Sequence[frozenset[str]], groups: Sequence[Hashable | None]) -> None:
        members: dict[Hashable, dict[frozenset[str], None]] = {}
        for lemmas, group in zip(lemma_sets, groups):
            if group is not None:
                members.setdefault(group, {})[lemmas] = None
        post: dict[str, list[int]] = {}
        pairs = 0
        for found in members.values():
            sets = list(found)
            for i in range(len(sets)):
                for j in range(i + 1, len(sets)):
                    # pair ``pairs``: 2p marks a lemma only in the first caption, 2p + 1 only in the second
                    for lemma in sets[i] - sets[j]:
                        post.setdefault(lemma, []).append(2 * pairs)
                    for lemma in sets[j] - sets[i]:
                        post.setdefault(lemma, []).append(2 * pairs + 1)
                    pairs += 1
        self.pairs = pairs  # unordered caption pairs of one image
        self.postings = {k: array("I", v) for k, v in post.items()}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_memo", None)
        state.pop("_sets", None)
        return state

    def forget(self) -> None:
        """Empty the per-process memo (as a new process starts)."""
        self.__dict__.pop("_memo", None)
        self.__dict__.pop("_sets", None)

    def _entries(self, lemma: str) -> frozenset[int]:
        """The (pair, side) entries where every word of ``lemma`` is only in that side's caption: ``2p`` for
        the first caption of pair ``p``, ``2p + 1`` for the second."""
        sets = self.__dict__.setdefault("_sets", {})
        found = sets.get(lemma)
        if found is None:
            parts = lemma.lower().split()
            found = frozenset(self.postings.get(parts[0], ())) if parts else frozenset()
            for part in parts[1:]:
                if not found:
                    break
                found = found.intersection(self.postings.get(part, ()))
            sets[lemma] = found
        return found

    def swaps(self, a: str, b: str) -> int:
        """In how many caption pairs of one image every word of ``a`` is only in one caption and every word of
        ``b`` only in the other."""
        if a == b:
            return 0
        memo = self.__dict__.setdefault("_memo", {})
        key = (a, b) if a < b else (b, a)
        found = memo.get(key)
        if found is None:
            ea, eb = self._entries(key[0]), self._entries(key[1])
            small, large = (ea, eb) if len(ea) < len(eb) else (eb, ea)
            found = memo[key] = sum(1 for x in small if x ^ 1 in large)  # the same pair, the other caption
        return found

    def pmi(self, a: str, b: str) -> float:
        """``log((swaps + PRIOR) / (expected + PRIOR))`` (see the module doc); 0 for a word and itself."""
        if a == b or not self.pairs:
            return 0.0
        expected = len(self._entries(a)) * len(self._entries(b)) / (2 * self.pairs)
        return math.log((self.swaps(a, b) + PRIOR) / (expected + PRIOR))

    def interchangeable(self, a: str, b: str, min_swaps: int, max_pmi: float) -> bool:
        """Whether the captions of one image use ``a`` and ``b`` for the same thing: at least ``min_swaps``
        swaps and a ``pmi`` above ``max_pmi``."""
        return self.swaps(a, b) >= min_swaps and self.pmi(a, b) > max_pmi
