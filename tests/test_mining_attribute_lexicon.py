"""The attribute-lexicon miner: the miner contract, and what it edits on real SugarCrepe (COCO) captions."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SUGARCREPE

from negkit.mining.attribute_lexicon import LEXICONS, AttributeLexicon
from negkit.plugins import get_component
from negkit.testing import MinerContract


class TestAttributeLexiconContract(MinerContract):
    def make_miner(self):
        return AttributeLexicon()


def group_of(word: str) -> set[tuple[str, int, int]]:
    return {(cat, s, g) for cat, scales in LEXICONS.items() for s, scale in enumerate(scales)
            for g, group in enumerate(scale) if word.lower() in group}


def mine(caption: str, k: int = 20, seed: int = 0, **params) -> list:
    return AttributeLexicon(**params).mine([caption], k=k, seed=seed)[0]


def test_registered_under_its_name():
    assert get_component("miners", "attribute-lexicon") is AttributeLexicon


def test_replaces_within_the_same_list_never_by_a_synonym():
    negs = mine("A grey cat on a small wooden chair.")
    assert negs
    for neg in negs:
        assert neg.kind.startswith("replace-")
        (edit,) = neg.edits
        before, after = group_of(edit.before), group_of(edit.after)
        same_scale = {(c, s) for c, s, _ in before} & {(c, s) for c, s, _ in after}
        assert same_scale, (edit.before, edit.after)
        assert not before & after  # another group: grey never becomes gray, small never tiny
        assert neg.text == "A grey cat on a small wooden chair.".replace(edit.before, edit.after, 1)
    kinds = {n.kind for n in negs}
    assert kinds == {"replace-colour", "replace-size", "replace-material"}
    assert all(n.text != "A gray cat on a small wooden chair." for n in negs)


def test_keeps_case_and_edit_index_counts_whitespace_words():
    for neg in mine("TWO Red buses", k=30, exchange=False):
        edit = neg.edits[0]
        if edit.index == 0:
            assert edit.after.isupper() and neg.text.endswith("Red buses")
        else:
            assert edit.index == 1 and edit.after[0].isupper() and edit.after[1:].islower()


def test_exchange_swaps_two_attributes_of_one_list():
    negs = mine("a red car next to a blue bus", k=50)
    swaps = [n for n in negs if n.kind == "swap-colour"]
    assert [n.text for n in swaps] == ["a blue car next to a red bus"]
    assert [(e.index, e.before, e.after) for e in swaps[0].edits] == [(1, "red", "blue"), (6, "blue", "red")]
    assert not [n for n in mine("a red car next to a blue bus", k=50, exchange=False) if n.kind.startswith("swap")]


def test_material_noun_is_not_an_attribute():
    negs = mine("a glass of water on a glass table")
    assert negs and all(e.index == 6 for n in negs for e in n.edits)
    assert mine("a glass") == []


def test_categories_parameter_and_bad_values():
    negs = mine("two red chairs", categories=["count"])
    assert negs and {n.kind for n in negs} == {"replace-count"}
    with pytest.raises(ValueError, match="unknown categories"):
        AttributeLexicon(categories=["smell"])


def test_concreteness_comes_from_the_norms():
    pytest.importorskip("negkit.lexicon.norms")
    from negkit.lexicon.norms import load_norms

    norms = load_norms()
    for neg in mine("a red wooden chair"):
        word = neg.edits[0].before
        assert neg.concreteness == pytest.approx(norms.score(word))


def test_deterministic_per_seed_and_seed_matters():
    caption = "A red stop sign with a green street sign posted above it."
    assert mine(caption, k=3, seed=1) == mine(caption, k=3, seed=1)
    assert any(mine(caption, k=3, seed=s) != mine(caption, k=3, seed=1) for s in range(2, 6))


def test_real_captions_edit_attribute_words_only():
    captions = []
    for f in sorted(SUGARCREPE.glob("*.json")):
        captions += [v["caption"] for v in json.loads(f.read_text()).values()][:150]
    out = AttributeLexicon().mine(captions, k=2, seed=0)
    covered = [(c, negs) for c, negs in zip(captions, out) if negs]
    assert 0.25 < len(covered) / len(captions) < 0.8
    words = {w for scales in LEXICONS.values() for scale in scales for group in scale for w in group}
    for caption, negs in covered:
        for neg in negs:
            assert neg.text != caption
            assert all(e.before.lower() in words and e.after.lower() in words for e in neg.edits)
            # only the edited words changed
            assert len(re.findall(r"\S+", neg.text)) == len(re.findall(r"\S+", caption))
    by_caption = dict(zip(captions, out))
    stop = "A red stop sign with a green street sign posted above it."
    if stop in by_caption:
        assert {e.before for n in by_caption[stop] for e in n.edits} <= {"red", "green"}
