"""Quality audit of miners over a set of captions (``negkit audit``).

Per miner: coverage (share of captions with at least one negative), mean concreteness of the edited words,
the share of negatives that are bag-of-words identical to their caption (word-order negatives: swaps and
shuffles), the duplicate rate (negatives equal to their caption or to another negative of the same caption:
a contract violation, should be 0), the share of negatives that equal *another* caption of the set (likely
false negatives), the kinds of edits, and examples.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from negkit.mining.base import WARM_UP, Miner, Negative

_TOKEN = re.compile(r"\w+")


@dataclass
class MinerAudit:
    """The audit of one miner."""

    miner: str
    captions: int
    negatives: int
    seconds: float
    coverage: float  # share of captions with >= 1 negative
    mean_per_caption: float
    mean_concreteness: float | None  # over negatives with a known score
    concreteness_known: float  # share of negatives with a concreteness score
    bow_identical: float  # share of negatives with the caption's bag of words (reordering only)
    duplicate_rate: float  # share of negatives equal to the caption or to an earlier negative of it
    equals_other_caption: float  # share of negatives that are another caption of the set
    kinds: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def bag_of_words(text: str) -> Counter:
    return Counter(_TOKEN.findall(text.lower()))


def audit_negatives(name: str, captions: Sequence[str], negatives: Sequence[Sequence[Negative]], *,
                    seconds: float = 0.0, examples: int = 5, seed: int = 0) -> MinerAudit:
    """Statistics of already-mined ``negatives`` (one list per caption)."""
    all_captions = {_norm(c) for c in captions}
    n_neg = covered = bow = dup = other = 0
    scores: list[float] = []
    kinds: Counter = Counter()
    for caption, negs in zip(captions, negatives):
        covered += bool(negs)
        seen = {_norm(caption)}
        caption_bow = bag_of_words(caption)
        for neg in negs:
            n_neg += 1
            key = _norm(neg.text)
            dup += key in seen
            seen.add(key)
            other += key in all_captions and key != _norm(caption)
            bow += bag_of_words(neg.text) == caption_bow
            kinds[neg.kind] += 1
            if neg.concreteness is not None:
                scores.append(float(neg.concreteness))
    n = len(captions)
    with_negs = [i for i, negs in enumerate(negatives) if negs]
    picked = sorted(random.Random(seed).sample(with_negs, min(examples, len(with_negs))))
    sample = [{"caption": captions[i],
               "negatives": [{"text": neg.text, "kind": neg.kind, "concreteness": neg.concreteness,
                              "edits": [[e.before, e.after] for e in neg.edits]} for neg in negatives[i]]}
              for i in picked]
    return MinerAudit(
        miner=name, captions=n, negatives=n_neg, seconds=seconds,
        coverage=covered / n if n else 0.0,
        mean_per_caption=n_neg / n if n else 0.0,
        mean_concreteness=sum(scores) / len(scores) if scores else None,
        concreteness_known=len(scores) / n_neg if n_neg else 0.0,
        bow_identical=bow / n_neg if n_neg else 0.0,
        duplicate_rate=dup / n_neg if n_neg else 0.0,
        equals_other_caption=other / n_neg if n_neg else 0.0,
        kinds=dict(kinds.most_common()),
        examples=sample,
    )


def audit_miner(name: str, miner: Miner, captions: Sequence[str], *, k: int, seed: int = 0, batch_size: int = 256,
                examples: int = 5) -> MinerAudit:
    """Mine ``captions`` with ``miner`` (in batches, in-process) and audit the result. ``seconds`` counts
    mining only, after a one-caption warm-up that loads the miner's lazy resources."""
    captions = list(captions)
    miner.mine([*captions[:1], WARM_UP], k=k, seed=seed)  # load lazy resources outside the timing
    start = time.perf_counter()
    negatives: list[list[Negative]] = []
    for lo in range(0, len(captions), batch_size):
        negatives.extend(miner.mine(captions[lo:lo + batch_size], k=k, seed=seed))
    return audit_negatives(name, captions, negatives, seconds=time.perf_counter() - start, examples=examples,
                           seed=seed)


def sample_captions(captions: Sequence[str], limit: int, seed: int = 0) -> list[str]:
    """At most ``limit`` captions (0 = all), a seeded sample kept in the original order."""
    captions = list(captions)
    if limit <= 0 or len(captions) <= limit:
        return captions
    keep = sorted(random.Random(seed).sample(range(len(captions)), limit))
    return [captions[i] for i in keep]
