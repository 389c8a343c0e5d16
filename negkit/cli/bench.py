"""negkit bench step, negkit bench mine"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from negkit.cli.app import app, console

bench_app = typer.Typer(help="Benchmarks that print a ratio against a baseline run in the same process (a plain "
                        "open_clip step for training, spaCy tagging alone for mining).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("step")
def step(
    model: str = typer.Option("negkit-tiny", "--model", help="open_clip model name (random init)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    negatives: int = typer.Option(1, "--negatives", min=0, help="Mined negatives per caption (K)."),
    steps: int = typer.Option(10, "--steps", min=1, help="Timed steps of each loop (median reported)."),
    warmup: int = typer.Option(2, "--warmup", min=0),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | amp | amp_bf16"),
    device: str = typer.Option("auto", "--device"),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the negkit step (the plain loop stays "
                                  "eager, as the GPU target defines)."),
    compile_plain: bool = typer.Option(False, "--compile-plain", help="Also torch.compile the plain loop."),
    loss: str = typer.Option("infonce", "--loss", help="The negkit loss (registry name)."),
    candidates: int = typer.Option(0, "--candidates", min=0, help="Also time hardest-of-K: K candidates per "
                                   "caption, the --negatives hardest kept each step (ratio in the same run)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers as JSON to this file."),
) -> None:
    """Time one negkit training step against a plain open_clip loop on the same model, batch and negatives."""
    from rich.table import Table

    from negkit.train.bench import bench_step

    res = bench_step(model, batch_size=batch_size, negatives=negatives, steps=steps, warmup=warmup,
                     precision=precision, device=device, compile=compile_, loss=loss,
                     compile_plain=compile_plain, candidates=candidates)
    table = Table(title=f"training step: {model}, batch {batch_size}, {negatives} negative(s), {res.precision}, "
                        f"{res.device}{' ' + res.gpu if res.gpu else ''}")
    for col in ("loop", "text tokens", "step (ms)", "images/s", "TFLOP/step", "MFU"):
        table.add_column(col, justify="right" if col != "loop" else "left")

    def opt(v: float | None, f: str) -> str:
        return "-" if v is None else format(v, f)

    table.add_row("plain open_clip", str(res.text_tokens_plain), f"{res.plain_step_s * 1e3:.1f}",
                  f"{res.plain_img_s:.1f}", opt(res.plain_tflop_per_step, ".4f"), opt(res.plain_mfu, ".1%"))
    table.add_row("negkit", str(res.text_tokens_negkit), f"{res.negkit_step_s * 1e3:.1f}",
                  f"{res.negkit_img_s:.1f}", opt(res.negkit_tflop_per_step, ".4f"), opt(res.negkit_mfu, ".1%"))
    if res.hardest_step_s is not None:
        table.add_row(f"negkit, hardest {negatives} of {candidates}", "-", f"{res.hardest_step_s * 1e3:.1f}",
                      f"{batch_size / res.hardest_step_s:.1f}", "-", "-")
    console.print(table)
    console.print(f"ratio negkit / plain: {res.ratio:.2f}x", highlight=False)
    if res.hardest_extra is not None:
        console.print(f"hardest-of-{candidates} extra step time over negkit with {negatives} mined: "
                      f"{res.hardest_extra:+.1%}", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(res.as_dict(), indent=2) + "\n", encoding="utf-8")


@bench_app.command("mine")
def mine(
    captions: Path = typer.Argument(..., help="Captions to mine: a file (.json SugarCrepe-style, .jsonl with "
                                    "'caption', or one caption per line) or a folder of *.json files."),
    miners: list[str] = typer.Option(None, "--miner", help="Miner to time (repeatable; default: every one)."),
    k: int = typer.Option(1, "-k", min=1, help="Negatives per caption."),
    batch_size: int = typer.Option(256, "--batch-size", min=1),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed repeats; the median ratio is reported."),
    warm_caches: bool = typer.Option(False, "--warm-caches", help="Keep per-word caches between repeats (the "
                                     "steady state of a long run); by default every repeat starts cold."),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N captions (0: all)."),
    scaling: bool = typer.Option(False, "--scaling", help="Also time the mining stage (datasets.map) with "
                                 "num_proc 1 and 2 (wall time: needs idle cores)."),
    scaling_miner: str = typer.Option("concrete-plant", "--scaling-miner"),
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers as JSON to this file."),
) -> None:
    """Time each miner against spaCy tagging alone (the floor) on the same captions, in turn batch by batch."""
    import os
    import platform

    from rich.table import Table

    from negkit.data.caption_files import read_captions
    from negkit.errors import DataError
    from negkit.mining.bench import TARGET_RATE, TARGET_RATIO, bench_miners, time_stage
    from negkit.plugins import get_host

    texts = read_captions(captions)[:limit or None]
    if not texts:
        raise DataError(f"{captions}: no captions in it")
    names = miners or get_host().registries["miners"].names()
    console.print(f"{len(texts):,} captions from {captions}; k={k}, batch {batch_size}; python "
                  f"{platform.python_version()}, {os.cpu_count()} CPUs visible", highlight=False)
    timings = bench_miners(names, texts, k=k, batch_size=batch_size, repeats=repeats, warm_caches=warm_caches)
    table = Table(title=f"mining vs spaCy tagging alone, {repeats} repeat(s), per-word caches "
                        f"{'kept' if warm_caches else 'emptied before each'} (median-ratio repeat shown)")
    table.add_column("miner", no_wrap=True)
    for col in ("CPU s", "cap/CPU-s", "floor s", "ratio", "coverage"):
        table.add_column(col, justify="right")
    table.add_column("ratio per repeat")
    for t in timings:
        if not t.skipped:
            table.add_row(t.name, f"{t.cpu_s:.2f}", f"{t.rate:,.0f}", f"{t.floor_cpu_s:.2f}", f"{t.ratio:.2f}",
                          f"{t.coverage:.1%}", " ".join(f"{r:.3f}" for r in t.ratios))
    console.print(table)
    for t in timings:
        if t.skipped:
            console.print(f"{t.name}: skipped: {t.skipped}", highlight=False)
    results: dict = {"captions": len(texts), "k": k, "repeats": repeats, "warm_caches": warm_caches,
                     "miners": {t.name: t.as_dict() for t in timings}, "scaling": {}}
    cp = next((t for t in timings if t.name == "concrete-plant" and not t.skipped), None)
    if cp:
        console.print(f"concrete-plant: {cp.rate:,.0f} captions/s per core (target >= {TARGET_RATE:.0f}: "
                      f"{'met' if cp.rate >= TARGET_RATE else 'MISSED'}); {cp.ratio:.2f}x the tagging floor's "
                      f"time (target <= {TARGET_RATIO}: {'met' if cp.ratio <= TARGET_RATIO else 'MISSED'})",
                      highlight=False)
    if scaling:
        console.print(f"mining stage (datasets.map, fresh cache) with {scaling_miner}:", highlight=False)
        for num_proc in (1, 2):
            t = results["scaling"][num_proc] = time_stage(scaling_miner, texts, k=k, batch_size=batch_size,
                                                          num_proc=num_proc)
            speedup = results["scaling"][1]["wall_s"] / t["wall_s"]
            console.print(f"  num_proc={num_proc}: wall {t['wall_s']:.2f} s ({len(texts) / t['wall_s']:,.0f} "
                          f"captions/s, speed-up {speedup:.2f}x); CPU: parent {t['parent_cpu_s']:.2f} s + workers "
                          f"{t['workers_cpu_s']:.2f} s", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
