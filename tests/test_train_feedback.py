"""Feedback while training: plain lines off a terminal, a progress bar on one, log.jsonl, TensorBoard."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from negkit.errors import ResourceMissingError
from negkit.recipe import ModelConfig
from negkit.train.feedback import Feedback

RECORD = {"step": 2, "epoch": 0.5, "loss": 1.25, "cement/grad_share_hard": 0.3, "lr": 1e-4, "samples_per_s": 12.5}


def test_plain_lines_when_not_a_terminal(tmp_path):
    out = io.StringIO()
    fb = Feedback(4, log_path=tmp_path / "log.jsonl", console=Console(file=out, force_terminal=False, width=200))
    fb.start(0)
    fb.log(RECORD)
    fb.close()
    assert out.getvalue().strip() == "step 2/4 epoch=0.5 loss=1.25 lr=0.0001 samples_per_s=12.5"
    logged = json.loads((tmp_path / "log.jsonl").read_text())
    assert {k: v for k, v in logged.items() if k != "time"} == RECORD


def test_plain_lines_are_at_most_one_per_5_percent_but_the_log_has_every_record(tmp_path):
    out = io.StringIO()
    fb = Feedback(200, log_path=tmp_path / "log.jsonl", console=Console(file=out, force_terminal=False, width=200))
    fb.start(0)
    for step in range(1, 201):
        fb.log({**RECORD, "step": step})
    fb.close()
    printed = [int(line.split()[1].split("/")[0]) for line in out.getvalue().splitlines()]
    assert printed == [1, *range(11, 200, 10), 200]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 200


def test_progress_bar_on_a_terminal_and_nothing_from_other_ranks(tmp_path):
    out = io.StringIO()
    fb = Feedback(4, log_path=tmp_path / "log.jsonl", console=Console(file=out, force_terminal=True, width=120))
    fb.start(0)
    fb.log(RECORD)
    fb.advance(3, 0, 1.0)
    fb.close()
    assert "train" in out.getvalue() and "img/s" in out.getvalue() and "step 2/4" not in out.getvalue()
    quiet = io.StringIO()
    other = Feedback(4, log_path=tmp_path / "rank1.jsonl", enabled=False, console=Console(file=quiet))
    other.start(0)
    other.log(RECORD)
    other.close()
    assert quiet.getvalue() == "" and not (tmp_path / "rank1.jsonl").exists()


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    fb = Feedback(4, log_path=None, tensorboard_dir=tmp_path / "tb", console=Console(file=io.StringIO()))
    fb.log(RECORD)
    fb.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert {"loss", "cement/grad_share_hard", "lr"} <= set(acc.Tags()["scalars"])
    assert acc.Scalars("loss")[0].step == 2 and acc.Scalars("loss")[0].value == pytest.approx(1.25)


def test_unknown_pretrained_tag_lists_the_known_ones():
    from negkit.train.model import create_model

    with pytest.raises(ResourceMissingError, match="known tags: .*openai"):
        create_model(ModelConfig(name="ViT-B-32-quickgelu", pretrained="not-a-tag"), "cpu")
