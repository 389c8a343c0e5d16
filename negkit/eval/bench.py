"""Speed of negkit's batched evaluation against the official one-item-at-a-time loop, on the same model.

The official SugarCrepe script (RAIVNLab/sugar-crepe ``main_eval.py``) opens, preprocesses and encodes the
image of every item, and tokenises and encodes its caption and negative, one item at a time. negkit's
``sugarcrepe`` evaluator encodes each distinct image and text once, in batches. Both are timed on the same
model and the same files, in alternating rounds so that load from other processes hits both alike, and both
must give the same accuracies (the check that the comparison is fair).
"""

from __future__ import annotations

import json
import random
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from negkit.data.sources.common import DataWarning
from negkit.eval.tasks.sugarcrepe import OFFICIAL, SUBSETS

NOUNS = ("dog", "cat", "man", "woman", "horse", "cup", "table", "bus", "tree", "ball", "kite", "boat")
ADJS = ("red", "blue", "green", "small", "large", "wooden", "old", "white")


def write_sugarcrepe_fixture(root: Path, n_images: int = 1560, scale: float = 1.0, seed: int = 0,
                             size: tuple[int, int] = (64, 48)) -> Path:
    """SugarCrepe-sized stand-in files (the official item count per subset times ``scale``, over ``n_images``
    synthetic COCO-named images of ``size`` (width, height); COCO's are about 640 x 480) under
    ``root/sugarcrepe`` and ``root/val2017``; returns ``root``."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    images = root / "val2017"
    images.mkdir(parents=True, exist_ok=True)
    names = [f"{i:012d}.jpg" for i in range(n_images)]
    for i, name in enumerate(names):
        arr = np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(images / name, quality=90)
    data = root / "sugarcrepe"
    data.mkdir(parents=True, exist_ok=True)
    for subset in SUBSETS:
        items = {}
        for k in range(max(1, round(OFFICIAL[subset][0] * scale))):
            a, b = rng.sample(NOUNS, 2)
            x, y = rng.sample(ADJS, 2)
            caption = f"a {x} {a} next to a {y} {b}"
            negative = {"add": f"a {x} {a} next to a {y} {b} and a {rng.choice(NOUNS)}",
                        "swap": f"a {y} {a} next to a {x} {b}", "replace": f"a {x} {a} next to a {y} {a}"}
            items[str(k)] = {"filename": rng.choice(names), "caption": caption,
                             "negative_caption": negative[subset.split("_")[0]]}
        (data / f"{subset}.json").write_text(json.dumps(items))
    return root


def official_loop(model: Any, preprocess: Callable, tokenizer: Callable, data_dir: Path, image_dir: Path,
                  device: Any) -> dict[str, float]:
    """SugarCrepe's official evaluation, item by item: per item one image and two texts through the model."""
    import torch
    from PIL import Image

    accs = {}
    with torch.no_grad():
        for subset in SUBSETS:
            data = json.loads((data_dir / f"{subset}.json").read_text())
            right = 0
            for item in data.values():
                image = preprocess(Image.open(image_dir / item["filename"]).convert("RGB")).unsqueeze(0).to(device)
                texts = tokenizer([item["caption"], item["negative_caption"]]).to(device)
                img = torch.nn.functional.normalize(model.encode_image(image), dim=-1)
                txt = torch.nn.functional.normalize(model.encode_text(texts), dim=-1)
                sims = (img @ txt.T)[0]
                right += int(sims[0] > sims[1])
            accs[subset] = right / len(data)
    return accs


@dataclass
class EvalBench:
    items: int
    images: int
    official_s: list[float] = field(default_factory=list)
    negkit_s: list[float] = field(default_factory=list)
    same_accuracies: bool = True

    @property
    def ratio(self) -> float:
        """How many times faster negkit is (median official time / median negkit time)."""
        return statistics.median(self.official_s) / statistics.median(self.negkit_s)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def bench_sugarcrepe(model: Any, preprocess: Callable, tokenizer: Callable, make_ctx: Callable[[], Any],
                     root: Path, *, rounds: int = 3, device: Any = "cpu") -> EvalBench:
    """Time the official loop and negkit's ``sugarcrepe`` evaluator (with a fresh context from ``make_ctx``
    each round, so nothing is cached between rounds) alternately, ``rounds`` times each."""
    from negkit.eval.tasks.sugarcrepe import SugarCrepe

    data_dir, image_dir = root / "sugarcrepe", root / "val2017"
    evaluator = SugarCrepe(data_dir=str(data_dir), image_dir=str(image_dir))
    n_items = sum(len(json.loads((data_dir / f"{s}.json").read_text())) for s in SUBSETS)
    n_images = len({i["filename"] for s in SUBSETS for i in json.loads((data_dir / f"{s}.json").read_text()).values()})
    result = EvalBench(n_items, n_images)
    for _ in range(rounds):
        start = time.perf_counter()
        official = official_loop(model, preprocess, tokenizer, data_dir, image_dir, device)
        result.official_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        with warnings.catch_warnings():  # the stand-in files are not the official ones, on purpose
            warnings.simplefilter("ignore", DataWarning)
            ours = evaluator.evaluate(make_ctx())
        result.negkit_s.append(time.perf_counter() - start)
        result.same_accuracies &= all(abs(ours[f"{s.replace('_', '-')}/acc"] - acc) < 1e-9
                                      for s, acc in official.items())
    return result


@dataclass
class WorkersBench:
    workers: int
    in_process_s: list[float] = field(default_factory=list)
    workers_s: list[float] = field(default_factory=list)
    same_accuracies: bool = True

    @property
    def ratio(self) -> float:
        """How many times faster loading in workers is (median in-process time / median time with workers)."""
        return statistics.median(self.in_process_s) / statistics.median(self.workers_s)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def bench_workers(make_ctx: Callable[[int], Any], root: Path, workers: int, *, rounds: int = 3) -> WorkersBench:
    """Time negkit's ``sugarcrepe`` evaluator with images loaded in this process (``make_ctx(0)``) and in
    ``workers`` DataLoader workers (``make_ctx(workers)``), alternately, in the same process; a fresh context
    each time, so nothing is cached between rounds. Both must give the same accuracies."""
    from negkit.eval.tasks.sugarcrepe import SugarCrepe

    evaluator = SugarCrepe(data_dir=str(root / "sugarcrepe"), image_dir=str(root / "val2017"))
    result = WorkersBench(workers)
    for _ in range(rounds):
        outs = []
        for n, times in ((0, result.in_process_s), (workers, result.workers_s)):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                outs.append(evaluator.evaluate(make_ctx(n)))
            times.append(time.perf_counter() - start)
        result.same_accuracies &= all(abs(outs[0][k] - outs[1][k]) < 1e-9 for k in outs[0] if k.endswith("/acc"))
    return result
