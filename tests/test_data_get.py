"""`negkit data get`: downloads through a file:// mirror, checksum verification, and what it tells the user."""

from __future__ import annotations

import shutil

import pytest

from negkit.cli import main
from negkit.data import catalog as reg
from negkit.errors import DataError


@pytest.fixture
def mirror(tmp_path, sugarcrepe_dir, monkeypatch):
    """A local copy of SugarCrepe's upstream folder, served to the downloader as file:// URLs."""
    root = tmp_path / "mirror"
    shutil.copytree(sugarcrepe_dir, root)
    monkeypatch.setattr(reg, "SUGARCREPE_URL", root.as_uri() + "/{}.json")
    return root


def test_get_verifies_pinned_checksums_and_prints_manual_steps(tmp_path, mirror, capsys):
    out_root = tmp_path / "data"
    main(["data", "get", "sugarcrepe", "--to", str(out_root)])
    text = capsys.readouterr().out
    for subset in ("add_att", "swap_obj"):
        assert (out_root / "sugarcrepe" / f"{subset}.json").read_bytes() == (mirror / f"{subset}.json").read_bytes()
    assert text.count("verified    ") == 7
    assert "COCO val2017 images" in text and f"put at: {out_root / 'coco' / 'val2017'}" in text
    assert f'data_dir = "{out_root}/sugarcrepe"' in text
    assert (out_root / "sugarcrepe" / "SHA256SUMS").read_text().count("\n") == 7
    # a second run keeps the verified files
    main(["data", "get", "sugarcrepe", "--to", str(out_root)])
    assert capsys.readouterr().out.count("present     ") == 7


def test_checksum_mismatch_is_refused_and_not_kept(tmp_path, mirror, capsys):
    (mirror / "swap_obj.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "get", "sugarcrepe", "--to", str(tmp_path / "data")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "checksum mismatch for swap_obj.json" in err and "was not kept" in err
    assert not (tmp_path / "data" / "sugarcrepe" / "swap_obj.json").exists()
    assert not list((tmp_path / "data" / "sugarcrepe").glob(".swap_obj*"))  # no temp file left


def test_unpinned_files_are_recorded_or_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_text("[1]")
    entry = reg.DataSetEntry("demo", "demo", (reg.RemoteFile((src / "a.json").as_uri(), "a.json"),))
    results = reg.download(entry, tmp_path / "data")
    assert results[0].status == "unpinned" and results[0].sha256 == reg.sha256_file(src / "a.json")
    assert results[0].sha256 in (tmp_path / "data" / "demo" / "SHA256SUMS").read_text()
    with pytest.raises(DataError, match="no pinned checksum for a.json"):
        reg.download(entry, tmp_path / "data2", require_checksums=True)


def test_web_page_instead_of_file_and_failed_fetch(tmp_path):
    (tmp_path / "page").write_text("<!DOCTYPE html><html>sign in</html>")
    entry = reg.DataSetEntry("demo", "demo", (reg.RemoteFile((tmp_path / "page").as_uri(), "x.json"),))
    with pytest.raises(DataError, match="returned a web page, not x.json"):
        reg.download(entry, tmp_path / "data")

    def offline(url, dest, headers):
        raise DataError(f"download failed: {url}: no network")

    with pytest.raises(DataError, match="download failed"):
        reg.download(reg.get_entry("valse"), tmp_path / "data", fetch=offline)


def test_catalogue_covers_the_evaluation_sets():
    names = set(reg.catalogue())
    assert {"sugarcrepe", "aro", "karpathy", "valse", "winoground"} <= names
    assert all(f.sha256 for f in reg.get_entry("sugarcrepe").files)
