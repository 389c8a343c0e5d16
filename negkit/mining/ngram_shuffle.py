"""The ``ngram-shuffle`` miner: the caption's words cut into n-grams and the n-grams reordered."""

from __future__ import annotations

from collections.abc import Sequence

from negkit.mining.base import Edit, Miner, Negative, keep_valid
from negkit.seeding import caption_rng


class NgramShuffle(Miner):
    """Word-order negatives (FSC-CLIP / COCO-Order style): split the caption into runs of ``n`` words and
    shuffle the runs. Never returns the original order. Needs no language resources.

    Parameters:
        n: words per n-gram (1 shuffles single words).
        attempts: shuffles tried per requested negative before giving up (short captions have few orders).
    """

    name = "ngram-shuffle"

    def __init__(self, n: int = 2, attempts: int = 10) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.n = n
        self.attempts = attempts

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        return [self._mine_one(caption, k, seed) for caption in captions]

    def _mine_one(self, caption: str, k: int, seed: int) -> list[Negative]:
        words = caption.split()
        chunks = [words[i:i + self.n] for i in range(0, len(words), self.n)]
        if k <= 0 or len(chunks) < 2:
            return []
        rng = caption_rng(caption, seed, self.name, self.n)
        candidates = []
        for _ in range(k * self.attempts):
            order = list(range(len(chunks)))
            rng.shuffle(order)
            if order == sorted(order):
                continue
            shuffled = [chunks[j] for j in order]
            edits = []
            for pos, (orig, new) in enumerate(zip(chunks, shuffled)):
                if orig != new:
                    edits.append(Edit(pos * self.n, " ".join(orig), " ".join(new)))
            candidates.append(Negative(" ".join(w for chunk in shuffled for w in chunk), "shuffle-ngram", None,
                                       tuple(edits)))
        return keep_valid(caption, candidates, k)

