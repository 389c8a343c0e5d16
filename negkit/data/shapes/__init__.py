"""The built-in procedural world: scene graphs, rendering, captions and provably false negatives."""

from negkit.data.shapes.captions import CATEGORIES, Mention, Plan, negative, possibly_true, text
from negkit.data.shapes.scene import Obj, Scene
from negkit.data.shapes.world import ShapesRecords, ShapesWorld

__all__ = ["CATEGORIES", "Mention", "Obj", "Plan", "Scene", "ShapesRecords", "ShapesWorld", "negative",
           "possibly_true", "text"]
