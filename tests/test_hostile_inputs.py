"""Hostile or broken inputs give one clear line (issue 18): decompression bombs and crafted images are skipped
like other bad images; text files that are not UTF-8 name the file, the line and the encoding; Ctrl-C inside a
checkpoint write is an interruption, not a crash."""

from __future__ import annotations

import json
import os
import signal
import struct
import zlib
from pathlib import Path

import pytest

from negkit.data.sources.tabular import CsvSource, JsonlSource
from negkit.errors import DataError
from negkit.images import load_rgb_image
from negkit.train.batch import BadImage, open_image

TESTS = Path(__file__).resolve().parent


def png(width: int, height: int) -> bytes:
    """A small, valid PNG file declaring ``width`` x ``height`` pixels (one-bit grey, rows of zeros)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    pixels = zlib.compress(row * min(height, 64), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_a_bad_image_not_a_crash(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png(20000, 20000))
    assert bomb.stat().st_size < 50_000
    with pytest.raises(DataError, match="decompression bomb.*bomb.png"):
        load_rgb_image(bomb)
    with pytest.raises(BadImage):  # what training counts and skips
        open_image(str(bomb))


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_invalid_utf8_names_the_file_the_line_and_the_encoding(tmp_path, kind):
    (tmp_path / "a.png").write_bytes(png(8, 8))
    if kind == "csv":
        text = b"image,caption\na.png,a dog\na.png,caf\xe9 au lait\n"
        source_cls, name = CsvSource, "data.csv"
    else:
        text = b'{"image": "a.png", "caption": "a dog"}\n{"image": "a.png", "caption": "caf\xe9"}\n'
        source_cls, name = JsonlSource, "data.jsonl"
    (tmp_path / name).write_bytes(text)
    with pytest.raises(DataError) as info:
        source_cls(path=str(tmp_path / name)).records("train")
    message = str(info.value)
    assert name in message and ("line 3" if kind == "csv" else "line 2") in message
    assert "utf-8" in message and "encoding" in message and "0xe9" in message
    rows = source_cls(path=str(tmp_path / name), encoding="latin-1").records("train")
    assert [r["caption"] for r in rows][-1].startswith("café")


def test_invalid_utf8_in_a_run_is_one_cli_line(tmp_path, capsys):
    from negkit.cli import main

    (tmp_path / "a.png").write_bytes(png(8, 8))
    (tmp_path / "data.csv").write_bytes(b"image,caption\na.png,a dog\na.png,caf\xe9\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[run]\nname = "x"\n[data]\nsource = "csv"\npath = "{tmp_path / "data.csv"}"\n'
                      f'[model]\nname = "negkit-tiny"\npretrained = ""\n[mining]\nk = 0\n'
                      f'[[losses]]\nname = "infonce"\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(recipe), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert info.value.code == 1, err
    assert err.strip().splitlines()[-1].startswith("negkit: error: csv: ") and "line 3" in err
    assert not (tmp_path / "runs" / "x").exists()


def test_ctrl_c_inside_a_checkpoint_write_is_exit_130_with_one_line(tmp_path, monkeypatch, capsys):
    import torch
    from test_train_world import recipe_dict, registered_world

    from negkit.cli import main

    raw = recipe_dict(data={"n": 16}, train={"epochs": 1, "checkpoint_every": 1, "num_workers": 0}, eval=[])
    lines = []
    for section, body in raw.items():
        tables = [(f"[{section}]", body)] if isinstance(body, dict) else [(f"[[{section}]]", t) for t in body]
        for header, table in tables:
            lines += [header] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    recipe = tmp_path / "r.toml"
    recipe.write_text("\n".join(lines) + "\n")
    real_save = torch.save

    class Interrupting:
        def __init__(self, fh):
            self.fh, self.sent = fh, False

        def write(self, data):
            if not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands while torch's zip writer is in C++
            return self.fh.write(data)

        def flush(self):
            self.fh.flush()

    monkeypatch.setattr(torch, "save", lambda obj, fh, *a, **k: real_save(obj, Interrupting(fh), *a, **k))
    with registered_world(), pytest.raises(SystemExit) as info:
        main(["run", str(recipe), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    out = capsys.readouterr()
    assert info.value.code == 130, (err[-3000:], out)
    assert "Traceback" not in err
    assert err.strip(), out
    last = err.strip().splitlines()[-1]
    assert last.startswith("negkit: interrupted; resume with: negkit run") and last.endswith("--resume")
    assert not list((tmp_path / "runs").rglob(".*.tmp-*"))  # the half-written checkpoint is gone
