"""Run-directory reading, report.md with plots, and ``negkit compare``."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from negkit.errors import DataError
from negkit.report.compare import collect, markdown_table
from negkit.report.report import write_report
from negkit.rundir import read_log, read_metrics, write_json


def _fake_run(root, name, metrics, steps=5):
    run_dir = root / name
    write_json(run_dir / "metrics.json", {"run": {"name": name, "steps": steps}, "metrics": metrics})
    write_json(run_dir / "recipe.json", {"model": {"name": "negkit-tiny", "pretrained": ""},
                                         "losses": [{"name": "cement", "weight": 1.0}], "mining": {"k": 1}})
    with open(run_dir / "log.jsonl", "w") as fh:
        for step in range(1, steps + 1):
            fh.write(json.dumps({"step": step, "epoch": step / steps, "loss": 3.0 / step,
                                 "cement/contrastive_loss": 2.0 / step, "cement/grad_share_hard": 0.1 * step,
                                 "lr": 1e-3, "time": 0.0}) + "\n")
        fh.write('{"step": 6, "loss": 0.')  # a torn last line from a killed run
    return run_dir


def test_report_has_metrics_table_and_plots(tmp_path):
    run_dir = _fake_run(tmp_path, "a", {"sugarcrepe/replace-att/acc": 0.8125, "retrieval/i2t/r1": 0.5})
    assert len(read_log(run_dir)) == 5
    path = write_report(run_dir)
    text = path.read_text()
    assert text.startswith("# negkit run: a")
    assert "| sugarcrepe/replace-att/acc | 0.8125 |" in text and "| retrieval/i2t/r1 | 0.5000 |" in text
    assert "- losses: cement x1.0" in text and "- pretrained: (random init)" in text
    for plot in ("losses", "diagnostics"):
        assert f"![{plot}](plots/{plot}.png)" in text
        assert (run_dir / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    no_plots = write_report(_fake_run(tmp_path, "b", {}), plots=False).read_text()
    assert "(no evaluators in the recipe)" in no_plots and "plots/" not in no_plots.split("Files:")[0]


def test_report_states_the_evaluation_rules_and_counts_as_integers(tmp_path):
    run_dir = _fake_run(tmp_path, "c", {"sugarcrepe/swap-att/acc": 1.0, "sugarcrepe/swap-att/n": 666.0})
    write_json(run_dir / "eval_meta.json", {"sugarcrepe": {"tie_rule": "a tie counts as wrong", "seed": 3,
                                                           "subsets": ["swap-att"]}})
    text = write_report(run_dir, plots=False).read_text()
    assert "## How the metrics were computed" in text
    assert "- sugarcrepe: tie_rule: a tie counts as wrong; seed: 3" in text
    assert "| sugarcrepe/swap-att/n | 666 |" in text and "| sugarcrepe/swap-att/acc | 1.0000 |" in text


def test_metrics_json_has_no_nan(tmp_path):
    write_json(tmp_path / "metrics.json", {"run": {}, "metrics": {"x/acc": float("nan")}})
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["x/acc"] is None


def test_compare_collects_the_union_of_metrics(tmp_path):
    a = _fake_run(tmp_path, "a", {"m/acc": 0.5, "m/only_a": 1.0})
    b = _fake_run(tmp_path, "b", {"m/acc": 0.75})
    names, keys, values = collect([a, b])
    assert names == ["a", "b"] and keys == ["m/acc", "m/only_a"] and values["b"]["m/acc"] == 0.75
    md = markdown_table([a, b])
    assert md.splitlines()[0] == "| metric | a | b |"
    assert "| m/only_a | 1.0000 | - |" in md


def test_compare_cli_prints_and_writes_markdown(tmp_path):
    a = _fake_run(tmp_path, "slipform", {"m/acc": 0.5})
    b = _fake_run(tmp_path, "baseline", {"m/acc": 0.25})
    out = tmp_path / "table.md"
    proc = run_cli("compare", str(a), str(b), "--markdown", str(out), "--plot", str(tmp_path / "cmp.png"))
    assert proc.returncode == 0, proc.stderr
    assert "slipform" in proc.stdout and "baseline" in proc.stdout and "0.5000" in proc.stdout
    assert "| m/acc | 0.5000 | 0.2500 |" in out.read_text()
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_on_a_folder_without_metrics_is_one_clear_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("compare", str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "metrics.json not found" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(DataError):
        read_metrics(tmp_path / "empty")


def test_per_item_results_are_written_per_evaluator_and_read_back(tmp_path):
    from negkit.eval.base import EvalContext, Evaluator
    from negkit.rundir import read_items
    from negkit.train.evaluate import named_evaluators, run_evaluators

    class Two(Evaluator):
        name = "two"

        def evaluate(self, ctx):
            ctx.record_items("swap", ["k1", "k2"], [1, 0])
            return {"swap/acc": 0.5}

    class Plain(Evaluator):
        name = "plain"

        def evaluate(self, ctx):
            return {"acc": 1.0}

    ctx = EvalContext(lambda ims: None, lambda ts: None, out_dir=tmp_path)
    metrics = run_evaluators(named_evaluators([("two", Two()), ("plain", Plain()), ("two", Two())]), ctx)
    assert metrics["two[0]/swap/acc"] == 0.5 and metrics["plain/acc"] == 1.0
    assert read_items(tmp_path) == {"two[0]/swap": {"k1": 1.0, "k2": 0.0}, "two[1]/swap": {"k1": 1.0, "k2": 0.0}}
    with pytest.raises(ValueError, match="2 ids but 1 values"):
        ctx.record_items("x", ["a", "b"], [1])


def test_report_opens_with_the_headline_against_the_step_0_reference_and_a_category_chart(tmp_path):
    after = {"sugarcrepe/swap-att/acc": 0.75, "sugarcrepe/add-obj/acc": 0.9, "sugarcrepe/micro/acc": 0.8,
             "sugarcrepe/macro/acc": 0.825, "sugarcrepe/swap-att/n": 4.0, "retrieval/mean/R": 0.5}
    run_dir = _fake_run(tmp_path, "h", after)
    write_json(run_dir / "reference" / "metrics.json", {"run": {"step": 0}, "metrics": {
        "sugarcrepe/swap-att/acc": 0.5, "sugarcrepe/add-obj/acc": 0.6, "sugarcrepe/macro/acc": 0.55,
        "retrieval/mean/R": None}})
    text = write_report(run_dir).read_text()
    head, rest = text.split("## Run", 1)
    assert "## Headline" in head and "before its first training step" in head
    assert "| sugarcrepe/macro/acc | 0.5500 | 0.8250 | +0.2750 |" in head
    assert "| retrieval/mean/R | - | 0.5000 | - |" in head  # an unknown reference value: no change claimed
    assert "swap-att" not in head.replace("(plots/categories.png)", "")  # categories: in the chart, not the headline
    assert "![accuracy per category](plots/categories.png)" in head
    assert (run_dir / "plots" / "categories.png").read_bytes()[:4] == b"\x89PNG"
    assert "| sugarcrepe/swap-att/acc | 0.7500 |" in rest  # then the full table


def test_report_headline_takes_the_recipes_keys_and_says_when_there_is_no_reference(tmp_path):
    from negkit.report.report import category_accuracies, headline_keys

    run_dir = _fake_run(tmp_path, "n", {"zero-shot/shape/acc": 0.4, "retrieval/mean/R": 0.2})
    recipe = json.loads((run_dir / "recipe.json").read_text())
    write_json(run_dir / "recipe.json", {**recipe, "report": {"headline": ["zero-shot/shape/acc", "nope/acc"]}})
    text = write_report(run_dir, plots=False).read_text()
    assert "(no reference: the run did not train" in text
    assert "| zero-shot/shape/acc | 0.4000 |" in text.split("## Run")[0]
    assert "retrieval/mean/R" not in text.split("## Run")[0]
    assert "headline names metrics this run does not have: nope/acc" in text
    assert headline_keys({"a/macro/acc": 1.0, "a/x/acc": 1.0, "b/mean/R": 1.0}) == ["a/macro/acc", "b/mean/R"]
    assert category_accuracies({"a/macro/acc": 1.0, "a/micro/acc": 1.0, "a/x/acc": 0.5, "a/x/n": 3.0,
                                "a/novel/acc": 0.1}) == {"a": {"x": 0.5}}
