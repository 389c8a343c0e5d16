"""The command line: exit codes, one-line errors, no torch for the light commands."""

import json
import sys
import textwrap

import pytest
from conftest import REPO, run_cli

RECIPE = """
[run]
name = "cli"

[data]
source = "shapes"

[mining]
k = 2

[[miners]]
name = "ngram-shuffle"

[[losses]]
name = "infonce"
"""


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "cli.toml"
    path.write_text(RECIPE)
    return path


def test_version():
    from negkit import __version__

    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"negkit {__version__}"


def test_help_lists_the_commands():
    res = run_cli("--help")
    assert res.returncode == 0
    for command in ("run", "validate", "list-plugins", "try"):
        assert command in res.stdout


def test_light_commands_do_not_import_torch(recipe):
    code = textwrap.dedent(f"""
        import sys
        from negkit.cli import main
        for argv in (["--help"], ["list-plugins", "--json"], ["validate", {str(recipe)!r}]):
            try:
                main(argv)
            except SystemExit as exc:
                assert not exc.code, (argv, exc.code)
        heavy = [m for m in ("torch", "spacy", "open_clip", "datasets") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    import subprocess

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout


def test_validate_ok_and_failures(recipe, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(RECIPE.replace('name = "ngram-shuffle"', 'name = "ngram-shufle"'))
    res = run_cli("validate", str(recipe))
    assert res.returncode == 0 and f"ok   {recipe}" in res.stdout
    res = run_cli("validate", str(recipe), str(bad))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert f"FAIL {bad}: [miners[0]]: unknown miner 'ngram-shufle'" in res.stderr


@pytest.mark.parametrize("setup, needle", [
    (lambda p: p.write_text("[run\n"), "TOML syntax error"),
    (lambda p: p.write_text(RECIPE + "\n[train]\nepochs = 'x'\n"), "[train]: epochs"),
    (lambda p: p.write_text(RECIPE.replace("[mining]", "[minning]")), "unknown section [minning]"),
    (lambda p: None, "recipe file not found"),
])
def test_run_with_bad_recipe_is_one_clear_line(tmp_path, setup, needle):
    path = tmp_path / "r.toml"
    setup(path)
    res = run_cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and str(path) in lines[0]


@pytest.mark.parametrize("argv, needle", [
    (("run", "--bogus"), "No such option: --bogus"),
    (("audit", "--out", "x"), "No such option: --out"),
    (("run",), "Missing argument"),
    (("nosuchcmd",), "No such command 'nosuchcmd'"),
])
def test_a_mistyped_command_line_is_a_usage_error_not_a_traceback(argv, needle):
    res = run_cli(*argv)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr


def test_bad_set_path_is_one_clear_line(recipe):
    res = run_cli("validate", str(recipe), "--set", "train.nope=1")
    assert res.returncode == 1 and "[train] has no key 'nope'" in res.stderr and "Traceback" not in res.stderr


def test_debug_shows_the_traceback(tmp_path):
    res = run_cli("run", str(tmp_path / "missing.toml"), env={"NEGKIT_DEBUG": "1"})
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_try_prints_negatives():
    res = run_cli("try", "ngram-shuffle", "a red circle left of a blue square", "-k", "2", "--json",
                  "--set", "n=1")
    assert res.returncode == 0, res.stderr
    negs = json.loads(res.stdout)
    assert len(negs) == 2 and all(n["kind"] == "shuffle-ngram" for n in negs)
    res = run_cli("try", "ngram-shuffle", "a red circle left of a blue square")
    assert res.returncode == 0 and "shuffle-ngram" in res.stdout


def test_try_with_bad_input():
    res = run_cli("try", "nosuch-miner", "a dog")
    assert res.returncode == 1 and "unknown miner 'nosuch-miner'" in res.stderr
    res = run_cli("try", "ngram-shuffle", "a dog", "--set", "nn=2")
    assert res.returncode == 1 and "no argument 'nn'" in res.stderr
    res = run_cli("try", "ngram-shuffle", "a dog", "--set", "n=0")
    assert res.returncode == 1 and "n must be >= 1" in res.stderr


def test_plugin_that_raises_at_import(tmp_path):
    site = tmp_path / "site"
    dist = site / "negkit_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: negkit-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[negkit]\nbroken = negkit_broken_mod\n")
    (site / "negkit_broken_mod.py").write_text("raise ImportError('needs a library that is not installed')\n")
    env = {"PYTHONPATH": str(site)}
    res = run_cli("list-plugins", "--json", env=env)
    assert res.returncode == 0
    row = next(r for r in json.loads(res.stdout) if r["name"] == "broken")
    assert row["version"] == "0.1" and "needs a library that is not installed" in row["error"]
    assert "negkit: warning: plugin 'broken' failed to import" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("try", "broken-miner", "a dog", env=env)
    assert res.returncode == 1 and "broken: failed to import" in res.stderr


def test_recipe_can_use_the_example_plugin_miner(tmp_path):
    pytest.importorskip("negkit_example")
    path = tmp_path / "ex.toml"
    path.write_text(RECIPE.replace('"ngram-shuffle"', '"relation-flip"'))
    assert run_cli("validate", str(path)).returncode == 0
    res = run_cli("validate", str(path), env={"NEGKIT_LOAD_PLUGINS": ""})
    assert res.returncode == 1 and "unknown miner 'relation-flip'" in res.stderr


def test_unknown_model_name_fails_before_mining(recipe, tmp_path):
    res = run_cli("run", str(recipe), "--set", "model.name=ViT-B-33", "--out", str(tmp_path / "runs"))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"{recipe}: [model.name]: unknown open_clip model 'ViT-B-33'; did you mean ViT-B-32" in res.stderr
    assert "mining" not in res.stdout
