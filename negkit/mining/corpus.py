"""The training captions' own words: lemma counts and a caption language model, built once per corpus.

Replacing miners keep only replacement words the captions use (``min_corpus_count``) and rank their
candidates by how plausible a caption language model finds them (``plausibility``): SugarCrepe's
adversarial refinement, applied to training negatives. Both come from one ``CaptionCorpus``:

- ``counts``: how often each lemma occurs in the captions (every lemma lemminflect gives a word form,
  so "dogs" counts for "dog"), and the raw n-gram counts for multi-word lemmas ("hot dog");
- ``lm``: an interpolated Kneser-Ney trigram model of the captions (``CaptionLM``);
- ``siblings``: where the data says which captions describe the same image (``groups``), which words those
  captions use for the same thing (``negkit.mining.siblings.SiblingStats``); None without groups.

NLTK's ``nltk.lm.KneserNeyInterpolated`` was measured first: 9.7 ms per trigram score on SugarCrepe's
4,345 captions, about 5,000 times the per-caption budget of mining; ``CaptionLM`` computes the same
estimate (interpolated Kneser-Ney, discount 0.75) from plain count tables in ~2 microseconds.

``corpus_for(captions, groups=...)`` builds the corpus or loads it from
``<datasets cache>/negkit/corpus/<digest>.pkl``, keyed by the captions' fingerprint (the one the mining cache
uses, and the groups' digest when there are groups) and written atomically. The mining stage
hands it to every miner that asks for one (``attach_corpus``); ``negkit try`` and tests give a miner a
captions file with its ``corpus`` parameter instead.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import tempfile
from array import array
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from negkit.lexicon import on_clear_word_caches
from negkit.mining.siblings import SiblingStats, groups_digest

CORPUS_FORMAT = 4  # bump when the pickled layout changes
DISCOUNT = 0.75
MEMO_SIZE = 500_000  # trigram scores remembered per process
BOS, EOS = "<s>", "</s>"
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def words(text: str) -> list[str]:
    """The lower-case words of a caption as the language model sees them (punctuation dropped)."""
    return _WORD.findall(text.lower())


_LM_MEMOS = ("_scores", "_p2s", "_last")  # per process: trigram scores, bigram terms, the last caption's side


class CaptionLM:
    """Interpolated Kneser-Ney trigram model (Chen & Goodman 1998, one discount) over caption words.

    ``logprob(w, u, v)`` is the natural-log probability of ``w`` after ``u v``; unseen words get the
    unigram floor of one pseudo-count, so scores stay finite.
    """

    def __init__(self, sentences: Iterable[Sequence[str]]) -> None:
        tri: Counter = Counter()
        for sent in sentences:
            padded = [BOS, BOS, *sent, EOS]
            for i in range(2, len(padded)):
                tri[(padded[i - 2], padded[i - 1], padded[i])] += 1
        ctx2: dict[tuple[str, str], list[int]] = {}  # (u, v) -> [count, distinct followers]
        bi_cont: Counter = Counter()  # (v, w) -> distinct u before it
        for (u, v, w), c in tri.items():
            entry = ctx2.setdefault((u, v), [0, 0])
            entry[0] += c
            entry[1] += 1
            bi_cont[(v, w)] += 1
        ctx1: dict[str, list[int]] = {}  # v -> [sum of continuation counts, distinct followers]
        uni_cont: Counter = Counter()  # w -> distinct v before it
        for (v, w), c in bi_cont.items():
            entry = ctx1.setdefault(v, [0, 0])
            entry[0] += c
            entry[1] += 1
            uni_cont[w] += 1
        self.tri = dict(tri)
        self.ctx2 = {k: (a, b) for k, (a, b) in ctx2.items()}
        self.bi_cont = dict(bi_cont)
        self.ctx1 = {k: (a, b) for k, (a, b) in ctx1.items()}
        self.uni_cont = dict(uni_cont)
        self.bigram_types = max(1, len(bi_cont))
        self.vocab = len(uni_cont)

    def _p1(self, w: str) -> float:
        return (self.uni_cont.get(w, 0) + 1.0) / (self.bigram_types + self.vocab + 1.0)

    def _p2(self, w: str, v: str) -> float:
        ctx = self.ctx1.get(v)
        if ctx is None:
            return self._p1(w)
        total, types = ctx
        return (max(self.bi_cont.get((v, w), 0) - DISCOUNT, 0.0) + DISCOUNT * types * self._p1(w)) / total

    def logprob(self, w: str, u: str, v: str) -> float:
        key = (u, v, w)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = self._score(key, memo)
        return found

    def _score(self, key: tuple[str, str, str], memo: dict) -> float:
        """``logprob`` of the trigram ``key`` (u, v, w) computed, remembered in ``memo`` (``_memo``). The same
        floats as ``_p2`` and ``_p1`` give, computed inline: it runs for every new trigram a miner scores."""
        u, v, w = key
        p2s = self.__dict__.get("_p2s")  # (v, w) -> _p2(w, v): the trigrams of one bigram share it
        if p2s is None:
            p2s = self.__dict__["_p2s"] = {}
        p2 = p2s.get((v, w))
        if p2 is None:
            ctx1 = self.ctx1.get(v)
            p1 = (self.uni_cont.get(w, 0) + 1.0) / (self.bigram_types + self.vocab + 1.0)
            if ctx1 is None:
                p2 = p1
            else:
                total, types = ctx1
                p2 = (max(self.bi_cont.get((v, w), 0) - DISCOUNT, 0.0) + DISCOUNT * types * p1) / total
            if len(p2s) < MEMO_SIZE:
                p2s[(v, w)] = p2
        ctx = self.ctx2.get((u, v))
        if ctx is None:
            found = math.log(p2)
        else:
            total, types = ctx
            found = math.log((max(self.tri.get(key, 0) - DISCOUNT, 0.0) + DISCOUNT * types * p2) / total)
        if len(memo) < MEMO_SIZE:
            memo[key] = found
        return found

    @property
    def _memo(self) -> dict:
        # trigram scores of this process: never pickled (see __getstate__), emptied by ``forget``
        memo = self.__dict__.get("_scores")
        if memo is None:
            memo = self.__dict__["_scores"] = {}
        return memo

    def forget(self) -> None:
        """Empty the per-process memos (as a new process starts)."""
        for memo in _LM_MEMOS:
            self.__dict__.pop(memo, None)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for memo in _LM_MEMOS:
            state.pop(memo, None)
        return state

    def sentence_logprob(self, sent: Sequence[str]) -> float:
        padded = [BOS, BOS, *sent, EOS]
        return sum(self.logprob(padded[i], padded[i - 2], padded[i - 1]) for i in range(2, len(padded)))

    def score(self, text: str) -> float:
        """Log-probability of a caption (its ``words``)."""
        return self.sentence_logprob(words(text))

    def delta(self, before: Sequence[str], after: Sequence[str]) -> float:
        """``sentence_logprob(after) - sentence_logprob(before)``, computed only over the trigrams that
        differ (an edit changes a few words of a caption)."""
        # the caller scores many edits of one caption in turn: its side is remembered for the last caption
        last = self.__dict__.get("_last")
        if last is None or last[2] != before:
            last = self.__dict__["_last"] = ([BOS, BOS, *before, EOS], {}, list(before))
        a, b = last[0], [BOS, BOS, *after, EOS]
        len_a, len_b = len(a), len(b)
        lo = 2
        while lo < len_a and lo < len_b and a[lo] == b[lo]:
            lo += 1
        tail = 0
        while tail < len_a - lo and tail < len_b - lo and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        # trigrams ending at positions lo .. (last changed + 2) differ; the rest are shared
        end_a, end_b = min(len_a, len_a - tail + 2), min(len_b, len_b - tail + 2)
        sa = last[1].get((lo, end_a))
        if sa is None:
            sa = last[1][(lo, end_a)] = self._sum(a, lo, end_a)
        return self._sum(b, lo, end_b) - sa

    def _sum(self, padded: list[str], lo: int, end: int) -> float:
        memo = self._memo
        known = memo.get
        scores = []
        for i in range(lo, end):
            key = (padded[i - 2], padded[i - 1], padded[i])
            found = known(key)
            scores.append(found if found is not None else self._score(key, memo))
        return sum(scores)  # as sentence_logprob sums: the same floats in the same order


# per-process memos of a corpus: co-occurrence counts and posting sets (``together``), fit terms, and the miners' fits
# (``fit``, per word and context), slot tests (``lexical.SlotTest``, per slot and new word) and candidate pools
# (``LexicalMiner.replacements``, per word list and slot)
_MEMOS = ("_pairs", "_sets", "_terms", "_fits", "_slots", "_pools")


class CaptionCorpus:
    """Lemma counts and the caption language model of one set of captions (see the module doc)."""

    def __init__(self, captions: Sequence[str], digest: str = "",
                 groups: Sequence[Hashable | None] | None = None) -> None:
        from negkit.lexicon.norms import lemmas

        if groups is not None and len(groups) != len(captions):
            raise ValueError(f"groups has {len(groups)} entries for {len(captions)} captions")
        kept = [i for i, c in enumerate(captions) if isinstance(c, str)]
        tokenised = [words(captions[i]) for i in kept]
        forms: Counter = Counter(w for sent in tokenised for w in sent)
        counts: Counter = Counter()
        for form, c in forms.items():
            for lemma in {form, *lemmas(form)}:
                counts[lemma] += c
        self.counts = dict(counts)
        self.lm = CaptionLM(tokenised)
        self.captions = len(tokenised)
        self.digest = digest
        # caption ids per lemma (every form and lemma of a caption's words), for co-occurrence
        post: dict[str, list[int]] = {}
        lemmas_of = {form: {form, *lemmas(form)} for form in forms}
        lemma_sets = [frozenset(set().union(*(lemmas_of[w] for w in sent)) if sent else ()) for sent in tokenised]
        for i, found in enumerate(lemma_sets):
            for lemma in found:
                post.setdefault(lemma, []).append(i)
        self.postings = {k: array("I", v) for k, v in post.items()}
        self.relation_objects = relation_objects(tokenised, lemmas_of)
        # which captions describe the same image (``negkit.mining.siblings``); None without group information
        self.siblings: SiblingStats | None = None
        if groups is not None and any(g is not None for g in groups):
            self.siblings = SiblingStats(lemma_sets, [groups[i] for i in kept])

    def relation_object(self, relation: str, noun: str) -> int:
        """How often the relation phrase ``relation`` ("on", "in front of") is followed, within
        ``RELATION_REACH`` words, by the lemma ``noun`` in the captions."""
        return self.relation_objects.get((relation, noun), 0)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for memo in _MEMOS:
            state.pop(memo, None)
        return state

    def memo(self, name: str) -> dict:
        """A per-process memo of this corpus' results (one of ``_MEMOS``): never pickled, emptied by
        ``clear_word_caches``; its users stop adding to it at ``MEMO_SIZE`` entries."""
        found = self.__dict__.get(name)
        if found is None:
            found = self.__dict__[name] = {}
        return found

    def together(self, a: str, b: str) -> int:
        """In how many captions the lemmas ``a`` and ``b`` (single words) both occur."""
        key = (a, b) if a < b else (b, a)
        pairs = self.__dict__.get("_pairs")
        if pairs is None:
            pairs = self.__dict__["_pairs"] = {}
        found = pairs.get(key)
        if found is None:
            sa, sb = self._set(a), self._set(b)
            found = pairs[key] = len(sa & sb) if len(sa) < len(sb) else len(sb & sa)
        return found

    def _set(self, lemma: str) -> frozenset[int]:
        sets = self.memo("_sets")
        found = sets.get(lemma)
        if found is None:
            found = sets[lemma] = frozenset(self.postings.get(lemma, ()))
        return found

    def fit(self, word: str, context: Iterable[str]) -> float:
        """How well ``word`` goes with the caption's other content lemmas ``context``: the mean, over the
        context lemmas the captions use, of ``log((n_wc + 1) / (E_wc + 1))``, where ``n_wc`` counts captions
        with both words and ``E_wc = n_w n_c / N`` is what chance would give. Positive: seen together more
        often than chance ("racket" with "tennis"); near 0: too rare to tell; negative: each common and
        (almost) never together ("counter" with "tennis"). A multi-word ``word`` is judged by its last word."""
        return self.fit_in(self.context_counts(context), word)

    def context_counts(self, context: Iterable[str]) -> list[tuple[str, int]]:
        """The lemmas of ``context`` the captions use and in how many captions: what ``fit`` reads of the
        context, for a caller that fits many words to one context (``fit_in``)."""
        postings = self.postings
        return [(c, len(postings[c])) for c in context if postings.get(c)]

    def fit_in(self, context_counts: Sequence[tuple[str, int]], word: str) -> float:
        """``fit(word, context)``, given ``context_counts(context)``."""
        w = word.lower().split()[-1] if word.strip() else word
        n_w = len(self.postings.get(w, ()))
        n = max(1, self.captions)
        pairs = self.__dict__.get("_pairs")
        if pairs is None:
            pairs = self.__dict__["_pairs"] = {}
        known, log, sets = pairs.get, math.log, self.memo("_sets")
        memo = self.memo("_terms")  # (w, c) -> the term: the same for every context that has c
        terms = []
        set_w = None
        for c, n_c in context_counts:
            if c != w:
                term = memo.get((w, c))
                if term is None:
                    key = (w, c) if w < c else (c, w)
                    both = known(key)  # ``together``, inline: its memo, then its count (w's set read once)
                    if both is None:
                        if set_w is None:
                            set_w = self._set(w)
                        set_c = sets.get(c)
                        if set_c is None:
                            set_c = self._set(c)
                        both = pairs[key] = len(set_w & set_c) if len(set_w) < len(set_c) else len(set_c & set_w)
                    term = log((both + 1.0) / (n_w * n_c / n + 1.0))
                    if len(memo) < MEMO_SIZE:
                        memo[(w, c)] = term
                terms.append(term)
        # fsum: the same value whatever the order ``context`` (a set) is iterated in, which changes with
        # Python's string hashing from one process to the next; a plain sum could differ in its last bit
        return math.fsum(terms) / len(terms) if terms else 0.0

    def count(self, lemma: str) -> int:
        """How often ``lemma`` (a word, or several joined by spaces) occurs in the captions, any inflection."""
        found = self.counts.get(lemma)
        if found is not None:
            return found
        parts = lemma.lower().split()
        if len(parts) == 1:
            return self.counts.get(parts[0], 0)
        if len(parts) > 3:
            return 0
        from negkit.lexicon.words import inflect

        lm = self.lm
        total = 0
        for last in {parts[-1], inflect(parts[-1], "NNS")}:
            gram = (*parts[:-1], last)
            if len(gram) == 2:
                total += lm.ctx2.get(gram, (0, 0))[0]  # (v, w) as a context = every occurrence of "v w"
            else:
                total += lm.tri.get(gram, 0)
        return total


RELATION_REACH = 3  # words after a relation phrase that may be its object's head ("on a red couch")


def relation_objects(sentences: Sequence[Sequence[str]], lemmas_of: dict[str, set[str]]) -> dict[tuple[str, str], int]:
    """(relation phrase, lemma of a word at most ``RELATION_REACH`` words after it) -> count: which
    objects the captions put under, on, behind... a thing (the relation table's phrases only)."""
    from negkit.lexicon.relations import RELATION_OPPOSITES, match_relation

    out: Counter = Counter()
    for sent in sentences:
        for i, w in enumerate(sent):
            m = match_relation(sent, i) if w in _RELATION_FIRST else 0
            if not m:
                continue
            phrase = " ".join(sent[i:i + m])
            if phrase not in RELATION_OPPOSITES:
                continue
            for after in sent[i + m:i + m + RELATION_REACH]:
                for lemma in lemmas_of.get(after, (after,)):
                    out[(phrase, lemma)] += 1
    return dict(out)


def _relation_first() -> frozenset[str]:
    from negkit.lexicon.relations import RELATION_PHRASES

    return frozenset(RELATION_PHRASES)


_RELATION_FIRST = _relation_first()


def default_corpus_dir() -> Path:
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "negkit" / "corpus"


def corpus_for(captions: Sequence[str], cache_dir: Path | str | None = None,
               groups: Sequence[Hashable | None] | None = None) -> tuple[CaptionCorpus, Path]:
    """The ``CaptionCorpus`` of ``captions`` and its cache file (built and written on first use).
    ``groups``: the image of each caption (``image_id``, file name), when the data says which captions
    describe the same image; the corpus then has ``siblings`` and its key the groups' digest."""
    from negkit.mining.stage import captions_digest

    if groups is not None:
        if len(groups) != len(captions):
            raise ValueError(f"groups has {len(groups)} entries for {len(captions)} captions")
        groups = [g for c, g in zip(captions, groups) if isinstance(c, str)]
        if all(g is None for g in groups):
            groups = None
    captions = [c for c in captions if isinstance(c, str)]
    digest = captions_digest(captions)
    if groups is not None:
        digest = f"{digest}-g{groups_digest(groups)[:16]}"
    root = Path(cache_dir).expanduser() if cache_dir else default_corpus_dir()
    path = root / f"{digest}-v{CORPUS_FORMAT}.pkl"
    found = load_corpus(path)
    if found is not None:
        return found, path
    corpus = CaptionCorpus(captions, digest, groups)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=root)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(corpus, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _LOADED[str(path)] = corpus
    return corpus, path


_LOADED: dict[str, CaptionCorpus] = {}  # per process: forked workers share the parent's


@on_clear_word_caches
def _forget_scores() -> None:
    """Drop the per-process memos of every loaded corpus (trigram scores, co-occurrence counts), so that
    ``clear_word_caches`` leaves mining as cold as a new process (``negkit bench mine``)."""
    for corpus in _LOADED.values():
        for memo in _MEMOS:
            corpus.__dict__.pop(memo, None)
        corpus.lm.forget()
        if getattr(corpus, "siblings", None) is not None:
            corpus.siblings.forget()


def load_corpus(path: Path | str) -> CaptionCorpus | None:
    """A cached corpus, or None when the file is missing or unreadable."""
    key = str(path)
    found = _LOADED.get(key)
    if found is not None:
        return found
    try:
        with open(path, "rb") as fh:
            found = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None
    if not isinstance(found, CaptionCorpus):
        return None
    _LOADED[key] = found
    return found


def corpus_from_file(path: str) -> tuple[CaptionCorpus, Path]:
    """The corpus of a captions file (a text file, .json/.jsonl items, or a folder; as ``negkit audit``),
    with the items' images as groups where they name one (``read_caption_groups``)."""
    from negkit.data.caption_files import read_caption_groups

    captions, groups = read_caption_groups(Path(path).expanduser())
    return corpus_for(captions, None, groups)


def attach_corpus(miners: Iterable[Any], captions: Sequence[str], cache_dir: Path | str | None = None,
                  groups: Sequence[Hashable | None] | None = None) -> None:
    """Give every miner that uses a caption corpus (``wants_corpus()``) the corpus of ``captions`` (and
    ``groups``, see ``corpus_for``); built (or loaded from the cache) only when one does."""
    wanting = [m for m in miners if getattr(m, "wants_corpus", None) and m.wants_corpus()]
    if not wanting:
        return
    _, path = corpus_for(captions, cache_dir, groups)
    for miner in wanting:
        miner.use_corpus(path)


class NoCorpusWarning(UserWarning):
    """A miner that filters or ranks by the caption corpus runs without one."""


class CorpusUser:
    """Mixin of miners that use a ``CaptionCorpus``: ``corpus`` (a constructor parameter: a captions file, or
    "" for the one the mining stage hands in with ``use_corpus``). Without either, ``caption_corpus()``
    warns once (``NoCorpusWarning``) and returns None: the corpus filters and ranking are then off."""

    corpus: str = ""
    _corpus: CaptionCorpus | None = None
    _corpus_path: str | None = None
    _corpus_warned: bool = False

    def wants_corpus(self) -> bool:
        return False

    def use_corpus(self, path: Path | str) -> None:
        """Use the corpus cached at ``path`` (``corpus_for``); the path, not the corpus, is pickled to workers."""
        self._corpus_path = str(path)
        self._corpus = None

    def caption_corpus(self) -> CaptionCorpus | None:
        if self._corpus is None and self.wants_corpus():
            if self._corpus_path:
                self._corpus = load_corpus(self._corpus_path)
            elif self.corpus:
                self._corpus, path = corpus_from_file(self.corpus)
                self._corpus_path = str(path)
            if self._corpus is None and not self._corpus_warned:
                import warnings

                self._corpus_warned = True
                warnings.warn(f"{getattr(self, 'name', type(self).__name__)}: no caption corpus, so min_corpus_count "
                              "and plausibility ranking are off; the mining stage gives the training captions, "
                              "elsewhere set corpus = 'captions.txt'", NoCorpusWarning, stacklevel=3)
        return self._corpus
