"""Every compositional evaluation set has a `negkit data get` entry, and the recipe keys each entry prints point at
the same folders the compositional suite reads under the data root."""

from __future__ import annotations

import tomllib

import pytest

from negkit.data import catalog
from negkit.errors import DataError
from negkit.eval.tasks.suite import BENCHMARKS, default_settings


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_entry_matches_the_suite_layout(tmp_path, name):
    entry = catalog.get_entry(name)
    table = tomllib.loads(entry.recipe.format(root=tmp_path))["eval"][0]
    assert table.pop("name") == name
    layout = default_settings(name, tmp_path)
    for key, value in table.items():
        assert layout[key] == value, f"{name}.{key}"
    assert entry.files or entry.manual  # something to fetch or a place named for the user


def test_unverifiable_files_stay_unpinned():
    pinned = {f.dest for e in catalog.catalogue().values() for f in e.files if f.sha256}
    assert "valid_data.json" in pinned  # ImageCoDe: verified against the repository
    assert {"image_urls.txt", "foil-it.json"} <= pinned  # SVO-Probes' URL list, VALSE's pieces
    assert all(f.sha256 for f in catalog.get_entry("valse").files)
    assert not {"svo_probes.csv", "prod_hard_negatives.zip", "coco_qa_one_obj.json",
                "visual_genome_relation.json", "coco_karpathy_test.json", "examples.jsonl"} & pinned


def test_a_changed_upstream_file_is_one_line_naming_the_entry(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in catalog.get_entry("valse").files:
        (mirror / f.dest).write_text("{}")  # not the published bytes
    monkeypatch.setattr(catalog, "VALSE_URL", mirror.as_uri() + "/{}")
    with pytest.raises(DataError) as err:
        catalog.download(catalog.get_entry("valse"), tmp_path / "data")
    message = str(err.value)
    assert message.startswith("valse: checksum mismatch for existence.json") and "\n" not in message
    assert not (tmp_path / "data" / "valse" / "existence.json").exists()
