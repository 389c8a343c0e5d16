"""Shapes world throughput on one core, against a plain Pillow baseline measured in the same run.

    .venv/bin/python benchmarks/shapes.py                    # 64 px, 5,000 records
    .venv/bin/python benchmarks/shapes.py --image-size 128 --n 2000

Baseline: ``Image.new`` of a blank image plus one filled ellipse (the least any Pillow renderer does).
Measured: full records of the train split (scene graph, caption, rendering with texture and noise), and
captions alone (``captions()``, what the mining stage reads). ``ratio`` is the shapes rate over the
baseline rate. Target (issue 4): >= 2,000 images/s on one core at 64 px.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 2000.0


def rate(fn, n: int, repeats: int) -> float:
    """Best of ``repeats`` runs of ``fn(n)``, in items per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from PIL import Image, ImageDraw

    from negkit.data.shapes import ShapesWorld

    size = args.image_size
    world = ShapesWorld(image_size=size, train_size=args.n)
    records = world.records("train")
    records[0]  # builds the texture bank outside the timing

    def baseline(n: int) -> None:
        for _ in range(n):
            img = Image.new("RGB", (size, size), (120, 120, 120))
            ImageDraw.Draw(img).ellipse((size // 4, size // 4, size // 2, size // 2), fill=(200, 40, 40))

    def shapes(n: int) -> None:
        for i in range(n):
            records[i]

    base = rate(baseline, args.n, args.repeats)
    full = rate(shapes, args.n, args.repeats)
    caps = rate(lambda n: world.captions("train"), args.n, args.repeats)
    print(f"python {platform.python_version()}, {platform.machine()}, one process, {size} px, "
          f"{args.n} records, best of {args.repeats}")
    print(f"{'what':<36}{'items/s':>12}{'ratio':>10}")
    print(f"{'baseline: blank image + 1 ellipse':<36}{base:>12,.0f}{1.0:>10.2f}")
    print(f"{'shapes record (scene+caption+image)':<36}{full:>12,.0f}{full / base:>10.2f}")
    print(f"{'shapes captions only':<36}{caps:>12,.0f}{caps / base:>10.2f}")
    verdict = "meets" if full >= TARGET else "MISSES"
    print(f"target >= {TARGET:,.0f} images/s at 64 px: {verdict} ({full:,.0f})")


if __name__ == "__main__":
    main()
