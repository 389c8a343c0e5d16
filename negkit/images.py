"""Image loading shared by data sources, training and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from negkit.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

ImageLike = Union["Image.Image", str, Path]


def load_rgb_image(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a PIL image or a file path; a ``DataError`` for a missing, undecodable or hostile
    file (a decompression bomb declaring more pixels than PIL's limit, a decoder crashing on crafted bytes)."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        try:
            with Image.open(image) as im:
                return im.convert("RGB")
        except FileNotFoundError as exc:
            raise DataError(f"image file not found: {image}") from exc
        except Image.DecompressionBombError as exc:
            raise DataError(f"image file refused as a decompression bomb: {image} ({exc})") from exc
        except MemoryError as exc:
            raise DataError(f"image file too large to decode: {image}") from exc
        except Exception as exc:  # noqa: BLE001 - PIL's decoders raise many types on crafted input
            raise DataError(f"image file cannot be decoded: {image} ({type(exc).__name__}: {exc})") from exc
    try:
        return image.convert("RGB") if image.mode != "RGB" else image
    except Exception as exc:  # noqa: BLE001 - a lazily decoded in-memory image
        raise DataError(f"image cannot be decoded ({type(exc).__name__}: {exc})") from exc
