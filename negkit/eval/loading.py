"""Images for evaluators, decoded and preprocessed by a torch DataLoader (in worker processes when asked).

The main process only runs the model: while it encodes one batch, ``workers`` processes open, decode, crop
and preprocess the next ones. Batches come back in the order of the items whatever the number of workers, so
results never depend on it. A worker that cannot read an image does not crash with a traceback from another
process: it hands back the ``DataError`` message, and the main process raises the same one-line error it
would have raised loading in-process (the first unreadable item in order).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from negkit.errors import DataError
from negkit.images import load_rgb_image


def default_workers() -> int:
    """min(4, usable CPUs - 1): one core stays with the process running the model; 0 on a single core."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def weights_version(module: torch.nn.Module) -> Hashable:
    """A token that changes whenever ``module``'s weights change: each parameter's and buffer's identity and
    in-place version counter (an optimizer step, ``load_state_dict`` and ``copy_`` all bump the counter)."""
    return tuple((id(t), t._version) for t in (*module.parameters(), *module.buffers()))


@dataclass(frozen=True)
class _Failed:
    message: str


class _Images(torch.utils.data.Dataset):
    def __init__(self, items: Sequence[Any], load: Callable[[Any], Any] | None,
                 preprocess: Callable[[Any], torch.Tensor] | None) -> None:
        self.items, self.load, self.preprocess = items, load, preprocess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        try:
            item = self.items[i]
            image = load_rgb_image(self.load(item) if self.load is not None else item)
        except DataError as exc:
            return _Failed(str(exc))
        return self.preprocess(image) if self.preprocess is not None else image


def _collate(batch: list[Any]) -> Any:
    for x in batch:
        if isinstance(x, _Failed):
            return x
    # default_collate stacks a worker's tensors straight into shared memory (no copy on the way back)
    return torch.utils.data.default_collate(batch) if batch and isinstance(batch[0], torch.Tensor) else list(batch)


def image_batches(items: Sequence[Any], *, load: Callable[[Any], Any] | None = None,
                  preprocess: Callable[[Any], torch.Tensor] | None = None, batch_size: int = 256,
                  workers: int = 0, pin_memory: bool = False) -> Iterator[Any]:
    """Batches of ``items`` in order: each item (a PIL image, an image path, or a key given to ``load``) opened
    as RGB and passed through ``preprocess``; a batch is a stacked tensor with ``preprocess``, else a list of
    PIL images. ``workers`` processes do the loading (0: this process; also when there is a single batch,
    where a worker could only add its start-up time). Workers are forked, so ``load`` may be a closure;
    where fork is not the platform's way (not Linux) loading stays in this process.
    """
    n_batches = -(-len(items) // batch_size)
    workers = workers if n_batches > 1 and sys.platform.startswith("linux") else 0
    loader = torch.utils.data.DataLoader(
        _Images(items, load, preprocess), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=_collate, pin_memory=pin_memory and preprocess is not None,
        multiprocessing_context="fork" if workers else None, prefetch_factor=2 if workers else None)
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except RuntimeError as exc:  # a worker killed (out of memory, a signal): torch's message, one line
            if "DataLoader worker" not in str(exc):
                raise
            raise DataError(f"an image-loading worker died ({str(exc).splitlines()[0]}); evaluate with fewer "
                            f"workers (negkit eval --workers 0 loads images in the main process)") from None
        if isinstance(batch, _Failed):
            raise DataError(batch.message)
        yield batch
