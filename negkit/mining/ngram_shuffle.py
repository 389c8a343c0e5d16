"""The ``ngram-shuffle`` miner: the caption's words cut into n-grams and the n-grams reordered."""

from __future__ import annotations

from collections.abc import Sequence

from negkit.mining.base import Edit, Miner, Negative, keep_valid
from negkit.mining.corpus import CorpusUser
from negkit.mining.lexical import ranked
from negkit.seeding import caption_rng


class NgramShuffle(CorpusUser, Miner):
    """Word-order negatives (FSC-CLIP / COCO-Order style): split the caption into runs of ``n`` words and
    shuffle the runs. Never returns the original order. Needs no language resources.

    Parameters:
        n: words per n-gram (1 shuffles single words).
        attempts: shuffles tried per requested negative before giving up (short captions have few orders).
        plausibility: keep the shuffles the training captions' language model finds most plausible (off by
            default, as in the papers).
        corpus: a captions file for that model when no mining stage hands in the training captions.
    """

    name = "ngram-shuffle"
    _transient = ("_corpus",)

    def __init__(self, n: int = 2, attempts: int = 10, plausibility: bool = False, corpus: str = "") -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.n = n
        self.attempts = attempts
        self.plausibility = plausibility
        self.corpus = corpus

    def wants_corpus(self) -> bool:
        return self.plausibility

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
        corpus = self.caption_corpus()
        if corpus is not None:
            candidates = ranked(corpus, caption, candidates, rng, None, None)
        return keep_valid(caption, candidates, k)

