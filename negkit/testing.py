"""Helpers for testing negkit plugins: register components in-process, and the miner contract tests.

    from negkit import hookimpl
    from negkit.testing import MinerContract, registered_plugin

    class TestMyMiner(MinerContract):
        def make_miner(self):
            return MyMiner(strength=2)

    def test_recipe_uses_my_miner():
        class Plugin:
            @hookimpl
            def register_miners(self, register):
                register(MyMiner)

        with registered_plugin(Plugin(), name="my-plugin"):
            ...  # negkit.get_component("miners", "my-miner") works here
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from negkit import plugins
from negkit.errors import NegkitError
from negkit.mining.base import Miner, Negative
from negkit.plugins import PluginHost, PluginInfo, reset_host


@contextmanager
def registered_plugin(plugin: object, name: str | None = None) -> Iterator[PluginHost]:
    """Load the built-ins, the installed entry-point plugins and ``plugin`` (a module or an object with
    ``@hookimpl`` methods) into a fresh plugin host for the duration of the block."""
    previous = plugins._host
    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    host.add_plugin(plugin, PluginInfo(plugin_name, "in-process", getattr(plugin, "__name__", plugin_name)))
    host.collect()
    reset_host(host)
    try:
        yield host
    finally:
        reset_host(previous)


@contextmanager
def registered_components(**components: list[Any]) -> Iterator[PluginHost]:
    """Register classes in-process by kind: ``registered_components(miners=[A], datasets=[B])``."""
    from negkit.hookspecs import hookimpl
    from negkit.registry import KINDS

    unknown = set(components) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; expected some of {KINDS}")

    class _Plugin:
        pass

    for kind, classes in components.items():
        def register_kind(register: Any, _classes: list[Any] = classes) -> None:
            for cls in _classes:
                register(cls)

        setattr(_Plugin, f"register_{kind}", staticmethod(hookimpl(register_kind)))
    with registered_plugin(_Plugin(), name="test-components") as host:
        yield host


ODD_TEXTS: tuple[str, ...] = (
    "",
    "   ",
    "\n\t",
    "🐶🐱🐭",
    "un chien rouge à côté d'une voiture bleue",
    "<p>a <b>dog</b> on a <i>sofa</i></p>",
    "the of and a to in",
    "!!!???...",
    "a",
    "word " * 2000,
    "A DOG NEXT TO A CAT",
    "1 2 3 4 5",
    "naïve café résumé",
)


class MinerContract:
    """Contract tests for a ``Miner``. Subclass it in a ``Test*`` class and implement ``make_miner``.

    Checks: the right shape and types, at most ``k``, never the input caption nor duplicates, the same
    negatives for a caption whatever batch it is in and across a pickle round trip, no exception on odd
    text, and that the miner makes negatives for at least ``min_coverage`` of ``captions``.
    """

    captions: ClassVar[tuple[str, ...]] = (
        "A man riding a red bicycle down a busy street.",
        "Two dogs playing with a frisbee on the green grass.",
        "A plate of food with broccoli and a slice of pizza.",
        "A small cat sleeping on top of a wooden chair.",
        "A large white airplane flying above the city.",
        "a red circle to the left of a blue square",
    )
    k: ClassVar[int] = 3
    seed: ClassVar[int] = 0
    min_coverage: ClassVar[float] = 0.5

    def make_miner(self) -> Miner:
        raise NotImplementedError("subclasses return the miner under test")

    def _mine(self, miner: Miner, captions: list[str] | tuple[str, ...], k: int | None = None,
              seed: int | None = None) -> list[list[Negative]]:
        return miner.mine(list(captions), k=self.k if k is None else k, seed=self.seed if seed is None else seed)

    def test_shape_and_types(self) -> None:
        out = self._mine(self.make_miner(), self.captions)
        assert isinstance(out, list) and len(out) == len(self.captions)
        for negs in out:
            assert isinstance(negs, list)
            assert all(isinstance(n, Negative) and isinstance(n.text, str) and n.kind for n in negs)

    def test_at_most_k(self) -> None:
        miner = self.make_miner()
        for k in (0, 1, self.k):
            assert all(len(negs) <= k for negs in self._mine(miner, self.captions, k=k))

    def test_never_the_caption_nor_duplicates(self) -> None:
        for caption, negs in zip(self.captions, self._mine(self.make_miner(), self.captions)):
            texts = [" ".join(n.text.split()).lower() for n in negs]
            assert " ".join(caption.split()).lower() not in texts
            assert len(set(texts)) == len(texts)

    def test_deterministic_whatever_the_batch(self) -> None:
        miner = self.make_miner()
        together = self._mine(miner, self.captions)
        alone = [self._mine(self.make_miner(), [c])[0] for c in self.captions]
        reversed_batch = self._mine(miner, list(reversed(self.captions)))[::-1]
        assert together == alone == reversed_batch

    def test_picklable(self) -> None:
        miner = self.make_miner()
        before = self._mine(miner, self.captions)
        clone = pickle.loads(pickle.dumps(miner))
        assert self._mine(clone, self.captions) == before

    def test_odd_text_does_not_raise(self) -> None:
        out = self._mine(self.make_miner(), ODD_TEXTS)
        assert len(out) == len(ODD_TEXTS)
        for caption, negs in zip(ODD_TEXTS, out):
            assert len(negs) <= self.k
            assert all(" ".join(n.text.split()).lower() != " ".join(caption.split()).lower() for n in negs)

    def test_coverage(self) -> None:
        out = self._mine(self.make_miner(), self.captions)
        covered = sum(1 for negs in out if negs) / len(self.captions)
        assert covered >= self.min_coverage, f"negatives for only {covered:.0%} of the contract captions"


class SamplerContract:
    """Contract tests for a batch sampler (``register_samplers``). Subclass it in a ``Test*`` class and
    implement ``make_sampler`` (and ``make_records`` when the sampler needs fields, e.g. neighbour lists).

    Checks: ``len(records) // batch_size`` batches of ``batch_size`` in-range records, the same batches for
    the same seed and epoch (and a fresh instance), different batches for another epoch, every group inside
    one process's slice for each ``world`` in ``worlds``, the processes' slices disjoint and together the
    whole batch, and a clear error when the records cannot fill one batch.
    """

    n_records: ClassVar[int] = 48
    batch_size: ClassVar[int] = 8
    worlds: ClassVar[tuple[int, ...]] = (1, 2, 4)
    seed: ClassVar[int] = 0

    def make_sampler(self) -> Any:
        raise NotImplementedError("subclasses return the sampler under test")

    def make_records(self, n: int) -> list[dict[str, Any]]:
        """Records with an image, a caption and ``neg_image`` (the next two records, a ring)."""
        from PIL import Image

        return [{"image": Image.new("RGB", (2, 2), (i % 256, 0, 0)), "caption": f"caption {i}",
                 "neg_image": [(i + 1) % n, (i + 2) % n]} for i in range(n)]

    def _ready(self, world: int = 1, n: int | None = None) -> Any:
        sampler = self.make_sampler()
        sampler.setup(self.make_records(n or self.n_records), batch_size=self.batch_size, world=world,
                      seed=self.seed)
        return sampler

    def test_batch_count_size_and_range(self) -> None:
        sampler = self._ready()
        batches = sampler.batches(0)
        assert len(batches) == self.n_records // self.batch_size == sampler.batches_per_epoch
        for groups in batches:
            flat = [i for g in groups for i in g]
            assert len(flat) == self.batch_size
            assert all(isinstance(i, int) and 0 <= i < self.n_records for i in flat)

    def test_deterministic_in_seed_and_epoch(self) -> None:
        assert self._ready().batches(1) == self._ready().batches(1)
        assert self._ready().batches(0) != self._ready().batches(1)

    def test_groups_stay_on_one_process(self) -> None:
        from negkit.train.samplers import SampledBatches, check_batches

        for world in self.worlds:
            if self.batch_size % world:
                continue
            try:
                sampler = self._ready(world)
            except NegkitError:
                continue  # a group size that does not divide this world's local batch: refused up front
            batches = sampler.batches(0)
            check_batches(sampler, batches, world)
            slices = []
            for rank in range(world):
                wrapper = SampledBatches(sampler, rank, world)
                wrapper.set_epoch(0)
                slices.append([[i for _, i in batch] for batch in wrapper])
            for b, groups in enumerate(batches):
                together = [i for rank in range(world) for i in slices[rank][b]]
                assert together == [i for g in groups for i in g]

    def test_too_few_records_is_a_clear_error(self) -> None:
        import pytest

        with pytest.raises(NegkitError, match=str(self.batch_size)):
            self._ready(n=self.batch_size - 1)
