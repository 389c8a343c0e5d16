"""``negkit eval --model``: negkit-tiny (random init) on every compositional benchmark's fixture, through the
command line, into a run directory that ``negkit compare`` reads; the QuickGELU trap; one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from fixtures import compo

from negkit.errors import RecipeError
from negkit.model_eval import eval_tables, parse_settings, quickgelu_warning
from negkit.rundir import read_items


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(value)


def test_compositional_suite_end_to_end(tmp_path):
    settings = compo.suite_root(tmp_path / "data")
    res = run_cli("eval", "--model", "negkit-tiny", "--suite", "compositional", "--data-root", str(tmp_path / "data"),
                  "--out", str(tmp_path / "runs"), "--device", "cpu", "--batch-size", "8", "--workers", "2",
                  "--set", f"compositional-suite.settings={toml_value(settings)}")
    assert res.returncode == 0, res.stderr
    run = tmp_path / "runs" / "eval-negkit-tiny-random"
    for name in ("metrics.json", "eval_meta.json", "items.jsonl", "report.md", "recipe.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    singles = {k.split("/")[1]: v for k, v in metrics.items() if k.endswith("/score")}
    assert len(singles) == 11
    assert metrics["compositional-suite/comp-avg"] == pytest.approx(sum(singles.values()) / 11)
    assert "comp-avg" in res.stdout and "compositional-suite/aro/vg-relation/n" not in res.stdout
    groups = {g.split("/")[1] for g in read_items(run)}
    assert groups == set(singles)  # per-item results for every benchmark
    meta = json.loads((run / "eval_meta.json").read_text())
    assert meta["crepe"]["missing_images"] == 0 and "single_numbers" in meta["compositional-suite"]
    from negkit.report.compare import markdown_table

    assert "comp-avg" in markdown_table([run, run])


def test_quickgelu_trap_names_the_right_model():
    message = quickgelu_warning("ViT-B-32", "openai")
    assert message is not None and "ViT-B-32-quickgelu" in message
    assert quickgelu_warning("ViT-B-32-quickgelu", "openai") is None
    assert quickgelu_warning("ViT-B-32", "laion2b_s34b_b79k") is None


def test_tables_follow_the_data_root_layout(tmp_path):
    settings = parse_settings(["whatsup.limit=5", "whatsup.subsets=['vg-qa-one']"])
    tables = eval_tables("all", ["whatsup"], tmp_path, settings)
    assert [t["name"] for t in tables] == ["compositional-suite", "clip-benchmark", "whatsup"]
    assert tables[0]["data_root"] == str(tmp_path)
    assert tables[2]["data_dir"] == str(tmp_path / "whatsup") and tables[2]["limit"] == 5
    assert tables[2]["subsets"] == ["vg-qa-one"]


def test_one_line_errors(tmp_path):
    res = run_cli("eval", "--model", "negkit-tiny", "--eval", "spec", "--data-root", str(tmp_path / "none"),
                  "--out", str(tmp_path / "runs"), "--device", "cpu")
    assert res.returncode == 1
    assert "spec" in res.stderr and "'data_dir'" in res.stderr and "Traceback" not in res.stderr
    with pytest.raises(RecipeError, match="nothing to evaluate"):
        eval_tables(None, [], tmp_path)
    with pytest.raises(RecipeError, match="--suite 'comp'"):
        eval_tables("comp", [], tmp_path)
