"""Mining on Ray (a local Ray with 2 CPUs): the same table as local mining, Parquet shards and a manifest that
the local cache and ``precomputed`` read, resume after an interruption, and a killed worker."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import REPO, run_cli
from test_mining_stage import CAPTIONS, REAL, rows

from negkit.factory import mining_plan
from negkit.recipe import recipe_from_dict

SHARD = 12  # captions per shard: 6 shards


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def recipe(tmp_path, name: str):
    return mining_plan(recipe_from_dict({"run": {"seed": 3}, "data": {"source": "shapes"},
                                         "mining": {"k": 2, "cache_dir": str(tmp_path / name)}, "miners": REAL}))


@pytest.fixture(scope="module")
def local_table(tmp_path_factory):
    from negkit.mining.stage import mine_cached

    return rows(mine_cached(recipe(tmp_path_factory.mktemp("local"), "c"), CAPTIONS, shard_size=SHARD,
                            progress=False).dataset)


def test_ray_table_equals_local_and_is_read_by_the_cache_and_precomputed(ray, tmp_path, local_table):
    from negkit.mining.precomputed import Precomputed
    from negkit.mining.ray_engine import mine_ray
    from negkit.mining.stage import mine_cached

    lines: list[str] = []
    result = mine_ray(recipe(tmp_path, "c"), CAPTIONS, workers=2, shard_size=SHARD, progress=True, log=lines.append)
    assert rows(result.dataset) == local_table and result.shards_mined == result.shards_total == 6
    assert lines and lines[-1].startswith(f"mining: {len(CAPTIONS):,}/{len(CAPTIONS):,} captions")
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["rows"] == len(CAPTIONS) and all(f.endswith(".parquet") for s in manifest["shards"]
                                                     for f in s["files"])

    cached = mine_cached(recipe(tmp_path, "c"), CAPTIONS, shard_size=SHARD, progress=False)
    assert cached.reused and rows(cached.dataset) == local_table

    served = Precomputed(path=str(result.path / "manifest.json")).mine(CAPTIONS[:8], k=2, seed=0)
    for (caption, negatives), got in zip(local_table[:8], served):
        assert {n.text for n in got} == {n["text"] for n in negatives}, caption


def test_interrupted_job_resumes_without_redoing_finished_shards(ray, tmp_path, local_table):
    from negkit.mining.ray_engine import mine_ray

    done: list[int] = []

    def stop_after_two(index: int) -> None:
        done.append(index)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mine_ray(recipe(tmp_path, "c"), CAPTIONS, workers=2, shard_size=SHARD, progress=False, on_shard=stop_after_two)
    again: list[int] = []
    result = mine_ray(recipe(tmp_path, "c"), CAPTIONS, workers=2, shard_size=SHARD, progress=False,
                      on_shard=again.append)
    assert result.shards_mined == 4 and not set(again) & set(done)
    assert rows(result.dataset) == local_table


def _miner_processes() -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["name"] or "")
        if "ShardMiner" in text and proc.pid != os.getpid():
            found.append(proc)
    return found


def test_killed_worker_is_restarted_and_the_output_is_the_same(ray, tmp_path, local_table):
    from negkit.mining.ray_engine import mine_ray

    killed: list[int] = []

    def kill_one(index: int) -> None:
        if not killed:
            victims = _miner_processes()
            assert victims, "no Ray worker process of the mining actors found"
            os.kill(victims[0].pid, signal.SIGKILL)
            killed.append(victims[0].pid)

    result = mine_ray(recipe(tmp_path, "c"), CAPTIONS, workers=2, shard_size=SHARD, progress=False, on_shard=kill_one)
    assert killed and result.shards_mined == 6
    assert rows(result.dataset) == local_table


def test_engine_ray_without_ray_is_one_line_with_the_install_command(tmp_path):
    hide = tmp_path / "hide" / "ray"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('ray is hidden in this test')\n")
    path = tmp_path / "r.toml"
    path.write_text('[data]\nsource = "shapes"\n[[miners]]\nname = "ngram-shuffle"\n')
    res = run_cli("mine", str(path), "--engine", "ray", env={"PYTHONPATH": f"{hide.parent}{os.pathsep}{REPO}"})
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and 'pip install "negkit[ray]"' in err[0] and "Traceback" not in res.stderr
