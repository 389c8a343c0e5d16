"""The ``shared-attribute`` sampler: batches in which one attribute does not tell the captions apart.

In a random batch of shapes scenes, colour alone separates most captions, so a contrastive model never needs
shape (a shortcut). Holding one field fixed inside a group of records makes every other concept necessary
there: in a group of red objects only shape and size tell "a red circle" from "a red star". Cycling the
held field (colour, then shape) makes each concept necessary in turn, so none is learnt instead of another.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from negkit.seeding import stable_hash
from negkit.train.samplers import Batches, BatchSampler, SamplerError, _column


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class SharedAttributeSampler(BatchSampler):
    """Groups of ``group`` records that share the value of one record field; the field cycles group by group
    through ``fields`` (with the default, a colour-shared group, then a shape-shared one, ...).

    Each epoch every value's records are shuffled with (seed, epoch) and dealt out in order; a group's value
    is drawn with probability proportional to how many records hold it, so every record is seen about once
    per epoch. A value with fewer than ``group`` records is never drawn (those records are skipped and
    counted in ``stats``). A record whose field is missing or None (e.g. ``colour`` of a multi-object shapes
    scene) falls in a value of its own. ``group`` = 0 means the whole per-process batch.

    Parameters:
        fields: record fields to hold fixed, cycled group by group (at least one).
        group: records per group; must divide the per-process batch (0 = the whole per-process batch).
    """

    name = "shared-attribute"

    def __init__(self, fields: list[str] | None = None, group: int = 0) -> None:
        fields = ["colour", "shape"] if fields is None else list(fields)
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise ValueError(f"fields must be a non-empty list of record field names, got {fields!r}")
        if group < 0:
            raise ValueError(f"group must be >= 0 (0 = the whole per-process batch), got {group}")
        self.fields, self.group = fields, group
        self.skipped: dict[str, int] = {}

    def setup(self, records: Sequence[Mapping[str, Any]], *, batch_size: int, world: int, seed: int) -> None:
        super().setup(records, batch_size=batch_size, world=world, seed=seed)
        self.g = self.group or self.local
        if self.local % self.g:
            raise SamplerError(f"sampler 'shared-attribute': groups of {self.g} do not divide the per-process "
                               f"batch {self.local} (batch_size {batch_size} on {world} process(es))")
        self.pools: dict[str, dict[Any, list[int]]] = {}
        for f in self.fields:
            by_value: dict[Any, list[int]] = {}
            for i, v in enumerate(_column(records, f)):
                by_value.setdefault(_key(v), []).append(i)
            kept = {v: idx for v, idx in by_value.items() if len(idx) >= self.g}
            self.skipped[f] = sum(len(idx) for v, idx in by_value.items() if v not in kept)
            if not kept:
                raise SamplerError(f"sampler 'shared-attribute': no value of field {f!r} is held by {self.g} "
                                   f"records (a group); lower [sampler] group or train.batch_size "
                                   f"({batch_size})")
            self.pools[f] = kept

    def batches(self, epoch: int) -> Batches:
        rng = random.Random(stable_hash("shared-attribute", self.seed, epoch))
        decks: dict[tuple[str, Any], list[int]] = {}
        cursor: dict[tuple[str, Any], int] = {}
        out: Batches = []
        per_batch = self.batch_size // self.g
        for b in range(self.batches_per_epoch):
            groups: list[list[int]] = []
            for k in range(per_batch):
                f = self.fields[(b * per_batch + k) % len(self.fields)]
                values = sorted(self.pools[f], key=repr)
                v = rng.choices(values, weights=[len(self.pools[f][x]) for x in values])[0]
                groups.append(self._deal(f, v, decks, cursor, rng))
            out.append(groups)
        return out

    def _deal(self, f: str, v: Any, decks: dict, cursor: dict, rng: random.Random) -> list[int]:
        """The next ``g`` records of value ``v`` (a fresh shuffle of its pool when the deck runs out)."""
        key = (f, v)
        if key not in decks or cursor[key] + self.g > len(decks[key]):
            deck = list(self.pools[f][v])
            rng.shuffle(deck)
            decks[key], cursor[key] = deck, 0
        start = cursor[key]
        cursor[key] = start + self.g
        return decks[key][start:start + self.g]

    def stats(self) -> dict[str, Any]:
        return {"skipped_records": dict(self.skipped)}
