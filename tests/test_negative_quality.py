"""Negatives a text-only model cannot reject (issue 11): the corpus' own words, the sense that fits, never
still true, plausibility ranking, matched controls, and the audit that measures it all.

The captions are a shipped sample of 1,502 COCO captions (SugarCrepe's, ``fixtures/coco_captions_sample.txt``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from negkit.mining.concrete import AbstractFirst, ConcretePlant, RandomWord
from negkit.mining.corpus import CaptionCorpus, CaptionLM, NoCorpusWarning, corpus_for, words
from negkit.mining.quality import STILL_TRUE, audit_quality, edit_relation, quality_figure, split_captions

SAMPLE = Path(__file__).parent / "fixtures" / "coco_captions_sample.txt"


@pytest.fixture(scope="module")
def captions() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def corpus_path(captions, tmp_path_factory) -> Path:
    _, path = corpus_for(captions, tmp_path_factory.mktemp("corpus"))
    return path


def miner(cls=ConcretePlant, corpus_path=None, **kw):
    m = cls(**kw)
    if corpus_path is not None:
        m.use_corpus(corpus_path)
    return m


def test_language_model_prefers_captions_it_has_seen_the_like_of(captions):
    lm = CaptionLM(words(c) for c in captions)
    assert lm.score("A cat sitting on a couch.") > lm.score("A couch sitting on a cat.")
    assert lm.score("A man riding a horse.") > lm.score("A man riding a processor.")
    before, after = words("a dog on a red couch"), words("a dog on a red bench")
    assert lm.delta(before, after) == pytest.approx(lm.sentence_logprob(after) - lm.sentence_logprob(before))


def test_corpus_counts_lemmas_and_compounds(captions, tmp_path):
    corpus = CaptionCorpus(["Two dogs on a hot dog stand.", "A dog and hot dogs."])
    assert corpus.count("dog") == 4 and corpus.count("hot dog") == 2 and corpus.count("processor") == 0
    first, path = corpus_for(captions[:50], tmp_path)
    again, path2 = corpus_for(list(captions[:50]), tmp_path)
    assert path == path2 and path.is_file() and again.counts == first.counts  # cached by the captions' digest


def test_no_corpus_is_said_not_silent():
    with pytest.warns(NoCorpusWarning, match="no caption corpus"):
        ConcretePlant().mine(["A dog on a red couch."], k=1, seed=0)


# -- the failure patterns the issue lists, on the captions they came from ------------------------------------


PINNED = [
    "A person on a skateboard does a flip in a parking lot.",
    "A close up of a clear vase with flowers.",
    "A traffic light with a one way sign near a trash can.",
    "Two people are at a computer desk with a mouse.",
    "A baseball player lunges and reaches back with the ball.",
    "A Christmas ornament is a donut with a squirrel on it.",
]


def test_replacements_are_words_the_captions_use(corpus_path):
    """"his processor", "some mangers", "a pin table": dictionary words no caption uses are never put in."""
    from negkit.mining.corpus import load_corpus

    corpus = load_corpus(corpus_path)
    m = miner(corpus_path=corpus_path)
    for negs in m.mine(PINNED, k=3, seed=0):
        for neg in negs:
            for edit in neg.edits:
                assert all(corpus.count(w) > 0 or w in {"s"} for w in words(edit.after)), (neg.text, edit)


def test_never_still_true_by_wordnet():
    """clock -> ticker, people -> social groups, flowers -> wildflowers: synonyms, hypernyms, hyponyms at any
    depth, and words named as a kind of the original, are recognised (and so never offered)."""
    from negkit.lexicon.wordnet import taxonomic_relation

    assert taxonomic_relation("people", "social group", "NOUN") == "hypernym"
    assert taxonomic_relation("dog", "animal", "NOUN") == "hypernym"
    assert taxonomic_relation("animal", "puppy", "NOUN") == "hyponym"
    assert taxonomic_relation("flower", "wildflower", "NOUN") == "hyponym"
    assert taxonomic_relation("car", "automobile", "NOUN") == "synonym"
    assert taxonomic_relation("dog", "cat", "NOUN") is None


def test_pinned_captions_get_no_still_true_edit(corpus_path):
    m = miner(corpus_path=corpus_path)
    for negs in m.mine(PINNED, k=3, seed=0):
        for neg in negs:
            if len(neg.edits) == 1 and neg.kind in ("replace-noun", "replace-adj", "replace-verb"):
                (e,) = neg.edits
                assert edit_relation(e.before, e.after, neg.kind.split("-")[1].upper()) not in STILL_TRUE, neg.text


def test_the_sense_that_fits_the_caption():
    """"a land site of food" (lot), "balancing a game" (ball): the caption's other words pick the sense."""
    from negkit.lexicon import wordnet as wn

    def sense(word: str, *context: str) -> str:
        found = wn.fitting_sense(word, "NOUN", frozenset(context), ConcretePlant().senses)
        assert found is not None
        return found.name

    assert sense("mouse", "computer", "desk", "keyboard") == "mouse.n.04"  # the device, 4th in WordNet
    assert sense("mouse", "cat", "cheese") == "mouse.n.01"
    assert sense("bat", "baseball", "player", "swing") == "bat.n.02"  # the club
    assert sense("bat", "cave", "wing", "night") == "bat.n.01"  # the animal
    assert sense("ball", "soccer", "kick", "field") == "ball.n.01"
    assert sense("lot", "car", "parking", "truck") == "lot.n.02"  # a piece of land, not a batch


def test_agreement_after_an_edit(corpus_path):
    """"a cars", "an top": swapped nouns take their slot's number, and a/an follows the new word."""
    m = miner(corpus_path=corpus_path, operation="swap")
    (negs,) = m.mine(["A dog and two cats on a couch."], k=3, seed=0)
    texts = [n.text for n in negs]
    assert "A cat and two dogs on a couch." in texts
    assert not any(" a cats" in t.lower() or " two dog " in t.lower() for t in texts)
    from negkit.mining.tagged import Token, render

    toks = [Token("A", " ", "a", "DT", "DET"), Token("red", " ", "red", "JJ", "ADJ"), Token("apple", "", "apple", "NN",
                                                                                            "NOUN")]
    assert render(toks, [(1, 2, "orange")]) == "An orange apple"


def test_absurd_role_reversal_is_not_offered(corpus_path):
    """"a rug laying on a cat": a swap of an animal and a thing reverses roles into an absurd scene and is never
    offered (it used to come last); the swaps of two things are."""
    m = miner(corpus_path=corpus_path, operation="swap")
    (negs,) = m.mine(["A cat laying on a blanket on top of a pillow."], k=3, seed=0)
    texts = [n.text for n in negs]
    assert "A blanket laying on a cat on top of a pillow." not in texts
    assert "A cat laying on a pillow on top of a blanket." in texts


def test_offensive_words_never_put_in():
    from negkit.lexicon.offensive import is_offensive

    assert is_offensive("bitch") and is_offensive("Son of a bitch")
    assert not is_offensive("dog") and not is_offensive("hot dog")


# -- matched controls ------------------------------------------------------------------------------------------


def test_controls_share_every_filter_and_differ_in_the_word(corpus_path):
    kw = {p: getattr(ConcretePlant(), p) for p in ("min_corpus_count", "plausibility", "max_logprob_drop",
                                                     "concreteness_window", "min_concreteness", "senses")}
    for cls in (RandomWord, AbstractFirst):
        assert {p: getattr(cls(), p) for p in kw} == kw
    assert ConcretePlant().min_concreteness is None  # no absolute floor: abstract -> abstract is allowed


def test_abstract_words_can_get_abstract_replacements():
    m = miner(AbstractFirst, min_corpus_count=0, plausibility=False)  # this test is about concreteness only
    m.prepare()
    from negkit.mining.lexical import Unit

    unit = Unit(0, 1, "happy", "happy", "ADJ", "JJ", m._norms.get("happy"))
    found = m._replacer(unit, frozenset())
    assert any(c.score is not None and c.score < 3.0 for c in found)  # "sad" (2.3), once blocked by the 3.0 floor


# -- the audit -------------------------------------------------------------------------------------------------


def test_filter_and_judge_models_never_share_captions(captions):
    doubled = captions + [c.upper() for c in captions[:50]] + [f"  {c}  " for c in captions[50:100]]
    mining, judge = split_captions(doubled)
    norm = lambda c: " ".join(c.split()).lower()  # noqa: E731
    assert mining and judge and not {norm(c) for c in mining} & {norm(c) for c in judge}
    assert 0.4 < len(judge) / len(doubled) < 0.6


def test_audit_thresholds_on_the_caption_sample(captions, tmp_path):
    """On the shipped sample, concrete-plant's negatives are hard to reject for a held-out caption model
    and never still true nor unseen. The miner before issue 11 scored blind 0.93, still-true 3% and 64%
    unseen new words on these captions' source (docs/miners.md, "Negative quality")."""
    reports, skipped = audit_quality([("concrete-plant", ConcretePlant), ("random-word", RandomWord),
                                      ("abstract-first", AbstractFirst), ("precomputed", lambda: _precomputed())],
                                     captions, k=1, limit=400, cache_dir=tmp_path)
    by = {r.miner: r for r in reports}
    assert [s.miner for s in skipped] == ["precomputed"] and "path" in skipped[0].reason
    cp = by["concrete-plant"]
    # captions with no attested, plausible edit get none: 0.8825 on this 750-caption corpus (0.75 before the
    # wider pass, 0.855 before the back-off pass, 0.91 with its plurals no caption writes), 0.932 on
    # SugarCrepe's (docs/miners.md, "Negative quality")
    assert cp.base.coverage >= 0.87
    assert cp.blind_accuracy is not None and cp.blind_accuracy <= 0.8
    assert cp.still_true is not None and cp.still_true <= 0.01
    assert cp.unseen_new_words is not None and cp.unseen_new_words <= 0.01  # 0.033 with "persons", "biplanes"
    assert by["concrete-plant"].edited_concreteness > by["random-word"].edited_concreteness > \
        by["abstract-first"].edited_concreteness
    path = quality_figure(reports, tmp_path / "quality.png")
    assert path.is_file() and path.stat().st_size > 10_000


def _precomputed():
    from negkit.mining.precomputed import Precomputed

    return Precomputed()


# -- sharing mined negatives -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_export_round_trips_with_concreteness(tmp_path, suffix):
    import datasets

    from negkit.lexicon.norms import load_norms
    from negkit.mining.base import Edit, Negative
    from negkit.mining.export import export_table
    from negkit.mining.precomputed import Precomputed
    from negkit.mining.stage import negative_row

    table = [{"caption": "A dog on a couch.", "negatives": [
        negative_row(Negative("A cat on a couch.", "replace-noun", 4.85, (Edit(1, "dog", "cat"),))),
        negative_row(Negative("A couch on a dog.", "swap-noun", 4.8,
                              (Edit(1, "dog", "couch"), Edit(4, "couch", "dog"))))]},
        {"caption": "The idea.", "negatives": []}]
    path = export_table(table, tmp_path / f"negs{suffix}", norms=load_norms())
    loaded = datasets.load_dataset("parquet" if suffix == ".parquet" else "json", data_files=str(path),
                                   split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded[0]["negatives"] == ["A cat on a couch.", "A couch on a dog."]
    assert loaded[0]["concreteness"] == [4.85, 4.8] and loaded[0]["kinds"] == ["replace-noun", "swap-noun"]
    assert loaded[0]["new_concreteness"][0] == pytest.approx(load_norms().score("cat"))
    assert loaded[0]["new_concreteness"][1] is None  # a swap puts no new word in
    served = Precomputed(path=str(path)).mine(["a dog on a couch.", "The idea."], k=2, seed=0)
    assert sorted((n.text, n.kind, n.concreteness) for n in served[0]) == [
        ("A cat on a couch.", "replace-noun", 4.85), ("A couch on a dog.", "swap-noun", 4.8)]
    assert served[1] == []


def test_cli_mine_export_rejects_a_wrong_suffix_before_mining(tmp_path, capsys):
    from negkit.cli import main

    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\nsource = "shapes"\n[[miners]]\nname = "attribute-lexicon"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["mine", str(recipe), "--export", str(tmp_path / "out.csv")])
    assert exc.value.code == 1 and ".parquet or .jsonl" in capsys.readouterr().err


def test_audit_json_lists_skipped_miners(tmp_path, capsys):
    from negkit.cli import main

    path = tmp_path / "c.txt"
    path.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:60]) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main(["audit", "--captions", str(path), "--limit", "10", "-k", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    skipped = {r["miner"]: r["skipped"] for r in out if "skipped" in r}
    audited = [r["miner"] for r in out if "skipped" not in r]
    assert "precomputed" in skipped and "concrete-plant" in audited


def test_edits_that_leave_a_caption_true_or_broken_are_not_made(corpus_path):
    """Seen by a reader on SugarCrepe captions: a bus "sitting" -> "standing" in a field is the same bus;
    "computer desk" -> "motor desk" is not English; "A man walking his dog" -> "A woman walking his dog"."""
    m = miner(corpus_path=corpus_path)
    caps = ["A double decker bus sitting on a green field.", "An old blender and printer sitting on a table.",
            "a computer desk with multiple computers and screens", "A man walking his dog down a sidewalk."]
    for negs in m.mine(caps, k=5, seed=0):
        for neg in negs:
            changed = {e.before.lower() for e in neg.edits}
            assert "sitting" not in changed and "computer" not in changed, neg.text
            assert not neg.text.startswith("A woman walking his"), neg.text
    from negkit.lexicon import wordnet as wn

    assert wn.animate("dog") and wn.animate("woman") and not wn.animate("printer") and not wn.animate("bus")
    assert (wn.gender("man"), wn.gender("girl"), wn.gender("person")) == ("m", "f", None)


def test_keep_implausible_trades_quality_for_coverage(captions, tmp_path):
    """By default a caption whose only edits are swaps the model finds implausible gets no negative;
    keep_implausible offers them last, as the miner did before."""
    from negkit.mining.audit import sample_captions

    mining, _ = split_captions(captions)
    _, path = corpus_for(mining, tmp_path)
    sample = sample_captions(mining, 200, 0)
    strict = miner(corpus_path=path).mine(sample, k=1, seed=0)
    loose = miner(corpus_path=path, keep_implausible=True).mine(sample, k=1, seed=0)
    covered = lambda negs: sum(bool(n) for n in negs) / len(negs)  # noqa: E731
    assert covered(loose) >= 0.95 and covered(loose) > covered(strict)
    assert all(a == b for a, b in zip(strict, loose) if a)  # the same negative wherever the default gives one


def _tokens(text: str):
    from negkit.lexicon.spacy_pipeline import load_pipeline
    from negkit.mining.tagged import Token

    return [Token(t.text, t.whitespace_, t.lower_, t.tag_, t.pos_) for t in load_pipeline("en_core_web_sm")(text)]


def test_replacements_must_be_attested_in_their_slot():
    """Held-out reading, second session: "a water plane", "serve the net", "men race under vehicles" and
    "collections" are refused because the captions never put those words in that slot."""
    from negkit.mining.lexical import CaptionWords, Unit, attested

    corpus = CaptionCorpus(["A kid throws a water balloon.", "A plane in the sky.", "A man hits the ball.",
                            "A man serves the ball.", "A net on a tennis court.", "A cat on the couch.",
                            "A dog under the table.",
                            "A collection of cars.", "Two kites and a net."])

    def ok(caption: str, word: str, new: str, cls: str = "NOUN") -> bool:
        tokens = _tokens(caption)
        i = next(i for i, t in enumerate(tokens) if t.lower == word)
        return attested(corpus, CaptionWords(tokens), tokens, Unit(i, i + 1, tokens[i].text, word, cls, tokens[i].tag,
                                                                    None), new)

    assert not ok("A kid throws a water balloon.", "balloon", "plane")  # "water plane": an unseen compound
    assert ok("A kid throws a water balloon.", "balloon", "balloon")
    assert not ok("A man serves the ball.", "ball", "net")  # "serve" and "net" never share a caption
    assert ok("A man hits the ball.", "ball", "ball")
    assert not ok("A cat on the couch.", "on", "under", "REL")  # "under" is never seen before "couch"
    assert not ok("Two kites in the sky.", "kites", "collections")  # the word as written is in no caption


def test_groups_and_their_members_and_the_kind_of_thing():
    from negkit.lexicon import wordnet as wn

    assert wn.taxonomic_relation("people", "man", "NOUN") == "hyponym"  # "three people" -> "three men" may be true
    assert wn.taxonomic_relation("man", "people", "NOUN") == "hypernym"
    assert wn.taxonomic_relation("man", "woman", "NOUN") is None
    assert wn.main_lexname("girl", "NOUN") == "noun.person" != wn.main_lexname("dish", "NOUN")
    # the plural WordNet gives as a group of the noun's members, never an inflection or another group
    assert wn.plural_groups("person") == ("people",)
    assert wn.plural_groups("dog") == wn.plural_groups("citizen") == wn.plural_groups("cow") == ()


# -- the wider pass: cousins, a wider concreteness window, counts ------------------------------------------------


def test_wider_pass_covers_more_and_changes_no_caption_the_first_pass_covers(captions, tmp_path):
    """Captions whose every first-tier edit fails get one from the wider pass; the others keep their negative,
    and the three policies stay matched (same coverage)."""
    from negkit.mining.audit import sample_captions

    mining, _ = split_captions(captions)
    _, path = corpus_for(mining, tmp_path)
    sample = sample_captions(mining, 200, 0)
    covered = lambda negs: sum(bool(n) for n in negs) / len(negs)  # noqa: E731
    narrow = miner(corpus_path=path, wider=False, backoff=False).mine(sample, k=1, seed=0)
    wide = miner(corpus_path=path, backoff=False).mine(sample, k=1, seed=0)
    assert covered(wide) >= covered(narrow) + 0.05
    assert all(a == b for a, b in zip(narrow, wide) if a)
    assert {covered(miner(cls, corpus_path=path, backoff=False).mine(sample, k=1, seed=0))
            for cls in (RandomWord, AbstractFirst)} == {covered(wide)}


def test_cousins_leave_out_the_senses_own_hypernyms():
    from negkit.lexicon import wordnet as wn

    sense = wn.senses("vase", "NOUN", 1)[0]
    cousins = wn.wider_replacements("vase", "NOUN", sense.pos, sense.offset)
    assert "bowl" in cousins and "jar" not in cousins and "vessel" not in cousins and "vase" not in cousins


def test_counts_change_with_their_noun_and_verb():
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import count_text, number_units

    norms = load_norms()

    def counted(text: str) -> list[str]:
        tokens = _tokens(text)
        return [count_text(u, "two" if u.lemma == "one" else "three", tokens) for u in number_units(tokens, norms)]

    assert counted("A passenger jet is flying over some trees.") == ["Two passenger jets are"]
    assert counted("Two bears in the trees.") == ["Three"]
    assert counted("A man walking his dog.") == []  # "his" would need changing too
    assert counted("A lot of people on a beach.") == []  # a measure; a place after a preposition
    assert counted("A plate of food.") == ["Two plates"]


def test_a_count_edit_is_offered_when_nothing_else_passes(tmp_path):
    corpus = tmp_path / "captions.txt"
    corpus.write_text("\n".join(["A zebra in a field.", "Two zebras in a field.", "Three zebras in the grass."] * 3),
                      encoding="utf-8")
    negs = ConcretePlant(corpus=str(corpus), classes=("noun", "num")).mine(["A zebra in a field."], k=3, seed=0)[0]
    assert any(n.kind == "replace-num" and n.text == "Two zebras in a field." for n in negs), negs


# -- the back-off pass: kinds of the noun, agreement fixed rather than dropped ----------------------------------


def test_backoff_pass_covers_more_and_changes_no_caption_the_earlier_passes_cover(captions, tmp_path):
    """Captions that the first tier and the wider pass leave without a negative get one from the back-off
    pass; the others keep their negative exactly, and the three policies stay matched."""
    from negkit.mining.audit import sample_captions

    mining, _ = split_captions(captions)
    _, path = corpus_for(mining, tmp_path)
    sample = sample_captions(mining, 300, 0)
    covered = lambda negs: sum(bool(n) for n in negs) / len(negs)  # noqa: E731
    before = miner(corpus_path=path, backoff=False).mine(sample, k=1, seed=0)
    after = miner(corpus_path=path).mine(sample, k=1, seed=0)
    assert covered(after) > covered(before)
    assert all(a == b for a, b in zip(before, after) if a)
    assert {covered(miner(cls, corpus_path=path).mine(sample, k=1, seed=0)) for cls in (RandomWord, AbstractFirst)} \
        == {covered(after)}


def test_the_family_of_a_noun_is_below_its_parent():
    from negkit.mining.lexical import family

    found = family("boat")
    assert found[0] == "boat" and "ship" in found and "canoe" in found and "car" not in found


def test_counts_made_plural_with_the_words_that_agree():
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import count_text, number_units

    norms = load_norms()

    def counted(text: str) -> list[str]:
        tokens = _tokens(text)
        return [count_text(u, "two", tokens) for u in number_units(tokens, norms, agree=True)]

    assert counted("A man walking his dog.") == ["Two men walking their"]
    assert counted("A fire hydrant that is sitting in the grass.") == ["Two fire hydrants that are"]
    assert counted("A stop sign installed upside down on a street corner") == ["Two stop signs"]
    assert counted("A dog looking at a man holding his frisbee.") == []  # "his" may be the man's
    assert counted("A half eaten pastry on a plate.") == []  # "eaten" modifies "pastry"
    assert counted("A passenger jet is flying over some trees.") == ["Two passenger jets are"]
    assert counted("A close up of a dog.") == []  # "close" is no noun here
    assert counted("There is a small puppy on the floor.") == []  # "is" would need changing too


def test_a_gendered_noun_changes_its_pronouns_with_it():
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import _regendered, _sole_gendered, find_units

    norms = load_norms()
    tokens = _tokens("A man lighting a cigarette as he walks on his street.")
    man = next(u for u in find_units(tokens, norms, frozenset({"NOUN"})) if u.lemma == "man")
    assert _sole_gendered(tokens, man)
    span, text = _regendered(tokens, man, "woman")
    assert (span.start, text) == (1, "woman lighting a cigarette as she walks on her")
    tokens = _tokens("A man and a girl walking his dog.")
    man = next(u for u in find_units(tokens, norms, frozenset({"NOUN"})) if u.lemma == "man")
    assert not _sole_gendered(tokens, man)  # "his" could be read as either's


def test_counts_take_the_plural_the_captions_write():
    """The back-off pass's count edits use a plural form the corpus uses as written (the most frequent of
    lemminflect's forms and WordNet's plural group of the noun's members: "people" for "person"), and make no
    edit when the captions use none ("hydrants" in no caption)."""
    from types import SimpleNamespace

    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import corpus_plural, count_text, number_units

    corpus = SimpleNamespace(counts={"busses": 3, "buses": 1, "person": 9, "people": 40, "dogs": 5, "their": 2})
    assert corpus_plural(corpus, "bus") == "busses"
    assert corpus_plural(corpus, "dog") == "dogs"
    # "person" is no plural of itself and "persons" is unseen; WordNet's "people" is the group of persons
    assert corpus_plural(corpus, "person") == "people"
    assert corpus_plural(corpus, "hydrant") is None  # no form of it in the captions: no count edit
    tokens = _tokens("A person is holding up a pastry.")  # SugarCrepe's, uncovered before
    unit = number_units(tokens, load_norms(), agree=True)[0]
    assert count_text(unit, "two", tokens, lambda n: corpus_plural(corpus, n)) == "Two people are"
    assert count_text(unit, "two", tokens) == "Two persons are"  # lemminflect's form, without the corpus
    tokens = _tokens("A fire hydrant that is sitting in the grass.")
    unit = number_units(tokens, load_norms(), agree=True)[0]
    assert count_text(unit, "two", tokens, lambda n: corpus_plural(corpus, n)) is None
    tokens = _tokens("A dog walking with its owner.")
    unit = number_units(tokens, load_norms(), agree=True)[0]
    assert count_text(unit, "two", tokens, lambda n: corpus_plural(corpus, n)) == "Two dogs walking with their"


def test_a_modifying_noun_is_edited_last_into_a_compound_the_captions_write(tmp_path):
    """Issue 11 coverage (seventh session): a noun that only modifies the next one ("kitchen floor") is never
    edited by the earlier passes (``edit_matters``); the back-off pass tries it last, and only into a compound
    the captions write ("bathroom floor", never "motor desk")."""
    from negkit.data.caption_files import read_caption_groups
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import CaptionWords, attested, edit_matters, modifier_units

    corpus = CaptionCorpus(["A cat on the bathroom floor.", "A dog on the kitchen floor.", "A computer desk.",
                            "A motor boat on the water.", "A desk in the bathroom."])
    classes = frozenset({"NOUN", "ADJ", "VERB", "REL"})
    tokens = _tokens("there is a small puppy on the kitchen floor")  # SugarCrepe's, uncovered before
    (unit,) = modifier_units(tokens, load_norms(), classes)
    assert unit.text == "kitchen" and not edit_matters(tokens, unit)
    view = CaptionWords(tokens)
    assert attested(corpus, view, tokens, unit, "bathroom", backoff=True)
    assert not attested(corpus, view, tokens, unit, "motor", backoff=True)  # "motor floor": no caption has it
    tokens = _tokens("A computer desk in an office.")
    (unit,) = modifier_units(tokens, load_norms(), classes)
    assert not attested(corpus, CaptionWords(tokens), tokens, unit, "motor", backoff=True)  # "motor desk"
    assert modifier_units(_tokens("A dog on the floor."), load_norms(), classes) == []

    captions, groups = read_caption_groups(Path(__file__).parent / "fixtures" / "sugarcrepe")
    mining, _ = split_captions(captions)
    _, path = corpus_for(mining, tmp_path)
    caption = "there is a small puppy on the kitchen floor"
    (negs,) = miner(corpus_path=path).mine([caption], k=1, seed=0)
    assert [n.text for n in negs] == ["there is a small puppy on the bathroom floor"]
    assert miner(corpus_path=path, backoff=False).mine([caption], k=1, seed=0) == [[]]


# -- the blind reading's failures (eighth session): how many, not what; who does what; who is who ---------------


def test_a_group_before_of_says_how_many_and_is_not_edited():
    """Blind reading: "a bunch of cars" -> "an assortment of cars", "a collection of luggage" -> "a people of
    luggage": the group word says how many, not what. A container before "of" is a thing ("a bowl of")."""
    from negkit.lexicon import wordnet as wn
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import edit_matters, find_units

    assert all(wn.collective(w) for w in ("bunch", "assortment", "collection", "group", "herd", "pile"))
    assert not any(wn.collective(w) for w in ("bowl", "plate", "slice", "piece", "box", "side", "dog"))
    classes = frozenset({"NOUN"})
    for caption, word, editable in [("A bunch of cars parked in a lot.", "bunch", False),
                                    ("A herd of cattle on a road.", "herd", False),
                                    ("A bowl of apples on a table.", "bowl", True),
                                    ("A bunch of cars parked in a lot.", "cars", True),
                                    ("A herd walking on a road.", "herd", True)]:
        tokens = _tokens(caption)
        (unit,) = [u for u in find_units(tokens, load_norms(), classes) if u.text == word]
        assert edit_matters(tokens, unit) is editable, (caption, word)


def test_an_adjective_that_stands_for_a_noun_is_not_edited():
    """Dev half: "bears fight with each other" -> "with each same"."""
    from negkit.lexicon.norms import load_norms
    from negkit.mining.lexical import edit_matters, find_units

    for caption, editable in [("two bears fight with each other behind a log", False),
                              ("a dog and the other dog on a couch", True)]:
        tokens = _tokens(caption)
        (unit,) = [u for u in find_units(tokens, load_norms(), frozenset({"ADJ"})) if u.text == "other"]
        assert edit_matters(tokens, unit) is editable, caption


def test_a_verb_must_be_seen_with_its_subject_and_its_object():
    """Blind reading: "a cow driving down a sidewalk", "cattle skiing down a road", "a man attempting a
    picture of himself": the captions never put those verbs with that doer or that object."""
    from negkit.mining.lexical import CaptionWords, Unit, attested

    corpus = CaptionCorpus(["A man driving a car down the road.", "A cow walking in a field.",
                            "A cow running down a hill.", "A man taking a picture.", "A man skiing down a hill.",
                            "A woman attempting a jump.", "A woman taking a jump."])

    def ok(caption: str, word: str, new: str) -> bool:
        tokens = _tokens(caption)
        i = next(i for i, t in enumerate(tokens) if t.lower == word)
        unit = Unit(i, i + 1, tokens[i].text, tokens[i].lower, "VERB", tokens[i].tag, None)
        return attested(corpus, CaptionWords(tokens), tokens, unit, new)

    assert ok("A cow walking down a road.", "walking", "running")
    assert not ok("A cow walking down a road.", "walking", "driving")  # no caption has a cow driving
    assert not ok("A cow walking down a road.", "walking", "skiing")
    assert ok("A man walking down a road.", "walking", "skiing")
    assert not ok("A man taking a picture.", "taking", "attempting")  # attempting a picture: never seen
    assert ok("A woman taking a jump.", "taking", "attempting")


def test_a_noun_after_a_must_be_one_the_captions_count():
    """Blind reading: "hanging off a banana tree" -> "hanging off a parsley": the captions never write "a
    parsley" nor a plural of it."""
    from negkit.mining.lexical import CaptionWords, Unit, attested

    corpus = CaptionCorpus(["Parsley on a plate.", "A bush in a garden.", "Two trees in a park.", "Eggs on a plate.",
                            "A plant hanging off a tree."])
    tokens = _tokens("A plant hanging off a tree.")
    i = next(i for i, t in enumerate(tokens) if t.lower == "tree")
    unit = Unit(i, i + 1, "tree", "tree", "NOUN", tokens[i].tag, None)
    view = CaptionWords(tokens)
    assert attested(corpus, view, tokens, unit, "bush")
    assert not attested(corpus, view, tokens, unit, "parsley")  # a mass noun: no "a parsley", no "parsleys"
    assert attested(corpus, view, tokens, unit, "egg")  # never after "a" here, but counted: "eggs"


def test_people_apart_by_gender_or_age_not_by_role():
    """Blind reading: "girl" -> "lady", "young men" -> "boys", "guy" -> "young man" may name the same person;
    "man" -> "cook" too (a role says nothing of gender or age)."""
    from negkit.lexicon import wordnet as wn

    for old, new in [("man", "woman"), ("boy", "girl"), ("man", "child"), ("kid", "adult"), ("skier", "surfer"),
                     ("bride", "groom"), ("dog", "cat"), ("car", "man")]:
        assert wn.people_apart(old, new), (old, new)
    for old, new in [("girl", "lady"), ("young man", "boy"), ("guy", "young man"), ("woman", "girl"),
                     ("man", "cook"), ("model", "man"), ("player", "adult")]:
        assert not wn.people_apart(old, new), (old, new)


def test_pinned_blind_reading_failures_are_not_made(corpus_path):
    """Negatives a blind reader judged not definitely false, absurd or broken
    (benchmarks/reading-heldout-5-blind.tsv),
    none of which the miner makes now, at any of its first five negatives."""
    m = miner(corpus_path=corpus_path)
    caps = {"A herd of cattle walking down a road being followed by a cowboy.": ("skiing", "flock"),
            "Large assortment of small and large vases displayed outdoors.": ("bunch",),
            "A collection of luggage that has been placed on a wooden carrier.": ("people",),
            "A girl is standing by a storefront while talking on her phone.": ("lady", "woman"),
            "A big brown cow walking down a sidewalk near homes.": ("driving",),
            "A street lined with cones with people up and down the sidewalk.": ("up and up", "down and down"),
            "A strange plant hanging off a banana tree.": ("a parsley",)}
    for banned, negs in zip(caps.values(), m.mine(list(caps), k=5, seed=0)):
        for neg in negs:
            assert not any(b in neg.text.lower() for b in banned), neg.text


def test_a_person_or_animal_and_a_thing_never_trade_places(corpus_path):
    """Issue 11: "a rug laying on a cat"; dev half: "A hospital bed in a girl"."""
    m = miner(corpus_path=corpus_path, operation="swap")
    caps = ["A girl in a hospital bed with an IV and monitors.", "A cat laying on a rug next to a pillow."]
    for negs in m.mine(caps, k=5, seed=0):
        assert negs  # the things still trade places with each other
        for neg in negs:
            assert not {"girl", "cat"} & {e.before.lower() for e in neg.edits}, neg.text
