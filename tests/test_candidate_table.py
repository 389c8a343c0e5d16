"""The candidate table (``negkit.mining.candidate_table``): built once per corpus and parameters, cached beside
the corpus atomically, keyed by what it depends on, and never changing a negative."""

from __future__ import annotations

from pathlib import Path

import pytest

from negkit.lexicon import clear_word_caches
from negkit.lexicon import wordnet as wn
from negkit.mining import candidate_table
from negkit.mining.concrete import ConcretePlant
from negkit.mining.corpus import corpus_for

SAMPLE = Path(__file__).parent / "fixtures" / "coco_captions_sample.txt"


@pytest.fixture(scope="module")
def captions() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines()[:150]


@pytest.fixture()
def corpus_path(captions, tmp_path) -> Path:
    return corpus_for(captions, tmp_path)[1]


def _mined(cls, corpus_path: Path, captions: list[str], **kw) -> tuple[list, object]:
    clear_word_caches()  # cold, as a new process: only what the table holds is known before mining
    candidate_table.clear_loaded()
    miner = cls(**kw)
    miner.use_corpus(corpus_path)
    miner.prepare()
    preloaded = dict(miner._replacer._cache)
    return miner.mine(captions, k=3, seed=0), preloaded


def test_negatives_are_the_same_with_and_without_the_table(captions, corpus_path, monkeypatch):
    cls = ConcretePlant  # its controls share the code and the table (same filters): docs/performance.md
    monkeypatch.setattr(candidate_table, "ENABLED", False)
    without, nothing = _mined(cls, corpus_path, captions)
    assert not nothing and not list(corpus_path.parent.glob("*.candidates-*"))
    monkeypatch.setattr(candidate_table, "ENABLED", True)
    built, _ = _mined(cls, corpus_path, captions)  # builds and writes it
    tables = list(corpus_path.parent.glob("*.candidates-*.pkl"))
    assert len(tables) == 1 and tables[0].name.startswith(corpus_path.stem)
    loaded, preloaded = _mined(cls, corpus_path, captions)  # reads it from disk
    assert preloaded, "a new miner starts from the table on disk"
    assert sum(map(len, without)) > len(captions)  # the comparison covers real negatives
    assert built == without and loaded == without
    assert not [p for p in corpus_path.parent.iterdir() if ".tmp-" in p.name]  # written atomically


def test_the_table_is_keyed_by_corpus_and_parameters(captions, tmp_path, monkeypatch):
    monkeypatch.setattr(candidate_table, "ENABLED", False)  # only its name is needed here
    paths = set()
    for corpus_captions, kw in ((captions, {}), (captions, {"zipf_window": 1.0}), (captions[:100], {})):
        clear_word_caches()
        miner = ConcretePlant(**kw)
        miner.use_corpus(corpus_for(corpus_captions, tmp_path)[1])
        miner.prepare()
        paths.add(candidate_table.table_path(miner._replacer, miner._corpus_path))
    assert len(paths) == 3


def test_a_damaged_table_is_built_again(captions, corpus_path):
    good, _ = _mined(ConcretePlant, corpus_path, captions[:40])
    (path,) = corpus_path.parent.glob("*.candidates-*.pkl")
    path.write_bytes(b"not a pickle")
    again, preloaded = _mined(ConcretePlant, corpus_path, captions[:40])
    assert again == good and preloaded
    assert candidate_table._load(path) is not None  # written again, whole


def test_family_is_answered_from_the_table_as_computed(captions, corpus_path):
    from negkit.mining import lexical

    _mined(ConcretePlant, corpus_path, captions[:1])  # builds the table and starts a miner from it
    known = dict(lexical._KNOWN_FAMILIES)
    nouns = list(known)
    assert len(known) > 100 and any(len(f) > 10 for f in known.values())
    clear_word_caches()  # forgets the table's families: ``family`` computes them from WordNet again
    assert not lexical._KNOWN_FAMILIES
    assert all(lexical.family(noun) == known[noun] for noun in nouns[::5])


def test_gender_is_answered_from_the_table_as_computed(captions, corpus_path):
    _mined(ConcretePlant, corpus_path, captions[:1])
    known = dict(wn._KNOWN_GENDERS)
    assert len(known) > 100 and {"m", "f"} <= set(known.values())
    clear_word_caches()  # forgets them: ``gender`` reads WordNet again
    assert not wn._KNOWN_GENDERS
    assert all(wn.gender(noun) == known[noun] for noun in list(known)[::5])
