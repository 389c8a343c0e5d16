"""Negative quality: can a text-only model reject a miner's negatives, are they still true, are they in the
corpus' own words (``negkit audit``).

The captions are split in two by a hash of their normalised text (``split_captions``), so that equal
captions always fall on the same side:

- the **mining part** is what the miners see: its corpus (lemma counts, language model) is the one their
  filters and ranking use, and its captions are the ones mined;
- the **judge part** trains the blind judge: a caption language model that never saw a mined caption nor
  the filtering model's captions. Its *blind accuracy* is the share of (caption, negative) pairs where it
  gives the caption the higher probability; 0.5 means the text alone gives nothing away.

Per miner, besides ``negkit.mining.audit``'s statistics: the share of edits WordNet says can leave the
caption true (new word a synonym, hypernym or hyponym of the old one), the share of new words the mining
part never uses, and the concreteness of edited and new words.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from negkit.mining.audit import MinerAudit, audit_negatives
from negkit.mining.base import WARM_UP, Miner, Negative
from negkit.seeding import stable_hash

STILL_TRUE = ("synonym", "hypernym", "hyponym")


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def split_captions(captions: Sequence[str], judge_share: float = 0.5, seed: int = 0) -> tuple[list[str], list[str]]:
    """(mining part, judge part): each distinct normalised caption goes wholly to one side."""
    mining, judge = [], []
    for caption in captions:
        (judge if in_judge_part(caption, judge_share, seed) else mining).append(caption)
    return mining, judge


def in_judge_part(caption: str, judge_share: float = 0.5, seed: int = 0) -> bool:
    """Whether ``split_captions`` puts ``caption`` in the judge part."""
    return (stable_hash("quality-split", seed, _norm(caption)) % 10_000) / 10_000 < judge_share


def mining_groups(captions: Sequence[str], groups: Sequence[Any] | None, judge_share: float = 0.5,
                  seed: int = 0) -> list[Any] | None:
    """The groups (images) of ``split_captions``' mining part, in its order; None without ``groups``."""
    if groups is None:
        return None
    return [g for c, g in zip(captions, groups) if not in_judge_part(c, judge_share, seed)]


@dataclass
class QualityAudit:
    """The quality audit of one miner (``base``: the statistics of ``negkit.mining.audit``)."""

    base: MinerAudit
    blind_accuracy: float | None  # share of pairs where the judge prefers the caption (ties count half)
    still_true: float | None  # share of single-word edits to a synonym, hypernym or hyponym
    relations: dict[str, int] = field(default_factory=dict)  # WordNet relation of old -> new word
    unseen_new_words: float | None = None  # share of new words the mining part never uses
    edited_concreteness: float | None = None  # mean, of edited words
    new_concreteness: float | None = None  # mean, of new words
    log_odds: list[float] = field(default_factory=list)  # judge log P(negative) - log P(caption), per pair
    edited_scores: list[float] = field(default_factory=list)
    new_scores: list[float] = field(default_factory=list)

    @property
    def miner(self) -> str:
        return self.base.miner

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("log_odds", "edited_scores", "new_scores", "base"):
            out.pop(key)
        return {**self.base.as_dict(), **out}


def edit_relation(before: str, after: str, upos: str = "NOUN") -> str:
    """How WordNet relates the new word to the old one: synonym, hypernym, hyponym, antonym, or other."""
    from negkit.lexicon import wordnet as wn
    from negkit.lexicon.words import lemma

    a, b = lemma(before.lower(), upos), lemma(after.lower(), upos)
    for pos in (upos, "NOUN", "VERB", "ADJ"):
        rel = wn.taxonomic_relation(a, b, pos)
        if rel is not None:
            return rel
        if b in wn.antonyms(a, pos, 3):
            return "antonym"
    return "other"


def assess(name: str, captions: Sequence[str], negatives: Sequence[Sequence[Negative]], *, judge: Any,
           corpus: Any, norms: Any, seconds: float = 0.0, examples: int = 5, seed: int = 0) -> QualityAudit:
    """The quality audit of already-mined ``negatives``; ``judge`` a ``CaptionLM`` of the judge part (None:
    no blind accuracy), ``corpus`` the ``CaptionCorpus`` of the mined captions, ``norms`` concreteness norms."""
    from negkit.mining.corpus import words

    base = audit_negatives(name, captions, negatives, seconds=seconds, examples=examples, seed=seed)
    for example in base.examples:  # what the judge thinks of each shown negative
        p_caption = judge.score(example["caption"]) if judge is not None else 0.0
        for neg in example["negatives"]:
            neg["judge_log_odds"] = judge.score(neg["text"]) - p_caption if judge is not None else None
    wins = pairs = 0.0
    log_odds: list[float] = []
    relations: Counter = Counter()
    unseen = new_total = 0
    edited, new = [], []
    for caption, negs in zip(captions, negatives):
        p_caption = judge.score(caption) if judge is not None else 0.0
        for neg in negs:
            if judge is not None:
                d = judge.score(neg.text) - p_caption
                log_odds.append(d)
                pairs += 1
                wins += 1.0 if d < 0 else 0.5 if d == 0 else 0.0
            if neg.concreteness is not None:
                edited.append(float(neg.concreteness))
            swap = len(neg.edits) > 1 and {e.after.lower() for e in neg.edits} == {e.before.lower() for e in neg.edits}
            for e in neg.edits:
                if swap or not e.after.strip():
                    continue
                new_total += 1
                unseen += any(corpus.count(w) == 0 for w in words(e.after))
                score = norms.score(e.after)
                if score is not None:
                    new.append(score)
                if len(neg.edits) == 1 and " " not in e.before.strip() and " " not in e.after.strip():
                    relations[edit_relation(e.before, e.after, _upos(neg.kind))] += 1
    single = sum(relations.values())
    return QualityAudit(
        base=base,
        blind_accuracy=wins / pairs if pairs else None,
        still_true=sum(relations[r] for r in STILL_TRUE) / single if single else None,
        relations=dict(relations.most_common()),
        unseen_new_words=unseen / new_total if new_total else None,
        edited_concreteness=sum(edited) / len(edited) if edited else None,
        new_concreteness=sum(new) / len(new) if new else None,
        log_odds=log_odds, edited_scores=edited, new_scores=new)


def _upos(kind: str) -> str:
    for part, upos in (("noun", "NOUN"), ("obj", "NOUN"), ("adj", "ADJ"), ("att", "ADJ"), ("verb", "VERB")):
        if part in kind:
            return upos
    return "NOUN"


@dataclass
class Skipped:
    miner: str
    reason: str


def audit_quality(miners: Iterable[tuple[str, Miner | Any]], captions: Sequence[str], *, k: int = 1,
                  seed: int = 0, limit: int = 2000, examples: int = 5, cache_dir: Path | str | None = None,
                  norms: str = "brysbaert", groups: Sequence[Any] | None = None
                  ) -> tuple[list[QualityAudit], list[Skipped]]:
    """Split ``captions`` (``split_captions``), give each miner the mining part's corpus, mine a seeded
    sample of at most ``limit`` of its captions, and judge the negatives with the judge part's model.
    ``miners`` gives (name, miner) pairs, or (name, a zero-argument function building the miner). A miner
    that cannot be built or run as given (a file it needs is not set, say) is listed in the second list
    with the reason. With too few captions to split, every caption is mined and there is no blind accuracy.
    ``groups``: the image of each caption, where the data names it (the mining part's corpus then knows which
    captions describe the same image, ``negkit.mining.siblings``)."""
    from negkit.errors import NegkitError
    from negkit.lexicon.norms import load_norms
    from negkit.mining.audit import sample_captions
    from negkit.mining.corpus import CaptionLM, attach_corpus, corpus_for, words

    mining, judged = split_captions(captions)
    parts = mining_groups(captions, groups)
    if not mining or not judged:
        mining, judged, parts = list(captions), [], (list(groups) if groups is not None else None)
    corpus, _ = corpus_for(mining, cache_dir, parts)
    judge = CaptionLM(words(c) for c in judged) if judged else None
    sample = sample_captions(mining, limit, seed)
    scores = load_norms(norms)
    reports, skipped = [], []
    for name, miner in miners:
        try:
            if not isinstance(miner, Miner):
                miner = miner()
            attach_corpus([miner], mining, cache_dir, parts)
            miner.mine([*sample[:1], WARM_UP], k=k, seed=seed)
        except (NegkitError, ValueError, TypeError, OSError) as exc:
            skipped.append(Skipped(name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            continue
        start = time.perf_counter()
        negatives: list[list[Negative]] = []
        for lo in range(0, len(sample), 256):
            negatives.extend(miner.mine(sample[lo:lo + 256], k=k, seed=seed))
        reports.append(assess(name, sample, negatives, judge=judge, corpus=corpus, norms=scores,
                              seconds=time.perf_counter() - start, examples=examples, seed=seed))
    return reports, skipped


def quality_figure(reports: Sequence[QualityAudit], path: Path | str) -> Path:
    """Per miner: the judge's log-odds of negative against caption, and the concreteness of edited and
    new words, as histograms in one PNG/PDF/SVG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, r in enumerate(reports):
        style = {"histtype": "step", "label": r.miner, "density": True, "color": f"C{i % 10}",
                 "linestyle": "-" if i < 10 else "--"}  # one colour per miner in every panel
        if r.log_odds:
            axes[0].hist(r.log_odds, bins=40, range=(-20, 10), **style)
        if r.edited_scores:
            axes[1].hist(r.edited_scores, bins=16, range=(1, 5), **style)
        if r.new_scores:
            axes[2].hist(r.new_scores, bins=16, range=(1, 5), **style)
    axes[0].axvline(0, color="grey", lw=0.8)
    axes[0].set_title("judge log P(negative) - log P(caption)")
    axes[1].set_title("concreteness of edited words")
    axes[2].set_title("concreteness of new words")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
