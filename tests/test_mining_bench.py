"""``negkit bench mine``: each miner against spaCy tagging alone, in turn batch by batch (no timing
thresholds here; the command's numbers are checked for consistency, not speed)."""

from __future__ import annotations

import json

from conftest import run_cli

from negkit.cli import main


def test_bench_mine_reports_every_miner_against_the_floor(sugarcrepe_dir, tmp_path, capsys):
    out = tmp_path / "bench.json"
    main(["bench", "mine", str(sugarcrepe_dir / "swap_att.json"), "--limit", "60", "--batch-size", "16",
          "--miner", "random-swap", "--miner", "ngram-shuffle", "--miner", "precomputed", "--repeats", "2",
          "--json", str(out)])
    printed = capsys.readouterr().out
    assert "60 captions" in printed and "precomputed: skipped" in printed
    res = json.loads(out.read_text())
    assert res["captions"] == 60 and res["repeats"] == 2 and not res["warm_caches"]
    swap = res["miners"]["random-swap"]
    assert len(swap["ratios"]) == 2 and swap["ratio"] in swap["ratios"]  # the median-ratio repeat
    assert swap["floor_cpu_s"] > 0 and swap["cpu_s"] > 0 and swap["coverage"] > 0.9
    assert swap["rate_per_cpu_s"] == swap["captions"] / swap["cpu_s"]
    assert res["miners"]["ngram-shuffle"]["ratio"] < swap["ratio"]  # no tagging at all: well under the floor
    assert "'path' is not set" in res["miners"]["precomputed"]["skipped"]


def test_bench_mine_user_errors_are_one_line(tmp_path):
    bad = run_cli("bench", "mine", str(tmp_path / "nope.txt"))
    assert bad.returncode == 1 and "captions file not found" in bad.stderr and "Traceback" not in bad.stderr
    caps = tmp_path / "c.txt"
    caps.write_text("a dog on a bench\n")
    unknown = run_cli("bench", "mine", str(caps), "--miner", "concrete-plantt")
    assert unknown.returncode == 1 and "concrete-plant" in unknown.stderr and "Traceback" not in unknown.stderr


def test_bench_mine_is_a_library_call(tmp_path):
    """What the command prints comes from ``negkit.mining.bench.bench_mine``: tests and plugins can call it."""
    import pytest

    from negkit.errors import DataError
    from negkit.mining.bench import bench_mine

    res = bench_mine(["a red car next to a blue house", "two dogs on the grass"] * 5, ["ngram-shuffle"], k=1,
                     batch_size=4, repeats=1)
    assert [t.name for t in res.timings] == ["ngram-shuffle"] and res.as_dict()["captions"] == 10
    assert res.table().row_count == 1 and res.notes() == []
    with pytest.raises(DataError, match="empty.txt: no captions in it"):
        bench_mine([], source="empty.txt")
