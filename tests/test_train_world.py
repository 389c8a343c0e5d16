"""A tiny in-test world for the training-engine tests: coloured-square images with captions, a colour-swap
miner, and helpers to run the pipeline on them in-process or in a subprocess.

Run as a script (``python tests/test_train_world.py RECIPE_JSON OUT [--resume]``) it runs the pipeline with
the world registered, which is how the kill-and-resume and torchrun tests start real processes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negkit.data.base import DataSource
from negkit.eval.base import EvalContext, Evaluator
from negkit.mining.base import Edit, Miner, Negative

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40),
           "white": (245, 245, 245), "black": (15, 15, 15)}
NAMES = list(COLOURS)


def scene(index: int) -> tuple[str, str]:
    fg = NAMES[index % len(NAMES)]
    bg = NAMES[(index // len(NAMES) + index + 1) % len(NAMES)]
    if bg == fg:
        bg = NAMES[(NAMES.index(fg) + 1) % len(NAMES)]
    return fg, bg


class ColourWorld(DataSource):
    """``n`` images of a square of one colour on a background of another, 32 px.

    Parameters:
        n: number of records.
        size: image side in pixels.
        image_dir: write PNG files here and give records as paths (default: PIL images in memory).
        bad: record indices whose image file is missing (even) or corrupt (odd); needs ``image_dir``.
    """

    name = "test-colours"

    def __init__(self, n: int = 48, size: int = 32, image_dir: str | None = None, bad: list[int] | None = None) -> None:
        self.n, self.size, self.image_dir, self.bad = n, size, image_dir, list(bad or [])

    def _image(self, index: int) -> Any:
        from PIL import Image, ImageDraw

        fg, bg = scene(index)
        im = Image.new("RGB", (self.size, self.size), COLOURS[bg])
        lo = 4 + index % 5
        ImageDraw.Draw(im).rectangle([lo, lo, lo + self.size // 2, lo + self.size // 2], fill=COLOURS[fg])
        return im

    def records(self, split: str = "train") -> list[dict[str, Any]]:
        out = []
        folder = Path(self.image_dir) if self.image_dir else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            fg, bg = scene(i)
            caption = f"a {fg} square on a {bg} background"
            image: Any = self._image(i)
            if folder is not None:
                path = folder / f"{i:04d}.png"
                if i in self.bad and i % 2 == 0:
                    path.unlink(missing_ok=True)
                elif i in self.bad:
                    path.write_bytes(b"not a png at all")
                else:
                    image.save(path)
                image = str(path)
            out.append({"image": image, "caption": caption})
        return out


class ColourSwap(Miner):
    """Swap the two colour words of a caption (kind ``swap-colour``), then replace the square's colour
    (kind ``replace-colour``, concreteness unknown).

    Parameters:
        concreteness: the concreteness given to swap negatives.
    """

    name = "test-colour-swap"

    def __init__(self, concreteness: float = 4.5) -> None:
        self.concreteness = concreteness

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        out = []
        for caption in captions:
            words = caption.split()
            found = [i for i, w in enumerate(words) if w in COLOURS]
            negs: list[Negative] = []
            if len(found) == 2 and k > 0:
                a, b = found
                swapped = list(words)
                swapped[a], swapped[b] = words[b], words[a]
                negs.append(Negative(" ".join(swapped), "swap-colour", self.concreteness,
                                     (Edit(a, words[a], words[b]), Edit(b, words[b], words[a]))))
            if found and len(negs) < k:
                a = found[0]
                other = NAMES[(NAMES.index(words[a]) + 2 + seed) % len(NAMES)]
                replaced = list(words)
                replaced[a] = other
                negs.append(Negative(" ".join(replaced), "replace-colour", None, (Edit(a, words[a], other),)))
            out.append(negs[:k])
        return out


class ColourRetrieval(Evaluator):
    """Image->text top-1 accuracy over the run's records, and how often the image prefers its caption to the
    colour-swapped one.

    Parameters:
        limit: records scored.
    """

    name = "test-retrieval"

    def __init__(self, limit: int = 24) -> None:
        self.limit = limit

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        import torch

        records = ctx.data.records("train")[: self.limit]
        captions = [r["caption"] for r in records]
        swapped = [negs[0].text for negs in ColourSwap().mine(captions, k=1, seed=0)]
        img = ctx.encode_images([r["image"] for r in records])
        txt = ctx.encode_texts(captions)
        neg = ctx.encode_texts(swapped)
        sims = img @ txt.T
        top1 = (sims.argmax(dim=1) == torch.arange(len(records))).float().mean()
        pair = ((img * txt).sum(-1) > (img * neg).sum(-1)).float().mean()
        return {"i2t/r1": float(top1), "swap/acc": float(pair)}


def recipe_dict(**sections: Any) -> dict[str, Any]:
    """A small CPU recipe on the colour world; keyword arguments replace or extend whole sections."""
    raw: dict[str, Any] = {
        "run": {"name": "tiny", "seed": 0, "device": "cpu"},
        "data": {"source": "test-colours", "n": 48},
        "model": {"name": "negkit-tiny", "pretrained": "", "precision": "fp32"},
        "mining": {"k": 1},
        "miners": [{"name": "test-colour-swap"}],
        "losses": [{"name": "infonce"}],
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "warmup_steps": 2, "checkpoint_every": 0,
                  "log_every": 1},
        "eval": [{"name": "test-retrieval"}],
        "report": {"plots": False},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(name), dict):
            raw[name] = {**raw[name], **value}
        else:
            raw[name] = value
    return raw


def registered_world():
    from negkit.testing import registered_components

    return registered_components(datasets=[ColourWorld], miners=[ColourSwap], evaluators=[ColourRetrieval])


def make_recipe(raw: dict[str, Any]):
    from negkit.recipe import recipe_from_dict

    return recipe_from_dict(raw, path=None)


def run_world(raw: dict[str, Any], out: Path, **kwargs: Any):
    """Run the pipeline on ``raw`` with the world registered; returns the pipeline's ``RunResult``."""
    from rich.console import Console

    from negkit.pipeline import run

    with registered_world():
        return run(make_recipe(raw), out=out, console=Console(width=120, file=sys.stdout), **kwargs)


def main(argv: list[str]) -> None:
    from negkit.errors import NegkitError

    raw = json.loads(Path(argv[0]).read_text())
    try:
        run_world(raw, Path(argv[1]), resume="--resume" in argv, force="--force" in argv)
    except NegkitError as exc:
        print(f"negkit: error: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))


# -- tests of the world itself --------------------------------------------------------------------------------


def test_world_captions_match_images_and_negatives_differ():
    world = ColourWorld(n=12)
    records = world.records()
    assert len(records) == 12 and len({r["caption"] for r in records}) > 6
    fg, bg = scene(3)
    assert records[3]["image"].getpixel((0, 0)) == COLOURS[bg]
    negs = ColourSwap().mine([r["caption"] for r in records], k=2, seed=0)
    for rec, row in zip(records, negs):
        assert [n.kind for n in row] == ["swap-colour", "replace-colour"]
        assert all(n.text != rec["caption"] for n in row)


if __name__ == "__main__":
    main(sys.argv[1:])
