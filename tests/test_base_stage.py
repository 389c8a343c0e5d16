"""``[model] init``: the base recipe is built once into its cache entry and reused; fine-tuning starts from its
final weights bit for bit; the init chain's errors are one line naming both files; a changed base refuses
``--resume``; a sweep builds a shared base once before its runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

from negkit.base_stage import BASE_JSON, COMPLETE, check_chain, resolve_base
from negkit.cli import main
from negkit.errors import NegkitError, RecipeError
from negkit.pipeline import evaluate_checkpoint, run
from negkit.recipe import load_recipe
from negkit.train.model import read_state_dict

BASE = """
[run]
seed = 3
device = "cpu"

[data]
source = "shapes"
image_size = 32
grid = 2
train_size = 32
val_size = 8
test_size = 16
single_size = 8

[model]
name = "negkit-tiny"
pretrained = ""
precision = "fp32"
{init}

[mining]
k = 0
cache_dir = "{cache}/mining"

[[losses]]
name = "infonce"

[train]
batch_size = 16
max_steps = 2
lr = 1e-2
warmup_steps = 0
checkpoint_every = 0

[[eval]]
name = "zero-shot"
label = "shape"
split = "test-single"
limit = 8

[report]
plots = false
"""

TUNE = BASE.replace("seed = 3", "seed = 4").replace("{init}", 'init = "{base}"')


def write(tmp_path: Path, name: str, text: str, **fields: str) -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{cache}", str(tmp_path / "cache")).replace("{init}", fields.pop("init", ""))
                    .replace("{base}", fields.pop("base", "base.toml")))
    return path


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_state_dict(path)[0]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_base_is_built_once_and_reused(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    console = Console(file=io.StringIO(), width=200)
    first = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=console)
    record = json.loads((first.run_dir / BASE_JSON).read_text())
    assert record["reused"] is False and record["recipe"] == str((tmp_path / "base.toml").resolve())
    entry = tmp_path / "cache" / "base" / record["fingerprint"]
    assert record["checkpoint"] == str(entry / "run" / "checkpoints" / "final.pt")
    assert (entry / COMPLETE).is_file() and (entry / "run" / "log.jsonl").is_file()
    assert (entry / "run" / "report.md").is_file()
    assert "base: built in" in console.file.getvalue()
    log_before = (entry / "run" / "log.jsonl").stat().st_mtime_ns
    built = {p.relative_to(entry) for p in entry.rglob("*")}

    console = Console(file=io.StringIO(), width=200)
    second = run(load_recipe(tune, ["run.name=b", "report.plots=true", "train.lr=1e-3"]), out=tmp_path / "runs",
                 console=console)
    again = json.loads((second.run_dir / BASE_JSON).read_text())
    assert again["reused"] is True and again["fingerprint"] == record["fingerprint"]
    assert f"base: reused {record['fingerprint']}" in console.file.getvalue()
    # nothing of the base ran again: the same files, its log untouched, one entry in the cache
    assert {p.relative_to(entry) for p in entry.rglob("*")} == built
    assert (entry / "run" / "log.jsonl").stat().st_mtime_ns == log_before
    assert [p.name for p in (tmp_path / "cache" / "base").iterdir()] == [record["fingerprint"]]
    # a key that does not change the weights keeps the entry; one that does makes another
    base = load_recipe(tune).model.init
    assert base == "base.toml"
    write(tmp_path, "base.toml", BASE.replace('label = "shape"', 'label = "colour"'))
    assert resolve_base(load_recipe(tune)).fingerprint == record["fingerprint"]
    write(tmp_path, "base.toml", BASE.replace("lr = 1e-2", "lr = 2e-2"))
    assert resolve_base(load_recipe(tune)).fingerprint != record["fingerprint"]


def test_fine_tuning_starts_from_the_base_weights_bit_for_bit(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    # lr = 0: AdamW moves no weight, so the run's final weights are the weights it started from
    still = run(load_recipe(tune, ["run.name=still", "train.lr=0", "train.max_steps=1"]), out=tmp_path / "runs",
                console=quiet())
    base_ckpt = Path(json.loads((still.run_dir / BASE_JSON).read_text())["checkpoint"])
    assert same(weights(still.run_dir / "checkpoints" / "final.pt"), weights(base_ckpt))
    # the state before step 1 is the base: the reference ("before") evaluation equals the base's own
    base_metrics = json.loads((base_ckpt.parents[1] / "metrics.json").read_text())["metrics"]
    reference = json.loads((still.run_dir / "reference" / "metrics.json").read_text())["metrics"]
    assert reference == base_metrics
    assert "the final checkpoint of base recipe base.toml" in (still.run_dir / "report.md").read_text()
    # with epochs = 0 the evaluated model is the base too, and so is `negkit eval` without --checkpoint
    zero = run(load_recipe(tune, ["run.name=zero", "train.epochs=0"]), out=tmp_path / "runs", console=quiet())
    assert zero.metrics == base_metrics
    assert evaluate_checkpoint(load_recipe(tune), console=quiet()) == base_metrics
    # a fine-tuning that built its base and one that reused it train the same weights
    moved = run(load_recipe(tune, ["run.name=moved"]), out=tmp_path / "runs", console=quiet())
    fresh = run(load_recipe(tune, ["run.name=fresh", f"mining.cache_dir={tmp_path / 'other' / 'mining'}"]),
                out=tmp_path / "runs", console=quiet())
    assert json.loads((fresh.run_dir / BASE_JSON).read_text())["reused"] is False
    assert same(weights(moved.run_dir / "checkpoints" / "final.pt"), weights(fresh.run_dir / "checkpoints" /
                                                                             "final.pt"))
    assert not same(weights(moved.run_dir / "checkpoints" / "final.pt"), weights(base_ckpt))


def test_a_chain_of_bases_works_and_validates(tmp_path):
    write(tmp_path, "first.toml", BASE)
    write(tmp_path, "second.toml", BASE, init='init = "first.toml"')
    tune = write(tmp_path, "tune.toml", TUNE, base="second.toml")
    assert check_chain(load_recipe(tune)) == [(tmp_path / "second.toml").resolve(),
                                              (tmp_path / "first.toml").resolve()]
    main(["validate", str(tune)])
    result = run(load_recipe(tune), out=tmp_path / "runs", console=quiet())
    assert json.loads((result.run_dir / BASE_JSON).read_text())["reused"] is False
    assert len(list((tmp_path / "cache" / "base").iterdir())) == 2  # first.toml's entry and second.toml's


@pytest.mark.parametrize(("files", "expected"), [
    ({"base.toml": BASE.replace("{init}", 'init = "tune.toml"')}, "the init chain is a cycle"),
    ({"base.toml": BASE.replace('"negkit-tiny"', '"negkit-small"')}, "builds model 'negkit-small'"),
    ({}, "base recipe not found"),
    ({"base.toml": BASE.replace("lr = 1e-2", "lr = -1")}, "[train]"),
    ({"base.toml": BASE.replace("max_steps = 2", "epochs = 0")}, "trains no steps"),
])
def test_init_chain_errors_are_one_line_naming_both_files(tmp_path, capsys, files, expected):
    for name, text in files.items():
        write(tmp_path, name, text)
    tune = write(tmp_path, "tune.toml", TUNE)
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(tune)])
    assert exit_info.value.code == 1
    with pytest.raises(SystemExit):
        main(["run", str(tune), "--out", str(tmp_path / "runs")])
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2, errors
    for err in errors:
        assert expected in err and str(tune) in err and "[model.init]" in err and "Traceback" not in err
        assert str((tmp_path / "base.toml").resolve()) in err or "cycle" in err
    assert not (tmp_path / "runs" / "tune").exists()  # refused before the run directory was made


def test_init_and_pretrained_exclude_each_other(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE.replace('pretrained = ""', 'pretrained = "weights.pt"'))
    with pytest.raises(RecipeError) as info:
        load_recipe(tune)
    assert str(info.value).startswith(f"{tune}: [model.init]: ") and "keep one" in str(info.value)


def test_resume_refuses_a_changed_base(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    recipe = load_recipe(tune, ["run.name=r"])
    run(recipe, out=tmp_path / "runs", console=quiet())
    write(tmp_path, "base.toml", BASE.replace("lr = 1e-2", "lr = 2e-2"))
    with pytest.raises(NegkitError, match="base fingerprint .* -> "):
        run(load_recipe(tune, ["run.name=r"]), out=tmp_path / "runs", resume=True, console=quiet())


SWEEP = """
[sweep]
name = "ft"
recipe = "tune.toml"
out = "{dir}/sweeps"
baseline = "infonce"
metrics = ["zero-shot/shape/acc"]
jobs = 2
threads = 1

[seeds]
values = [0]

[[arms]]
name = "infonce"

[[arms]]
name = "clip"
set = ["losses.0.name=\\"clip\\""]
"""


@pytest.mark.slow  # child processes: each starts Python and torch
def test_a_sweep_builds_a_shared_base_once_before_its_runs(tmp_path):
    from negkit.sweep import execute, load_sweep
    from negkit.sweep.plan import plan_bases, plan_runs

    write(tmp_path, "base.toml", BASE)
    write(tmp_path, "tune.toml", TUNE)
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace("{dir}", str(tmp_path)))
    sweep = load_sweep(path)
    runs, _ = plan_runs(sweep)
    steps = plan_bases(runs)
    assert len(steps) == 1 and next(iter(steps.values())).runs == ["infonce-s0", "clip-s0"]
    key = next(iter(steps))
    events: list[str] = []
    outcome = execute(sweep, console=quiet(), on_event=events.append, poll=0.2)
    assert not outcome.failed, outcome.failed
    assert sorted(outcome.done) == ["clip-s0", "infonce-s0"]
    # the base job ran once, alone, before any run started
    assert [e for e in events if e.startswith("> base")] == [f"> base {key}"]
    built = next(i for i, e in enumerate(events) if e.startswith(f"+ base {key}:"))
    assert built < min(i for i, e in enumerate(events) if e.startswith("> run "))
    assert "base: built in" in (sweep.directory / "logs" / f"base-{key}.log").read_text()
    for name in ("infonce-s0", "clip-s0"):
        record = json.loads((sweep.directory / "runs" / name / BASE_JSON).read_text())
        assert record["reused"] is True
    assert len(list((tmp_path / "cache" / "base").iterdir())) == 1


def test_a_killed_build_is_never_reused_and_continues_to_the_same_weights(tmp_path):
    write(tmp_path, "base.toml", BASE.replace("checkpoint_every = 0", "checkpoint_every = 1"))
    tune = write(tmp_path, "tune.toml", TUNE)
    stage = resolve_base(load_recipe(tune))
    first = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=quiet())
    whole = weights(stage.checkpoint)
    # what a build killed after its first step leaves: step-1.pt, no final checkpoint, no metrics, no complete.json
    for name in (COMPLETE, "run/metrics.json", "run/checkpoints/final.pt", "run/checkpoints/final.pt.checksum.json"):
        (stage.folder / name).unlink()
    assert (stage.run_dir / "checkpoints" / "step-1.pt").is_file() and not stage.complete()
    console = Console(file=io.StringIO(), width=200)
    second = run(load_recipe(tune, ["run.name=b"]), out=tmp_path / "runs", console=console)
    printed = console.file.getvalue()
    assert f"base: continuing {stage.fingerprint}" in printed and "resuming from" in printed
    assert json.loads((second.run_dir / BASE_JSON).read_text())["reused"] is False and stage.complete()
    assert same(weights(stage.checkpoint), whole)
    assert same(weights(first.run_dir / "checkpoints" / "final.pt"), weights(second.run_dir / "checkpoints" /
                                                                             "final.pt"))


@pytest.mark.slow  # child processes: each starts Python and torch
def test_two_processes_never_build_the_same_base_twice(tmp_path):
    import os
    import subprocess
    import sys

    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    procs = [subprocess.Popen([sys.executable, "-m", "negkit", "base", str(tune)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted("base: built in" in out for out in outputs) == [False, True], outputs
    assert sum("base: reused" in out for out in outputs) == 1, outputs
    stage = resolve_base(load_recipe(tune))
    log = [json.loads(line) for line in (stage.run_dir / "log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in log if "step" in rec] == [1, 2]  # trained once


def test_a_failed_base_fails_only_the_runs_that_fine_tune_from_it(tmp_path):
    from test_sweep_schedule import InstantLauncher

    from negkit.sweep import execute, load_sweep
    from negkit.sweep.plan import plan_bases, plan_runs

    write(tmp_path, "base.toml", BASE)
    write(tmp_path, "tune.toml", TUNE)
    write(tmp_path, "plain.toml", BASE)
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace("{dir}", str(tmp_path)) + '\n[[arms]]\nname = "plain"\nrecipe = "plain.toml"\n')
    sweep = load_sweep(path)
    key = next(iter(plan_bases(plan_runs(sweep)[0])))
    launcher = InstantLauncher(sweep, fail={f"base {key}"})
    outcome = execute(sweep, console=quiet(), launcher=launcher, poll=0.01)
    assert launcher.started[0] == f"base {key}" and launcher.started[1:] == ["run plain-s0"]
    assert outcome.done == ["plain-s0"] and set(outcome.failed) == {"infonce-s0", "clip-s0"}
    assert all("its base model failed" in why for why in outcome.failed.values())


def test_the_reference_evaluation_of_the_base_is_kept_and_reused(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    console = quiet()
    first = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=console)
    assert "evaluating the model before training" in console.file.getvalue()
    entry = Path(json.loads((first.run_dir / BASE_JSON).read_text())["checkpoint"]).parents[2]
    kept = list((entry / "references").iterdir())
    assert len(kept) == 1 and not [p for p in (entry / "references").iterdir() if p.name.startswith(".")]

    # the same evaluators, data, seed and model: the kept evaluation, file for file, and the same training
    console = quiet()
    second = run(load_recipe(tune, ["run.name=b"]), out=tmp_path / "runs", console=console)
    assert "evaluating the model before training" not in console.file.getvalue()
    assert f"reference: the base's evaluation by these evaluators, reused ({kept[0]})" in console.file.getvalue()
    files = sorted(p.name for p in (first.run_dir / "reference").iterdir())
    assert files == sorted(p.name for p in (second.run_dir / "reference").iterdir()) and "metrics.json" in files
    for name in files:
        assert (first.run_dir / "reference" / name).read_bytes() == (second.run_dir / "reference" / name).read_bytes()
    assert same(weights(first.run_dir / "checkpoints" / "final.pt"), weights(second.run_dir / "checkpoints" /
                                                                               "final.pt"))
    assert second.metrics == first.metrics

    # another evaluator is evaluated and kept beside it; a training key changes nothing
    console = quiet()
    third = run(load_recipe(tune, ["run.name=c", "eval.0.label=colour"]), out=tmp_path / "runs", console=console)
    assert "evaluating the model before training" in console.file.getvalue()
    assert json.loads((third.run_dir / "reference" / "metrics.json").read_text())["metrics"] != json.loads(
        (first.run_dir / "reference" / "metrics.json").read_text())["metrics"]
    assert len(list((entry / "references").iterdir())) == 2
    console = quiet()
    run(load_recipe(tune, ["run.name=e", "train.lr=1e-3"]), out=tmp_path / "runs", console=console)
    assert "reused" in console.file.getvalue() and len(list((entry / "references").iterdir())) == 2


def test_a_half_kept_reference_is_never_read(tmp_path):
    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    first = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=quiet())
    kept = next((Path(json.loads((first.run_dir / BASE_JSON).read_text())["checkpoint"]).parents[2] /
                 "references").iterdir())
    (kept / "metrics.json").unlink()  # as if killed before its last file
    console = quiet()
    run(load_recipe(tune, ["run.name=b"]), out=tmp_path / "runs", console=console)
    assert "evaluating the model before training" in console.file.getvalue()
    assert (kept / "metrics.json").is_file()  # kept again, whole


def test_a_reference_that_cannot_be_kept_costs_only_the_reuse(tmp_path, monkeypatch):
    import negkit.base_stage

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    monkeypatch.setattr(negkit.base_stage, "copy_folder", refuse)
    console = quiet()
    done = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=console)
    assert "reference: not kept in the base's entry" in console.file.getvalue()
    assert "Permission denied" in console.file.getvalue()
    assert (done.run_dir / "reference" / "metrics.json").is_file() and done.metrics


def test_a_kept_reference_that_cannot_be_copied_is_evaluated_again(tmp_path, monkeypatch):
    import negkit.base_stage

    write(tmp_path, "base.toml", BASE)
    tune = write(tmp_path, "tune.toml", TUNE)
    first = run(load_recipe(tune, ["run.name=a"]), out=tmp_path / "runs", console=quiet())

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(negkit.base_stage, "copy_folder", refuse)
    console = quiet()
    second = run(load_recipe(tune, ["run.name=b"]), out=tmp_path / "runs", console=console)
    said = console.file.getvalue()
    assert "could not be copied (Permission denied)" in said and "evaluating the model before training" in said
    assert json.loads((second.run_dir / "reference" / "metrics.json").read_text())["metrics"] == json.loads(
        (first.run_dir / "reference" / "metrics.json").read_text())["metrics"]
