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
