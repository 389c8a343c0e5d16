"""Hardest-of-K: the kept negatives are the candidates the current model scores closest to the image."""

from __future__ import annotations

import pytest
import torch

from negkit.recipe import ModelConfig
from negkit.train.batch import Collator
from negkit.train.model import TwoTower, create_model, encode_text
from negkit.train.select import HardestOfK


def _items(n=4, k=3):
    gen = torch.Generator().manual_seed(0)
    colours = ["red", "green", "blue", "yellow", "white", "black"]
    items = []
    for i in range(n):
        negs = tuple((f"a {colours[(i + j + 1) % 6]} square on a {colours[i % 6]} background" + " now" * j, 4.0,
                      j % 2) for j in range(k if i != 2 else 1))  # row 2 has a single candidate
        items.append({"index": i, "caption": f"a {colours[i % 6]} square", "negatives": negs,
                      "image": torch.randn(3, 64, 64, generator=gen)})
    return items


def test_hardest_of_k_keeps_the_candidates_closest_to_the_image():
    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)
    items = _items()
    batch = Collator(clip.tokenize, 3, keep=2)(items)
    select = HardestOfK(batch)
    with torch.no_grad():
        img, txt, _, _ = TwoTower(clip.model)(batch.images, batch.tokens, select)
        for row, it in enumerate(items):
            texts = [t for t, _, _ in it["negatives"]]
            feats = encode_text(clip.model, clip.tokenize(texts)).float()
            order = (feats @ img[row].float()).argsort(descending=True).tolist()
            got = select.chosen[row].tolist()
            if len(texts) >= 2:
                assert got == order[:2]
            else:
                assert got[0] == 0 and select.selected.neg_mask[row].tolist() == [True, False]
    sel = select.selected
    assert sel.k == 2 and sel.keep == 0 and txt.shape[0] == sel.tokens.shape[0] == 4 + int(sel.neg_mask.sum())
    # the kept negatives' tokens, kinds and concreteness are those of the chosen candidates
    for slot, tokens in zip(sel.neg_slot.tolist(), sel.tokens[4:]):
        row, j = divmod(slot, 2)
        cand = int(select.chosen[row, j])
        want = clip.tokenize([items[row]["negatives"][cand][0]])[0][:tokens.shape[0]]
        assert torch.equal(tokens, want)
        assert int(sel.neg_kind_ids[row, j]) == items[row]["negatives"][cand][2]
    # deterministic in the weights: the same batch and model choose the same again (what resume relies on)
    again = HardestOfK(batch)
    with torch.no_grad():
        TwoTower(clip.model)(batch.images, batch.tokens, again)
    assert torch.equal(again.chosen, select.chosen)


def test_bench_step_measures_hardest_of_k_in_the_same_run():
    from negkit.train.bench import bench_step

    res = bench_step("negkit-tiny", batch_size=4, negatives=1, steps=1, warmup=0, candidates=3)
    assert res.candidates == 3 and res.hardest_step_s > 0
    assert res.hardest_extra == res.hardest_step_s / res.negkit_step_s - 1


def test_captions_with_no_more_candidates_than_they_keep_are_not_scored(monkeypatch):
    import negkit.train.select as select

    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)
    items = _items(k=2)
    batch = Collator(clip.tokenize, 3, keep=2)(items)  # every row has at most 2 candidates
    monkeypatch.setattr(select, "encode_text", lambda *a, **k: pytest.fail("scored candidates it keeps anyway"))
    hook = HardestOfK(batch)
    with torch.no_grad():
        TwoTower(clip.model)(batch.images, batch.tokens, hook)
    assert hook.selected.neg_mask.tolist() == [[True, True], [True, True], [True, False], [True, True]]
    assert torch.equal(hook.selected.tokens, batch.tokens)  # all kept, in their order
