"""Drawing scenes with Pillow: flat shapes on a grey, textured background, with mild jitter and noise."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from negkit.data.shapes.scene import COLOURS, Scene

# Object diameter as a fraction of its grid cell.
SIZE_FRACTION = {"small": 0.5, "large": 0.85}


def _regular(n: int, start: float) -> list[tuple[float, float]]:
    return [(math.cos(start + 2 * math.pi * i / n), math.sin(start + 2 * math.pi * i / n)) for i in range(n)]


def _star() -> list[tuple[float, float]]:
    pts = []
    for i in range(10):
        r = 1.0 if i % 2 == 0 else 0.45
        a = -math.pi / 2 + math.pi * i / 5
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


_W = 0.34  # half-width of a cross arm
# Unit outlines (radius 1, centred at 0); the circle is drawn as an ellipse.
OUTLINES: dict[str, list[tuple[float, float]]] = {
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": _regular(3, -math.pi / 2),
    "star": _star(),
    "cross": [(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W), (_W, 1), (-_W, 1), (-_W, _W),
              (-1, _W), (-1, -_W), (-_W, -_W)],
    "diamond": [(0, -1), (0.8, 0), (0, 1), (-0.8, 0)],
    "pentagon": _regular(5, -math.pi / 2),
    "hexagon": _regular(6, 0.0),
}


class Renderer:
    """Renders scenes at ``image_size`` pixels on a ``grid x grid`` layout.

    The texture bank (a soft gradient plus pixel noise, shared by all images of one seed) is computed once,
    so per image the cost is a few polygon fills and one array addition.
    """

    def __init__(self, image_size: int, grid: int, *, noise: float = 6.0, n_textures: int = 32, seed: int = 0):
        self.size = image_size
        self.grid = grid
        self.cell = image_size / grid
        rng = np.random.default_rng(seed)
        ramp = np.linspace(-1.0, 1.0, image_size, dtype=np.float32)
        textures = []
        for _ in range(n_textures):
            angle = rng.uniform(0, 2 * math.pi)
            strength = rng.uniform(4, 14)
            gradient = strength * (math.cos(angle) * ramp[None, :] + math.sin(angle) * ramp[:, None])
            pixel = rng.normal(0, noise, size=(image_size, image_size, 3)) if noise > 0 else 0
            textures.append(np.rint(gradient[:, :, None] + pixel).astype(np.int16))
        self.textures = textures

    def render(self, scene: Scene) -> Image.Image:
        img = Image.new("RGB", (self.size, self.size), scene.background)
        draw = ImageDraw.Draw(img)
        cell = self.cell
        for obj, (jx, jy, scale, angle), tint in zip(scene.objects, scene.jitter, scene.tint):
            radius = 0.5 * SIZE_FRACTION[obj.size] * cell * scale
            slack = 0.5 * cell - radius - 0.5
            cx = (obj.col + 0.5) * cell + jx * max(slack, 0.0)
            cy = (obj.row + 0.5) * cell + jy * max(slack, 0.0)
            base = COLOURS[obj.colour]
            fill = (min(255, max(0, base[0] + tint[0])), min(255, max(0, base[1] + tint[1])),
                    min(255, max(0, base[2] + tint[2])))
            if obj.shape == "circle":
                draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
                continue
            c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            draw.polygon([(cx + radius * (x * c - y * s), cy + radius * (x * s + y * c))
                          for x, y in OUTLINES[obj.shape]], fill=fill)
        arr = np.asarray(img, dtype=np.int16) + self.textures[scene.texture % len(self.textures)]
        np.clip(arr, 0, 255, out=arr)
        return Image.fromarray(arr.astype(np.uint8), "RGB")
