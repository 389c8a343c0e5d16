"""``negkit sweep claims``: the claims table's numbers and verdicts come from the sweep directory's run files
(metrics.json, items.jsonl, log.jsonl), not from constants: a fake sweep with known values gives known
differences, and changing a run's file changes the table."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from negkit.cli import main
from negkit.sweep.claims import BEGIN, END, FAILS, HOLDS, OPEN, combine, measure, verdict, write_claims
from negkit.sweep.spec import ClaimTable, ContrastTable
from negkit.sweep.stats import Interval

SEEDS = [0, 1, 2]
ITEMS = 200
RETRIEVAL = "retrieval/mean/R"
MICRO = "shapes-compositional/micro/acc"
SWAP = "shapes-compositional/swap-att/acc"

CLAIMS = [
    {"name": "concrete > random > abstract", "metric": MICRO, "order": ["concrete", "random", "abstract"]},
    {"name": "cement > infonce at equal retrieval", "metric": MICRO, "order": ["cement", "concrete"],
     "equal": RETRIEVAL, "tolerance": 0.02},
    {"name": "infonce imbalance", "metric": "log:grad_share_hard", "arm": "concrete", "below": 0.5},
    {"name": "cement moves it", "metric": "log:grad_share_hard", "order": ["cement", "concrete"]},
]
CONTRASTS = [{"name": "image negatives", "reference": "abstract", "arms": ["concrete", "cement"],
              "metrics": [MICRO, SWAP]}]


def accuracy_items(rate: float, seed: int, salt: int) -> list[float]:
    """ITEMS right/wrong values with exactly ``rate`` right, in a seeded order."""
    right = int(round(rate * ITEMS))
    values = np.array([1.0] * right + [0.0] * (ITEMS - right))
    np.random.default_rng(1000 * salt + seed).shuffle(values)
    return values.tolist()


def write_run(run_dir: Path, micro: float, retrieval: float, share: float, seed: int, salt: int,
              loss: str = "infonce") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    items = accuracy_items(micro, seed, salt)
    swap = accuracy_items(micro / 2, seed, salt + 50)
    metrics = {MICRO: float(np.mean(items)), SWAP: float(np.mean(swap)), RETRIEVAL: retrieval + 0.001 * seed}
    (run_dir / "metrics.json").write_text(json.dumps({"metrics": metrics}))
    rows = [{"group": "shapes-compositional/micro", "item": str(i), "value": v} for i, v in enumerate(items)]
    rows += [{"group": "shapes-compositional/swap-att", "item": str(i), "value": v} for i, v in enumerate(swap)]
    (run_dir / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    log = [{"step": s, f"{loss}/grad_share_hard": share + 0.01 * seed + 0.001 * s, "loss": 1.0} for s in (1, 25, 50)]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))


ARMS = {  # arm -> (micro accuracy, retrieval, gradient share, loss)
    "concrete": (0.70, 0.30, 0.10, "infonce"),
    "random": (0.60, 0.30, 0.10, "infonce"),
    "abstract": (0.60, 0.30, 0.10, "infonce"),
    "cement": (0.80, 0.30, 0.40, "cement"),
}


def fake_sweep(root: Path, arms: dict = ARMS, claims: list = CLAIMS, contrasts: list = CONTRASTS) -> Path:
    sweep_dir = root / "sweep"
    runs = []
    for salt, (arm, (micro, retrieval, share, loss)) in enumerate(arms.items()):
        for seed in SEEDS:
            run_dir = sweep_dir / "runs" / f"{arm}-s{seed}"
            write_run(run_dir, micro, retrieval, share, seed, salt, loss)
            runs.append({"name": run_dir.name, "arm": arm, "seed": seed, "run_dir": str(run_dir), "overrides": []})
    plan = {"name": "fake", "file": "fake.toml", "baseline": "abstract", "metrics": [MICRO, SWAP, RETRIEVAL],
            "seeds": SEEDS, "vary": ["run", "mining"],
            "arms": [{"name": a, "recipe": "r.toml", "overrides": []} for a in arms], "runs": runs,
            "bootstrap": 2000, "confidence": 0.95, "bootstrap_seed": 0, "claims": claims, "contrasts": contrasts}
    (sweep_dir / "sweep.json").write_text(json.dumps(plan))
    return sweep_dir


def test_verdicts_read_the_interval_against_zero_in_the_claimed_direction():
    def iv(low, high, n=3):
        return Interval((low + high) / 2, low, high, n)

    assert verdict(iv(0.01, 0.05), +1) == HOLDS
    assert verdict(iv(-0.05, -0.01), +1) == FAILS
    assert verdict(iv(-0.01, 0.05), +1) == OPEN
    assert verdict(iv(-0.05, -0.01), -1) == HOLDS  # lower is the claimed direction
    assert verdict(iv(0.01, 0.05), -1) == FAILS
    assert verdict(iv(0.01, 0.05, n=1), +1) == OPEN  # one seed: no interval over seeds, no verdict
    assert verdict(Interval(float("nan"), float("nan"), float("nan"), 0), +1) == OPEN
    assert combine([HOLDS, HOLDS]) == HOLDS
    assert combine([HOLDS, OPEN]) == OPEN
    assert combine([HOLDS, FAILS, OPEN]) == FAILS


def test_a_claimed_least_difference_reads_the_interval_against_it():
    def iv(low, high, n=3):
        return Interval((low + high) / 2, low, high, n)

    assert verdict(iv(0.012, 0.03), +1, by=0.01) == HOLDS
    assert verdict(iv(-0.004, 0.006), +1, by=0.01) == FAILS  # around 0: smaller than claimed, if any
    assert verdict(iv(-0.004, 0.006), +1) == OPEN  # the same interval cannot settle "by anything"
    assert verdict(iv(0.005, 0.015), +1, by=0.01) == OPEN
    assert verdict(iv(-0.03, -0.012), -1, by=0.01) == HOLDS  # lower is better, by more than 0.01
    assert verdict(iv(-0.006, 0.004), -1, by=0.01) == FAILS


def test_a_by_claim_on_the_runs_files(tmp_path):
    claims = [{"name": "random > abstract by 0.1", "metric": MICRO, "order": ["random", "abstract"], "by": 0.1},
              {"name": "concrete > random by 0.02", "metric": MICRO, "order": ["concrete", "random"], "by": 0.02},
              {"name": "concrete > random by 0.05", "metric": MICRO, "order": ["concrete", "random"], "by": 0.05}]
    result, _ = measure(fake_sweep(tmp_path, claims=claims))
    same, ahead, unsure = result.claims
    # random - abstract is exactly 0 (the same accuracy): "by anything" stays open, "by 0.1" does not hold
    assert same.comparisons[0].diff.high < 0.1 and same.verdict == FAILS
    # concrete - random is 0.70 - 0.60 = 0.10, its interval about [0.03, 0.18]: above 0.02, around 0.05
    assert ahead.comparisons[0].diff.low > 0.02 and ahead.verdict == HOLDS
    assert unsure.comparisons[0].diff.low < 0.05 < unsure.comparisons[0].diff.high and unsure.verdict == OPEN
    assert "by >= 0.02" in ahead.comparisons[0].text
    from negkit.sweep.spec import _check_claims, _Errors

    errors = _Errors(tmp_path / "s.toml")
    bound = ClaimTable.model_validate({"name": "x", "metric": MICRO, "arm": "concrete", "below": 0.5, "by": 0.01})
    _check_claims([("claims[0]", bound)], [], {"concrete"}, errors)
    assert any("by applies to order" in str(e) for e in errors.lines)


def test_the_claims_table_is_measured_from_the_runs_files(tmp_path):
    sweep_dir = fake_sweep(tmp_path)
    result, _ = measure(sweep_dir)
    chain, cement, imbalance, moves = result.claims
    first, second = chain.comparisons
    # concrete - random on the same 200 items and 3 seeds: exactly 0.70 - 0.60
    assert first.diff.value == pytest.approx(0.10) and first.diff.items == ITEMS and first.diff.n == 3
    assert first.verdict == HOLDS and first.diff.low > 0
    assert second.diff.value == pytest.approx(0.0) and second.verdict == OPEN
    assert chain.verdict == OPEN  # one link holds, one is open
    assert cement.verdict == HOLDS and "matched on retrieval/mean/R" in cement.comparisons[0].note
    # the gradient share comes from log.jsonl: mean over steps of 0.10 + 0.01 seed + 0.001 step, minus the bound
    expected = np.mean([0.10 + 0.01 * s + 0.001 * st for s in SEEDS for st in (1, 25, 50)]) - 0.5
    assert imbalance.comparisons[0].diff.value == pytest.approx(expected)
    assert imbalance.verdict == HOLDS
    assert moves.comparisons[0].diff.value == pytest.approx(0.30) and moves.verdict == HOLDS
    assert moves.comparisons[0].diff.items == 0  # log values pair on seeds only
    contrast = result.contrasts[0]
    assert contrast.diffs["concrete"][MICRO].value == pytest.approx(0.10)
    assert contrast.diffs["cement"][SWAP].value == pytest.approx(0.10)
    assert contrast.means["abstract"][MICRO].value == pytest.approx(0.60)


def test_changing_a_run_changes_the_table_and_its_verdict(tmp_path):
    sweep_dir = fake_sweep(tmp_path)
    write_claims(sweep_dir, plots=False)
    before = (sweep_dir / "claims.md").read_text()
    assert "+0.1000" in before
    # concrete now scores 0.50 in every seed: "concrete > random" fails, and so does the chain
    for seed in SEEDS:
        write_run(sweep_dir / "runs" / f"concrete-s{seed}", 0.50, 0.30, 0.10, seed, 0)
    write_claims(sweep_dir, plots=False)
    after = (sweep_dir / "claims.md").read_text()
    assert after != before and "-0.1000" in after
    data = json.loads((sweep_dir / "claims.json").read_text())
    assert data["claims"][0]["verdict"] == FAILS
    assert data["claims"][0]["comparisons"][0]["diff"]["value"] == pytest.approx(-0.10)
    # retrieval now differs between cement and concrete: "at equal retrieval" is confounded, so inconclusive
    for seed in SEEDS:
        write_run(sweep_dir / "runs" / f"cement-s{seed}", 0.80, 0.40, 0.40, seed, 3, "cement")
    result, _ = measure(sweep_dir)
    cement = result.claims[1].comparisons[0]
    assert cement.verdict == OPEN and cement.note.startswith("confounded: retrieval/mean/R differs by +0.1")
    assert cement.diff.low > 0  # the main difference alone would have held
    rows = (sweep_dir / "claims.csv").read_text().splitlines()
    assert rows[0].startswith("kind,name,verdict")


def test_cli_writes_claims_figures_and_the_results_page_section(tmp_path, capsys):
    sweep_dir = fake_sweep(tmp_path)
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    page.write_text(f"# Results\n\nbefore\n\n{BEGIN}\nold numbers\n{END}\n\nafter\n")
    main(["sweep", "claims", str(sweep_dir), "--into", str(page)])
    out = capsys.readouterr().out
    assert "concrete > random > abstract" in out
    assert (sweep_dir / "plots" / "claims-gradient-share.png").is_file()
    assert (sweep_dir / "plots" / "claims-contrast-1-image-negatives.png").is_file()
    text = page.read_text()
    assert "old numbers" not in text and text.startswith("# Results\n\nbefore") and text.endswith("after\n")
    assert f"negkit sweep claims {sweep_dir} --into {page}" in text
    assert "![claims-gradient-share](figures/fake/claims-gradient-share.png)" in text
    assert (page.parent / "figures" / "fake" / "claims-gradient-share.png").is_file()
    assert "| concrete > random > abstract | **inconclusive** |" in text


def test_claims_from_a_newer_sweep_file_and_no_claims_at_all(tmp_path, capsys):
    sweep_dir = fake_sweep(tmp_path, claims=[], contrasts=[])
    with pytest.raises(SystemExit) as info:
        main(["sweep", "claims", str(sweep_dir)])
    assert info.value.code == 1
    assert "declares no [[claims]]" in capsys.readouterr().err
    # a claim written after the runs, in the sweep file: measured on the same runs
    (tmp_path / "r.toml").write_text("")
    arms = "".join(f'[[arms]]\nname = "{a}"\nrecipe = "r.toml"\n\n' for a in ARMS)
    claim = ('[[claims]]\nname = "random beats concrete"\nmetric = "shapes-compositional/micro/acc"\n'
             'order = ["random", "concrete"]\n')
    sweep_file = tmp_path / "later.toml"
    sweep_file.write_text(f'[sweep]\nmetrics = ["{MICRO}"]\n\n{arms}{claim}')
    main(["sweep", "claims", str(sweep_dir), "--sweep-file", str(sweep_file), "--no-plots"])
    data = json.loads((sweep_dir / "claims.json").read_text())
    assert [c["name"] for c in data["claims"]] == ["random beats concrete"]
    assert data["claims"][0]["verdict"] == FAILS
    assert data["claims"][0]["comparisons"][0]["diff"]["value"] == pytest.approx(-0.10)


def test_the_documented_claims_fragment_validates():
    text = (REPO / "docs" / "sweeps.md").read_text()
    block = re.search(r"## Claims.*?```toml\n(.*?)```", text, re.S).group(1)
    raw = tomllib.loads(block)
    assert [ClaimTable.model_validate(c).name for c in raw["claims"]][0] == "concrete > random > abstract"
    assert ContrastTable.model_validate(raw["contrasts"][0]).reference == "none"
    # every fragment marked as checked here validates too
    marked = re.findall(r"<!-- test: no [^>]*test_sweep_claims\.py[^>]*-->\n```toml\n(.*?)```", text, re.S)
    assert len(marked) >= 2
    for fragment in marked:
        for c in tomllib.loads(fragment).get("claims", []):
            ClaimTable.model_validate(c)


@pytest.mark.parametrize("name", ["shapes-experiment", "shapes-experiment-small"])
def test_the_shipped_experiment_declares_the_papers_claims(name):
    from negkit.sweep.plan import plan_runs
    from negkit.sweep.spec import load_sweep

    sweep = load_sweep(REPO / "sweeps" / f"{name}.toml")
    assert len(sweep.seeds) >= 5 and set(sweep.vary) == {"run", "mining"}
    runs, _ = plan_runs(sweep)
    miners = {(r.arm, tuple(m["name"] for m in r.resolved["miners"]) if r.resolved["mining"]["k"] else ())
              for r in runs}
    losses = {(r.arm, r.resolved["losses"][0]["name"], r.resolved["losses"][0].get("mode")) for r in runs}
    used = {m for _, ms in miners for m in ms}
    assert {"concrete-plant", "random-word", "abstract-first"} <= used
    assert any(not ms for _, ms in miners)  # an arm without negatives
    assert {"infonce", "cement"} <= {name for _, name, _ in losses}
    claims = {c.name for c in sweep.claims}
    assert any("concrete > random > abstract" in c for c in claims)
    assert any("Cement > InfoNCE at equal retrieval" in c for c in claims)
    if name == "shapes-experiment":
        assert {"random-swap", "negclip-swap"} <= used
        assert {"fixed", "adaptive"} <= {mode for _, _, mode in losses}
        assert {r.resolved["train"]["batch_size"] for r in runs} >= {32, 64, 128}
        assert any(r.resolved["mining"]["image_negatives"] and not r.resolved["mining"]["k"] for r in runs)
        assert any("smaller batch" in c for c in claims) and any("adaptive > fixed" in c for c in claims)
        # the seeds change the mined negatives: one mining stage per miner table and seed
        assert len({r.resolved["mining"]["seed"] for r in runs}) == len(sweep.seeds)
