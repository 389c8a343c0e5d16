"""Scale benchmarks (issue 16), each a ratio measured in one run with the candidate and baseline alternated:

    .venv/bin/python benchmarks/scale.py accum   [--device cpu] [--model negkit-tiny] [--micro 32] [--n 4]
    .venv/bin/python benchmarks/scale.py sharded [--batch 512] [--k 1]
    .venv/bin/python benchmarks/scale.py lora    [--device cpu] [--model negkit-tiny] [--batch 64]
    .venv/bin/python benchmarks/scale.py ray     [--sugarcrepe DIR] [--miner concrete-plant] [--limit 0]
    (every command takes --rounds R and --json FILE)

- accum: one optimiser step over N micro-batches of B with exact accumulation (and with plain summation)
  against one step on a batch of N*B, same model, data and optimiser; median seconds per step.
- sharded: logits elements each process allocates (image->text rows and, sharded, its text->image rows)
  with the global loss vs the sharded loss, on 2 and 3 gloo processes, from the tensors ``build_logits``
  returns; plus the loss forward+backward time per process.
- lora: training step with LoRA adapters (r 16 on c_fc, c_proj, out_proj) vs full fine-tuning.
- ray: captions/s of ``negkit mine --engine ray`` with 1 and 2 workers vs the local stage (``datasets.map``)
  with num_proc 1 and 2, on SugarCrepe's captions; each run into a fresh cache, per-word caches emptied,
  wall time including the miners' warm-up (Ray's own start-up is not counted: it happens once per job).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DEFAULT_SUGARCREPE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sugarcrepe"


def _batches(clip: Any, sizes: list[int], k: int = 1, seed: int = 0) -> list[Any]:
    import torch

    from negkit.train.batch import Collator
    from negkit.train.bench import captions

    size = int(getattr(clip.model.visual, "image_size", (224, 224))[0]) if hasattr(clip.model, "visual") else 224
    gen = torch.Generator().manual_seed(seed)
    texts = captions(sum(sizes) * 2, seed)
    collate = Collator(clip.tokenize, k)
    out, at = [], 0
    for n in sizes:
        items = [{"index": at + i, "caption": texts[at + i], "image": torch.randn(3, size, size, generator=gen),
                  "negatives": tuple((texts[at + i + sum(sizes)], 3.0, 0) for _ in range(k))} for i in range(n)]
        out.append(collate(items))
        at += n
    return out


def _setup(model: str, device: str, lora: bool = False) -> tuple[Any, Any, Any]:
    import torch

    from negkit.plugins import get_component
    from negkit.recipe import LoraSettings, ModelConfig
    from negkit.train.loop import WeightedLoss
    from negkit.train.model import TwoTower, create_model
    from negkit.train.optim import build_optimizer

    clip = create_model(ModelConfig(name=model), device, seed=0)
    if lora:
        from negkit.train.lora import apply_lora

        apply_lora(clip.model, LoraSettings())
    cfg = argparse.Namespace(lr=1e-5, weight_decay=0.1, beta1=0.9, beta2=0.98, eps=1e-6)
    losses = [WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0)]
    del torch
    return clip, TwoTower(clip.model).train(), (build_optimizer(clip.model, cfg), losses)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_accum(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from negkit.train.accumulate import exact_accumulation
    from negkit.train.loop import combine_losses, forward_loss, loss_inputs, resolve_precision

    precision = resolve_precision(args.precision, torch.device(args.device))
    clip, net, (opt, losses) = _setup(args.model, args.device)
    micro = [b.to(args.device) for b in _batches(clip, [args.micro] * args.n)]
    big = _batches(clip, [args.micro * args.n])[0].to(args.device)

    def step_big() -> None:
        total, _ = forward_loss(net, big, losses, precision)
        total.backward()

    def step_exact() -> None:
        exact_accumulation(micro, lambda b: loss_inputs(net, b, precision), lambda x: combine_losses(losses, x),
                           lambda total, terms: total.backward())

    def step_sum() -> None:
        for b in micro:
            (forward_loss(net, b, losses, precision)[0] / len(micro)).backward()

    times = _rounds({"big": step_big, "exact": step_exact, "sum": step_sum}, opt, args)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"model": args.model, "device": args.device, "precision": args.precision, "micro_batch": args.micro,
            "n": args.n, "rounds": args.rounds, "step_s": med, "per_round": times,
            "exact_over_big": med["exact"] / med["big"], "sum_over_big": med["sum"] / med["big"],
            "exact_over_big_per_round": [e / b for e, b in zip(times["exact"], times["big"])]}


def _rounds(steps: dict[str, Any], opt: Any, args: argparse.Namespace) -> dict[str, list[float]]:
    """Each step once per round, in turn (so a busy machine slows them alike), after one untimed warm-up."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(args.rounds + 1):
        for name, fn in steps.items():
            _sync(args.device)
            t0 = time.perf_counter()
            fn()
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync(args.device)
            if r:
                times[name].append(time.perf_counter() - t0)
    return times


def bench_lora(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from negkit.train.loop import forward_loss, resolve_precision

    precision = resolve_precision(args.precision, torch.device(args.device))
    full_clip, full_net, (full_opt, losses) = _setup(args.model, args.device)
    try:
        lora_clip, lora_net, (lora_opt, _) = _setup(args.model, args.device, lora=True)
    except Exception as exc:  # noqa: BLE001 - peft missing on a device image: say so and skip
        return {"skipped": f"LoRA unavailable: {exc}"}
    batch = _batches(full_clip, [args.batch])[0].to(args.device)

    class Both:  # one optimiser interface for _rounds
        def step(self) -> None:
            full_opt.step() if self.which == "full" else lora_opt.step()

        def zero_grad(self, set_to_none: bool = True) -> None:
            full_opt.zero_grad(set_to_none=set_to_none)
            lora_opt.zero_grad(set_to_none=set_to_none)

    both = Both()

    def run(net: Any, which: str) -> Any:
        def step() -> None:
            both.which = which
            forward_loss(net, batch, losses, precision)[0].backward()
        return step

    times = _rounds({"full": run(full_net, "full"), "lora": run(lora_net, "lora")}, both, args)
    med = {k: statistics.median(v) for k, v in times.items()}
    trainable = {name: sum(p.numel() for p in c.model.parameters() if p.requires_grad)
                 for name, c in (("full", full_clip), ("lora", lora_clip))}
    return {"model": args.model, "device": args.device, "batch": args.batch, "rounds": args.rounds, "step_s": med,
            "lora_over_full": med["lora"] / med["full"], "trainable_params": trainable, "per_round": times}


def _sharded_worker(rank: int, world: int, batch: int, k: int, init: str, out: str) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from negkit.distributed import gather_with_grad, gather_with_local_grad
    from negkit.losses.base import LossInputs
    from negkit.losses.infonce import InfoNCE
    from negkit.losses.logits import build_logits

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        local, d = batch // world, 512
        gen = torch.Generator().manual_seed(rank)
        feats = [torch.randn(*shape, generator=gen) for shape in ((local, d), (local, d), (local, k, d))]
        result = {}
        for mode, gather in (("global", gather_with_local_grad), ("sharded", gather_with_grad)):
            leaves = [f.clone().requires_grad_() for f in feats]
            image, text, neg = (gather(F.normalize(t, dim=-1)) for t in leaves)
            mask = torch.ones(batch, k, dtype=torch.bool)
            x = LossInputs(image, text, neg, mask, torch.full((batch, k), 3.0), torch.tensor(100.0),
                           rows=slice(rank * local, (rank + 1) * local) if mode == "sharded" else None)
            lg = build_logits(x)
            elements = lg.i2t.numel() + (lg.t2i_rows.numel() if lg.t2i_rows is not None else 0)
            del lg
            seconds = []
            for _ in range(4):
                dist.barrier()
                t0 = time.perf_counter()
                leaves = [f.clone().requires_grad_() for f in feats]
                image, text, neg = (gather(F.normalize(t, dim=-1)) for t in leaves)
                x = LossInputs(image, text, neg, mask, torch.full((batch, k), 3.0), torch.tensor(100.0), rows=x.rows)
                InfoNCE()(x)["contrastive_loss"].backward()
                seconds.append(time.perf_counter() - t0)
            result[mode] = {"logits_elements": elements, "loss_s": statistics.median(seconds[1:])}
        torch.save(result, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def bench_sharded(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.multiprocessing as mp

    out: dict[str, Any] = {"batch": args.batch, "k": args.k, "dim": 512}
    for world in (2, 3):
        batch = args.batch - args.batch % world
        with tempfile.TemporaryDirectory() as tmp:
            mp.spawn(_sharded_worker, args=(world, batch, args.k, f"{tmp}/init", f"{tmp}/out"), nprocs=world,
                     join=True)
            ranks = [torch.load(f"{tmp}/out.{r}") for r in range(world)]
        glob = max(r["global"]["logits_elements"] for r in ranks)
        shard = max(r["sharded"]["logits_elements"] for r in ranks)
        out[f"world_{world}"] = {
            "batch": batch, "global_logits_per_rank": glob, "sharded_logits_per_rank": shard,
            "ratio": shard / glob,
            "global_loss_s": statistics.median(r["global"]["loss_s"] for r in ranks),
            "sharded_loss_s": statistics.median(r["sharded"]["loss_s"] for r in ranks)}
    return out


def bench_ray(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import ray
    except ImportError:
        return {"skipped": 'ray is not installed: pip install "negkit[ray]"'}
    from negkit.data.caption_files import read_captions
    from negkit.factory import mining_plan
    from negkit.lexicon import clear_word_caches
    from negkit.mining.bench import time_stage
    from negkit.mining.ray_engine import mine_ray
    from negkit.recipe import recipe_from_dict

    texts = read_captions(Path(args.sugarcrepe))[:args.limit or None]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)

    def ray_run(workers: int) -> float:
        clear_word_caches()
        with tempfile.TemporaryDirectory() as cache:
            recipe = recipe_from_dict({"data": {"source": "shapes"}, "mining": {"k": 1, "cache_dir": cache},
                                       "miners": [{"name": args.miner}]}, check_components=False)
            t0 = time.perf_counter()
            mine_ray(mining_plan(recipe), texts, workers=workers, progress=False, shard_size=args.shard_size)
            return time.perf_counter() - t0

    runs: dict[str, list[float]] = {"local_1": [], "local_2": [], "ray_1": [], "ray_2": []}
    try:
        for _ in range(args.rounds):
            runs["local_1"].append(time_stage(args.miner, texts, num_proc=1)["wall_s"])
            runs["ray_1"].append(ray_run(1))
            runs["local_2"].append(time_stage(args.miner, texts, num_proc=2)["wall_s"])
            runs["ray_2"].append(ray_run(2))
    finally:
        ray.shutdown()
    rate = {k: len(texts) / statistics.median(v) for k, v in runs.items()}
    return {"captions": len(texts), "miner": args.miner, "shard_size": args.shard_size, "rounds": args.rounds,
            "captions_per_s": rate, "wall_s": runs, "cpus": os.cpu_count()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["accum", "sharded", "lora", "ray"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="negkit-tiny")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--micro", type=int, default=32)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sugarcrepe", default=str(DEFAULT_SUGARCREPE))
    parser.add_argument("--miner", default="concrete-plant")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.batch is None:
        args.batch = {"sharded": 512}.get(args.what, 64)
    result = {"accum": bench_accum, "sharded": bench_sharded, "lora": bench_lora, "ray": bench_ray}[args.what](args)
    result = {"benchmark": args.what, "command": "python benchmarks/scale.py " + " ".join(argv), **result}
    text = json.dumps(result, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
