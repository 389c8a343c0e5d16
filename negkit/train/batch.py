"""Batches with negatives: the records, their mined negatives (looked up, never mined here), the image
transform seeded per sample, and the collate that tokenises and trims padding to the batch's longest text."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from negkit.errors import DataError
from negkit.train.model import trim_padding

NAN = float("nan")


@dataclass(frozen=True)
class NegativeTable:
    """Per record: up to ``k`` (text, concreteness or NaN, kind id), from the mining stage's table."""

    rows: list[tuple[tuple[str, float, int], ...]]
    kind_names: tuple[str, ...]
    k: int

    @classmethod
    def from_mined(cls, negatives: Sequence[Sequence[Mapping[str, Any]]], k: int) -> NegativeTable:
        cut = [row[:k] for row in negatives]  # the one place a row is cut to k
        kinds = sorted({str(n["kind"]) for row in cut for n in row})
        kind_id = {name: i for i, name in enumerate(kinds)}
        rows = [tuple((str(n["text"]), NAN if n.get("concreteness") is None else float(n["concreteness"]),
                       kind_id[str(n["kind"])]) for n in row) for row in cut]
        return cls(rows, tuple(kinds), k)

    @classmethod
    def empty(cls, n: int) -> NegativeTable:
        return cls([()] * n, (), 0)

    def __len__(self) -> int:
        return len(self.rows)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation: independent of workers, batch and resume position."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0] % (2**63))


class BadImage(Exception):
    pass


def open_image(image: Any) -> Any:
    """An RGB PIL image from a record's image (PIL image or path), or ``BadImage`` saying what is wrong."""
    from negkit.errors import DataError
    from negkit.images import load_rgb_image

    if not isinstance(image, (str, Path)) and not hasattr(image, "convert"):
        raise BadImage(f"record has no image (got {type(image).__name__})")
    try:
        return load_rgb_image(image)
    except (DataError, OSError, ValueError) as exc:
        raise BadImage(str(exc)) from exc


def seeded_transform(transform: Callable[[Any], Tensor], image: Any, seed: int) -> Tensor:
    """``transform(image)`` with torch's CPU generator seeded to ``seed``, its state restored afterwards.

    The same random numbers as ``fork_rng(devices=[])`` around ``torch.manual_seed(seed)``, at a fiftieth of
    the cost: ``torch.manual_seed`` also queues a seed for every accelerator, recording a stack trace each
    time (about 90 us a sample on CPU), and accelerators play no part in an image transform.
    """
    generator = torch.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        return transform(image)
    finally:
        generator.set_state(state)


class TrainDataset(Dataset):
    """Random access by ``(epoch, index)``: the transformed image, the caption and its negatives.

    The image transform runs under a generator seeded from (seed, epoch, index), so augmentation does not
    depend on the worker that loads a sample or on where a resumed run starts. A missing or corrupt image
    gives an item with ``image=None`` and the reason; the collate drops it and the loop counts it.
    """

    def __init__(self, records: Any, negatives: NegativeTable, transform: Callable[[Any], Tensor], seed: int,
                 image_negatives: int = 0) -> None:
        if len(negatives) != len(records):
            raise ValueError(f"{len(negatives)} rows of negatives for {len(records)} records")
        self.records = records
        self.negatives = negatives
        self.transform = transform
        self.seed = seed
        self.image_negatives = image_negatives  # M: up to M images of the record's "neg_images" field

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        try:
            record = self.records[index]
        except DataError as exc:  # a record whose image fails as it is read (a webdataset member)
            return {"index": index, "caption": "", "negatives": self.negatives.rows[index], "image": None,
                    "error": str(exc)}
        item: dict[str, Any] = {"index": index, "caption": str(record["caption"]),
                                "negatives": self.negatives.rows[index]}
        try:
            image = open_image(record["image"])
            item["image"] = seeded_transform(self.transform, image, sample_seed(self.seed, epoch, index))
        except BadImage as exc:
            item["image"], item["error"] = None, str(exc)
        if self.image_negatives:
            item["neg_images"] = self._image_negatives(record, epoch, index)
        return item

    def _image_negatives(self, record: Any, epoch: int, index: int) -> list[Tensor]:
        """The record's image negatives, transformed; an unreadable one is left out (its slot masked)."""
        out = []
        for j, image in enumerate(list(record.get("neg_images") or [])[:self.image_negatives]):
            try:
                pil = open_image(image)
            except BadImage:
                continue
            seed = sample_seed(self.seed, epoch, (index + 1) * 1_000_003 + j)
            out.append(seeded_transform(self.transform, pil, seed))
        return out


class GlobalBatchSampler(Sampler[list[tuple[int, int]]]):
    """Each epoch a seeded permutation cut into global batches of ``global_batch``; this rank takes its slice.

    The union of the ranks' slices is exactly the single-process batch, in rank order, so a run on N
    processes sees the same global batches as on one. Incomplete last batches are dropped.
    """

    def __init__(self, n: int, global_batch: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if global_batch % world:
            raise ValueError(f"batch size {global_batch} is not divisible by {world} processes")
        self.n, self.global_batch, self.seed, self.rank, self.world = n, global_batch, seed, rank, world
        self.local = global_batch // world
        self.epoch = 0
        self.start = 0
        self.stop: int | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.global_batch

    def set_epoch(self, epoch: int, start_batch: int = 0, stop_batch: int | None = None) -> None:
        """Batches ``start_batch`` up to ``stop_batch`` (default: all) of ``epoch``."""
        self.epoch, self.start, self.stop = epoch, start_batch, stop_batch

    def _stop(self) -> int:
        return self.batches_per_epoch if self.stop is None else min(self.stop, self.batches_per_epoch)

    def __len__(self) -> int:
        return max(0, self._stop() - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=gen).tolist()
        for b in range(self.start, self._stop()):
            lo = b * self.global_batch + self.rank * self.local
            yield [(self.epoch, i) for i in perm[lo:lo + self.local]]


@dataclass
class Batch:
    """One (local) batch. ``tokens`` holds the positives first, then every real negative, trimmed to the
    longest of them; ``neg_slot[j]`` is where negative j goes in the flattened ``[B * K]`` grid."""

    images: Tensor  # [B, 3, H, W]
    tokens: Tensor  # [B + M, L]
    neg_slot: Tensor  # [M] long
    neg_mask: Tensor  # [B, K] bool
    neg_concreteness: Tensor  # [B, K] float, NaN where unknown or masked
    neg_kind_ids: Tensor  # [B, K] long, -1 where masked
    indices: Tensor  # [B] record index of each row
    bad: list[tuple[int, str]] = field(default_factory=list)
    neg_images: Tensor | None = None  # [N, 3, H, W] the real image negatives (None: the batch has none)
    neg_image_slot: Tensor | None = None  # [N] long: where image negative n goes in the [B * M] grid
    neg_image_mask: Tensor | None = None  # [B, M] bool
    keep: int = 0  # hardest-of-K: keep this many of the K candidate negatives per caption (0 = all)

    @property
    def size(self) -> int:
        return int(self.images.shape[0])

    @property
    def k(self) -> int:
        return int(self.neg_mask.shape[1])

    @property
    def m(self) -> int:
        return 0 if self.neg_image_mask is None else int(self.neg_image_mask.shape[1])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, Tensor):
                moved[name] = value.to(device, non_blocking=non_blocking)
        return Batch(**moved)

    def pin_memory(self) -> Batch:
        """Called by the DataLoader (``pin_memory=True``) so that the copy to the GPU can be asynchronous."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, Tensor):
                moved[name] = value.pin_memory()
        return Batch(**moved)

    def truncate(self, n: int) -> Batch:
        """The first ``n`` rows (DDP: every rank must hold the same number after bad images are dropped)."""
        if n >= self.size:
            return self
        keep = self.neg_slot < n * self.k
        tokens = torch.cat([self.tokens[:n], self.tokens[self.size:][keep]])
        images = {}
        if self.neg_image_mask is not None and self.neg_images is not None and self.neg_image_slot is not None:
            kept = self.neg_image_slot < n * self.m
            images = {"neg_images": self.neg_images[kept], "neg_image_slot": self.neg_image_slot[kept],
                      "neg_image_mask": self.neg_image_mask[:n]}
        return Batch(self.images[:n], tokens, self.neg_slot[keep], self.neg_mask[:n], self.neg_concreteness[:n],
                     self.neg_kind_ids[:n], self.indices[:n], self.bad, keep=self.keep, **images)


class Collator:
    """Stack images, tokenise captions and negatives with the model's tokenizer in one call, trim padding."""

    def __init__(self, tokenize: Callable[[list[str]], Tensor], k: int, pad_multiple: int = 1, *,
                 image_negatives: int = 0, keep: int = 0) -> None:
        self.tokenize = tokenize
        self.k = k  # negatives per caption in the batch (the K candidates under hardest-of-K)
        self.pad_multiple = pad_multiple
        self.m = image_negatives
        self.keep = keep

    def __call__(self, items: list[dict[str, Any]]) -> Batch:
        good = [it for it in items if it["image"] is not None]
        bad = [(it["index"], it["error"]) for it in items if it["image"] is None]
        b, k = len(good), self.k
        mask = torch.zeros(b, k, dtype=torch.bool)
        conc = torch.full((b, k), NAN)
        kinds = torch.full((b, k), -1, dtype=torch.long)
        texts = [it["caption"] for it in good]
        slots = []
        for row, it in enumerate(good):
            for j, (text, c, kind) in enumerate(it["negatives"]):  # NegativeTable rows hold at most k
                texts.append(text)
                slots.append(row * k + j)
                mask[row, j] = True
                conc[row, j] = c
                kinds[row, j] = kind
        tokens = trim_padding(self.tokenize(texts), multiple=self.pad_multiple) if texts else \
            torch.zeros(0, 1, dtype=torch.long)
        images = torch.stack([it["image"] for it in good]) if good else torch.zeros(0)
        extra: dict[str, Any] = {}
        if self.m:
            neg_mask = torch.zeros(b, self.m, dtype=torch.bool)
            stacked, neg_slots = [], []
            for row, it in enumerate(good):
                for j, image in enumerate(it.get("neg_images", [])[:self.m]):
                    stacked.append(image)
                    neg_slots.append(row * self.m + j)
                    neg_mask[row, j] = True
            extra = {"neg_images": torch.stack(stacked) if stacked else images.new_zeros(0, *images.shape[1:]),
                     "neg_image_slot": torch.tensor(neg_slots, dtype=torch.long), "neg_image_mask": neg_mask}
        return Batch(images, tokens, torch.tensor(slots, dtype=torch.long), mask, conc, kinds,
                     torch.tensor([it["index"] for it in good], dtype=torch.long), bad, keep=self.keep, **extra)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: numpy and ``random`` seeded from the worker's torch seed, which the
    loader derives from its seeded generator and the worker id."""
    base = torch.initial_seed() % 2**32
    np.random.seed(base)
    random.seed(base)


def scatter_negatives(neg_features: Tensor, neg_slot: Tensor, b: int, k: int) -> Tensor:
    """``[M, D]`` features of the real negatives -> ``[B, K, D]`` with zeros where the mask is False."""
    d = neg_features.shape[-1]
    out = neg_features.new_zeros(b * k, d)
    if neg_slot.numel():
        out = out.index_copy(0, neg_slot, neg_features)
    return out.view(b, k, d)


def image_negative_features(features: Tensor, batch: Batch) -> Tensor | None:
    """``[N, D]`` features of the batch's real image negatives -> ``[B, M, D]`` (None without image negatives)."""
    if not batch.m or batch.neg_image_slot is None:
        return None
    return scatter_negatives(features, batch.neg_image_slot, batch.size, batch.m)


def steps_per_epoch(n_records: int, global_batch: int, accum_steps: int) -> int:
    return (n_records // global_batch) // accum_steps


def total_steps(n_records: int, cfg: Any) -> int:
    per_epoch = steps_per_epoch(n_records, cfg.batch_size, cfg.accum_steps)
    total = per_epoch * cfg.epochs
    return min(total, cfg.max_steps) if cfg.max_steps > 0 else total
