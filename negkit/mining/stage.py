"""The mining stage: every training caption through the recipe's miners, once, into a cached table.

``run_mining(plan, captions)`` returns a ``datasets.Dataset`` with one row per caption (same order):
``caption`` and ``negatives`` (a list of ``Negative.as_dict()`` rows, at most ``plan.k``; edit indices are
stored as strings because Arrow lists hold one type, ``Negative.from_dict`` reads them back). The
``MiningPlan`` holds the recipe's ``[mining]`` section, the mining seed and the built miners
(``negkit.factory.mining_plan(recipe)`` makes it).

The table lives in a cache folder named by a fingerprint of everything that decides its content: the
miners (name, weight, every constructor parameter with its default filled in, and the version of the
plugin that provides it), ``mining.k``, the mining seed, a hash of the captions, negkit's version, the
source of the miners' code (negkit's mining and lexicon packages and each miner's module) and the cache
format. The same config reuses the table instantly; any change re-mines into a new folder.

Mining runs ``datasets.Dataset.map(batched=True, num_proc=...)`` over fixed-size shards of captions. A shard
is written into a private temporary folder (``map``'s ``cache_file_name``/``new_fingerprint``) that is
renamed to its final name only when complete, and the table is marked complete by ``complete.json``,
written last (temp file + rename). An interrupted run leaves only finished shards behind (and temp folders
that are never read, named by their owner, and swept once that owner is dead); the next run with the same
config mines only the missing shards. ``shard.json`` records each file's size and hash, checked before Arrow
opens the file: a damaged shard is mined again, never read.
Shard and batch boundaries never change the result: miners are deterministic per (caption, seed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from negkit.atomic import check_file, disk_full, file_checksum, is_disk_full, sweep_temp, temp_dir, write_text
from negkit.code_digest import source_digest
from negkit.interrupts import child_processes_follow_parent
from negkit.mining.base import WARM_UP, Miner, Negative
from negkit.mining.contract import checked_mine
from negkit.mining.corpus import attach_corpus
from negkit.mining.process import tuned_for_mining
from negkit.sections import MiningConfig
from negkit.seeding import caption_rng

if TYPE_CHECKING:
    import datasets

    from negkit.components import ComponentSpec

CACHE_FORMAT = 1  # bump when the table layout changes: old caches are then never read
DEFAULT_SHARD_SIZE = 20_000  # captions per shard: the unit of resume
COMPLETE = "complete.json"


# -- what the stage mines with ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightedMiner:
    """A built miner, its weight in the mix, and what the cache fingerprint records of it."""

    name: str
    miner: Miner
    weight: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)  # constructor parameters, defaults filled in
    plugin: str | None = None  # the plugin that provides it
    plugin_version: str | None = None

    @classmethod
    def build(cls, spec: ComponentSpec, where: str | None = None) -> WeightedMiner:
        """Build the miner of one ``[[miners]]`` table through the registry (errors name ``where`` and the key)."""
        from negkit.components import resolved_params
        from negkit.plugins import get_host

        host = get_host()
        ref = host.ref("miners", spec.name)
        versions = {p.name: p.version for p in host.plugins}
        return cls(spec.name, spec.build(where=where), spec.weight, resolved_params(ref, spec.args), ref.provider,
                   versions.get(ref.provider))


@dataclass(frozen=True)
class MiningPlan:
    """What the stage needs: the recipe's ``[mining]`` section, the mining seed and the built miners."""

    config: MiningConfig
    seed: int
    miners: tuple[WeightedMiner, ...] = ()

    @property
    def k(self) -> int:
        """Negatives mined per caption (``candidates`` with ``select = "hardest"``, else ``k``)."""
        return self.config.mined_per_caption

    def weighted(self) -> list[tuple[Miner, float]]:
        return [(m.miner, m.weight) for m in self.miners]


# -- cache location and fingerprint ------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``<datasets cache>/negkit/mining``: follows ``HF_DATASETS_CACHE`` / ``HF_HOME`` like every datasets cache."""
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "negkit" / "mining"


def cache_root(plan: MiningPlan) -> Path:
    return config_cache_root(plan.config)


def config_cache_root(config: MiningConfig) -> Path:
    """Where a ``[mining]`` section keeps its caches: its ``cache_dir``, or the datasets cache."""
    return Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()


def captions_digest(captions: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for caption in captions:
        h.update(caption.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    h.update(str(len(captions)).encode())
    return h.hexdigest()


def miner_config(plan: MiningPlan) -> list[dict[str, Any]]:
    """Each miner of the plan with its resolved parameters (defaults filled in) and its plugin's version."""
    return [{"name": m.name, "weight": m.weight, "params": dict(m.params), "plugin": m.plugin,
             "plugin_version": m.plugin_version, "files": _file_stamps(dict(m.params))} for m in plan.miners]


def _file_stamps(params: dict[str, Any]) -> dict[str, list[int]]:
    """Size and modification time of every parameter that names an existing file (a miner reading
    negatives or word lists from a file): editing the file re-mines."""
    stamps = {}
    for pname, value in params.items():
        if isinstance(value, str) and value and len(value) < 4096:
            try:
                st = Path(value).expanduser().stat()
            except (OSError, ValueError):
                continue
            if Path(value).expanduser().is_file():
                stamps[pname] = [st.st_size, st.st_mtime_ns]
    return stamps


# the built-in miners and every resource they read: a miner whose code changed mines again even where its
# version did not (``negkit.code_digest``)
_CODE_PACKAGES = ("negkit.mining", "negkit.lexicon")


def mining_fingerprint(plan: MiningPlan, captions: Sequence[str] | None = None, *,
                       digest: str | None = None, groups: Sequence[Any] | None = None) -> str:
    """The cache key of mining ``captions`` with the plan's miners, k and seed (and ``groups``, the image of
    each caption, where the data names it: the corpus' ``siblings`` read them)."""
    from negkit.version import __version__

    if digest is None:
        digest = captions_digest(captions or [])
    if groups is not None and any(g is not None for g in groups):
        from negkit.mining.siblings import groups_digest

        digest = f"{digest}-g{groups_digest(groups)}"
    payload = {
        "format": CACHE_FORMAT,
        "negkit": __version__,
        "k": plan.k,
        "seed": plan.seed,
        "captions": digest,
        "miners": miner_config(plan),
        "code": source_digest(_CODE_PACKAGES, tuple(sorted({type(m.miner).__module__ for m in plan.miners}))),
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# -- the table -----------------------------------------------------------------------------------------------


def features() -> datasets.Features:
    from datasets import Features, List, Value

    negative = {"text": Value("string"), "kind": Value("string"), "concreteness": Value("float64"),
                "edits": List(List(Value("string")))}
    return Features({"caption": Value("string"), "negatives": List(negative)})


def negative_row(neg: Negative) -> dict[str, Any]:
    row = neg.as_dict()
    row["edits"] = [[str(i), str(b), str(a)] for i, b, a in row["edits"]]
    return row


_COUNTER: Any = None  # a shared counter of mined captions; forked workers inherit it (progress only)


class _MineBatch:
    """The picklable ``map`` function: a batch of captions -> their negatives."""

    def __init__(self, miners: list[tuple[Miner, float]], k: int, seed: int) -> None:
        self.miners, self.k, self.seed = miners, k, seed

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        captions = batch["caption"]
        negatives = mine_combined(self.miners, captions, self.k, self.seed)
        counter = _COUNTER
        if counter is not None:
            with counter.get_lock():
                counter.value += len(captions)
        return {"negatives": [[negative_row(n) for n in negs] for negs in negatives]}


def mine_combined(miners: list[tuple[Miner, float]], captions: Sequence[str], k: int, seed: int
                  ) -> list[list[Negative]]:
    """Up to ``k`` negatives per caption from several miners, mixed by weight.

    Each of the ``k`` slots of a caption goes to a miner drawn with probability proportional to its weight
    (from the caption's own random stream, so the mix is per-caption deterministic); a slot whose miner has
    nothing left falls back to the other miners, heaviest first. Duplicates and the caption itself are dropped.
    """
    captions = list(captions)
    active = [(m, w) for m, w in miners if w > 0]
    if k <= 0 or not active:
        return [[] for _ in captions]
    per_miner = [checked_mine(miner, captions, k, seed) for miner, _ in active]
    weights = [w for _, w in active]
    fallback = sorted(range(len(active)), key=lambda j: -weights[j])
    out = []
    for i, caption in enumerate(captions):
        if len(active) == 1:
            picks = [0] * k
        else:
            rng = caption_rng(caption, seed, "mine-combined", tuple(m.name for m, _ in active), tuple(weights))
            picks = rng.choices(range(len(active)), weights=weights, k=k)
        queues = [list(per_miner[j][i]) for j in range(len(active))]
        seen = {_norm(caption)}
        merged: list[Negative] = []
        for j in picks:
            for source in (j, *fallback):
                neg = _take(queues[source], seen)
                if neg is not None:
                    merged.append(neg)
                    break
        out.append(merged)
    return out


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _take(queue: list[Negative], seen: set[str]) -> Negative | None:
    while queue:
        neg = queue.pop(0)
        key = _norm(neg.text)
        if key and key not in seen:
            seen.add(key)
            return neg
    return None


# -- the stage -----------------------------------------------------------------------------------------------


@dataclass
class MiningResult:
    """What the stage produced: the table, where it lives, and whether it was reused from the cache."""

    dataset: datasets.Dataset
    path: Path
    fingerprint: str
    reused: bool  # every shard came from the cache
    shards_mined: int
    shards_total: int
    seconds: float

    def coverage(self) -> float:
        """Share of captions with at least one negative."""
        n = len(self.dataset)
        if not n:
            return 0.0
        return sum(1 for negs in self.dataset["negatives"] if negs) / n


def run_mining(plan: MiningPlan, captions: Sequence[str], **kwargs: Any) -> datasets.Dataset:
    """A ``datasets.Dataset`` with one row per caption (same order): columns ``caption`` and
    ``negatives`` (a list of ``Negative.as_dict()``, at most ``plan.k``). Cached; see the module doc.
    Keyword arguments go to ``mine_cached``."""
    return mine_cached(plan, captions, **kwargs).dataset


def mine_cached(plan: MiningPlan, captions: Sequence[str], *, progress: bool | None = None,
                shard_size: int = DEFAULT_SHARD_SIZE, log: Any = None,
                groups: Sequence[Any] | None = None) -> MiningResult:
    """Mine (or reuse) the negatives of ``captions`` and return the table with where it lives.

    ``progress``: show a progress bar (rich on a terminal, plain lines otherwise); default: on when
    stderr is a terminal. ``log``: a callable taking one line of text (default: print to stderr).
    ``groups``: the image of each caption (``DataSource.caption_groups``), or None: the caption corpus then
    knows which captions describe the same image (``negkit.mining.siblings``).
    """
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    start = time.perf_counter()
    captions = ["" if c is None else str(c) for c in captions]  # a missing caption gets no negatives
    if groups is not None and len(groups) != len(captions):
        raise ValueError(f"groups has {len(groups)} entries for {len(captions)} captions")
    fingerprint = mining_fingerprint(plan, captions, groups=groups)
    root = cache_root(plan) / fingerprint
    ranges = [(lo, min(lo + shard_size, len(captions))) for lo in range(0, len(captions), shard_size)]
    shard_dirs = [root / f"shard-{lo:09d}-{hi:09d}" for lo, hi in ranges]

    sweep_temp(root)  # temporary shards and files of dead miners (never a live one's)
    if (root / COMPLETE).is_file():
        try:  # the shards the finished run wrote (whatever shard size it used)
            done = [root / name for name in json.loads((root / COMPLETE).read_text())["shards"]]
        except (OSError, ValueError, KeyError, TypeError):
            done = shard_dirs
        table = _load(done)
        if table is not None and len(table) == len(captions):
            return MiningResult(table, root, fingerprint, True, 0, len(ranges), time.perf_counter() - start)
        (root / COMPLETE).unlink(missing_ok=True)  # damaged: re-mine what is missing

    root.mkdir(parents=True, exist_ok=True)
    k, seed = plan.k, plan.seed
    _write_json(root / "config.json", {"fingerprint": fingerprint, "k": k, "seed": seed, "captions": len(captions),
                                        "miners": miner_config(plan)})
    todo = [i for i, d in enumerate(shard_dirs) if _load_shard(d, ranges[i][1] - ranges[i][0]) is None]
    if todo:
        miners = plan.weighted()
        attach_corpus([m for m, _ in miners], captions, cache_root(plan).parent / "corpus", groups)
        show = sys.stderr.isatty() if progress is None else progress
        done_before = sum(hi - lo for i, (lo, hi) in enumerate(ranges) if i not in todo)
        with _Progress(len(captions), done_before, show, log) as bar:
            _warm_up(miners, k, seed)
            with tuned_for_mining(), child_processes_follow_parent():  # after the warm-up (what it freezes)
                for i in todo:
                    lo, hi = ranges[i]
                    shard_fp = hashlib.blake2b(f"{fingerprint}-{lo}-{hi}".encode(), digest_size=16).hexdigest()
                    _mine_shard(captions[lo:hi], shard_dirs[i], miners, plan, shard_fp)
                    bar.shard_done(hi - lo)
    table = _load(shard_dirs)
    if table is None or len(table) != len(captions):  # a shard vanished under us (cache cleaned concurrently)
        raise RuntimeError(f"mining cache {root} lost a shard while mining; run again")
    _write_json(root / COMPLETE, {"fingerprint": fingerprint, "rows": len(captions),
                                  "shards": [d.name for d in shard_dirs]})
    return MiningResult(table, root, fingerprint, not todo, len(todo), len(ranges), time.perf_counter() - start)


def _mine_shard(captions: list[str], final: Path, miners: list[tuple[Miner, float]], plan: MiningPlan,
                fingerprint: str) -> None:
    import datasets

    tmp = temp_dir(final)  # names its owner: a concurrent run's sweep leaves it alone while this one lives
    try:
        table = datasets.Dataset.from_dict({"caption": captions}, features=datasets.Features(
            {"caption": datasets.Value("string")}))
        num_proc = min(plan.config.num_proc, max(1, len(captions)))
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            mined = table.map(_MineBatch(miners, plan.k, plan.seed), batched=True,
                              batch_size=plan.config.batch_size, num_proc=num_proc if num_proc > 1 else None,
                              features=features(), cache_file_name=str(tmp / "mined.arrow"),
                              new_fingerprint=fingerprint, load_from_cache_file=False)
        finally:
            if bars:
                datasets.enable_progress_bars()
        files = [Path(f["filename"]).name for f in mined.cache_files]
        del mined
        _write_json(tmp / "shard.json", {"rows": len(captions), "files": files,
                                         "checksums": {f: file_checksum(tmp / f) for f in files}})
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / "shard.json").is_file():  # not a concurrent run that finished the same shard
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(final.parent, what="mining shard into") from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _load_shard(shard_dir: Path, rows: int) -> datasets.Dataset | None:
    """A finished shard, or None when it is missing or damaged (a damaged one is removed)."""
    import datasets

    meta_path = shard_dir / "shard.json"
    if not meta_path.is_file():
        if shard_dir.exists():
            shutil.rmtree(shard_dir, ignore_errors=True)
        return None
    try:
        meta = json.loads(meta_path.read_text())
        sums = meta["checksums"]
        if any(check_file(shard_dir / f, sums.get(f)) for f in meta["files"]):
            raise ValueError("damaged")  # never hand Arrow a damaged file: it may crash the process
        parts = [_read_part(shard_dir / f) for f in meta["files"]]
        part = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        if len(part) == meta["rows"] == rows:
            return part
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    shutil.rmtree(shard_dir, ignore_errors=True)
    return None


def _read_part(path: Path) -> datasets.Dataset:
    """One file of a shard: Arrow (written by ``datasets.map``) or Parquet (written by the Ray engine)."""
    import datasets

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return datasets.Dataset(pq.read_table(path).cast(features().arrow_schema),
                                info=datasets.DatasetInfo(features=features()))
    return datasets.Dataset.from_file(str(path))


def _load(shard_dirs: list[Path]) -> datasets.Dataset | None:
    import datasets

    parts = []
    for d in shard_dirs:
        try:
            lo, hi = (int(x) for x in d.name.split("-")[1:3])
        except ValueError:
            return None
        part = _load_shard(d, hi - lo)
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return datasets.Dataset.from_dict({"caption": [], "negatives": []}, features=features())
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=repr), what="mining cache file")


def _warm_up(miners: list[tuple[Miner, float]], k: int, seed: int) -> None:
    """Mine one caption so that process-wide caches (spaCy pipelines, norms, WordNet) are loaded before
    mining starts: forked ``map`` workers inherit them instead of loading their own, and
    ``tuned_for_mining`` freezes them out of the garbage collector's way."""
    from negkit.errors import NegkitError

    for miner, _ in miners:
        try:
            miner.mine([WARM_UP], k=max(1, k), seed=seed)
        except NegkitError:  # missing resources: say so now, once, not from every worker
            raise
        except Exception:  # a miner bug: the real run reports it, with context
            pass


# -- progress ------------------------------------------------------------------------------------------------


class _Progress:
    """Captions/s while mining: a rich bar on a terminal, a plain line every few seconds otherwise.

    Workers forked by ``map`` add to a shared counter; a thread here turns it into updates.
    """

    def __init__(self, total: int, done: int, show: bool, log: Any) -> None:
        self.total, self.base, self.show = total, done, show
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self._confirmed = 0  # captions of finished shards mined in this run

    def __enter__(self) -> _Progress:
        global _COUNTER
        import multiprocessing

        try:
            _COUNTER = multiprocessing.Value("q", 0)
        except OSError:  # no shared memory (some sandboxes): progress then moves shard by shard
            _COUNTER = None
        self._t0 = time.perf_counter()
        if not self.show:
            return self
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("mining"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]} captions/s"), TimeRemainingColumn(),
                                 console=console)
            self._bar.start()
            self._task = self._bar.add_task("mining", total=self.total, completed=self.base, rate="-")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _mined(self) -> int:
        counter = _COUNTER
        seen = counter.value if counter is not None else 0
        return max(seen, self._confirmed)

    def _render(self, final: bool = False) -> None:
        mined = min(self._mined(), self.total - self.base)
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = mined / elapsed
        if self._bar is not None:
            self._bar.update(self._task, completed=self.base + mined, rate=f"{rate:,.0f}")
        elif self.show:
            self.log(f"mining: {self.base + mined:,}/{self.total:,} captions ({rate:,.0f} captions/s)")

    def _poll(self) -> None:
        interval = 0.2 if self._bar is not None else 10.0
        while not self._stop.wait(interval):
            self._render()

    def shard_done(self, n: int) -> None:
        self._confirmed += n
        if self._bar is not None:
            self._render()

    def __exit__(self, *exc: Any) -> None:
        global _COUNTER
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.show and exc[0] is None:
            self._render(final=True)
        if self._bar is not None:
            self._bar.stop()
        _COUNTER = None
