"""Scene graphs of the shapes world: objects on a grid, their attributes and the relations between them.

Objects sit in distinct cells of a ``grid x grid`` layout, so spatial relations are read off cell indices
and never depend on rendering jitter: "A left of B" *holds* when A's column is strictly smaller than B's,
and it is *possibly true* unless the opposite holds. Positive captions only state relations that hold;
negatives are only accepted when they are not even possibly true (see ``captions.possibly_true``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Vocabulary: every word here is concrete (it changes what an image shows).
SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond", "pentagon", "hexagon")
DEFAULT_SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 215, 40),
    "purple": (145, 60, 185),
    "orange": (250, 140, 25),
    "pink": (245, 125, 195),
    "cyan": (40, 210, 220),
    "brown": (125, 75, 35),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
DEFAULT_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "cyan")
SIZES = ("small", "large")
RELATIONS = ("left", "right", "above", "below")
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


@dataclass(frozen=True)
class Obj:
    """One object: what it is and which grid cell it occupies."""

    shape: str
    colour: str
    size: str
    row: int
    col: int

    @property
    def combo(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """The objects of one image, the relation the caption states (between objects 0 and 1), and the
    rendering choices (background tone, texture, per-object jitter) drawn with it."""

    objects: tuple[Obj, ...]
    relation: str | None  # how objects[0] relates to objects[1]; None for one object
    background: tuple[int, int, int]
    texture: int  # index into the renderer's texture bank
    jitter: tuple[tuple[float, float, float, float], ...]  # per object: dx, dy (in [-1, 1]), scale, angle
    tint: tuple[tuple[int, int, int], ...]  # per object colour jitter

    @property
    def combos(self) -> set[str]:
        return {o.combo for o in self.objects}


def holds(relation: str, a: Obj, b: Obj) -> bool:
    """The relation certainly holds between a and b (their cells are strictly ordered on its axis)."""
    if relation == "left":
        return a.col < b.col
    if relation == "right":
        return a.col > b.col
    if relation == "above":
        return a.row < b.row
    if relation == "below":
        return a.row > b.row
    raise ValueError(f"unknown relation {relation!r}")


def possibly_holds(relation: str, a: Obj, b: Obj) -> bool:
    """The relation might be read as true: it is false only when the opposite certainly holds."""
    return not holds(OPPOSITE[relation], a, b)


def sample_scene(rng: random.Random, *, shapes: tuple[str, ...], colours: tuple[str, ...], grid: int,
                 min_objects: int, max_objects: int, banned: frozenset[str], n_textures: int,
                 n_objects: int | None = None) -> Scene:
    """Draw one scene. ``banned`` colour-shape combinations ("red circle") never appear (held-out combos)."""
    n = n_objects if n_objects is not None else rng.randint(min_objects, max_objects)
    cells = rng.sample(range(grid * grid), n)
    objects = []
    for cell in cells:
        shape = rng.choice(shapes)
        colour = rng.choice(colours)
        while banned and f"{colour} {shape}" in banned:
            colour = rng.choice(colours)
        objects.append(Obj(shape, colour, rng.choice(SIZES), cell // grid, cell % grid))
    relation = None
    if n >= 2:
        relation = rng.choice([r for r in RELATIONS if holds(r, objects[0], objects[1])])
    jitter = tuple((rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.92, 1.0), rng.uniform(-12, 12))
                   for _ in objects)
    tint = tuple((rng.randint(-14, 14), rng.randint(-14, 14), rng.randint(-14, 14)) for _ in objects)
    grey = rng.randint(85, 165)
    background = (grey + rng.randint(-12, 12), grey + rng.randint(-12, 12), grey + rng.randint(-12, 12))
    return Scene(tuple(objects), relation, background, rng.randrange(n_textures), jitter, tint)
