"""Captions written in capitals are tagged in lower case and edited in capitals (issue 11, coverage).

spaCy's small English tagger reads a shouted caption ("ON A CITY ROAD THERE IS LOTS OF TAXIS", one of
SugarCrepe's) as a run of proper nouns, so no word of it was editable; tagged in lower case it is read as
words, and the edit keeps the caption's capitals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from negkit.mining.concrete import ConcretePlant
from negkit.mining.corpus import corpus_for
from negkit.mining.tagged import tagging_text, tokens_of

SAMPLE = Path(__file__).parent / "fixtures" / "coco_captions_sample.txt"
SHOUTED = ("ON A CITY ROAD THERE IS LOTS OF TAXIS", "MOTOR CROSS BIKE AND RIDER IN THE AIR DOING TRICKS")


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory) -> Path:
    _, path = corpus_for(SAMPLE.read_text(encoding="utf-8").splitlines(), tmp_path_factory.mktemp("corpus"))
    return path


def test_only_a_caption_in_capitals_is_tagged_in_lower_case():
    assert tagging_text("ON A CITY ROAD") == "on a city road"
    assert tagging_text("A dog on a sofa with a TV.") == "A dog on a sofa with a TV."  # mixed: as written
    assert tagging_text("A CAFÉ") == "a café"
    assert tagging_text("İSTANBUL STREET") == "İSTANBUL STREET"  # lower-casing would move the offsets


def test_tokens_keep_the_caption_as_written():
    from negkit.lexicon.spacy_pipeline import load_pipeline

    caption = SHOUTED[0]
    tokens = tokens_of(load_pipeline("en_core_web_sm")(tagging_text(caption)), caption)
    assert "".join(t.text + t.ws for t in tokens) == caption
    by_word = {t.text: t for t in tokens}
    assert by_word["TAXIS"].tag == "NNS" and by_word["ROAD"].pos == "NOUN"  # read as words, not as names
    assert by_word["TAXIS"].lower == "taxis"


def test_a_shouted_caption_gets_the_negative_of_its_lower_case_in_capitals(corpus_path):
    miner = ConcretePlant()
    miner.use_corpus(corpus_path)
    shouted = miner.mine(list(SHOUTED), k=1, seed=0)
    lowered = miner.mine([c.lower() for c in SHOUTED], k=1, seed=0)
    assert any(shouted)
    for a, b in zip(shouted, lowered):
        assert [n.text for n in a] == [n.text.upper() for n in b]
        assert all(e.before.isupper() and e.after.isupper() for n in a for e in n.edits)
