"""Batch samplers: which records share a (global) batch.

A sampler returns, per epoch, the epoch's global batches as lists of *groups* of record indices. A group
is kept together: under DDP the framework gives rank ``r`` the records ``r * local .. (r + 1) * local`` of
each global batch, and a sampler lays its groups out so that none straddles those boundaries
(``SampledBatches`` checks it). Every rank computes the same batches from the seed, so the union of the
ranks' slices is exactly the single-process batch.

Built-ins: ``random`` (a seeded permutation, today's behaviour), ``neighbours`` (NegCLIP: each record
brings ``k`` of its nearest-neighbour images, with their captions, into its batch) and ``precomputed``
(groups read from a file).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from negkit.errors import DataError, NegkitError
from negkit.seeding import stable_hash
from negkit.train.batch import GlobalBatchSampler


class SamplerError(NegkitError):
    """A sampler cannot make the batches a recipe asks for (too few records, bad neighbour lists)."""


Batches = list[list[list[int]]]  # batches -> groups -> record indices


class BatchSampler:
    """Base class of batch samplers (registered through ``register_samplers``).

    Subclasses set ``name``, take their recipe keys as keyword arguments of ``__init__`` and implement
    ``batches``. ``setup`` runs once before training with the training records; check the data there and
    raise a ``NegkitError`` that says what is wrong (not in the middle of an epoch).
    """

    name: ClassVar[str]

    def setup(self, records: Sequence[Mapping[str, Any]], *, batch_size: int, world: int, seed: int) -> None:
        """Remember what ``batches`` needs; ``batch_size`` is global and divisible by ``world``."""
        if len(records) < batch_size:
            raise SamplerError(f"sampler {self.name!r} cannot fill a batch: batch_size {batch_size} but only "
                               f"{len(records)} training records; lower train.batch_size")
        self.n, self.batch_size, self.world, self.seed = len(records), batch_size, world, seed
        self.local = batch_size // world

    @property
    def batches_per_epoch(self) -> int:
        """Every sampler gives ``len(records) // batch_size`` batches per epoch (as ``random`` does)."""
        return self.n // self.batch_size

    def batches(self, epoch: int) -> Batches:  # pragma: no cover - abstract
        """The ``batches_per_epoch`` global batches of ``epoch``, each ``batch_size`` records in groups;
        deterministic in (seed, epoch); no group crosses a multiple of ``batch_size // world``."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Counts for the run report (skipped neighbours, ...)."""
        return {}


class RandomSampler(BatchSampler):
    """A seeded permutation of the records each epoch, cut into batches (every record its own group).
    Takes no parameters; this is what a recipe without a ``[sampler]`` table gets."""

    name = "random"

    def __init__(self) -> None:
        pass

    def batches(self, epoch: int) -> Batches:
        perm = epoch_permutation(self.n, self.seed, epoch)
        bs = self.batch_size
        return [[[i] for i in perm[b * bs:(b + 1) * bs]] for b in range(self.batches_per_epoch)]


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen).tolist()


def pack(groups: Iterator[list[int]], batch_size: int, local: int, n_batches: int, who: str) -> Batches:
    """Fill ``n_batches`` batches from ``groups`` of one size ``g`` that divides ``local``."""
    out: Batches = []
    current: list[list[int]] = []
    filled = 0
    for group in groups:
        current.append(group)
        filled += len(group)
        if filled == batch_size:
            out.append(current)
            current, filled = [], 0
            if len(out) == n_batches:
                return out
    raise SamplerError(f"sampler {who!r} cannot fill batch {len(out) + 1} of {n_batches} (batch_size {batch_size})")


def _column(records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """One field of every record; a ``datasets.Dataset`` gives its column without decoding images."""
    try:
        column = records[key]  # type: ignore[index]
        if len(column) == len(records):
            return list(column)
    except (KeyError, TypeError, IndexError, ValueError):
        pass
    try:
        return [r[key] for r in records]
    except KeyError:
        raise SamplerError(f"the training records have no {key!r} field (neighbour lists)") from None


def _image_exists(image: Any) -> bool:
    if isinstance(image, (str, Path)):
        return Path(image).is_file()
    return image is not None


class NeighboursSampler(BatchSampler):
    """NegCLIP's batch composition: each record comes with ``k`` of its hard-negative (nearest-neighbour)
    images, with their own captions and text negatives, as ordinary rows of the same batch. Each image's
    softmax then holds its neighbours' captions, and each caption's holds the neighbours' images.

    Each epoch, anchors follow a seeded permutation; each anchor draws ``k`` neighbours from its list with
    a random stream seeded by (seed, epoch, anchor). A record already in the batch is not drawn twice: when
    the list has no unused neighbour left, the slot is filled with the next record of the permutation and
    counted (``filled_randomly`` in the run report). Groups of ``1 + k`` records never straddle two
    processes (``batch_size / processes`` must be a multiple of ``1 + k``).

    Neighbour lists come from a record field (``field``, default ``neg_image``: the ``negclip-tsv``
    source's row indices), from a file of image embeddings (``embeddings``: a ``.npy`` ``[N, D]`` array
    in record order), or from image embeddings negkit computes once with a reference model and caches
    (``reference_model``, e.g. ``"ViT-B-32-quickgelu"`` with ``reference_pretrained = "openai"``, as NegCLIP
    used CLIP). With embeddings, each record's ``candidates`` nearest by cosine similarity become its list.

    Parameters:
        k: neighbours per anchor (NegCLIP: 1).
        field: the record field holding each record's neighbour indices.
        embeddings: a ``.npy`` file of image embeddings, one row per record; overrides ``field``.
        candidates: neighbours kept per record when they come from ``embeddings``.
        reference_model: an open_clip model name whose image embeddings give the neighbours (computed
            once, on the GPU when there is one, and cached; overrides ``field``).
        reference_pretrained: the reference model's weights (an open_clip tag or a checkpoint path).
        cache_dir: where reference embeddings are cached (default ``<datasets cache>/negkit/neighbours``).
        allow_missing: skip (and count) neighbour indices out of range or pointing at missing images
            instead of stopping before training.
    """

    name = "neighbours"

    def __init__(self, k: int = 1, field: str = "neg_image", embeddings: str | None = None, candidates: int = 3,
                 reference_model: str | None = None, reference_pretrained: str = "", cache_dir: str | None = None,
                 allow_missing: bool = False) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        self.k, self.field, self.embeddings, self.candidates = k, field, embeddings, candidates
        self.reference_model, self.reference_pretrained = reference_model, reference_pretrained
        self.cache_dir = cache_dir
        self.allow_missing = allow_missing
        self.skipped = 0
        self.filled_randomly = 0

    def setup(self, records: Sequence[Mapping[str, Any]], *, batch_size: int, world: int, seed: int) -> None:
        super().setup(records, batch_size=batch_size, world=world, seed=seed)
        g = 1 + self.k
        if self.local % g:
            raise SamplerError(f"sampler 'neighbours': groups of 1 + k = {g} records do not divide the per-process "
                               f"batch {self.local} (batch_size {batch_size} on {world} process(es))")
        has_image: dict[int, bool] = {}
        raw = self._neighbour_lists(records, has_image)
        self.lists: list[list[int]] = []
        problems: list[str] = []
        for i, row in enumerate(raw):
            kept = []
            for j in row:
                if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= int(j) < self.n:
                    problems.append(f"record {i}: neighbour index {j!r} out of range 0..{self.n - 1}")
                    continue
                j = int(j)
                if self.field_lists and j not in has_image:  # listed neighbours: paths to check
                    has_image[j] = _image_exists(records[j].get("image"))
                if not has_image.get(j, True):
                    problems.append(f"record {i}: neighbour {j} has no image ({records[j].get('image')!r})")
                    continue
                if j != i:
                    kept.append(j)
            self.lists.append(kept)
        if problems and not self.allow_missing:
            raise SamplerError(f"sampler 'neighbours': {len(problems)} bad neighbour reference(s), first: "
                               f"{problems[0]}; fix the lists or set [sampler] allow_missing = true to skip them")
        self.skipped = len(problems)

    @property
    def field_lists(self) -> bool:
        return self.embeddings is None and self.reference_model is None

    def _neighbour_lists(self, records: Sequence[Mapping[str, Any]], has_image: dict[int, bool]) -> list[list[Any]]:
        if self.reference_model is not None:
            from negkit.train.reference import reference_embeddings

            def bad(i: int, reason: str) -> None:
                has_image[i] = False

            captions = [str(c) for c in _column(records, "caption")]
            emb = reference_embeddings(records, captions, self.reference_model, self.reference_pretrained,
                                       cache_dir=self.cache_dir, on_bad=bad)
            return nearest_neighbours(emb, self.candidates)
        if self.field_lists:
            column = _column(records, self.field)
            return [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] for v in column]
        path = Path(self.embeddings).expanduser()
        if not path.is_file():
            raise DataError(f"sampler 'neighbours': embeddings file {str(path)!r} not found")
        emb = np.load(path).astype(np.float32)
        if emb.ndim != 2 or emb.shape[0] != self.n:
            raise DataError(f"sampler 'neighbours': {str(path)!r} holds an array of shape {emb.shape}; expected "
                            f"[{self.n}, D] (one row per training record)")
        return nearest_neighbours(emb, self.candidates)

    def batches(self, epoch: int) -> Batches:
        perm = epoch_permutation(self.n, self.seed, epoch)
        bs, g = self.batch_size, 1 + self.k
        out: Batches = []
        cursor = 0
        for _ in range(self.batches_per_epoch):
            used: set[int] = set()
            groups: list[list[int]] = []
            while len(groups) * g < bs:
                cursor = self._next_unused(perm, cursor, used)
                anchor = perm[cursor]
                used.add(anchor)
                rng = random.Random(stable_hash("neighbours", self.seed, epoch, anchor))
                options = [j for j in self.lists[anchor] if j not in used]
                rng.shuffle(options)
                group = [anchor, *options[:self.k]]
                used.update(group)
                while len(group) < g:  # not enough unused neighbours: the next records of the permutation
                    cursor = self._next_unused(perm, cursor, used)
                    group.append(perm[cursor])
                    used.add(perm[cursor])
                    self.filled_randomly += 1
                groups.append(group)
            out.append(groups)
        return out

    def _next_unused(self, perm: list[int], cursor: int, used: set[int]) -> int:
        for step in range(len(perm)):
            i = (cursor + step) % len(perm)
            if perm[i] not in used:
                return i
        raise SamplerError(f"sampler 'neighbours' cannot fill a batch of {self.batch_size} from {self.n} records")

    def stats(self) -> dict[str, Any]:
        return {"neighbours_skipped": self.skipped, "filled_randomly": self.filled_randomly}


def nearest_neighbours(emb: np.ndarray, k: int, chunk: int = 4096) -> list[list[int]]:
    """Each row's ``k`` most cosine-similar other rows, most similar first."""
    norm = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    k = min(k, len(norm) - 1)
    out: list[list[int]] = []
    for lo in range(0, len(norm), chunk):
        sim = norm[lo:lo + chunk] @ norm.T
        rows = np.arange(lo, min(lo + chunk, len(norm)))
        sim[rows - lo, rows] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((len(rows), 0), dtype=int)
        for r, cols in enumerate(top):
            out.append([int(c) for c in cols[np.argsort(-sim[r, cols])]])
    return out


class PrecomputedSampler(BatchSampler):
    """Groups read from a file: JSON Lines, one group per line as a list of record indices (for example
    clusters of similar images made offline). All groups have the same size, which must divide the
    per-process batch. Each epoch the groups are shuffled with the seed and packed into batches; when one
    pass over them does not fill the epoch, the next pass is shuffled again. Records in no group are not
    drawn.

    Parameters:
        path: the JSON Lines file of groups.
    """

    name = "precomputed"

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self, records: Sequence[Mapping[str, Any]], *, batch_size: int, world: int, seed: int) -> None:
        super().setup(records, batch_size=batch_size, world=world, seed=seed)
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise DataError(f"sampler 'precomputed': groups file {str(path)!r} not found")
        self.groups: list[list[int]] = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                group = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {lineno}: not JSON ({exc.msg})") from None
            if not isinstance(group, list) or not group or not all(isinstance(j, int) for j in group):
                raise DataError(f"{path}: line {lineno}: expected a non-empty list of record indices")
            bad = [j for j in group if not 0 <= j < self.n]
            if bad:
                raise DataError(f"{path}: line {lineno}: record index {bad[0]} out of range 0..{self.n - 1}")
            self.groups.append(group)
        sizes = {len(g) for g in self.groups}
        if len(sizes) != 1:
            raise DataError(f"{path}: groups of {len(sizes) or 'no'} different sizes ({sorted(sizes)}); "
                            f"every group must have the same size")
        size = sizes.pop()
        if self.local % size:
            raise SamplerError(f"sampler 'precomputed': groups of {size} do not divide the per-process batch "
                               f"{self.local} (batch_size {batch_size} on {world} process(es))")
        if len(self.groups) * size < batch_size:
            raise SamplerError(f"sampler 'precomputed' cannot fill a batch: batch_size {batch_size} but the "
                               f"groups hold {len(self.groups) * size} records")

    def batches(self, epoch: int) -> Batches:
        def passes() -> Iterator[list[int]]:
            for p in range(self.batches_per_epoch + 1):
                order = epoch_permutation(len(self.groups), stable_hash("precomputed", self.seed, p) % 2**31, epoch)
                yield from (self.groups[i] for i in order)

        return pack(passes(), self.batch_size, self.local, self.batches_per_epoch, self.name)


class SampledBatches(GlobalBatchSampler):
    """The DataLoader's batch sampler: this rank's slice of the sampler's global batches, ``(epoch, index)``.

    Checks what every sampler promises (batch size, record range, groups inside one rank's slice), so a
    third-party sampler that breaks the contract stops with a clear error instead of training wrongly.
    """

    def __init__(self, sampler: BatchSampler, rank: int = 0, world: int = 1) -> None:
        super().__init__(sampler.n, sampler.batch_size, sampler.seed, rank, world)
        self.sampler = sampler
        self._cache: tuple[int, Batches] | None = None

    def global_batches(self, epoch: int) -> Batches:
        if self._cache is None or self._cache[0] != epoch:
            batches = self.sampler.batches(epoch)
            check_batches(self.sampler, batches, self.world)
            self._cache = (epoch, batches)
        return self._cache[1]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = self.global_batches(self.epoch)
        lo = self.rank * self.local
        for b in range(self.start, self._stop()):
            flat = [i for group in batches[b] for i in group]
            yield [(self.epoch, i) for i in flat[lo:lo + self.local]]


def check_batches(sampler: BatchSampler, batches: Batches, world: int) -> None:
    """Raise ``SamplerError`` where ``batches`` break the sampler contract."""
    who, bs, n = sampler.name, sampler.batch_size, sampler.n
    local = bs // world
    if len(batches) != sampler.batches_per_epoch:
        raise SamplerError(f"sampler {who!r} made {len(batches)} batches; expected {sampler.batches_per_epoch} "
                           f"({n} records // batch_size {bs})")
    for b, groups in enumerate(batches):
        pos = 0
        for group in groups:
            if group and (pos // local) != ((pos + len(group) - 1) // local):
                raise SamplerError(f"sampler {who!r}: batch {b} splits group {group} across processes "
                                   f"({local} records per process)")
            bad = [i for i in group if not 0 <= i < n]
            if bad:
                raise SamplerError(f"sampler {who!r}: batch {b} holds record {bad[0]}, out of range 0..{n - 1}")
            pos += len(group)
        if pos != bs:
            raise SamplerError(f"sampler {who!r}: batch {b} holds {pos} records; batch_size is {bs}")


def batch_sampler(sampler: BatchSampler, records: Sequence[Mapping[str, Any]], batch_size: int, seed: int,
                  env: Any) -> SampledBatches:
    """Set ``sampler`` up on the training records and wrap it as this rank's DataLoader batch sampler."""
    sampler.setup(records, batch_size=batch_size, world=env.world, seed=seed)
    return SampledBatches(sampler, env.rank, env.world)
