"""negkit bench step, negkit bench mine"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console
from negkit.rundir import write_json

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
    from negkit.train.bench import bench_step, step_table

    res = bench_step(model, batch_size=batch_size, negatives=negatives, steps=steps, warmup=warmup,
                     precision=precision, device=device, compile=compile_, loss=loss,
                     compile_plain=compile_plain, candidates=candidates)
    console.print(step_table(res))
    console.print(f"ratio negkit / plain: {res.ratio:.2f}x", highlight=False)
    if res.hardest_extra is not None:
        console.print(f"hardest-of-{candidates} extra step time over negkit with {negatives} mined: "
                      f"{res.hardest_extra:+.1%}", highlight=False)
    if json_out is not None:
        write_json(json_out, res.as_dict())


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

    from negkit.data.caption_files import read_captions
    from negkit.mining.bench import bench_mine

    texts = read_captions(captions)[:limit or None]
    console.print(f"{len(texts):,} captions from {captions}; k={k}, batch {batch_size}; python "
                  f"{platform.python_version()}, {os.cpu_count()} CPUs visible", highlight=False)
    res = bench_mine(texts, miners, k=k, batch_size=batch_size, repeats=repeats, warm_caches=warm_caches,
                     scaling_miner=scaling_miner if scaling else None, source=str(captions))
    console.print(res.table())
    for line in res.notes():
        console.print(line, highlight=False)
    if json_out is not None:
        write_json(json_out, res.as_dict())
