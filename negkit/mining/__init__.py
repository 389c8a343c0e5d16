"""Mining: the Miner contract, per-caption seeding and the cached mining stage. Never imports torch."""

from negkit.mining.base import Edit, Miner, Negative, keep_valid
from negkit.seeding import caption_rng, stable_hash

__all__ = ["Edit", "Miner", "Negative", "caption_rng", "keep_valid", "stable_hash"]
