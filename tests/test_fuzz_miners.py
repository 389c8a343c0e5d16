"""Fuzz every registered miner (built-in and installed plugins) with arbitrary text.

Whatever the text (empty, whitespace, emoji, other scripts, HTML, 2,000 words, no content word), a miner
returns one list per caption, at most k negatives each, never the caption, never duplicates, the same
negatives for a caption alone as in a batch, and raises nothing.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negkit.mining.base import Miner
from negkit.plugins import get_host
from negkit.testing import ODD_TEXTS

MINER_NAMES = get_host().registries["miners"].names()
_BUILT: dict[str, Miner] = {}

ODD = (
    *ODD_TEXTS,
    "",
    " \u00a0\u2003 ",
    "🚲🚲 🍕",
    "一只红色的猫坐在木椅上",
    "Собака бежит по зелёной траве",
    "<div class='x'>a red <b>bus</b> &amp; a blue car</div><script>alert(1)</script>",
    "the of and a to in is it",
    " ".join(["a red dog runs near two small wooden chairs"] * 223),  # ~2,000 words
    "A\u0301 cafe\u0301 with a red\u200b door",
    "\x00\x01 control \x7f chars",
    "dog",
    "DOG",
    "the the the the",
    "a glass of water",
    "..." * 50,
)

VOCAB = ["a", "the", "red", "blue", "small", "large", "wooden", "dog", "cat", "man", "woman", "on", "under",
         "next", "to", "two", "riding", "holding", "table", "bench", "idea", "view", "nice", "of", "and", "in",
         "picture", "street", "grass", "green", "sits", "is", "with", ".", ","]
caption_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(ODD),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=25).map(" ".join),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=12).map(lambda ws: " ".join(ws).capitalize() + "."),
)


def _precomputed_file() -> dict:
    """A JSONL file of negatives for the ``precomputed`` miner, including ones it must filter out."""
    path = Path(tempfile.mkdtemp(prefix="negkit-fuzz-")) / "negatives.jsonl"
    rows = [{"caption": c, "negatives": [c, c.upper() + " x", c.upper() + " x", "a blue cat"]} for c in ODD]
    rows += [{"caption": "a red dog", "negatives": ["a red dog", "A  Red dog", "a blue dog", "a red cat"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return {"path": str(path)}


# Miners that cannot work without configuration get it here (a data file, ...).
CONFIGURE = {"precomputed": _precomputed_file}


def build(name: str) -> Miner:
    if name not in _BUILT:
        if name in CONFIGURE:
            from negkit.recipe import ComponentSpec

            _BUILT[name] = ComponentSpec("miners", name, name, CONFIGURE[name]()).build()
            return _BUILT[name]
        ref = get_host().ref("miners", name)
        required = [p for p, v in ref.signature().parameters.items() if v.default is inspect.Parameter.empty
                    and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
        if required:
            pytest.skip(f"miner {name!r} needs arguments {required}; the fuzz test builds miners by default")
        _BUILT[name] = ref.load()()
    return _BUILT[name]


def norm(text: str) -> str:
    return " ".join(text.split()).lower()


def check(captions: list[str], out: list, k: int) -> None:
    assert isinstance(out, list) and len(out) == len(captions)
    for caption, negs in zip(captions, out):
        assert len(negs) <= k
        texts = [norm(n.text) for n in negs]
        assert norm(caption) not in texts
        assert len(set(texts)) == len(texts)
        assert all(isinstance(n.text, str) and n.text.strip() and isinstance(n.kind, str) for n in negs)
        assert all(n.concreteness is None or 1.0 <= n.concreteness <= 5.0 for n in negs)


def test_some_miners_are_registered():
    assert {"attribute-lexicon", "ngram-shuffle"} <= set(MINER_NAMES)


@pytest.mark.parametrize("name", MINER_NAMES)
def test_odd_text_in_one_batch(name):
    miner = build(name)
    captions = list(ODD)
    for k in (0, 1, 3):
        check(captions, miner.mine(captions, k=k, seed=0), k)


@pytest.mark.parametrize("name", MINER_NAMES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(captions=st.lists(caption_text, min_size=1, max_size=4), k=st.integers(0, 4), seed=st.integers(0, 2**31))
def test_arbitrary_text(name, captions, k, seed):
    miner = build(name)
    out = miner.mine(captions, k=k, seed=seed)
    check(captions, out, k)
    assert miner.mine(captions[-1:], k=k, seed=seed)[0] == out[-1]  # the batch does not matter
