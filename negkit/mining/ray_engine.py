"""Mining on a Ray cluster: ``negkit mine RECIPE --engine ray [--address auto]``.

The captions are cut into the same shards as local mining (``stage.mine_cached``) and the shards go to a
pool of Ray actors. Each actor receives the recipe's miners once, warms them up (spaCy, WordNet and the norms
load once per actor, not per shard) and mines whole shards with ``stage.mine_combined``, so the table is the
one local mining writes for the same recipe and seed, row for row.

The driver writes each finished shard as Parquet into the mining cache folder of the recipe's fingerprint
(temp folder + rename, as local mining does), then ``complete.json`` and ``manifest.json`` (the Parquet files
of every shard, for other tools and for the ``precomputed`` miner's ``negkit-manifest`` format). The local
mining stage reads these shards like its own, so a training run finds the negatives in its cache. An
interrupted job leaves its finished shards; the next one mines only the rest.

Faults: an actor whose process dies is restarted by Ray and its shard retried (``max_restarts`` /
``max_task_retries``); when the retries run out the job stops with an error, and the finished shards stay
for the next run. The shards travel through Ray's object store, so only the driver needs the cache folder.

This module never imports torch; ray is imported only when a job runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from negkit.atomic import file_checksum, sweep_temp, temp_dir
from negkit.errors import NegkitError
from negkit.mining import stage
from negkit.mining.base import Miner
from negkit.mining.corpus import attach_corpus

if TYPE_CHECKING:
    import pyarrow as pa

INSTALL = 'pip install "negkit[ray]"'
MANIFEST = "manifest.json"
PART = "part-0.parquet"
RETRIES = 3  # restarts of a dead actor, and retries of its shard


class RayMissingError(NegkitError):
    """``--engine ray`` without ray installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayMissingError(f"--engine ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


class ShardMiner:
    """The body of one Ray actor: the miners, warmed up once, and a shard of captions -> an Arrow table."""

    def __init__(self, miners: list[tuple[Miner, float]], k: int, seed: int) -> None:
        self.miners, self.k, self.seed = miners, k, seed
        stage._warm_up(miners, k, seed)

    def mine(self, index: int, captions: list[str]) -> tuple[int, pa.Table]:
        import pyarrow as pa

        negatives = stage.mine_combined(self.miners, captions, self.k, self.seed)
        rows = [[stage.negative_row(n) for n in negs] for negs in negatives]
        return index, pa.Table.from_pydict({"caption": captions, "negatives": rows},
                                           schema=stage.features().arrow_schema)

    def pid(self) -> int:
        return os.getpid()


def mine_ray(plan: stage.MiningPlan, captions: Sequence[str], *, address: str | None = None, workers: int | None = None,
             progress: bool | None = None, shard_size: int = stage.DEFAULT_SHARD_SIZE, log: Any = None,
             on_shard: Callable[[int], None] | None = None, groups: Sequence[Any] | None = None
             ) -> stage.MiningResult:
    """Mine (or reuse) the negatives of ``captions`` on Ray; the result is the local stage's table.

    ``address``: a running cluster (``"auto"``, ``"ray://host:10001"``); ``None`` starts a local Ray with
    ``workers`` CPUs. ``workers``: actors to start (default: the cluster's CPUs). ``on_shard(i)`` is called
    after shard ``i`` is written (progress hooks). ``groups``: as ``stage.mine_cached``'s.
    """
    ray = import_ray()
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    start = time.perf_counter()
    captions = ["" if c is None else str(c) for c in captions]
    fingerprint = stage.mining_fingerprint(plan, captions, groups=groups)
    root = stage.cache_root(plan) / fingerprint
    ranges = [(lo, min(lo + shard_size, len(captions))) for lo in range(0, len(captions), shard_size)]
    shard_dirs = [root / f"shard-{lo:09d}-{hi:09d}" for lo, hi in ranges]
    root.mkdir(parents=True, exist_ok=True)
    sweep_temp(root)
    stage._write_json(root / "config.json", {"fingerprint": fingerprint, "k": plan.k,
                                              "seed": plan.seed, "captions": len(captions),
                                              "miners": stage.miner_config(plan)})
    todo = [i for i, d in enumerate(shard_dirs) if stage._load_shard(d, ranges[i][1] - ranges[i][0]) is None]
    if todo:
        miners = plan.weighted()
        # the same corpus as local mining (a cache path: each actor loads it once)
        attach_corpus([m for m, _ in miners], captions, stage.cache_root(plan).parent / "corpus", groups)
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=address, num_cpus=workers if address is None else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        actors: list[Any] = []
        try:
            n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            n = min(n, len(todo))
            actor = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(ShardMiner)
            # the miners travel inline (small: their resources load in the actor), so a restarted actor gets them
            actors = [actor.remote(miners, plan.k, plan.seed) for _ in range(n)]
            show = sys.stderr.isatty() if progress is None else progress
            done_before = sum(hi - lo for i, (lo, hi) in enumerate(ranges) if i not in todo)
            with stage._Progress(len(captions), done_before, show, log) as bar:
                pool = ray.util.ActorPool(actors)
                jobs = ((i, captions[ranges[i][0]:ranges[i][1]]) for i in todo)
                try:
                    for index, table in pool.map_unordered(lambda a, job: a.mine.remote(*job), jobs):
                        _write_shard(table, shard_dirs[index])
                        bar.shard_done(len(table))
                        if on_shard is not None:
                            on_shard(index)
                except ray.exceptions.RayError as exc:
                    done = sum(1 for i, d in enumerate(shard_dirs) if (d / "shard.json").is_file())
                    raise MiningJobError(
                        f"the Ray mining job failed after Ray's retries ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0][:200]}); {done}/{len(shard_dirs)} shards are saved in "
                        f"{root}; run the same command again to mine only the rest") from None
        finally:
            for a in actors:  # free their CPUs now, not when the handles are collected
                ray.kill(a)
            if started_here:
                ray.shutdown()
    table = stage._load(shard_dirs)
    if table is None or len(table) != len(captions):
        raise RuntimeError(f"mining cache {root} lost a shard while mining; run again")
    write_manifest(root, fingerprint, shard_dirs, len(captions))
    return stage.MiningResult(table, root, fingerprint, not todo, len(todo), len(ranges),
                              time.perf_counter() - start)


class MiningJobError(NegkitError):
    """A Ray mining job stopped; its finished shards are kept."""


def _write_shard(table: pa.Table, final: Path) -> None:
    """The shard's Parquet file and ``shard.json`` in a temp folder, renamed into place when complete."""
    import pyarrow.parquet as pq

    tmp = temp_dir(final)  # names its owner: a concurrent run's sweep leaves it alone while this one lives
    try:
        pq.write_table(table, tmp / PART)
        stage._write_json(tmp / "shard.json", {"rows": len(table), "files": [PART],
                                               "checksums": {PART: file_checksum(tmp / PART)}})
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / "shard.json").is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(root: Path, fingerprint: str, shard_dirs: list[Path], rows: int) -> None:
    """``manifest.json`` (every shard's files, relative to the folder) and the stage's ``complete.json``."""
    import json

    shards = []
    for d in shard_dirs:
        meta = json.loads((d / "shard.json").read_text())
        shards.append({"name": d.name, "rows": meta["rows"], "files": [f"{d.name}/{f}" for f in meta["files"]]})
    digest = hashlib.blake2b(json.dumps(shards, sort_keys=True).encode(), digest_size=8).hexdigest()
    stage._write_json(root / MANIFEST, {"fingerprint": fingerprint, "rows": rows, "shards": shards,
                                         "digest": digest})
    stage._write_json(root / stage.COMPLETE, {"fingerprint": fingerprint, "rows": rows,
                                              "shards": [d.name for d in shard_dirs]})
