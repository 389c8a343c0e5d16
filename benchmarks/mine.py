"""Mining throughput on SugarCrepe's 7,511 captions: every miner against the spaCy tagging floor, in one run.

    .venv/bin/python benchmarks/mine.py                      # every miner, k=1, plus the num_proc 1 vs 2 stage run
    .venv/bin/python benchmarks/mine.py --miner concrete-plant --no-scaling [--warm-caches]

The same as ``negkit bench mine tests/fixtures/sugarcrepe --scaling`` (see ``negkit/mining/bench.py`` for
how it measures). Options: ``--sugarcrepe DIR`` (default: tests/fixtures/sugarcrepe, the seven caption
files shipped with the tests), ``--no-scaling``, and every option of ``negkit bench mine`` (``--miner``,
``-k``, ``--repeats``, ``--warm-caches``, ``--limit``, ``--json``, ...).

Targets (issue 5): concrete-plant >= 600 captions/s per core and within 1.2x of the floor's time; issue 11
(with the caption corpus and plausibility ranking): within 1.5x. Both measured in docs/performance.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_SUGARCREPE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sugarcrepe"


def main(argv: list[str]) -> None:
    folder = DEFAULT_SUGARCREPE
    if "--sugarcrepe" in argv:
        at = argv.index("--sugarcrepe")
        folder, argv = Path(argv[at + 1]), argv[:at] + argv[at + 2:]
    argv = [a for a in argv if a != "--no-scaling"] if "--no-scaling" in argv else [*argv, "--scaling"]
    from negkit.cli import main as negkit

    negkit(["bench", "mine", str(folder), *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
