"""negkit bench step"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from negkit.cli.app import app, console

bench_app = typer.Typer(help="Benchmarks that print a ratio against a plain open_clip baseline run in the same "
                        "process.", no_args_is_help=True)
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
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers as JSON to this file."),
) -> None:
    """Time one negkit training step against a plain open_clip loop on the same model, batch and negatives."""
    from rich.table import Table

    from negkit.train.bench import bench_step

    res = bench_step(model, batch_size=batch_size, negatives=negatives, steps=steps, warmup=warmup,
                     precision=precision, device=device, compile=compile_, loss=loss,
                     compile_plain=compile_plain)
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
    console.print(table)
    console.print(f"ratio negkit / plain: {res.ratio:.2f}x", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(res.as_dict(), indent=2) + "\n", encoding="utf-8")
