"""The cached mining stage: same table whatever num_proc / batch / shard size, reuse, re-mine, resume."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence

import pytest

from negkit.data.base import DataSource
from negkit.factory import mining_plan
from negkit.mining.base import WARM_UP, Edit, Miner, Negative
from negkit.mining.stage import mine_cached, mine_combined, mining_fingerprint, run_mining
from negkit.recipe import recipe_from_dict
from negkit.testing import registered_components

CAPTIONS = [
    "A man riding a red bicycle down a busy street.",
    "Two dogs playing with a frisbee on the green grass.",
    "A small cat sleeping on top of a wooden chair.",
    "",
    "A large white airplane flying above the city.",
    "a red circle to the left of a blue square",
    "🐶",
    "three black cows stand in a field next to two brown horses",
] * 5 + [f"a blue car number {i} parked near a tall tree" for i in range(23)]


class TinySource(DataSource):
    """In-memory captions for tests."""

    name = "tiny-captions"

    def records(self, split: str = "train"):
        return [{"image": None, "caption": c} for c in CAPTIONS]


class CountingMiner(Miner):
    """Appends a suffix; counts the captions it mined (class-wide, in-process) and can fail on demand.

    Parameters:
        suffix: appended to the caption.
    """

    name = "test-counting"
    mined = 0
    fail_after: int | None = None  # raise once this many captions were mined (simulates an interruption)

    def __init__(self, suffix: str = "!") -> None:
        self.suffix = suffix

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        cls = type(self)
        if list(captions) == [WARM_UP]:  # the stage's warm-up call: not part of the table
            return [[]]
        if cls.fail_after is not None and cls.mined + len(captions) > cls.fail_after:
            raise KeyboardInterrupt  # what Ctrl-C looks like inside mining
        cls.mined += len(captions)
        return [[Negative(f"{c}{self.suffix}{seed}", "suffix", 2.5, (Edit(0, c, c + self.suffix),))][:k]
                if c.strip() else [] for c in captions]


class FileMiner(Miner):
    """Appends the first line of a file.

    Parameters:
        path: the file.
    """

    name = "test-file"

    def __init__(self, path: str = "") -> None:
        self.path = path

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        with open(self.path, encoding="utf-8") as fh:
            extra = fh.readline().strip()
        return [[Negative(f"{c} {extra}", "file")][:k] for c in captions]


@pytest.fixture
def host():
    CountingMiner.mined = 0
    CountingMiner.fail_after = None
    with registered_components(miners=[CountingMiner, FileMiner], datasets=[TinySource]) as h:
        yield h


def make_recipe(tmp_path, miners, **mining):
    """A recipe's mining plan (what the stage takes): its [mining] section, seed and built miners."""
    mining = {"k": 2, "cache_dir": str(tmp_path / "cache"), **mining}
    return mining_plan(recipe_from_dict({"run": {"seed": 3}, "data": {"source": "tiny-captions"}, "mining": mining,
                                         "miners": miners}))


def rows(table):
    return [(r["caption"], r["negatives"]) for r in table]


REAL = [{"name": "attribute-lexicon"}, {"name": "ngram-shuffle", "weight": 0.5}]


def test_table_matches_direct_mining(host, tmp_path):
    recipe = make_recipe(tmp_path, REAL, k=3)
    table = run_mining(recipe, CAPTIONS, progress=False)
    assert table.column_names == ["caption", "negatives"]
    assert table["caption"] == CAPTIONS
    direct = mine_combined(recipe.weighted(), CAPTIONS, 3, 3)
    got = [[Negative.from_dict(d) for d in negs] for negs in table["negatives"]]
    assert got == direct
    assert all(len(negs) <= 3 for negs in got)
    assert any(n.kind.startswith("replace-") for negs in got for n in negs)
    assert any(n.kind == "shuffle-ngram" for negs in got for n in negs)


def test_same_table_for_any_num_proc_batch_and_shard_size(host, tmp_path):
    reference = None
    for i, (num_proc, batch_size, shard_size) in enumerate([(1, 256, 1000), (2, 7, 1000), (1, 1, 13), (2, 5, 17)]):
        recipe = make_recipe(tmp_path / str(i), REAL, k=3, num_proc=num_proc, batch_size=batch_size)
        result = mine_cached(recipe, CAPTIONS, shard_size=shard_size, progress=False)
        assert not result.reused
        table = rows(result.dataset)
        reference = reference or table
        assert table == reference, (num_proc, batch_size, shard_size)


def test_second_run_reuses_cache_and_changed_parameter_remines(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, progress=False)
    assert not first.reused and CountingMiner.mined == len(CAPTIONS)
    assert (first.path / "complete.json").is_file()
    assert first.path.parent == tmp_path / "cache"

    again = mine_cached(make_recipe(tmp_path, [{"name": "test-counting"}], num_proc=2, batch_size=3),
                        CAPTIONS, progress=False)
    assert again.reused and again.path == first.path
    assert CountingMiner.mined == len(CAPTIONS)  # nothing mined again
    assert rows(again.dataset) == rows(first.dataset)

    # the default made explicit is the same config; any real change is a new table
    same = make_recipe(tmp_path, [{"name": "test-counting", "suffix": "!"}])
    assert mining_fingerprint(same, CAPTIONS) == first.fingerprint
    changes = [
        make_recipe(tmp_path, [{"name": "test-counting", "suffix": "?"}]),
        make_recipe(tmp_path, [{"name": "test-counting"}], k=1),
        make_recipe(tmp_path, [{"name": "test-counting"}], seed=7),
        make_recipe(tmp_path, [{"name": "test-counting", "weight": 2.0}]),
    ]
    prints = {mining_fingerprint(r, CAPTIONS) for r in changes}
    assert len(prints) == len(changes) and first.fingerprint not in prints
    assert mining_fingerprint(recipe, CAPTIONS[:-1]) != first.fingerprint

    changed = mine_cached(changes[0], CAPTIONS, progress=False)
    assert not changed.reused and changed.path != first.path
    assert CountingMiner.mined == 2 * len(CAPTIONS)
    assert changed.dataset[0]["negatives"][0]["text"] == CAPTIONS[0] + "?3"


def test_interrupted_mining_resumes_without_redoing_finished_shards(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}], batch_size=4)
    CountingMiner.fail_after = 25  # dies in the third shard of 10
    with pytest.raises(KeyboardInterrupt):
        mine_cached(recipe, CAPTIONS, shard_size=10, progress=False)
    root = tmp_path / "cache" / mining_fingerprint(recipe, CAPTIONS)
    assert not (root / "complete.json").exists()
    finished = sorted(p.name for p in root.glob("shard-*"))
    assert finished == ["shard-000000000-000000010", "shard-000000010-000000020"]
    assert not list(root.glob(".tmp-*"))  # the interrupted shard's temp folder is gone

    CountingMiner.fail_after = None
    CountingMiner.mined = 0
    resumed = mine_cached(recipe, CAPTIONS, shard_size=10, progress=False)
    assert resumed.shards_mined == resumed.shards_total - 2
    assert CountingMiner.mined == len(CAPTIONS) - 20

    clean = mine_cached(make_recipe(tmp_path / "clean", [{"name": "test-counting"}]), CAPTIONS, progress=False)
    assert rows(resumed.dataset) == rows(clean.dataset)


def test_damaged_shard_is_mined_again_not_read(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    shard = sorted(first.path.glob("shard-*"))[1]
    arrow = next(shard.glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])  # a truncated file, as a full disk would leave
    CountingMiner.mined = 0
    again = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    assert CountingMiner.mined == 20 and not again.reused
    assert rows(again.dataset) == rows(mine_cached(make_recipe(tmp_path / "b", [{"name": "test-counting"}]),
                                                   CAPTIONS, progress=False).dataset)


def test_plain_progress_lines_when_not_a_terminal(host, tmp_path):
    lines: list[str] = []
    mine_cached(make_recipe(tmp_path, REAL), CAPTIONS, progress=True, log=lines.append)
    assert lines and "captions/s" in lines[-1] and f"{len(CAPTIONS)}/{len(CAPTIONS)}" in lines[-1]


def test_weights_choose_the_miner_per_caption(host):
    a, b = CountingMiner("!"), CountingMiner("?")
    caps = [f"caption number {i}" for i in range(400)]
    mixed = mine_combined([(a, 3.0), (b, 1.0)], caps, 1, 0)
    share_a = sum(negs[0].text.endswith("!0") for negs in mixed) / len(caps)
    assert 0.65 < share_a < 0.85
    assert mine_combined([(a, 3.0), (b, 1.0)], caps[::-1], 1, 0)[::-1] == mixed
    assert all(n.text.endswith("?0") for negs in mine_combined([(a, 0.0), (b, 1.0)], caps, 2, 0) for n in negs)
    both = mine_combined([(a, 1.0), (b, 1.0)], caps, 2, 0)
    assert all(len(negs) == 2 and len({n.text for n in negs}) == 2 for negs in both)  # fallback fills k


def test_empty_captions_and_no_miners(host, tmp_path):
    table = run_mining(make_recipe(tmp_path, REAL), [], progress=False)
    assert len(table) == 0 and table.column_names == ["caption", "negatives"]
    table = run_mining(make_recipe(tmp_path, []), CAPTIONS[:3], progress=False)
    assert table["negatives"] == [[], [], []]


def test_cli_mine_prints_cache_and_coverage(host, tmp_path, capsys):
    from negkit.cli import main

    path = tmp_path / "r.toml"
    path.write_text(f'[data]\nsource = "tiny-captions"\n[mining]\nk = 1\ncache_dir = "{tmp_path / "c"}"\n'
                    '[[miners]]\nname = "attribute-lexicon"\n', encoding="utf-8")
    main(["mine", str(path), "--no-progress"])
    out = capsys.readouterr().out
    assert "cache: " + str(tmp_path / "c") in out.replace("\n", "")
    coverage = sum(1 for c in CAPTIONS if any(w in c for w in ("red", "green", "small", "wooden", "large", "white",
                                                                 "blue", "black", "brown", "tall", "two",
                                                                 "three", "Two"))) / len(CAPTIONS)
    assert f"coverage: {coverage:.1%}" in out
    main(["mine", str(path), "--no-progress", "--set", "mining.k=1"])
    assert "reused from cache" in capsys.readouterr().out
    config = json.loads(next((tmp_path / "c").glob("*/config.json")).read_text())
    assert config["miners"][0]["params"]["categories"] == ["colour", "size", "material", "count"]


def test_mining_modules_import_neither_torch_nor_datasets_eagerly():
    import subprocess
    import sys

    code = ("import sys, negkit.mining.stage, negkit.mining.audit, negkit.mining.attribute_lexicon, "
            "negkit.builtins.attribute_lexicon, negkit.cli.mine, negkit.cli.audit; "
            "print(sorted(m for m in ('torch', 'datasets', 'spacy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_editing_a_file_named_by_a_parameter_remines(host, tmp_path):
    import os

    data = tmp_path / "extra.txt"
    data.write_text("in the rain\n", encoding="utf-8")
    recipe = make_recipe(tmp_path, [{"name": "test-file", "path": str(data)}])
    first = mine_cached(recipe, CAPTIONS, progress=False)
    assert mine_cached(recipe, CAPTIONS, progress=False).reused
    data.write_text("in the snow\n", encoding="utf-8")
    os.utime(data, ns=(1, 1))
    second = mine_cached(recipe, CAPTIONS, progress=False)
    assert not second.reused and second.fingerprint != first.fingerprint
    assert second.dataset[0]["negatives"][0]["text"].endswith("in the snow")


def test_reuse_does_not_depend_on_shard_size(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, shard_size=7, progress=False)
    again = mine_cached(recipe, CAPTIONS, shard_size=1000, progress=False)
    assert again.reused and CountingMiner.mined == len(CAPTIONS)
    assert rows(again.dataset) == rows(first.dataset)


def test_spacy_miner_same_table_in_one_or_two_processes(host, tmp_path):
    tables = []
    for num_proc, batch_size in ((1, 64), (2, 5)):
        recipe = make_recipe(tmp_path / str(num_proc), [{"name": "concrete-plant"}, {"name": "random-swap"}],
                             k=2, num_proc=num_proc, batch_size=batch_size)
        tables.append(rows(mine_cached(recipe, CAPTIONS, progress=False).dataset))
    assert tables[0] == tables[1]
    assert sum(1 for _, negs in tables[0] if negs) > len(CAPTIONS) * 0.8


def test_mining_settings_freeze_the_collector_only_while_mining():
    import gc

    from negkit.mining.process import _glibc, tuned_for_mining

    assert gc.get_freeze_count() == 0
    with tuned_for_mining():
        assert gc.get_freeze_count() > 0  # what was loaded is out of the collector's way
        with tuned_for_mining():  # nested: the inner exit keeps the outer freeze
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()  # the caller's own freeze survives mining
    try:
        with tuned_for_mining():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    if platform.libc_ver()[0] == "glibc":
        assert _glibc() is not None  # found, so the trim threshold was really set


def test_a_miner_whose_code_changed_mines_again(tmp_path, monkeypatch):
    """The version of negkit or of a plugin does not change with every edit of a miner: the fingerprint reads
    the miners' source too, so a table mined by the old code is never reused by the new one."""
    import importlib
    import sys

    from negkit.code_digest import source_digest
    from negkit.mining.stage import MiningPlan, WeightedMiner
    from negkit.sections import MiningConfig

    def plan_with(code: str) -> MiningPlan:
        (tmp_path / "edited_miner.py").write_text(code, encoding="utf-8")
        sys.modules.pop("edited_miner", None)
        source_digest.cache_clear()
        module = importlib.import_module("edited_miner")
        return MiningPlan(MiningConfig(), 0, (WeightedMiner("edited", module.Edited()),))

    monkeypatch.syspath_prepend(str(tmp_path))
    source = ("from negkit.mining.base import Miner\n\n\nclass Edited(Miner):\n    name = 'edited'\n\n"
              "    def mine(self, captions, *, k, seed):\n        return [[] for _ in captions]\n")
    before = mining_fingerprint(plan_with(source), CAPTIONS)
    assert mining_fingerprint(plan_with(source), CAPTIONS) == before  # the same code: the same table
    after = mining_fingerprint(plan_with(source.replace("[[]", "[[ ]")), CAPTIONS)
    assert after != before
    sys.modules.pop("edited_miner", None)
    source_digest.cache_clear()
