"""The ``shapes`` data source: procedural scenes, rendered on demand, deterministic per seed and index."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from negkit.data.base import DataSource
from negkit.data.shapes.captions import Plan, describe, text
from negkit.data.shapes.edits import edited_scenes
from negkit.data.shapes.render import Renderer
from negkit.data.shapes.scene import COLOURS, DEFAULT_COLOURS, DEFAULT_SHAPES, SHAPES, SIZES, Scene, sample_scene
from negkit.seeding import stable_hash

MIN_IMAGE_SIZE = 32
MIN_CELL_PIXELS = 10
N_TEXTURES = 32
SPLITS = ("train", "val", "test", "train-single", "test-single")


class ShapesWorld(DataSource):
    """Procedural scenes of 1-3 coloured shapes in spatial relations, with captions that mix concrete
    words and abstract filler. Needs nothing downloaded.

    Splits: ``train``, ``val``, ``test`` (1 to ``max_objects`` objects), and ``train-single`` /
    ``test-single`` (one object each, for zero-shot and probes). ``train`` and ``train-single`` never show
    a held-out colour-shape combination; the other splits do, so tests measure systematic generalisation.

    Records: ``image`` (PIL), ``caption``, ``shapes`` / ``colours`` (sorted lists of what is present,
    multi-label), ``shape`` / ``colour`` / ``size`` (single-object scenes only, else None), ``n_objects``,
    ``novel`` (the scene shows a held-out combination) and ``index``.

    Parameters:
        image_size: image side in pixels (at least 32).
        grid: objects sit in distinct cells of a grid x grid layout (cells of at least 10 px).
        min_objects: fewest objects in a scene of train/val/test (at least 1).
        max_objects: most objects in a scene; at most grid * grid (what fits the canvas).
        shapes: shape names to use (at least 2), from circle, square, triangle, star, cross, diamond,
            pentagon, hexagon.
        colours: colour names to use (at least 2), from red, green, blue, yellow, purple, orange, pink, cyan,
            brown, white, black.
        holdout: colour-shape combinations never shown in training, as "colour shape" strings; None holds
            out one colour per shape (a diagonal of the colour x shape table); [] holds out nothing.
        train_size, val_size, test_size, single_size: records per split (single_size for each *-single split).
        noise: standard deviation of the per-pixel noise (0 = none).
        p_colour, p_size: probability that a caption names an object's colour / size.
        seed: the world's seed (scenes, captions, textures); independent of the run's seed on purpose, so
            that runs with different seeds see the same data.
        render_negatives: image negatives per ``train`` record (0 = none): the scene with one named
            attribute or the relation changed, drawn with every other choice of the scene kept, so the
            caption is false of it by construction. Records then carry ``neg_images`` (PIL) and
            ``neg_captions`` (the caption that IS true of each). Train with ``[mining] image_negatives``.
    """

    name = "shapes"

    def __init__(self, image_size: int = 64, grid: int = 3, min_objects: int = 1, max_objects: int = 3,
                 shapes: list[str] | None = None, colours: list[str] | None = None,
                 holdout: list[str] | None = None, train_size: int = 20000, val_size: int = 500,
                 test_size: int = 1000, single_size: int = 1000, noise: float = 6.0, p_colour: float = 0.85,
                 p_size: float = 0.5, seed: int = 0, render_negatives: int = 0) -> None:
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size: must be at least {MIN_IMAGE_SIZE} pixels, got {image_size}")
        if grid < 1:
            raise ValueError(f"grid: must be at least 1, got {grid}")
        if image_size / grid < MIN_CELL_PIXELS:
            raise ValueError(f"grid: {grid}x{grid} cells of a {image_size}px image are smaller than "
                             f"{MIN_CELL_PIXELS}px; lower grid (at most {image_size // MIN_CELL_PIXELS}) "
                             f"or raise image_size")
        if min_objects < 1:
            raise ValueError(f"min_objects: must be at least 1, got {min_objects}")
        if max_objects < min_objects:
            raise ValueError(f"max_objects: must be at least min_objects ({min_objects}), got {max_objects}")
        if max_objects > grid * grid:
            raise ValueError(f"max_objects: {max_objects} objects do not fit the canvas; a {grid}x{grid} grid "
                             f"holds {grid * grid} (raise grid or lower max_objects)")
        self.shapes = _vocabulary("shapes", shapes, DEFAULT_SHAPES, SHAPES)
        self.colours = _vocabulary("colours", colours, DEFAULT_COLOURS, tuple(COLOURS))
        if holdout is None:
            holdout = [f"{self.colours[(3 * i + 1) % len(self.colours)]} {s}" for i, s in enumerate(self.shapes)]
        self.holdout = frozenset(_check_holdout(holdout, self.shapes, self.colours))
        for key, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size),
                           ("single_size", single_size)):
            if value < 0:
                raise ValueError(f"{key}: must be >= 0, got {value}")
        if noise < 0:
            raise ValueError(f"noise: must be >= 0, got {noise}")
        for key, value in (("p_colour", p_colour), ("p_size", p_size)):
            if not 0 <= value <= 1:
                raise ValueError(f"{key}: must be a probability in [0, 1], got {value}")
        self.image_size, self.grid = image_size, grid
        self.min_objects, self.max_objects = min_objects, max_objects
        self.sizes = {"train": train_size, "val": val_size, "test": test_size, "train-single": single_size,
                      "test-single": single_size}
        self.noise, self.p_colour, self.p_size, self.seed = noise, p_colour, p_size, seed
        if render_negatives < 0:
            raise ValueError(f"render_negatives: must be >= 0, got {render_negatives}")
        self.render_negatives = render_negatives
        self._renderer: Renderer | None = None

    # -- DataSource ------------------------------------------------------------------------------------

    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def records(self, split: str = "train") -> ShapesRecords:
        self._check_split(split)
        return ShapesRecords(self, split)

    def captions(self, split: str = "train") -> list[str]:
        self._check_split(split)
        return [text(self.plan(split, i)) for i in range(self.sizes[split])]

    # -- what evaluators may ask ------------------------------------------------------------------------

    def class_names(self, label: str) -> list[str]:
        """The classes of a record key: shape/shapes, colour/colours, size."""
        if label in ("shape", "shapes"):
            return list(self.shapes)
        if label in ("colour", "colours"):
            return list(self.colours)
        if label == "size":
            return list(SIZES)
        raise KeyError(f"shapes has no class names for {label!r}; labels: shape, shapes, colour, colours, size")

    def templates(self, label: str) -> list[str]:
        """Zero-shot prompts for a label ("{}" is replaced by the class name), in the captions' own grammar:
        a colour is prompted with every shape ("a {} circle", ...), a size with every shape, a shape bare
        and with every colour ("a {}", "a red {}", ...), so that the prompts average over the other
        attribute. Words the captions never use ("shape", "object") would test the text tower's guess
        about an unseen word, not the concept."""
        if label in ("colour", "colours", "size"):
            return [f"a {{}} {shape}" for shape in self.shapes]
        return ["a {}"] + [f"a {colour} {{}}" for colour in self.colours]

    def scene(self, split: str, index: int) -> Scene:
        self._check_split(split)
        if not 0 <= index < self.sizes[split]:
            raise IndexError(f"{split} has {self.sizes[split]} records, asked for {index}")
        rng = random.Random(stable_hash("shapes-scene", self.seed, split, index))
        single = split.endswith("-single")
        return sample_scene(rng, shapes=self.shapes, colours=self.colours, grid=self.grid,
                            min_objects=self.min_objects, max_objects=self.max_objects,
                            banned=self.holdout if split.startswith("train") else frozenset(),
                            n_textures=N_TEXTURES, n_objects=1 if single else None)

    def plan(self, split: str, index: int, scene: Scene | None = None) -> Plan:
        """The caption plan of a record (a structured caption; ``captions.text`` renders it)."""
        scene = scene or self.scene(split, index)
        rng = random.Random(stable_hash("shapes-caption", self.seed, split, index))
        return describe(scene, rng, p_colour=self.p_colour, p_size=self.p_size)

    def render(self, scene: Scene):
        if self._renderer is None:
            self._renderer = Renderer(self.image_size, self.grid, noise=self.noise, n_textures=N_TEXTURES,
                                      seed=self.seed)
        return self._renderer.render(scene)

    def image_negatives(self, split: str, index: int, k: int) -> list[tuple[str, Scene, Plan]]:
        """Up to ``k`` (edit, edited scene, its true plan) for a record; the record's caption is false of each."""
        scene = self.scene(split, index)
        rng = random.Random(stable_hash("shapes-image-negatives", self.seed, split, index))
        return edited_scenes(scene, self.plan(split, index, scene), rng, k, shapes=self.shapes,
                             colours=self.colours, banned=self.holdout if split.startswith("train") else frozenset())

    def record(self, split: str, index: int) -> dict[str, Any]:
        scene = self.scene(split, index)
        extra: dict[str, Any] = {}
        if self.render_negatives and split == "train":
            negs = self.image_negatives(split, index, self.render_negatives)
            extra = {"neg_images": [self.render(s) for _, s, _ in negs],
                     "neg_captions": [text(p) for _, _, p in negs], "neg_edits": [kind for kind, _, _ in negs]}
        return {"image": self.render(scene), **self.fields(split, index, scene), **extra}

    def fields(self, split: str, index: int, scene: Scene | None = None) -> dict[str, Any]:
        """A record without its images (what a batch sampler reads; nothing is rendered)."""
        scene = scene or self.scene(split, index)
        objs = scene.objects
        one = objs[0] if len(objs) == 1 else None
        return {
            "caption": text(self.plan(split, index, scene)),
            "shapes": sorted({o.shape for o in objs}),
            "colours": sorted({o.colour for o in objs}),
            "shape": one.shape if one else None,
            "colour": one.colour if one else None,
            "size": one.size if one else None,
            "n_objects": len(objs),
            "novel": bool(scene.combos & self.holdout),
            "index": index,
        }

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            from negkit.errors import DataError

            raise DataError(f"shapes has no split {split!r}; splits: {', '.join(SPLITS)}")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderer"] = None  # rebuilt on first use in a worker
        return state


class ShapesRecords(Sequence):
    """Random access to one split; images are rendered when a record is read."""

    def __init__(self, world: ShapesWorld, split: str) -> None:
        self.world, self.split = world, split

    def __len__(self) -> int:
        return self.world.sizes[self.split]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, str):  # a column, as datasets.Dataset gives one: samplers read fields unrendered
            if index == "image" or index.startswith("neg_"):
                raise KeyError(f"{index!r}: image columns are rendered per record; read records instead")
            return [self.world.fields(self.split, i)[index] for i in range(len(self))]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return self.world.record(self.split, index)


def _vocabulary(key: str, given: list[str] | None, default: tuple[str, ...], known: Sequence[str]) -> tuple[str, ...]:
    if given is None:
        return default
    if len(given) < 2:
        raise ValueError(f"{key}: need at least 2 {key} (got {len(given)}); the evaluation replaces one with another")
    unknown = [v for v in given if v not in known]
    if unknown:
        raise ValueError(f"{key}: unknown {unknown[0]!r}; known {key}: {', '.join(known)}")
    if len(set(given)) != len(given):
        raise ValueError(f"{key}: listed twice: {[v for v in given if given.count(v) > 1][0]!r}")
    return tuple(given)


def _check_holdout(holdout: list[str], shapes: tuple[str, ...], colours: tuple[str, ...]) -> list[str]:
    for combo in holdout:
        parts = combo.split()
        if len(parts) != 2 or parts[0] not in colours or parts[1] not in shapes:
            raise ValueError(f"holdout: {combo!r} is not \"colour shape\" with a colour from {', '.join(colours)} "
                             f"and a shape from {', '.join(shapes)}")
    for shape in shapes:
        if all(f"{c} {shape}" in holdout for c in colours):
            raise ValueError(f"holdout: every colour of {shape!r} is held out; training would never show one")
    return list(holdout)
