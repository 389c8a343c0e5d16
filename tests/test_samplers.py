"""Batch samplers: the contract for each built-in, bad input, the recipe's [sampler] table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from negkit.errors import DataError, NegkitError, RecipeError
from negkit.recipe import recipe_from_dict
from negkit.testing import SamplerContract
from negkit.train.batch import GlobalBatchSampler
from negkit.train.samplers import (
    NeighboursSampler,
    PrecomputedSampler,
    RandomSampler,
    SampledBatches,
    SamplerError,
    check_batches,
    nearest_neighbours,
)


class TestRandom(SamplerContract):
    def make_sampler(self):
        return RandomSampler()


class TestNeighbours(SamplerContract):
    def make_sampler(self):
        return NeighboursSampler(k=1)


class TestNeighboursK3(SamplerContract):
    worlds = (1, 2)

    def make_sampler(self):
        return NeighboursSampler(k=3)

    def make_records(self, n):
        return [{**r, "neg_image": [(i + d) % n for d in (1, 2, 3, 5, 7)]}
                for i, r in enumerate(super().make_records(n))]


class TestNeighboursFromEmbeddings(SamplerContract):
    @pytest.fixture(autouse=True)
    def _embeddings(self, tmp_path):
        rng = np.random.default_rng(0)
        self.path = tmp_path / "emb.npy"
        np.save(self.path, rng.normal(size=(self.n_records, 6)).astype(np.float32))

    def make_sampler(self):
        return NeighboursSampler(k=1, embeddings=str(self.path), candidates=3)

    def _ready(self, world=1, n=None):
        if n is not None and n != self.n_records:
            np.save(self.path, np.ones((n, 6), dtype=np.float32))
        return super()._ready(world, n)


class TestPrecomputed(SamplerContract):
    @pytest.fixture(autouse=True)
    def _groups(self, tmp_path):
        self.path = tmp_path / "groups.jsonl"
        self.path.write_text("".join(json.dumps([i, i + 1]) + "\n" for i in range(0, self.n_records - 1, 2)))

    def make_sampler(self):
        return PrecomputedSampler(str(self.path))


def test_random_is_the_global_batch_sampler_of_before():
    for world in (1, 2):
        sampler = RandomSampler()
        sampler.setup([{}] * 37, batch_size=8, world=world, seed=3)
        for rank in range(world):
            new, old = SampledBatches(sampler, rank, world), GlobalBatchSampler(37, 8, 3, rank, world)
            for epoch, start in ((0, 0), (2, 1)):
                new.set_epoch(epoch, start)
                old.set_epoch(epoch, start)
                assert list(new) == list(old)


def test_neighbours_put_each_anchor_with_its_listed_neighbour():
    records = [{"image": i, "neg_image": [(i + 10) % 40]} for i in range(40)]
    sampler = NeighboursSampler(k=1)
    sampler.setup(records, batch_size=8, world=2, seed=0)
    for groups in sampler.batches(0):
        flat = [i for g in groups for i in g]
        assert len(set(flat)) == len(flat)  # never the same record twice in a batch
        for anchor, neighbour in groups:
            assert neighbour == (anchor + 10) % 40 or sampler.filled_randomly


def test_neighbours_bad_index_and_missing_image(tmp_path):
    present = tmp_path / "a.jpg"
    present.write_bytes(b"x")
    records = [{"image": str(present), "neg_image": [1]} for _ in range(8)]
    records[3]["neg_image"] = [99]
    with pytest.raises(SamplerError, match="out of range 0..7"):
        NeighboursSampler().setup(records, batch_size=4, world=1, seed=0)
    records[3]["neg_image"] = [5]
    records[5]["image"] = str(tmp_path / "missing.jpg")
    with pytest.raises(SamplerError, match="neighbour 5 has no image.*allow_missing"):
        NeighboursSampler().setup(records, batch_size=4, world=1, seed=0)
    allowed = NeighboursSampler(allow_missing=True)
    allowed.setup(records, batch_size=4, world=1, seed=0)
    assert allowed.stats()["neighbours_skipped"] == 1
    assert all(5 not in row for row in allowed.lists)


def test_group_size_must_divide_the_process_batch():
    records = [{"image": "x", "neg_image": [0]}] * 12
    with pytest.raises(SamplerError, match="1 \\+ k = 3 records do not divide the per-process batch 4"):
        NeighboursSampler(k=2).setup(records, batch_size=8, world=2, seed=0)


def test_precomputed_bad_files(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("[0, 1]\n[2, 30]\n")
    with pytest.raises(DataError, match="line 2: record index 30 out of range"):
        PrecomputedSampler(str(path)).setup([{}] * 8, batch_size=4, world=1, seed=0)
    path.write_text("[0, 1]\n[2]\n")
    with pytest.raises(DataError, match="same size"):
        PrecomputedSampler(str(path)).setup([{}] * 8, batch_size=4, world=1, seed=0)
    path.write_text("[0, 1]\n")
    with pytest.raises(SamplerError, match="batch_size 4 but the groups hold 2"):
        PrecomputedSampler(str(path)).setup([{}] * 8, batch_size=4, world=1, seed=0)


def test_a_sampler_breaking_the_contract_is_caught():
    sampler = RandomSampler()
    sampler.setup([{}] * 8, batch_size=4, world=2, seed=0)
    with pytest.raises(SamplerError, match="splits group"):
        check_batches(sampler, [[[0], [1, 2], [3]], [[4], [5], [6], [7]]], 2)
    with pytest.raises(SamplerError, match="holds 3 records"):
        check_batches(sampler, [[[0], [1], [2]], [[4], [5], [6], [7]]], 1)


def test_nearest_neighbours_by_cosine():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    assert nearest_neighbours(emb, 1) == [[1], [0], [3], [2]]


def _recipe(**extra):
    return {"data": {"source": "shapes"}, "losses": [{"name": "infonce"}], **extra}


def test_recipe_sampler_table_is_validated():
    recipe = recipe_from_dict(_recipe(sampler={"name": "neighbours", "k": 1}))
    assert recipe.sampler.name == "neighbours" and recipe.sampler.args == {"k": 1}
    assert recipe.to_dict()["sampler"] == {"name": "neighbours", "k": 1}
    assert recipe_from_dict(_recipe()).sampler.name == "random"
    with pytest.raises(RecipeError, match="unknown sampler 'neighbors'.*Did you mean 'neighbours'"):
        recipe_from_dict(_recipe(sampler={"name": "neighbors"}))
    with pytest.raises(RecipeError, match="takes no argument 'kk'"):
        recipe_from_dict(_recipe(sampler={"name": "neighbours", "kk": 1}))


def test_recipe_hardest_of_k_is_validated():
    recipe = recipe_from_dict(_recipe(mining={"k": 1, "select": "hardest", "candidates": 4}))
    assert recipe.mining.mined_per_caption == 4
    with pytest.raises(RecipeError, match="candidates > k"):
        recipe_from_dict(_recipe(mining={"k": 2, "select": "hardest", "candidates": 2}))
    with pytest.raises(RecipeError, match="only read with select"):
        recipe_from_dict(_recipe(mining={"candidates": 4}))


def test_samplers_kind_is_registered():
    from negkit import get_component

    assert get_component("samplers", "neighbours") is NeighboursSampler
    assert issubclass(SamplerError, NegkitError)


def test_neighbours_from_a_reference_model_are_computed_once_and_cached(tmp_path, monkeypatch):
    from negkit.data.shapes.world import ShapesWorld

    records = ShapesWorld(train_size=24, image_size=32, grid=2).records("train")
    sampler = NeighboursSampler(k=1, reference_model="negkit-tiny", candidates=2, cache_dir=str(tmp_path))
    sampler.setup(records, batch_size=8, world=2, seed=0)
    cached = list(tmp_path.glob("negkit-tiny-*.npy"))
    assert len(cached) == 1
    emb = np.load(cached[0])
    assert emb.shape[0] == 24 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert sampler.lists == nearest_neighbours(emb, 2)

    import negkit.train.model as model

    monkeypatch.setattr(model, "create_model", lambda *a, **k: pytest.fail("embedded again"))
    again = NeighboursSampler(k=1, reference_model="negkit-tiny", candidates=2, cache_dir=str(tmp_path))
    again.setup(records, batch_size=8, world=2, seed=0)
    assert again.lists == sampler.lists and again.batches(0) == sampler.batches(0)


class TestSharedAttribute(SamplerContract):
    worlds = (1, 2)

    def make_sampler(self):
        from negkit.train.shared_sampler import SharedAttributeSampler

        return SharedAttributeSampler(fields=["colour", "shape"], group=4)

    def make_records(self, n):
        return [{**r, "colour": ("red", "blue")[i % 2], "shape": ("circle", "star", "cross")[i % 3]}
                for i, r in enumerate(super().make_records(n))]


def test_shared_attribute_groups_share_their_field_in_turn():
    from negkit.train.shared_sampler import SharedAttributeSampler

    records = [{"colour": ("red", "blue", "green")[i % 3], "shape": ("circle", "star")[i % 2]} for i in range(120)]
    sampler = SharedAttributeSampler()  # colour, shape; group = the whole batch
    sampler.setup(records, batch_size=12, world=1, seed=0)
    batches = sampler.batches(0)
    assert len(batches) == 10
    for b, groups in enumerate(batches):
        field = ("colour", "shape")[b % 2]
        (group,) = groups
        assert len({records[i][field] for i in group}) == 1
        assert len(set(group)) == len(group)  # no record twice in a batch
    seen = {i for groups in batches for g in groups for i in g}
    assert len(seen) > 0.6 * len(records)


def test_shared_attribute_reads_shapes_fields_without_rendering(monkeypatch):
    from negkit.data.shapes import ShapesWorld
    from negkit.train.shared_sampler import SharedAttributeSampler

    world = ShapesWorld(min_objects=1, max_objects=1, train_size=256)
    monkeypatch.setattr(world, "render", lambda scene: pytest.fail("a sampler must not render images"))
    sampler = SharedAttributeSampler(group=16)
    sampler.setup(world.records("train"), batch_size=64, world=1, seed=0)
    for groups in sampler.batches(0):
        for group in groups:
            assert len({world.fields("train", i)["colour"] for i in group}) == 1 or \
                len({world.fields("train", i)["shape"] for i in group}) == 1


def test_shared_attribute_refuses_what_it_cannot_fill():
    from negkit.train.shared_sampler import SharedAttributeSampler

    with pytest.raises(ValueError, match="fields"):
        SharedAttributeSampler(fields=[])
    records = [{"colour": str(i), "shape": "circle"} for i in range(40)]  # every colour once
    with pytest.raises(SamplerError, match="colour"):
        SharedAttributeSampler(group=8).setup(records, batch_size=8, world=1, seed=0)
    with pytest.raises(SamplerError, match="do not divide"):
        SharedAttributeSampler(group=3).setup(records, batch_size=8, world=1, seed=0)
