"""negkit audit: the statistics on hand-made negatives, and the command over a captions file and a recipe."""

from __future__ import annotations

import json

import pytest
from conftest import SUGARCREPE

from negkit.data.caption_files import read_captions
from negkit.errors import DataError
from negkit.mining.attribute_lexicon import AttributeLexicon
from negkit.mining.audit import audit_miner, audit_negatives, sample_captions
from negkit.mining.base import Edit, Negative


def neg(text: str, c: float | None = None, kind: str = "replace-noun") -> Negative:
    return Negative(text, kind, c, (Edit(0, "x", "y"),))


def test_statistics_on_known_negatives():
    captions = ["a red dog on grass", "a cat on a mat", "two birds", "a blue car"]
    negatives = [
        [neg("a blue dog on grass", 4.0), neg("a red grass on dog", None, "swap-noun")],  # one bag-of-words equal
        [neg("a cat on a mat", 3.0), neg("a blue car", 2.0)],  # equals its caption (dup); equals another caption
        [],
        [neg("a blue bus", 5.0), neg("A  blue BUS", 1.0)],  # duplicate after normalising
    ]
    a = audit_negatives("m", captions, negatives, examples=10)
    assert a.captions == 4 and a.negatives == 6
    assert a.coverage == pytest.approx(3 / 4)
    assert a.mean_per_caption == pytest.approx(6 / 4)
    assert a.mean_concreteness == pytest.approx((4 + 3 + 2 + 5 + 1) / 5)
    assert a.concreteness_known == pytest.approx(5 / 6)
    assert a.bow_identical == pytest.approx(2 / 6)  # the swap, and the caption itself
    assert a.duplicate_rate == pytest.approx(2 / 6)
    assert a.equals_other_caption == pytest.approx(1 / 6)
    assert a.kinds == {"replace-noun": 5, "swap-noun": 1}
    assert [e["caption"] for e in a.examples] == ["a red dog on grass", "a cat on a mat", "a blue car"]


def test_empty_input():
    a = audit_negatives("m", [], [])
    assert (a.coverage, a.negatives, a.mean_concreteness, a.examples) == (0.0, 0, None, [])


def test_audit_miner_on_real_miner():
    captions = ["a red car", "the idea of it", "two small dogs on a wooden bench"]
    a = audit_miner("attribute-lexicon", AttributeLexicon(), captions, k=2, examples=1)
    assert a.coverage == pytest.approx(2 / 3)
    assert a.duplicate_rate == 0 and a.negatives == 4  # k=2 for each of the two covered captions
    assert a.seconds > 0 and len(a.examples) == 1


def test_read_and_sample_captions(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a dog\n\n  a cat  \n", encoding="utf-8")
    assert read_captions(path) == ["a dog", "a cat"]
    with pytest.raises(DataError, match="not found"):
        read_captions(tmp_path / "missing.txt")
    (tmp_path / "items.json").write_text('{"0": {"caption": "a red car"}, "1": {"caption": "two dogs"}}')
    (tmp_path / "list.jsonl").write_text('{"caption": "a bowl"}\n\n{"caption": "a cup", "id": 3}\n')
    (tmp_path / "more.json").write_text('[{"caption": "a tree", "negative_caption": "a bush"}]')
    assert read_captions(tmp_path / "items.json") == ["a red car", "two dogs"]  # SugarCrepe's layout
    assert read_captions(tmp_path / "list.jsonl") == ["a bowl", "a cup"]
    assert read_captions(tmp_path) == ["a red car", "two dogs", "a tree"]  # a folder: its *.json, by name
    (tmp_path / "bad.jsonl").write_text('{"text": "no caption key"}\n')
    with pytest.raises(DataError, match="bad.jsonl: cannot read captions"):
        read_captions(tmp_path / "bad.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.json caption files"):
        read_captions(tmp_path / "empty")
    caps = [str(i) for i in range(100)]
    s = sample_captions(caps, 10, seed=1)
    assert len(s) == 10 and s == sorted(s, key=int) and s == sample_captions(caps, 10, seed=1)
    assert sample_captions(caps, 0) == caps


def test_cli_audit_over_a_captions_file(tmp_path, capsys):
    from negkit.cli import main

    path = tmp_path / "c.txt"
    path.write_text("a red car next to a blue bus\nthe idea of a nice view\n", encoding="utf-8")
    main(["audit", "--captions", str(path), "--miner", "attribute-lexicon", "--miner", "ngram-shuffle",
          "-k", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [r["miner"] for r in out] == ["attribute-lexicon", "ngram-shuffle"]
    assert out[0]["coverage"] == 0.5 and out[1]["coverage"] == 1.0
    assert out[1]["bow_identical"] == 1.0
    main(["audit", "--captions", str(path), "--miner", "attribute-lexicon"])
    text = capsys.readouterr().out
    assert "attribute-lexicon" in text and "50.0%" in text and "a red car next to a blue bus" in text


def test_cli_audit_needs_captions(capsys):
    from negkit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["audit"])
    assert exc.value.code == 1
    assert "--captions" in capsys.readouterr().err


def test_audit_orders_the_concreteness_controls_on_real_captions():
    """The audit shows what the paper's controls are for: concrete-plant edits more concrete words than
    random-word, which edits more concrete words than abstract-first."""
    from negkit.plugins import get_component

    captions = [v["caption"] for v in json.loads((SUGARCREPE / "replace_obj.json").read_text()).values()][:120]
    means = {}
    for name in ("concrete-plant", "random-word", "abstract-first"):
        a = audit_miner(name, get_component("miners", name)(), captions, k=1)
        assert a.coverage > 0.9 and a.duplicate_rate == 0 and a.concreteness_known > 0.9
        means[name] = a.mean_concreteness
    assert means["concrete-plant"] > means["random-word"] + 0.3 > means["abstract-first"] + 0.6


CAPTIONS = ("a red car", "two cats", "the idea of it", "a blue bus", "a green tree", "one dog", "a red ball",
            "three birds", "a blue cup", "a green bowl")


def test_cli_audit_a_recipe_uses_its_data_and_miners(tmp_path, capsys):
    from negkit.cli import main
    from negkit.data.base import DataSource
    from negkit.testing import registered_components

    class Captions(DataSource):
        """Three captions."""

        name = "audit-captions"

        def records(self, split="train"):
            return [{"image": None, "caption": c} for c in CAPTIONS]

    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\nsource = "audit-captions"\n[mining]\nk = 2\n'
                      '[[miners]]\nname = "attribute-lexicon"\ncategories = ["colour"]\n', encoding="utf-8")
    with registered_components(datasets=[Captions]):
        main(["audit", str(recipe), "--json"])
    (report,) = json.loads(capsys.readouterr().out)
    from negkit.mining.quality import split_captions

    mined, judged = split_captions(CAPTIONS)  # the judge part trains the blind judge and is never mined
    coloured = [c for c in mined if c.split()[1] in ("red", "blue", "green")]
    assert judged and coloured and len(coloured) < len(mined)
    assert report["miner"] == "attribute-lexicon" and report["captions"] == len(mined)
    # only colours: "two cats" is left alone
    assert report["coverage"] == pytest.approx(len(coloured) / len(mined))
    assert report["negatives"] == 2 * len(coloured) and set(report["kinds"]) == {"replace-colour"}
    assert report["blind_accuracy"] is not None
