"""negkit's batched SugarCrepe evaluation against the official one-item-at-a-time loop, same model, same files.

    .venv/bin/python benchmarks/eval.py                          # CPU, negkit-tiny, SugarCrepe-sized (7,511 items)
    .venv/bin/python benchmarks/eval.py --scale 0.1 --rounds 2   # a quicker look
    .venv/bin/python benchmarks/eval.py --workers 1 --image-size 640x480   # image-loading workers vs none

Prints both times (median of alternating rounds), the ratio official / negkit, and whether both loops gave
the same accuracies (they must: the timing is only fair if the work is the same). With ``--workers N`` it
times negkit's evaluation with images loaded and preprocessed by N DataLoader workers against loading in the
main process (workers = 0), alternately in the same process, instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from negkit.eval.bench import bench_sugarcrepe, bench_workers, write_sugarcrepe_fixture
from negkit.recipe import ModelConfig
from negkit.train.evaluate import eval_context
from negkit.train.loop import resolve_precision
from negkit.train.model import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="negkit-tiny")
    parser.add_argument("--scale", type=float, default=1.0, help="items per subset as a fraction of SugarCrepe's")
    parser.add_argument("--images", type=int, default=1560, help="distinct images (SugarCrepe: 1,560)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default; on a shared "
                        "machine more threads than free cores make both loops spin)")
    parser.add_argument("--image-size", default="64x48", help="WIDTHxHEIGHT of the stand-in images (COCO: ~640x480)")
    parser.add_argument("--workers", type=int, default=0, help="compare N image-loading workers with none "
                        "(instead of the official loop)")
    parser.add_argument("--data", type=Path, default=None, help="reuse/keep the fixture here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    clip = create_model(ModelConfig(name=args.model, precision="fp32"), device, seed=0)
    clip.model.eval()
    autocast = resolve_precision("fp32", device).autocast
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        if not (root / "sugarcrepe" / "swap_obj.json").is_file():
            width, height = (int(v) for v in args.image_size.lower().split("x"))
            write_sugarcrepe_fixture(root, n_images=args.images, scale=args.scale, size=(width, height))
        if args.workers:
            wres = bench_workers(lambda n: eval_context(clip, device, autocast, batch_size=args.batch_size, workers=n),
                                 root, args.workers, rounds=args.rounds)
            print(f"{args.model}, images {args.image_size}, CPU ({os.cpu_count()} cores, {torch.get_num_threads()} "
                  f"torch threads), {args.rounds} alternating rounds")
            for label, times in (("workers = 0", wres.in_process_s), (f"workers = {args.workers}", wres.workers_s)):
                print(f"{label:13s} {min(times):.2f}-{max(times):.2f} s (median {statistics.median(times):.2f} s)")
            print(f"ratio in-process / workers: {wres.ratio:.2f}x; same accuracies: {wres.same_accuracies}")
            if args.json:
                args.json.write_text(json.dumps(wres.as_dict(), indent=2) + "\n")
            return
        res = bench_sugarcrepe(clip.model, clip.preprocess_val, clip.tokenizer,
                               lambda: eval_context(clip, device, autocast, batch_size=args.batch_size, workers=0),
                               root, rounds=args.rounds, device=device)
    print(f"{args.model}, {res.items} items over {res.images} images, CPU ({platform.processor() or 'cpu'}, "
          f"{torch.get_num_threads()} torch threads), {args.rounds} alternating rounds")
    print(f"official one-item loop: {min(res.official_s):.2f}-{max(res.official_s):.2f} s "
          f"(median {statistics.median(res.official_s):.2f} s)")
    print(f"negkit batched:         {min(res.negkit_s):.2f}-{max(res.negkit_s):.2f} s "
          f"(median {statistics.median(res.negkit_s):.2f} s)")
    print(f"ratio official / negkit: {res.ratio:.1f}x; same accuracies: {res.same_accuracies}")
    if args.json:
        args.json.write_text(json.dumps(res.as_dict(), indent=2) + "\n")


if __name__ == "__main__":
    main()
