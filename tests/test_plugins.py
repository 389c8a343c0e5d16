"""The plugin host: built-ins, entry points, failures, env switches, duplicates, unknown names."""

import json
import sys

import pytest
from conftest import run_cli

from negkit import Miner, get_component, hookimpl
from negkit.errors import DuplicateComponentError, UnknownComponentError
from negkit.plugins import PluginHost, get_host
from negkit.testing import registered_components, registered_plugin


class _Echo(Miner):
    name = "ngram-shuffle"  # clashes with the built-in on purpose

    def mine(self, captions, *, k, seed):
        return [[] for _ in captions]


class _Fresh(Miner):
    name = "fresh-miner"

    def __init__(self, strength: int = 1):
        self.strength = strength

    def mine(self, captions, *, k, seed):
        return [[] for _ in captions]


def test_builtins_register_through_the_hooks():
    host = get_host()
    builtin = [p for p in host.plugins if p.source == "builtin"]
    assert builtin and all(p.module.startswith("negkit.builtins.") for p in builtin)
    assert "ngram-shuffle" in host.registries["miners"]
    assert any("ngram-shuffle" in p.registers.get("miners", []) for p in builtin)


def test_get_component_returns_the_class():
    from negkit.mining.ngram_shuffle import NgramShuffle

    assert get_component("miners", "ngram-shuffle") is NgramShuffle


def test_unknown_name_lists_close_matches_and_all_names():
    with pytest.raises(UnknownComponentError) as err:
        get_component("miners", "ngram-shufle")
    msg = str(err.value)
    assert "'ngram-shufle'" in msg and "Did you mean 'ngram-shuffle'" in msg and "Valid miners:" in msg


def test_unknown_kind_is_an_error():
    with pytest.raises(Exception, match="unknown component kind"):
        get_component("tokenizers", "x")


def test_duplicate_names_name_both_providers():
    with pytest.raises(DuplicateComponentError) as err:
        with registered_components(miners=[_Echo]):
            pass
    msg = str(err.value)
    assert "negkit.ngram_shuffle" in msg and "test-components" in msg and "'ngram-shuffle'" in msg


def test_in_process_registration_is_removed_afterwards():
    with registered_components(miners=[_Fresh]):
        assert get_component("miners", "fresh-miner") is _Fresh
    with pytest.raises(UnknownComponentError):
        get_component("miners", "fresh-miner")


def test_a_plugin_raising_in_its_hook_is_a_warning_and_a_row():
    class Broken:
        @hookimpl
        def register_miners(self, register):
            raise RuntimeError("boom")

    with pytest.warns(UserWarning, match="boom"):
        with registered_plugin(Broken(), name="broken") as host:
            row = next(p for p in host.plugins if p.name == "broken")
            assert "RuntimeError: boom" in row.error
            # the other plugins still work
            assert get_component("miners", "ngram-shuffle")


def test_failed_entry_point_is_a_row_and_named_when_a_recipe_needs_a_component(monkeypatch):
    import importlib.metadata as md

    ep = md.EntryPoint(name="broken-ep", value="negkit_no_such_module_xyz", group="negkit")
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None: [ep] if group == "negkit" else real(group=group))
    host = PluginHost()
    with pytest.warns(UserWarning, match="broken-ep"):
        host.load_entry_points()
    host.load_builtins()
    host.collect()
    row = next(p for p in host.plugins if p.name == "broken-ep")
    assert row.source == "entry point" and "ModuleNotFoundError" in row.error
    with pytest.raises(UnknownComponentError, match="broken-ep"):
        host.ref("miners", "from-the-broken-plugin")


def test_example_plugin_is_loaded_and_switchable(monkeypatch):
    pytest.importorskip("negkit_example")
    assert "relation-flip" in get_host().registries["miners"]
    from negkit.plugins import reset_host

    monkeypatch.setenv("NEGKIT_LOAD_PLUGINS", "")
    reset_host()
    assert "relation-flip" not in get_host().registries["miners"]
    monkeypatch.setenv("NEGKIT_LOAD_PLUGINS", "example")
    reset_host()
    assert "relation-flip" in get_host().registries["miners"]
    monkeypatch.delenv("NEGKIT_LOAD_PLUGINS")
    monkeypatch.setenv("NEGKIT_DISABLE_PLUGINS", "example")
    reset_host()
    assert "relation-flip" not in get_host().registries["miners"]


def test_list_plugins_json_shows_builtins_and_the_example():
    pytest.importorskip("negkit_example")
    res = run_cli("list-plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    example = rows["example"]
    assert example["source"] == "entry point" and example["version"] == "0.1.0"
    assert example["registers"] == {"miners": ["relation-flip"], "losses": ["pairwise-margin"]}
    assert any(r["source"] == "builtin" for r in rows.values())
    res = run_cli("list-plugins", "--json", env={"NEGKIT_LOAD_PLUGINS": ""})
    assert "example" not in {r["name"] for r in json.loads(res.stdout)}


def test_lazy_signature_is_read_from_source(monkeypatch):
    from negkit.registry import ComponentRef

    pytest.importorskip("negkit_example")
    monkeypatch.delitem(sys.modules, "negkit_example.loss", raising=False)  # restored afterwards
    ref = ComponentRef("losses", "test", "negkit_example.loss:PairwiseMargin")
    assert ref.name == "pairwise-margin"
    assert list(ref.signature().parameters) == ["margin"]
    assert ref.signature().parameters["margin"].default == 0.2
    assert ref.type_hints()["margin"] is float
    assert "negkit_example.loss" not in sys.modules
    assert ref.load().__name__ == "PairwiseMargin"
