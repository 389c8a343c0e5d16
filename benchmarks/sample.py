"""Reading one training sample (``TrainDataset.__getitem__``) with its augmentation seeded by ``seeded_transform``
against the same read seeded by ``torch.manual_seed`` inside ``fork_rng`` (how it was seeded before), on the
quickstart's shapes records and transform, alternately in the same process.

    .venv/bin/python benchmarks/sample.py                  # 2,000 samples, 5 rounds
    .venv/bin/python benchmarks/sample.py --samples 500 --rounds 3

Prints the median CPU time per sample of each, their ratio, and whether both gave the same images (they must).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from negkit.factory import build_components
from negkit.recipe import load_recipe
from negkit.train.batch import NegativeTable, TrainDataset, open_image, sample_seed
from negkit.train.model import create_model

ROOT = Path(__file__).resolve().parents[1]


def manual_seed_read(dataset: TrainDataset, epoch: int, index: int) -> torch.Tensor:
    image = open_image(dataset.records[index]["image"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(sample_seed(dataset.seed, epoch, index))
        return dataset.transform(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    recipe = load_recipe(ROOT / "recipes" / "quickstart.toml", [f"data.train_size={args.samples}"])
    clip = create_model(recipe.model, torch.device("cpu"), seed=0)
    records = build_components(recipe).data.records("train")
    dataset = TrainDataset(records, NegativeTable.empty(len(records)), clip.preprocess_train, seed=0)
    n = len(records)
    same = all(torch.equal(dataset[(1, i)]["image"], manual_seed_read(dataset, 1, i)) for i in range(n))

    times: dict[str, list[float]] = {"torch.manual_seed": [], "seeded_transform": []}
    for _ in range(args.rounds):
        start = time.process_time()
        for i in range(n):
            manual_seed_read(dataset, 0, i)
        times["torch.manual_seed"].append((time.process_time() - start) / n)
        start = time.process_time()
        for i in range(n):
            dataset[(0, i)]
        times["seeded_transform"].append((time.process_time() - start) / n)
    before, after = (statistics.median(v) for v in times.values())
    print(f"samples: {n}, rounds: {args.rounds}, threads: {torch.get_num_threads()}")
    for name, values in times.items():
        print(f"{name:>18}: {statistics.median(values) * 1e3:.3f} ms a sample (CPU time; rounds "
              f"{', '.join(f'{v * 1e3:.3f}' for v in values)})")
    print(f"ratio torch.manual_seed / seeded_transform: {before / after:.2f}x; same images: {same}")


if __name__ == "__main__":
    main()
