"""Mining throughput: every miner against the spaCy tagging floor, measured in the same run.

    .venv/bin/python benchmarks/mine.py                      # all miners, SugarCrepe captions, k=1
    .venv/bin/python benchmarks/mine.py --miner concrete-plant --miner random-word --no-scaling

Floor: spaCy tagging alone (``nlp.pipe`` over the same captions, parser and NER excluded, the pipeline the
miners load), i.e. the part of mining no spaCy-based miner can avoid. Each miner is timed single-process,
after a warm-up that loads its resources, on all captions in batches, right after a run of the floor
(``--repeats`` alternating rounds, best of each kept), both inside ``tuned_for_mining()`` as in the mining
stage. Every repeat starts with empty per-word caches (WordNet relations, lemmas, frequencies), as a
new process does; ``--warm-caches`` keeps them, for the steady state of a long run. Times are this
process's CPU seconds, which other processes inflate less than wall seconds (printed too), though a
shared virtual machine still moves them by several percent. ``ratio`` is the miner's CPU time over
the floor's (1.0 = as fast as tagging alone). The scaling part runs the cached mining stage
(``datasets.map``) with num_proc 1 and 2 into fresh temporary caches (wall time: needs idle cores).

Targets (issue 5): concrete-plant >= 600 captions/s per core and within 1.2x of the floor's time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SUGARCREPE = REPO.parent / "shared" / "data" / "sugarcrepe"
TARGET_RATE = 600.0
TARGET_RATIO = 1.2


def load_captions(folder: Path, limit: int) -> list[str]:
    files = sorted(folder.glob("*.json"))
    if not files:
        sys.exit(f"benchmarks/mine.py: no SugarCrepe *.json files in {folder} (give --sugarcrepe DIR)")
    captions = [item["caption"] for f in files for item in json.loads(f.read_text(encoding="utf-8")).values()]
    return captions[:limit] if limit else captions


def floor_pipeline():  # noqa: ANN201 - a spaCy Language
    """The pipeline the miners load (parser, NER and spaCy's lemmatiser excluded)."""
    try:
        from negkit.lexicon.spacy_pipeline import load_pipeline

        return load_pipeline()
    except Exception as exc:  # the lexicon module is still moving: fall back to the same exclusions by hand
        import spacy

        name = sorted(n for n in spacy.util.get_installed_models() if n.startswith("en_"))[0]
        print(f"(negkit.lexicon.spacy_pipeline failed: {exc}; floor uses spacy.load({name!r}) directly)")
        return spacy.load(name, exclude=["parser", "ner", "lemmatizer", "senter"])


class Clock:
    """Wall and CPU seconds of this process (CPU time is what "per core" means, and it does not move when
    other processes share the machine; wall time does)."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __iadd__(self, other: "Clock") -> "Clock":
        self.wall += other.wall
        self.cpu += other.cpu
        return self


def run_paired(nlp, miner, captions: list[str], k: int, batch_size: int) -> tuple[Clock, Clock, float]:  # noqa: ANN001
    """The floor and the miner on the same batches, batch by batch in turn, so that a change in the
    machine's speed during the run (a shared virtual machine has them) moves both sides alike. Returns
    the floor's and the miner's summed clocks and the miner's coverage."""
    floor, mined, covered = Clock(), Clock(), 0
    for lo in range(0, len(captions), batch_size):
        batch = captions[lo:lo + batch_size]
        with Clock() as f:
            for _doc in nlp.pipe(batch, batch_size=batch_size):
                pass
        with Clock() as m:
            out = miner.mine(batch, k=k, seed=0)
        floor += f
        mined += m
        covered += sum(1 for negs in out if negs)
    return floor, mined, covered / len(captions)


def time_stage(miner: str, captions: list[str], k: int, batch_size: int, num_proc: int) -> dict[str, float]:
    """Wall seconds, and CPU seconds of this process and of the worker processes, of a fresh mining stage."""
    import resource

    import datasets  # noqa: F401 - imported before the clock starts, as in a real run

    from negkit.lexicon import clear_word_caches
    from negkit.mining.stage import mine_cached
    from negkit.recipe import recipe_from_dict

    clear_word_caches()  # as cold as a new process (the stage's warm-up reloads WordNet, as it would there)

    with tempfile.TemporaryDirectory() as cache:
        recipe = recipe_from_dict({"data": {"source": "shapes"}, "mining": {
            "k": k, "num_proc": num_proc, "batch_size": batch_size, "cache_dir": cache}, "miners": [{"name": miner}]},
            check_components=False)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        with Clock() as clock:
            mine_cached(recipe, captions, progress=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return {"wall_s": clock.wall, "parent_cpu_s": clock.cpu, "workers_cpu_s": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sugarcrepe", type=Path, default=DEFAULT_SUGARCREPE,
                        help=f"folder of SugarCrepe JSON files (default {DEFAULT_SUGARCREPE})")
    parser.add_argument("--miner", action="append", default=[], help="miner to time (repeatable; default all)")
    parser.add_argument("-k", type=int, default=1, help="negatives per caption (default 1)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats; the best is kept (default 3)")
    parser.add_argument("--warm-caches", action="store_true",
                        help="keep per-word caches between repeats (the steady state of a long run); by "
                             "default every repeat starts with them empty, as a new process does")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N captions (0 = all)")
    parser.add_argument("--scaling-miner", default="concrete-plant",
                        help="miner for the num_proc 1 vs 2 run (default concrete-plant)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the num_proc scaling part")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()

    from negkit.plugins import get_host

    captions = load_captions(args.sugarcrepe, args.limit)
    names = args.miner or get_host().registries["miners"].names()
    print(f"{len(captions):,} captions from {args.sugarcrepe}; k={args.k}, batch {args.batch_size}; "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs visible")

    from negkit.errors import NegkitError
    from negkit.lexicon import clear_word_caches
    from negkit.mining.base import WARM_UP
    from negkit.mining.process import tuned_for_mining
    from negkit.plugins import get_component

    nlp = floor_pipeline()
    list(nlp.pipe(captions, batch_size=args.batch_size))  # spaCy's own caches (tokenizer, vocabulary) warm
    results: dict = {"captions": len(captions), "k": args.k, "miners": {}, "scaling": {}}
    print(f"\nFloor and miner run batch by batch in turn; {args.repeats} repeats, per-word caches "
          f"{'kept between them' if args.warm_caches else 'emptied before each'}; the repeat with the median ratio"
          "\nis shown. cpu = this process's CPU seconds, wall = elapsed seconds.")
    print(f"\n{'miner':<20}{'cpu s':>8}{'wall s':>8}{'captions/cpu-s':>16}{'floor cpu s':>12}{'ratio':>7}"
          f"{'coverage':>10}  ratio per repeat")
    for name in names:
        runs = []
        try:
            for _ in range(args.repeats):
                if not args.warm_caches:
                    clear_word_caches()  # every repeat as cold as a new process
                if not runs or not args.warm_caches:
                    miner = get_component("miners", name)()
                    miner.mine([WARM_UP], k=args.k, seed=0)  # loads its resources, outside the timing
                with tuned_for_mining():  # as the mining stage runs miners; the floor too
                    runs.append(run_paired(nlp, miner, captions, args.k, args.batch_size))
        except (NegkitError, TypeError) as exc:  # needs configuration (a data file) or data not installed
            print(f"{name:<20}  skipped: {exc}")
            continue
        ratios = [m.cpu / f.cpu for f, m, _ in runs]
        floor, mined, coverage = runs[ratios.index(statistics.median_low(ratios))]
        rate, ratio = len(captions) / mined.cpu, mined.cpu / floor.cpu
        results["miners"][name] = {"cpu_s": mined.cpu, "wall_s": mined.wall, "rate_per_cpu_s": rate,
                                   "floor_cpu_s": floor.cpu, "ratio": ratio, "coverage": coverage,
                                   "ratios": ratios}
        print(f"{name:<20}{mined.cpu:>8.2f}{mined.wall:>8.2f}{rate:>16,.0f}{floor.cpu:>12.2f}{ratio:>7.2f}"
              f"{coverage:>10.1%}  {' '.join(f'{r:.3f}' for r in ratios)}")

    cp = results["miners"].get("concrete-plant")
    if cp:
        ok_rate, ok_ratio = cp["rate_per_cpu_s"] >= TARGET_RATE, cp["ratio"] <= TARGET_RATIO
        print(f"\nconcrete-plant: {cp['rate_per_cpu_s']:,.0f} captions/s per core (target >= {TARGET_RATE:.0f}: "
              f"{'met' if ok_rate else 'MISSED'}); {cp['ratio']:.2f}x the tagging floor's time (target <= "
              f"{TARGET_RATIO}: {'met' if ok_ratio else 'MISSED'})")

    if not args.no_scaling and args.scaling_miner in results["miners"]:
        print(f"\nmining stage (datasets.map, fresh cache) with {args.scaling_miner}:")
        for num_proc in (1, 2):
            t = time_stage(args.scaling_miner, captions, args.k, args.batch_size, num_proc)
            results["scaling"][num_proc] = t
            total = t["parent_cpu_s"] + t["workers_cpu_s"]
            speedup = results["scaling"][1]["wall_s"] / t["wall_s"]
            print(f"  num_proc={num_proc}: wall {t['wall_s']:6.2f}s ({len(captions) / t['wall_s']:,.0f} captions/s, "
                  f"speed-up {speedup:.2f}x); CPU: parent {t['parent_cpu_s']:.2f}s + workers "
                  f"{t['workers_cpu_s']:.2f}s = {total:.2f}s")
        print("  (wall-clock speed-up needs idle cores; the CPU split shows whether the work is shared out "
              "and what parallelism costs)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
