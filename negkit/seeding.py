"""Per-caption random streams that do not depend on batch, batch size, process or PYTHONHASHSEED."""

from __future__ import annotations

import hashlib
import random


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process and Python version."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(repr(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "little")


def caption_rng(caption: str, seed: int, *salt: object) -> random.Random:
    """The random stream for one caption under one seed (``salt`` separates miners sharing a seed)."""
    return random.Random(stable_hash(caption, seed, *salt))
