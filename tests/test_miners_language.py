"""The language-based miners on real COCO captions (SugarCrepe's ``caption`` fields): the contract, what
ConcretePlant and its controls edit, re-inflection, synonyms, determinism, swaps."""

from __future__ import annotations

import json
import pickle
import random
import re
import subprocess
import sys
from statistics import mean

import pytest
from conftest import SUGARCREPE
from lemminflect import getInflection

from negkit.errors import RecipeError, ResourceMissingError
from negkit.lexicon import wordnet as wn
from negkit.lexicon.norms import load_norms
from negkit.lexicon.words import lemma
from negkit.mining.concrete import AbstractFirst, ConcretePlant, RandomWord
from negkit.mining.lexical import DEPICTION_WORDS
from negkit.mining.replace import WordnetReplace
from negkit.mining.swaps import NegclipSwap, RandomSwap
from negkit.plugins import get_component
from negkit.testing import MinerContract

N_CAPTIONS = 150


@pytest.fixture(scope="module")
def captions() -> list[str]:
    found: list[str] = []
    for name in ("replace_obj.json", "replace_att.json", "swap_att.json", "replace_rel.json"):
        found += [item["caption"] for item in json.loads((SUGARCREPE / name).read_text()).values()]
    unique = list(dict.fromkeys(found))
    return random.Random(0).sample(unique, N_CAPTIONS)


@pytest.fixture(scope="module")
def mined(captions):
    """Top negative (k=1, seed 0) of every caption for the three word-choice policies."""
    return {cls.name: cls().mine(captions, k=1, seed=0) for cls in (ConcretePlant, RandomWord, AbstractFirst)}


# -- the contract, for every miner ----------------------------------------------------------------------


class TestConcretePlantContract(MinerContract):
    def make_miner(self):
        return ConcretePlant()


class TestRandomWordContract(MinerContract):
    def make_miner(self):
        return RandomWord()


class TestAbstractFirstContract(MinerContract):
    def make_miner(self):
        return AbstractFirst(sample=True)


class TestWordnetReplaceContract(MinerContract):
    def make_miner(self):
        return WordnetReplace()


class TestRandomSwapContract(MinerContract):
    def make_miner(self):
        return RandomSwap()


class TestNegclipSwapContract(MinerContract):
    def make_miner(self):
        return NegclipSwap()


def test_registered_under_their_recipe_names():
    for cls in (ConcretePlant, RandomWord, AbstractFirst, WordnetReplace, RandomSwap, NegclipSwap):
        assert get_component("miners", cls.name) is cls


def test_lexicon_and_mining_import_no_torch():
    code = ("import sys, negkit.lexicon.norms, negkit.lexicon.wordnet, negkit.lexicon.spacy_pipeline, "
            "negkit.mining.concrete, negkit.mining.swaps, negkit.mining.replace, negkit.builtins.language_miners; "
            "print([m for m in ('torch', 'spacy', 'nltk') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- ConcretePlant and its controls on real captions ----------------------------------------------------


def test_concrete_plant_edits_concrete_scene_words(mined, captions):
    negs = [n[0] for n in mined["concrete-plant"] if n]
    assert len(negs) >= 0.95 * len(captions)
    depiction = set(DEPICTION_WORDS)
    for neg in negs:
        assert neg.concreteness is not None and neg.concreteness >= 3.5, neg
        assert neg.kind.split("-")[1] in ("noun", "adj", "verb", "rel")
        assert all(lemma(e.before.lower(), "NOUN") not in depiction for e in neg.edits), neg
    nouns_or_adjs = sum(n.kind in ("replace-noun", "replace-adj", "swap-noun", "swap-adj") for n in negs)
    assert nouns_or_adjs >= 0.85 * len(negs)


def test_picture_of_captions_edit_the_scene_not_the_picture():
    caps = ["A picture of a dog sitting on a wooden bench.", "A view of a red bus parked on the street.",
            "A photo of two cats sleeping on a bed."]
    for caption, negs in zip(caps, ConcretePlant().mine(caps, k=2, seed=0)):
        assert negs
        for neg in negs:
            assert neg.text.split()[1] == caption.split()[1]  # "picture" / "view" / "photo" kept


def test_concreteness_ranks_the_three_policies(mined):
    """The paper's contrast must be visible in what the miners edit: concrete > random > abstract."""
    means = {name: mean(n[0].concreteness for n in out if n) for name, out in mined.items()}
    assert means["concrete-plant"] > means["random-word"] + 0.3
    assert means["random-word"] > means["abstract-first"] + 0.3


def test_concreteness_is_the_score_of_the_edited_word(mined):
    norms = load_norms()
    for out in mined.values():
        for negs in out:
            for neg in negs:
                if neg.kind.startswith("replace-") and neg.kind != "replace-rel":
                    before = neg.edits[0].before.lower()
                    assert neg.concreteness in (norms.get(before), norms.score(before, neg.kind[8:].upper()),
                                                norms.get(" ".join(lemma(w, "NOUN") for w in before.split())))


def test_replacements_are_never_synonyms(mined):
    checked = 0
    for out in mined.values():
        for negs in out:
            for neg in negs:
                if not neg.kind.startswith("replace-") or neg.kind == "replace-rel":
                    continue
                upos = neg.kind[8:].upper()
                before = " ".join(lemma(w, upos) for w in neg.edits[0].before.lower().split())
                after = " ".join(lemma(w, upos) for w in neg.edits[0].after.lower().split())
                assert after not in wn.synonyms(before, upos), neg
                assert after != before
                checked += 1
    assert checked > 100


def test_plural_nouns_are_replaced_by_plurals():
    caps = ["Two dogs are playing with a ball in the park.", "Three horses standing in a green field.",
            "Several giraffes eating leaves from tall trees."]
    for negs in ConcretePlant(classes=("noun",)).mine(caps, k=3, seed=0):
        plural_edits = [n.edits[0] for n in negs if n.kind == "replace-noun"
                        and n.edits[0].before.lower() in ("dogs", "horses", "giraffes", "leaves", "trees")]
        assert plural_edits
        for edit in plural_edits:
            head = edit.after.split()[-1].lower()
            assert head in (getInflection(lemma(head, "NOUN"), "NNS") or ()), edit


def test_articles_agree_with_the_replacement():
    miner = ConcretePlant(classes=("noun",), edits_per_word=10)
    negs = miner.mine(["A dog is sleeping on a bed."], k=10, seed=0)[0]
    assert negs
    for neg in negs:
        words = neg.text.split()
        for article, word in zip(words, words[1:]):
            if article.lower() in ("a", "an"):
                assert article.lower() == ("an" if word[0].lower() in "aeiou" else "a"), neg.text


def test_same_negatives_whatever_the_batch(captions):
    miner = ConcretePlant()
    whole = miner.mine(captions[:60], k=2, seed=3)
    shuffled = list(enumerate(captions[:60]))
    random.Random(1).shuffle(shuffled)
    again = ConcretePlant().mine([c for _, c in shuffled] + captions[:5], k=2, seed=3)
    for pos, (i, _) in enumerate(shuffled):
        assert again[pos] == whole[i]
    first = captions[:60]
    in_pieces = [n for start in range(0, 60, 7)
                 for n in ConcretePlant(batch_size=3).mine(first[start:start + 7], k=2, seed=3)]
    assert in_pieces == whole
    assert miner.mine(captions[:60], k=2, seed=4) != whole  # the seed matters


def test_same_negatives_in_another_process(captions):
    caps = captions[:8]
    code = ("import json, sys; from negkit.mining.concrete import ConcretePlant; "
            "print(json.dumps([[n.as_dict() for n in negs] for negs in "
            "ConcretePlant().mine(json.loads(sys.argv[1]), k=2, seed=0)]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(caps)], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "7", "PATH": ""}).stdout
    here = [[n.as_dict() for n in negs] for negs in ConcretePlant().mine(caps, k=2, seed=0)]
    assert json.loads(out) == json.loads(json.dumps(here))


def test_swap_operation_exchanges_two_words_of_one_class():
    miner = ConcretePlant(operation="swap")
    negs = miner.mine(["A dog sleeping on a sofa next to a cat."], k=3, seed=0)[0]
    assert negs and all(n.kind.startswith("swap-") and len(n.edits) == 2 for n in negs)
    norms = load_norms()
    # the most concrete noun that can trade places with another, and the most concrete of those: a person or
    # animal never with a thing ("a sofa sleeping on a dog")
    order = sorted(("dog", "sofa", "cat"), key=lambda w: -norms.get(w))
    top2 = next([w, o] for w in order for o in order if o != w and wn.animate(o) == wn.animate(w))
    assert sorted(e.before for e in negs[0].edits) == sorted(top2)
    assert [e.after for e in negs[0].edits] == [e.before for e in negs[0].edits][::-1]
    assert negs[0].concreteness == pytest.approx(mean(norms.get(w) for w in top2))


def test_sampling_mostly_but_not_only_picks_the_most_concrete_word(captions):
    greedy = ConcretePlant().mine(captions[:80], k=1, seed=0)
    sampled = ConcretePlant(sample=True, temperature=0.5).mine(captions[:80], k=1, seed=0)
    same = sum(a == b for a, b in zip(greedy, sampled))
    assert 0.2 * 80 < same < 80
    assert ConcretePlant(sample=True, temperature=0.5).mine(captions[:80], k=1, seed=0) == sampled


def test_threshold_and_frequency_window_filter_replacements():
    strict = ConcretePlant(min_concreteness=4.8, zipf_window=0.5, operation="replace", edits_per_word=20)
    norms = load_norms()
    for neg in strict.mine(["A man riding a horse on the beach."], k=20, seed=0)[0]:
        after = neg.edits[0].after.lower()
        if neg.kind != "replace-rel":
            upos = neg.kind[8:].upper()  # the threshold applies to the replacement's lemma
            score = norms.score(after, upos) or norms.get(" ".join(lemma(w, upos) for w in after.split()))
            assert score >= 4.8, neg


def test_miners_pickle_without_their_resources():
    miner = ConcretePlant()
    miner.mine(["A red car parked on the street."], k=1, seed=0)
    blob = pickle.dumps(miner)
    assert len(blob) < 5_000  # spaCy, WordNet and the norms stay behind
    assert pickle.loads(blob).mine(["A red car parked on the street."], k=1, seed=0) == \
        miner.mine(["A red car parked on the street."], k=1, seed=0)


def test_bad_parameters_are_recipe_errors():
    from negkit.mining.preview import preview_miner

    with pytest.raises(RecipeError, match="operation"):
        preview_miner("concrete-plant", "a dog", k=1, params=['operation="explode"'])
    with pytest.raises(RecipeError, match="classes"):
        preview_miner("random-word", "a dog", k=1, params=['classes=["noun", "pronoun"]'])


def test_unknown_spacy_pipeline_is_a_resource_error():
    with pytest.raises(ResourceMissingError, match="spacy download"):
        ConcretePlant(spacy_model="xx_missing_pipeline").mine(["a dog"], k=1, seed=0)


# -- the baselines --------------------------------------------------------------------------------------


def test_wordnet_replace_kinds_and_targets(captions):
    out = WordnetReplace().mine(captions[:60], k=3, seed=0)
    kinds = {n.kind for negs in out for n in negs}
    assert kinds == {"replace-obj", "replace-att", "replace-rel"}
    only_att = WordnetReplace(targets=("attribute",)).mine(captions[:60], k=3, seed=0)
    assert {n.kind for negs in only_att for n in negs} == {"replace-att"}
    multi = [negs for negs in out if len(negs) == 3]
    assert multi and all(len({n.edits[0].index for n in negs}) > 1 for negs in multi)  # different words


def bag(text: str) -> list[str]:
    return sorted("a" if w == "an" else w for w in re.findall(r"[\w'-]+", text.lower()))


def test_random_swap_keeps_the_bag_of_words(captions):
    for caption, negs in zip(captions[:40], RandomSwap().mine(captions[:40], k=2, seed=0)):
        for neg in negs:
            assert bag(neg.text) == bag(caption), neg  # (articles agree with their new noun)
            assert len(neg.edits) == 2


def test_negclip_swap_span_types():
    caption = "a man riding a horse and holding a flag"
    negs = NegclipSwap(span_types=("verb-phrase",)).mine([caption], k=3, seed=0)[0]
    assert [n.text for n in negs] == ["a man holding a flag and riding a horse"]
    chunks = NegclipSwap(span_types=("noun-chunk",)).mine(["A small cat sleeping next to a large dog."], k=3,
                                                          seed=0)[0]
    assert "A large dog sleeping next to a small cat." in [n.text for n in chunks]
    adjs = NegclipSwap(span_types=("adj",)).mine(["A red car next to a blue truck."], k=3, seed=0)[0]
    assert [n.text for n in adjs] == ["A blue car next to a red truck."]
    assert all(n.kind == "swap-adj" for n in adjs)
