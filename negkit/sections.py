"""The typed sections of a recipe: ``[run]``, ``[model]``, ``[mining]``, ``[train]`` and ``[report]``.

``negkit.recipe`` reads them from TOML and validates them; the rooms below the pipeline (mining, train, eval)
take these typed sections, never the recipe itself. Each is a pydantic model with every key and its default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """A recipe section: unknown keys are errors; values are converted where TOML and Python differ."""

    model_config = ConfigDict(extra="forbid", strict=False)


class RunConfig(Section):
    name: str | None = None  # run directory name under --out; default: the recipe file's stem
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N


PrecisionName = Literal["fp32", "amp", "amp_bf16"]


class LoraSettings(Section):
    r: int = Field(16, ge=1)  # rank of the adapters
    alpha: float = Field(32, gt=0)  # scaling: the update is alpha / r x B A
    targets: list[str] = Field(default_factory=lambda: ["c_fc", "c_proj", "out_proj"])  # module names to adapt
    dropout: float = Field(0.0, ge=0, lt=1)


class ModelConfig(Section):
    name: str = "ViT-B-32-quickgelu"  # any open_clip model name (or one of negkit's small configs)
    pretrained: str = ""  # open_clip tag, local checkpoint path, or "" for random init
    precision: PrecisionName = "amp_bf16"
    config_dir: str | None = None  # extra open_clip model-config folder (open_clip.add_model_config)
    cache_dir: str | None = None  # where open_clip keeps downloaded weights
    lora: LoraSettings | None = None  # LoRA adapters (peft) on the towers: only they train
    init: str = ""  # another recipe (path relative to this file): start from its final checkpoint (cached)


class MiningConfig(Section):
    k: int = Field(1, ge=0)  # negatives per caption
    num_proc: int = Field(1, ge=1)  # worker processes for datasets.map
    batch_size: int = Field(256, ge=1)  # captions per Miner.mine call
    cache_dir: str | None = None  # default: the datasets cache
    seed: int | None = None  # default: [run] seed
    select: Literal["mined", "hardest"] = "mined"  # hardest: each step keeps the k of `candidates` the model
    candidates: int = Field(0, ge=0)  # negatives mined per caption for select = "hardest" (> k)
    image_negatives: int = Field(0, ge=0)  # image negatives per caption, from the records' "neg_images" field

    @model_validator(mode="after")
    def _candidates(self) -> MiningConfig:
        if self.select == "hardest" and self.candidates <= self.k:
            raise ValueError(f"select = \"hardest\" needs candidates > k (mine K candidates, keep the k "
                             f"hardest each step); got candidates = {self.candidates}, k = {self.k}")
        if self.select == "mined" and self.candidates:
            raise ValueError("candidates is only read with select = \"hardest\"")
        return self

    @property
    def mined_per_caption(self) -> int:
        """How many negatives the mining stage makes per caption."""
        return self.candidates if self.select == "hardest" else self.k


class TrainConfig(Section):
    epochs: int = Field(1, ge=0)
    max_steps: int = Field(0, ge=0)  # > 0 stops after that many optimiser steps
    batch_size: int = Field(256, ge=1)
    lr: float = Field(5e-6, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    warmup_steps: int = Field(50, ge=0)
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    grad_clip: float = Field(0.0, ge=0)  # max gradient norm; 0 = off
    accum_steps: int = Field(1, ge=1)  # micro-batches per optimiser step
    # "exact": the micro-batches form one batch of accum_steps x batch_size (features cached, then recomputed
    # with gradients); "sum": plain gradient summation, each micro-batch its own loss and in-batch negatives
    accum_mode: Literal["exact", "sum"] = "exact"
    # each process computes the loss of its own images and texts against the gathered batch (open_clip's
    # local_loss + gather_with_grad): per-process logits shrink with the number of processes
    sharded_loss: bool = False
    checkpoint_every: int = Field(500, ge=0)  # steps; 0 = only the final checkpoint
    keep_checkpoints: int = Field(2, ge=1)  # last N kept besides the final one
    compile: bool = False  # torch.compile the model (GPU)
    lock_image: bool = False  # freeze the image tower
    lock_text: bool = False  # freeze the text tower
    wise_ft: float | None = Field(None, ge=0, le=1)  # WiSE-FT mixing weight of the fine-tuned model
    num_workers: int = Field(0, ge=0)
    log_every: int = Field(10, ge=1)
    max_bad_image_fraction: float = Field(0.01, ge=0, le=1)


class ReportConfig(Section):
    plots: bool = True
    tensorboard: bool = False  # also log to <run dir>/tensorboard when tensorboard is installed
    reference: bool = True  # evaluate the model before training too: report.md's "before" column
    headline: list[str] = Field(default_factory=list)  # metric keys report.md opens with; [] = the defaults
