"""What a run shows while it trains: a rich progress bar on a terminal, plain log lines otherwise, every logged
value in ``log.jsonl``, and TensorBoard scalars when asked for and installed. Only rank 0 gives feedback."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from negkit.atomic import atomic_write, disk_full, is_disk_full
from negkit.rundir import log_lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


class Feedback:
    """Progress bar or plain lines, ``log.jsonl`` and optional TensorBoard, for ``total`` optimiser steps."""

    def __init__(self, total: int, *, log_path: Path | None = None, enabled: bool = True,
                 tensorboard_dir: Path | None = None, console: Console | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.console = console or Console()
        self.log_path = log_path if enabled else None
        self._fh: Any = None
        self._progress: Progress | None = None
        self._task: Any = None
        self._writer: Any = None
        self._rate: float = float("nan")
        self._next_line = 0  # plain output: a line at most every 5% of the run (log.jsonl gets every record)
        if enabled and tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(tensorboard_dir))
            except ImportError:
                warnings.warn("[report] tensorboard = true, but tensorboard is not installed "
                              "(pip install tensorboard); logging to log.jsonl only", stacklevel=2)

    def start(self, step: int) -> None:
        """Open ``log.jsonl`` for appending, first dropping records past ``step`` (a resumed run logged them
        before it was killed, after its last checkpoint), and show the progress bar from ``step``."""
        if not self.enabled:
            return
        if self.log_path is not None:
            truncate_log(self.log_path, step)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.log_path, "a", encoding="utf-8")
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, completed=step, info="")

    def advance(self, step: int, epoch: int, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step,
                                  info=f"epoch {epoch} loss {_fmt(loss)} {_fmt(self._rate)} img/s")

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (step, epoch, lr, loss terms, diagnostics, samples/s) everywhere it goes."""
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        if self._fh is not None:
            line = json.dumps(record, allow_nan=True) + "\n"
            try:
                self._fh.write(line)
                self._fh.flush()
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full(self.log_path, len(line), what="the training log") from None
                raise
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "time"):
                    self._writer.add_scalar(key, value, record["step"])
        self._rate = record.get("samples_per_s", self._rate)
        if self._progress is not None:
            info = f"epoch {record.get('epoch')} loss {_fmt(record.get('loss'))} {_fmt(self._rate)} img/s"
            self._progress.update(self._task, completed=record["step"], info=info)
        elif record["step"] >= self._next_line or record["step"] >= self.total:
            self._next_line = record["step"] + max(1, self.total // 20)
            keys = ("epoch", "loss", "lr", "samples_per_s")
            parts = " ".join(f"{k}={_fmt(record[k])}" for k in keys if k in record)
            self.console.print(f"step {record['step']}/{self.total} {parts}", highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def truncate_log(path: Path, step: int) -> None:
    """Keep the records of ``log.jsonl`` up to ``step``, dropping torn or damaged lines. The trimmed log is
    written beside it and renamed over it: a kill during the trim leaves the old log whole."""
    if not path.is_file():
        return
    keep = [line for line, record in log_lines(path) if _step_of(record) <= step]
    with atomic_write(path, "wb", what="the training log") as fh:
        fh.write(b"".join(line.rstrip(b"\r") + b"\n" for line in keep))


def _step_of(record: dict[str, Any]) -> float:
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) else math.inf
