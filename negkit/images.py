"""Image loading shared by data sources, training and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from negkit.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

ImageLike = Union["Image.Image", str, Path]


def load_rgb_image(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a PIL image or a file path; a ``DataError`` for a missing or undecodable file."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        try:
            with Image.open(image) as im:
                return im.convert("RGB")
        except FileNotFoundError as exc:
            raise DataError(f"image file not found: {image}") from exc
        except OSError as exc:
            raise DataError(f"image file cannot be decoded: {image} ({exc})") from exc
    return image.convert("RGB") if image.mode != "RGB" else image
