"""Sweep files: grids and excludes expand as documented, seeds say what they vary, and every bad file gives
one line per problem naming the file and the key, exit 1, with nothing started."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO

from negkit.cli import main
from negkit.sweep.plan import plan_runs
from negkit.sweep.spec import TABLES, check_sweep, load_sweep

MICRO_MODEL = {  # a smaller sibling of negkit-tiny: a run takes seconds on a CPU
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}

RECIPE = """
[run]
name = "tiny"
device = "cpu"

[data]
source = "shapes"
image_size = 32
grid = 2
train_size = 64
val_size = 8
test_size = 32
single_size = 16

[model]
name = "negkit-test-micro"
config_dir = "{dir}"
pretrained = ""
precision = "fp32"

[mining]
k = 1
cache_dir = "{dir}/mining-cache"

[[miners]]
name = "ngram-shuffle"

[[losses]]
name = "infonce"

[train]
batch_size = 16
max_steps = 2
lr = 1e-2
warmup_steps = 0
checkpoint_every = 1

[[eval]]
name = "shapes-compositional"
limit = 16

[[eval]]
name = "zero-shot"
label = "shape"
split = "test-single"
limit = 16

[report]
plots = false
"""

SWEEP = """
[sweep]
name = "tiny"
recipe = "tiny.toml"
out = "{dir}/sweeps"
baseline = "clip"
metrics = ["shapes-compositional/micro/acc", "shapes-compositional/macro/acc", "zero-shot/shape/acc"]
jobs = 2
threads = 1
bootstrap = 1000

[seeds]
values = [0, 1]

[[arms]]
name = "clip"
set = ["losses.0.name=\\"clip\\"", "mining.k=0"]

[[arms]]
name = "shuffle"
"""


def write_sweep(tmp_path: Path, sweep: str = SWEEP) -> Path:
    """A tiny recipe, its model config and a sweep file over it in ``tmp_path``; returns the sweep file."""
    (tmp_path / "negkit-test-micro.json").write_text(json.dumps(MICRO_MODEL))
    (tmp_path / "tiny.toml").write_text(RECIPE.replace("{dir}", str(tmp_path)))
    path = tmp_path / "sweep.toml"
    path.write_text(sweep.replace("{dir}", str(tmp_path)))
    return path


def test_arms_grids_and_excludes_expand(tmp_path):
    path = write_sweep(tmp_path, SWEEP + """
[[grids]]
name = "lr"
set = ["train.max_steps=1"]
axes = { "train.lr" = [0.001, 0.01], "losses.0.name" = ["infonce", "clip"] }
exclude = [{ "train.lr" = 0.001, "losses.0.name" = "clip" }]
""")
    sweep = load_sweep(path)
    assert [a.name for a in sweep.arms] == ["clip", "shuffle", "lr-lr=0.001-name=infonce", "lr-lr=0.01-name=infonce",
                                            "lr-lr=0.01-name=clip"]
    grid_arm = sweep.arm("lr-lr=0.01-name=clip")
    assert grid_arm.overrides == ["train.max_steps=1", "train.lr=0.01", 'losses.0.name="clip"']
    runs, stages = plan_runs(sweep)
    assert [r.name for r in runs[:5]] == [f"{a.name}-s0" for a in sweep.arms]  # seed-major
    assert len(runs) == 10
    # equal mining settings share one stage: every arm that mines uses the same data, k, seed and miner
    assert len(stages) == 1 and len(next(iter(stages.values())).runs) == 8
    assert runs[0].resolved["run"]["seed"] == 0 and runs[5].resolved["run"]["seed"] == 1
    # mining seed fixed at the base recipe's (run.seed 0) unless the sweep varies it
    assert {r.resolved["mining"]["seed"] for r in runs} == {0}


def test_varying_the_mining_seed_gives_one_mining_stage_per_seed(tmp_path):
    path = write_sweep(tmp_path, SWEEP.replace("values = [0, 1]", "values = [0, 1]\nvary = [\"run\", \"mining\"]"))
    runs, stages = plan_runs(load_sweep(path))
    assert [r.resolved["mining"]["seed"] for r in runs] == [0, 0, 1, 1]
    assert len(stages) == 2


BAD = [
    ("[[arms]]\nname = \"x\"\ncolour = \"red\"\n", "arms[2].colour", "unknown key 'colour'"),
    ("[[arms]]\nname = \"x\"\nset = [\"train.lr=fast\"]\n", "arms[2]", "arm 'x'"),
    ("[[arms]]\nname = \"x\"\nset = [\"train.nope=1\"]\n", "arms[2]", "has no key 'nope'"),
    ("[[arms]]\nname = \"clip\"\n", "arms[2].name", "duplicate arm name 'clip'"),
    ("[[grids]]\nname = \"g\"\naxes = {}\n", "grids[0].axes", "empty grid"),
    ("[[grids]]\nname = \"g\"\naxes = { \"train.lr\" = [] }\n", "grids[0].axes.train.lr", "empty axis"),
    ("[[grids]]\nname = \"g\"\naxes = { \"train.lr\" = [0.1] }\nexclude = [{ \"train.lr\" = 0.1 }]\n",
     "grids[0].exclude", "every combination"),
    ("[[arms]]\nname = \"x\"\nrecipe = \"missing.toml\"\n", "arms[2].recipe", "recipe file not found"),
    ("[[arms]]\nname = \"a b\"\n", "arms[2].name", "letters, digits"),
    ("[oops]\n", "oops", "unknown table"),
    ("[[claims]]\nname = \"c\"\nmetric = \"zero-shot/shape/acc\"\norder = [\"shuffle\", \"nope\"]\n",
     "claims[0].order[1]", "no arm is named 'nope'"),
    ("[[claims]]\nname = \"c\"\nmetric = \"zero-shot/shape/acc\"\norder = [\"shuffle\"]\n", "claims[0].order",
     "at least two arms"),
    ("[[claims]]\nname = \"c\"\nmetric = \"log:grad_share_hard\"\narm = \"clip\"\n", "claims[0]",
     "exactly one of below"),
    ("[[claims]]\nname = \"c\"\nmetric = \"zero-shot/shape/acc\"\n", "claims[0]", "needs order"),
    ("[[claims]]\nname = \"c\"\nmetric = \"accuracy\"\norder = [\"shuffle\", \"clip\"]\n", "claims[0].metric",
     "not a metric key"),
    ("[[claims]]\nname = \"c\"\nmetric = \"a/b\"\norder = [\"shuffle\", \"clip\"]\ntolerance = 0.1\n",
     "claims[0].tolerance", "give that too"),
    ("[[claims]]\nname = \"c\"\nmetric = \"a/b\"\norder = [\"shuffle\", \"clip\"]\nbetter = 1\n",
     "claims[0].better", "unknown key 'better'"),
    ("[[contrasts]]\nname = \"t\"\nreference = \"clip\"\narms = [\"shufle\"]\n", "contrasts[0].arms[0]",
     "no arm is named 'shufle'"),
]


@pytest.mark.parametrize("extra, key, message", BAD)
def test_a_bad_sweep_file_gives_one_line_naming_file_and_key(tmp_path, capsys, extra, key, message):
    path = write_sweep(tmp_path, SWEEP + extra)
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "validate", str(path)])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"FAIL {path}: [{key}]: ") and message in lines[0], lines[0]
    with pytest.raises(SystemExit) as exit_info:  # and `sweep run` refuses before starting anything
        main(["sweep", "run", str(path)])
    assert exit_info.value.code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_several_problems_each_get_their_line(tmp_path):
    extra = "[[arms]]\nname = \"clip\"\n"
    path = write_sweep(tmp_path, SWEEP.replace('baseline = "clip"', 'baseline = "nope"') + extra)
    sweep, errors = check_sweep(path)
    assert sweep is None
    assert [e.key for e in errors] == ["arms[2].name", "sweep.baseline"]
    path.write_text("[sweep]\nmetrics = []\njobs = 0\n")
    _, errors = check_sweep(path)
    assert {e.key for e in errors} == {"sweep.metrics", "sweep.jobs"}


def test_every_sweep_key_is_documented():
    """docs/sweeps.md has a `### key` heading under `## [table]` / `## [[table]]` for every key of the file."""
    keys, table = {}, None
    for line in (REPO / "docs" / "sweeps.md").read_text().splitlines():
        if m := re.match(r"^## \[\[?(\w+)\]\]?\s*$", line):
            table = m.group(1)
            keys[table] = set()
        elif (m := re.match(r"^### (\w+)\s*$", line)) and table:
            keys[table].add(m.group(1))
    for name, model in TABLES.items():
        assert set(model.model_fields) == keys.get(name, set()), f"docs/sweeps.md [{name}]"


def test_shipped_sweep_files_validate():
    files = sorted((REPO / "sweeps").glob("*.toml"))
    assert files
    for path in files:
        sweep, errors = check_sweep(path)
        assert not errors, [str(e) for e in errors]
        assert sweep.baseline is not None


def test_the_tutorial_sweep_validates_against_the_slipform_recipe(tmp_path):
    """docs/sweeps.md's example, with the flagship recipe standing in for the reader's own."""
    text = (REPO / "docs" / "sweeps.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    block = "\n".join(line[3:] if line.startswith("   ") else line for line in block.splitlines())
    assert 'recipe = "../recipes/my-recipe.toml"' in block
    path = tmp_path / "my-sweep.toml"
    block = block.replace("../recipes/my-recipe.toml", str(REPO / "recipes" / "slipform.toml"))
    path.write_text(block.replace("../recipes/clip-finetune.toml", str(REPO / "recipes" / "clip-finetune.toml")))
    sweep, errors = check_sweep(path)
    assert not errors, [str(e) for e in errors]
    assert [a.name for a in sweep.arms] == ["clip", "slipform", "cement-lam=0.1", "cement-lam=0.3", "cement-lam=1.0"]
