"""Nothing lost, nothing silent (issue 18), for the mining stage: a live miner's temporary shard is never swept,
workers die with their parent, damaged shards are re-mined, leftovers of dead miners are swept, a broken miner
is named in one line, and Ctrl-C with worker processes is one line and exit status 130.

Run as a script (``python tests/test_mining_safety.py {api|cli} RECIPE_JSON [ARGS]``) it mines with the test
miners registered, which is how the tests start real, killable mining processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_mining_stage import CAPTIONS, CountingMiner, TinySource, make_recipe, rows

from negkit.atomic import temp_dir
from negkit.errors import DiskFullError, NegkitError, PluginError
from negkit.factory import mining_plan
from negkit.mining.base import WARM_UP, Miner, Negative
from negkit.mining.stage import mine_cached, mining_fingerprint
from negkit.recipe import recipe_from_dict
from negkit.testing import registered_components

TESTS = Path(__file__).resolve().parent


class SlowMiner(Miner):
    """Sleeps ``delay`` seconds per batch, then appends a mark.

    Parameters:
        delay: seconds per batch.
    """

    name = "test-slow"
    extra = 0.0  # more seconds per batch, set in-process only (not part of the fingerprint)

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        if list(captions) != [WARM_UP]:
            time.sleep(self.delay + type(self).extra)
        return [[Negative(f"{c} (slow)", "slow")][:k] for c in captions]


class BrokenMiner(Miner):
    """Misbehaves as ``how`` says on captions containing "cat".

    Parameters:
        how: raise | str | dict | none-text
    """

    name = "test-broken"

    def __init__(self, how: str = "raise") -> None:
        self.how = how

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list]:
        out: list[list] = []
        for c in captions:
            if "cat" not in c:
                out.append([Negative(c + " ok", "ok")])
            elif self.how == "raise":
                raise ValueError(f"cannot parse\nline two of {c!r}")
            elif self.how == "str":
                out.append([c + " as a plain string"])
            elif self.how == "dict":
                out.append({"text": c})
            else:
                out.append([Negative(None, "broken")])
        return out


def components():
    return registered_components(miners=[CountingMiner, SlowMiner, BrokenMiner], datasets=[TinySource])


@pytest.fixture
def host():
    CountingMiner.mined = 0
    CountingMiner.fail_after = None
    with components() as h:
        yield h


def start(mode: str, raw: dict, tmp: Path, *args: str, new_session: bool = False) -> subprocess.Popen:
    recipe = tmp / f"recipe-{time.monotonic_ns()}.json"
    recipe.write_text(json.dumps(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent) + os.pathsep + str(TESTS)}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), mode, str(recipe), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=new_session)


def recipe_raw(tmp: Path, miners: list[dict], **mining) -> dict:
    return {"run": {"seed": 3}, "data": {"source": "tiny-captions"},
            "mining": {"k": 1, "cache_dir": str(tmp / "cache"), **mining}, "miners": miners}


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120):
    deadline = time.time() + timeout
    while not (found := predicate()):
        if proc.poll() is not None:
            raise AssertionError(f"the miner ended before {what}: {proc.stderr.read().decode()[-2000:]}")
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)
    return found


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# -- 3. a live miner's temporary shard survives a second miner's sweep -------------------------------------


def test_a_second_miner_never_sweeps_a_live_miners_shard(host, tmp_path):
    raw = recipe_raw(tmp_path, [{"name": "test-slow", "delay": 0.5}], batch_size=8)  # 8 batches, 4 s
    first = start("api", raw, tmp_path)
    root = tmp_path / "cache" / mining_fingerprint(mining_plan(recipe_from_dict(raw)), CAPTIONS)
    temps = wait_for(lambda: [p for p in root.glob(".*") if p.is_dir() and any(p.iterdir())], first,
                     "a temporary shard being written")
    old = time.time() - 600  # its folder is old: writing inside never touches the folder's mtime
    for tmp in temps:
        os.utime(tmp, (old, old))
    SlowMiner.extra = 1.0  # the second miner finishes well after the first
    try:
        second = mine_cached(mining_plan(recipe_from_dict(raw)), CAPTIONS, progress=False)
    finally:
        SlowMiner.extra = 0.0
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()[-2000:]  # the first miner's work was not pulled from under it
    assert len(second.dataset) == len(CAPTIONS)


def test_dead_miners_leftovers_are_swept_even_from_a_complete_cache(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    stale = first.path / f".shard-000000000-000000020.abcd.tmp-{proc.pid}.{os.uname().nodename}"
    stale.mkdir()
    (stale / "mined.arrow").write_bytes(b"x" * 10_000)
    stale_json = first.path / f".config.json.tmp-{proc.pid}"
    stale_json.write_text("{")
    live = temp_dir(first.path / "shard-000000020-000000040")  # ours: alive
    again = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    assert again.reused and not stale.exists() and not stale_json.exists() and live.exists()


# -- 4. workers die with their parent -----------------------------------------------------------------------


def test_kill_9_of_the_miner_takes_its_workers_with_it(tmp_path):
    raw = recipe_raw(tmp_path, [{"name": "test-slow", "delay": 2.0}], num_proc=2, batch_size=2)
    proc = start("api", raw, tmp_path)
    workers = wait_for(lambda: {p for p in descendants(proc.pid) if alive(p)} if len(descendants(proc.pid)) >= 2
                       else set(), proc, "worker processes")
    time.sleep(1.0)
    workers |= descendants(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.time() + 20
    while any(alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if alive(p)]
    for pid in left:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"orphaned workers {left}"


# -- 5. a shard whose bytes changed is mined again, never read --------------------------------------------


def test_flipped_bytes_in_a_shards_strings_are_detected_and_remined(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    expected = rows(first.dataset)  # read now: the table is memory-mapped from the file about to be damaged
    arrow = next(sorted(first.path.glob("shard-*"))[0].glob("*.arrow"))
    raw = arrow.read_bytes()
    at = raw.index(b"A man riding")
    arrow.write_bytes(raw[:at] + b"B man riding" + raw[at + 12:])  # same size, same structure, other text
    CountingMiner.mined = 0
    again = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    assert CountingMiner.mined == 20 and not again.reused
    assert rows(again.dataset) == expected


def test_a_damaged_arrow_offset_is_remined_not_a_crash(host, tmp_path):
    recipe = make_recipe(tmp_path, [{"name": "test-counting"}])
    first = mine_cached(recipe, CAPTIONS, shard_size=20, progress=False)
    arrow = next(sorted(first.path.glob("shard-*"))[0].glob("*.arrow"))
    raw = bytearray(arrow.read_bytes())
    at = raw.index(b"A man riding") - 64  # inside the offsets buffer in front of the string data
    raw[at:at + 8] = b"\xff\xff\xff\x7f\xff\xff\xff\x7f"
    arrow.write_bytes(bytes(raw))
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from test_mining_safety import *; "
            "from test_mining_stage import make_recipe; from pathlib import Path\n"
            "with components():\n"
            "    r = mine_cached(make_recipe(Path(sys.argv[1]), [{'name': 'test-counting'}]), CAPTIONS, "
            "shard_size=20, progress=False)\n"
            "    print(len(r.dataset), r.reused)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(TESTS)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(TESTS.parent)}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(len(CAPTIONS)), "False"]


# -- 10. a full disk under the cache ------------------------------------------------------------------------


def test_a_full_cache_disk_is_one_line_and_leaves_no_temp(host, tiny_disk):
    recipe = recipe_from_dict({"run": {"seed": 3}, "data": {"source": "tiny-captions"},
                               "mining": {"k": 1, "cache_dir": str(tiny_disk)}, "miners": [{"name": "test-counting"}]})
    captions = [f"caption {i} " + "long words " * 100 for i in range(3000)]  # about 7 MB mined
    with pytest.raises(DiskFullError, match="no space left on device writing mining shard into") as info:
        mine_cached(mining_plan(recipe), captions, progress=False)
    assert "\n" not in str(info.value)
    assert not [p for p in tiny_disk.rglob("*") if ".tmp-" in p.name]


# -- 13. a miner that breaks its contract is named in one line ----------------------------------------------


@pytest.mark.parametrize("how", ["raise", "str", "dict", "none-text"])
def test_a_misbehaving_miner_is_named_with_its_plugin_and_caption(host, tmp_path, how):
    recipe = make_recipe(tmp_path, [{"name": "test-broken", "how": how}])
    with pytest.raises(PluginError) as info:
        mine_cached(recipe, CAPTIONS, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "miner 'test-broken' (plugin test-components" in message
    assert "A small cat sleeping on top of a wooden chair." in message
    root = tmp_path / "cache" / mining_fingerprint(recipe, CAPTIONS)
    assert not list(root.glob("shard-*")) and not (root / "complete.json").exists()


def test_a_misbehaving_miner_in_worker_processes_is_one_cli_line(tmp_path):
    raw = recipe_raw(tmp_path, [{"name": "test-broken", "how": "str"}], num_proc=2, batch_size=4)
    proc = start("cli", raw, tmp_path)
    _, err = proc.communicate(timeout=300)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert proc.returncode == 1, err.decode()[-3000:]
    assert lines[-1].startswith("negkit: error: miner 'test-broken' (plugin test-components"), lines[-3:]
    assert "Traceback" not in err.decode()


# -- 14. Ctrl-C with worker processes -----------------------------------------------------------------------


def test_ctrl_c_while_mining_with_workers_is_one_line_and_exit_130(tmp_path):
    raw = recipe_raw(tmp_path, [{"name": "test-slow", "delay": 2.0}], num_proc=2, batch_size=2)
    proc = start("cli", raw, tmp_path, new_session=True)
    wait_for(lambda: len(descendants(proc.pid)) >= 2, proc, "worker processes")
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert [line for line in text.splitlines() if line.strip()][-1].startswith("negkit: interrupted; finished "
                                                                               "shards are kept")


# -- script mode --------------------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    mode, recipe_path = argv[0], Path(argv[1])
    raw = json.loads(recipe_path.read_text())
    with components():
        if mode == "api":
            result = mine_cached(mining_plan(recipe_from_dict(raw)), CAPTIONS, progress=False)
            print(len(result.dataset), flush=True)
            return
        toml = recipe_path.with_suffix(".toml")
        toml.write_text(_toml(raw))
        from negkit.cli import main as cli

        try:
            cli(["mine", str(toml), "--no-progress"])
        except NegkitError:  # pragma: no cover - the CLI prints these itself
            raise


def _toml(raw: dict) -> str:
    lines = []
    for section in ("run", "data", "mining"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in raw[section].items()]
    for miner in raw["miners"]:
        lines.append("[[miners]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in miner.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))
    main(sys.argv[1:])
