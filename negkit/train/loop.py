"""The training loop: forward with negatives, the recipe's losses by weight, AdamW, checkpoints, exact resume."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from negkit.distributed import DistEnv, gather_with_local_grad
from negkit.errors import RecipeError, TrainingError
from negkit.losses.base import Loss, LossInputs
from negkit.train import checkpoint as ckpt
from negkit.train.batch import (
    Batch,
    Collator,
    GlobalBatchSampler,
    TrainDataset,
    image_negative_features,
    sample_seed,
    scatter_negatives,
    seed_worker,
    steps_per_epoch,
    total_steps,
)
from negkit.train.feedback import Feedback
from negkit.train.model import ClipModel, TwoTower
from negkit.train.optim import build_optimizer, build_scheduler
from negkit.train.samplers import batch_sampler
from negkit.train.select import HardestOfK


class BadImageWarning(UserWarning):
    """A training image was missing or could not be decoded and was skipped."""


# -- precision -------------------------------------------------------------------------------------------------


@dataclass
class Precision:
    """How the forward runs: autocast dtype (None = fp32) and a gradient scaler for fp16."""

    name: str
    device_type: str
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else nullcontext()


def resolve_precision(name: str, device: torch.device) -> Precision:
    """fp32; amp_bf16 = bf16 autocast (also on the CPU, where it is slower than fp32 without AMX);
    amp = fp16 autocast with a GradScaler on CUDA. fp16 has no use on the CPU: there ``amp`` runs fp32."""
    if name == "fp32":
        return Precision(name, device.type, None)
    if name == "amp_bf16":
        return Precision(name, device.type, torch.bfloat16)
    if name == "amp":
        if device.type != "cuda":
            warnings.warn("[model] precision = \"amp\" (fp16) needs CUDA; running fp32 on the CPU "
                          "(use amp_bf16 for bf16 autocast on the CPU)", stacklevel=2)
            return Precision("fp32", device.type, None)
        return Precision(name, "cuda", torch.float16, torch.amp.GradScaler("cuda"))
    raise RecipeError(f"unknown precision {name!r} (fp32 | amp | amp_bf16)", key="model.precision")


# -- losses ----------------------------------------------------------------------------------------------------


@dataclass
class WeightedLoss:
    key: str  # the prefix of its logged terms: the loss name, or "name[i]" when a name repeats
    loss: Loss
    weight: float


def build_losses(specs: Sequence[Any], where: str | None = None) -> list[WeightedLoss]:
    if not specs:
        raise RecipeError("no [[losses]] table: add one, e.g. [[losses]] name = \"infonce\"", path=where, key="losses")
    names = [s.name for s in specs]
    out = []
    for i, spec in enumerate(specs):
        key = spec.name if names.count(spec.name) == 1 else f"{spec.name}[{i}]"
        out.append(WeightedLoss(key, spec.build(where=where), spec.weight))
    return out


def combine_losses(losses: Sequence[WeightedLoss], inputs: LossInputs) -> tuple[Tensor, dict[str, Tensor]]:
    """The objective (sum of weight x every term ending in "loss") and every term, detached, by "loss/term"."""
    total: Tensor | None = None
    terms: dict[str, Tensor] = {}
    for wl in losses:
        for name, value in wl.loss(inputs).items():
            terms[f"{wl.key}/{name}"] = value.detach().float()
            if name.endswith("loss"):
                part = wl.weight * value.float()
                total = part if total is None else total + part
    if total is None:
        raise TrainingError("the recipe's losses returned no term ending in \"loss\": nothing to optimise")
    terms["loss"] = total.detach()
    return total, terms


# -- one forward -----------------------------------------------------------------------------------------------


def _gather_plain(t: Tensor, world: int) -> Tensor:
    if world <= 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def _share_scalar(t: Tensor | None, world: int) -> Tensor | None:
    """Every rank computes the global loss from the same scalar; each rank's copy takes 1/world of its
    gradient so that, after the loop's x world and DDP's mean, it gets the single-process gradient once."""
    if t is None or world <= 1:
        return t
    return t / world + t.detach() * (1 - 1 / world)


def forward_loss(net: nn.Module, batch: Batch, losses: Sequence[WeightedLoss], precision: Precision,
                 kind_names: tuple[str, ...] = (), world: int = 1) -> tuple[Tensor, dict[str, Tensor]]:
    """Images (and image negatives) and all texts through the towers (one call each; hardest-of-K picks
    its negatives in between), negatives scattered into ``[B, K, D]``, features gathered across ranks,
    then the weighted losses of the global batch."""
    select = HardestOfK(batch) if batch.keep else None
    images = batch.images if not batch.m else torch.cat([batch.images, batch.neg_images])
    with precision.autocast():
        img, txt, scale, bias = net(images, batch.tokens, select) if select else net(images, batch.tokens)
    if select is not None:
        batch = select.selected
    b, k = batch.size, batch.k
    img, txt = img.float(), txt.float()
    img, neg_img = img[:b], image_negative_features(img[b:], batch)
    neg_img_mask = batch.neg_image_mask if neg_img is not None else None
    pos = txt[:b]
    neg = scatter_negatives(txt[b:], batch.neg_slot, b, k)
    mask, conc, kinds = batch.neg_mask, batch.neg_concreteness, batch.neg_kind_ids
    if world > 1:
        img, pos, neg = gather_with_local_grad(img), gather_with_local_grad(pos), gather_with_local_grad(neg)
        mask, conc, kinds = _gather_plain(mask, world), _gather_plain(conc, world), _gather_plain(kinds, world)
        if neg_img is not None:
            neg_img, neg_img_mask = gather_with_local_grad(neg_img), _gather_plain(neg_img_mask, world)
        scale, bias = _share_scalar(scale, world), _share_scalar(bias, world)
    inputs = LossInputs(img, pos, neg, mask, conc, scale.float(), None if bias is None else bias.float(), kinds,
                        kind_names, neg_img, neg_img_mask)
    return combine_losses(losses, inputs)


# -- the trainer -----------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    steps: int
    epochs_done: float
    samples: int
    seconds: float
    bad_images: int
    final_checkpoint: Path | None
    last_log: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Trains ``clip`` on ``dataset`` as ``[train]`` says; rank 0 writes to ``ckpt_dir`` and ``feedback``."""

    def __init__(self, clip: ClipModel, dataset: TrainDataset, losses: list[WeightedLoss], cfg: Any, *, seed: int,
                 precision: Precision, env: DistEnv, ckpt_dir: Path | None, feedback: Feedback,
                 model_name: str | None = None, sampler: Any = None, keep: int = 0) -> None:
        self.clip, self.dataset, self.losses, self.cfg = clip, dataset, losses, cfg
        self.seed, self.precision, self.env, self.ckpt_dir, self.feedback = seed, precision, env, ckpt_dir, feedback
        self.model_name = model_name or clip.name
        self.kind_names = dataset.negatives.kind_names
        self.spe = steps_per_epoch(len(dataset), cfg.batch_size, cfg.accum_steps)
        if self.spe == 0:
            raise RecipeError(f"the training split has {len(dataset)} records: fewer than one step of "
                              f"batch_size x accum_steps = {cfg.batch_size * cfg.accum_steps}; lower train.batch_size",
                              key="train.batch_size")
        self.total = total_steps(len(dataset), cfg)
        if cfg.batch_size % env.world:
            raise RecipeError(f"batch_size {cfg.batch_size} is not divisible by the {env.world} processes",
                              key="train.batch_size")

        if env.device.type == "cuda":  # as open_clip's trainer: TF32 matmuls for the fp32 parts
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        model = clip.model
        if cfg.lock_image:
            model.lock_image_tower()
        if cfg.lock_text:
            model.lock_text_tower()
        self.initial = None
        if cfg.wise_ft is not None:
            self.initial = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        self.net: nn.Module = TwoTower(model)
        if env.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.net, device_ids=[env.device.index] if env.device.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)
        try:
            self.optimizer = build_optimizer(model, cfg)
        except ValueError as exc:
            raise RecipeError(str(exc), key="train.lock_image") from None
        self.scheduler = build_scheduler(self.optimizer, cfg.warmup_steps, self.total)
        # sampler: a BatchSampler from the registry (``[sampler]``); keep: hardest-of-K's negatives per caption
        self.sampler = batch_sampler(sampler, dataset.records, cfg.batch_size, seed, env) if sampler is not None \
            else GlobalBatchSampler(len(dataset), cfg.batch_size, seed, env.rank, env.world)
        self.collate = Collator(clip.tokenize, dataset.negatives.k, pad_multiple=8 if env.device.type == "cuda" else 1,
                                image_negatives=dataset.image_negatives, keep=keep)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0  # micro-batches of this epoch already consumed
        self.samples = 0
        self.bad_images = 0
        self.seconds = 0.0
        self.last_checkpoint: Path | None = None
        self.last_log: dict[str, float] = {}
        self._warned_bad = 0

    # -- checkpoints ---------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        meta = {"format": ckpt.FORMAT, "model": self.model_name, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "samples": self.samples, "bad_images": self.bad_images,
                "seconds": self.seconds, "total_steps": self.total, "world": self.env.world}
        return {
            "state_dict": self.clip.model.state_dict(),
            "negkit": meta,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.scaler.state_dict() if self.precision.scaler else None,
            "losses": {wl.key: wl.loss.state_dict() for wl in self.losses},
            "rng": ckpt.rng_state(),
            "initial": self.initial,
        }

    def save(self, name: str) -> Path | None:
        if self.ckpt_dir is None or not self.env.is_main:
            return None
        path = self.ckpt_dir / name
        ckpt.atomic_save(self.state(), path)
        ckpt.prune(self.ckpt_dir, self.cfg.keep_checkpoints)
        self.last_checkpoint = path
        return path

    def load(self, path: Path) -> None:
        state = ckpt.read_checkpoint(path)
        meta = state.get("negkit", {}) if isinstance(state, dict) else {}
        if "optimizer" not in state or not meta:
            raise TrainingError(f"{path} is not a negkit training checkpoint (no optimiser state); to start from "
                                f"its weights, set [model] pretrained = \"{path}\" instead of --resume")
        if meta.get("model") != self.model_name:
            raise TrainingError(f"{path} was saved from model {meta.get('model')!r}, not {self.model_name!r}")
        from negkit.train.model import load_weights

        load_weights(self.clip.model, path, expected_model=self.model_name)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.precision.scaler is not None and state.get("scaler"):
            self.precision.scaler.load_state_dict(state["scaler"])
        for wl in self.losses:
            if wl.key in state.get("losses", {}):
                wl.loss.load_state_dict(state["losses"][wl.key])
        if state.get("initial") is not None:
            self.initial = state["initial"]
        self.step, self.epoch, self.batch_in_epoch = meta["step"], meta["epoch"], meta["batch_in_epoch"]
        self.samples, self.bad_images, self.seconds = meta["samples"], meta["bad_images"], meta.get("seconds", 0.0)
        self._rng = state["rng"]
        self.last_checkpoint = path

    # -- the loop ------------------------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, 1_000_000 + self.env.rank))
        workers = self.cfg.num_workers
        return DataLoader(self.dataset, batch_sampler=self.sampler, collate_fn=self.collate, num_workers=workers,
                          worker_init_fn=seed_worker if workers else None, generator=gen,
                          pin_memory=self.env.device.type == "cuda", prefetch_factor=4 if workers else None)

    def fit(self, resume: Path | None = None) -> TrainResult:
        self._rng = None
        if resume is not None:
            self.load(resume)
            self.feedback.message(f"resuming from {resume} (step {self.step} of {self.total})")
        else:
            torch.manual_seed(self.seed + self.env.rank)
        finished_before = resume is not None and self.step >= self.total
        if self._rng is not None:
            ckpt.set_rng_state(self._rng)
        self.feedback.start(self.step)
        model = self.net.train()
        window = {"t": time.perf_counter(), "samples": 0, "steps": 0, "sums": {}}
        try:
            micro_per_epoch = self.spe * self.cfg.accum_steps
            while self.step < self.total:
                self.sampler.set_epoch(self.epoch, self.batch_in_epoch, micro_per_epoch)
                for micro_index, batch in enumerate(self._loader()):
                    batch = self._admit(batch)
                    last = (micro_index + 1) % self.cfg.accum_steps == 0
                    terms = self._micro_step(model, batch, sync=last) if batch.size else {}
                    for key, value in terms.items():
                        window["sums"][key] = window["sums"].get(key, 0.0) + value / self.cfg.accum_steps
                    window["samples"] += batch.size * self.env.world
                    self.batch_in_epoch += 1
                    if not last:
                        continue
                    nxt = self.step + 1
                    log_now = nxt % self.cfg.log_every == 0 or nxt == self.total or nxt == 1
                    grad_norm = self._optimizer_step(log_now)
                    self.step += 1
                    window["steps"] += 1
                    if self.batch_in_epoch >= micro_per_epoch:
                        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                    self.feedback.advance(self.step, self.epoch, terms.get("loss", float("nan")))
                    if log_now:
                        self._log(window, grad_norm)
                    if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0 \
                            and self.step < self.total:
                        self.save(f"step-{self.step}.pt")
                    if self.step >= self.total:
                        break
        finally:
            self.feedback.close()
        if finished_before:  # resumed from final.pt: nothing left to train or mix
            final = self.last_checkpoint
        else:
            if self.cfg.wise_ft is not None and self.initial is not None:
                self._wise_ft(self.cfg.wise_ft)
            final = self.save(ckpt.FINAL)
        self.env.barrier()
        return TrainResult(self.step, self.epoch + self.batch_in_epoch / max(1, self.spe * self.cfg.accum_steps),
                           self.samples, self.seconds, self.bad_images, final, self.last_log)

    def _admit(self, batch: Batch) -> Batch:
        """Count and report skipped images; under DDP every rank keeps the same number of rows."""
        bad, size = len(batch.bad), batch.size
        if self.env.world > 1:
            counts = _gather_plain(torch.tensor([[size, bad]], device=self.env.device), self.env.world)
            size, bad = int(counts[:, 0].min()), int(counts[:, 1].sum())
            batch = batch.truncate(size)
        if bad:
            self.bad_images += bad
            limit = self.cfg.max_bad_image_fraction * len(self.dataset)
            if self.env.is_main and self._warned_bad < 5:
                for _, reason in batch.bad[:5 - self._warned_bad]:
                    warnings.warn(f"skipped a training image ({self.bad_images} so far): {reason}", BadImageWarning,
                                  stacklevel=2)
                    self._warned_bad += 1
            if self.bad_images > limit:
                raise TrainingError(
                    f"{self.bad_images} training images were missing or unreadable, more than "
                    f"train.max_bad_image_fraction = {self.cfg.max_bad_image_fraction} of {len(self.dataset)} "
                    f"(last: {batch.bad[-1][1] if batch.bad else 'on another process'}); fix the data or raise "
                    f"the limit")
        return batch.to(self.env.device, non_blocking=True)

    def _micro_step(self, model: nn.Module, batch: Batch, sync: bool) -> dict[str, float]:
        no_sync = model.no_sync if (self.env.world > 1 and not sync and hasattr(model, "no_sync")) else nullcontext
        try:
            with no_sync():
                total, terms = forward_loss(model, batch, self.losses, self.precision, self.kind_names,
                                            self.env.world)
                values = dict(zip(terms, torch.stack([v.float().mean() for v in terms.values()]).tolist()))
                if not math.isfinite(values["loss"]):
                    bad_terms = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
                    kept = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else \
                        "no checkpoint was written yet"
                    raise TrainingError(
                        f"non-finite loss at step {self.step + 1} (epoch {self.epoch}): {bad_terms}; training stopped "
                        f"and {kept}. Try a lower train.lr, grad_clip > 0, or precision amp_bf16/fp32")
                loss = total * self.env.world / self.cfg.accum_steps
                if self.precision.scaler is not None:
                    loss = self.precision.scaler.scale(loss)
                loss.backward()
        except torch.OutOfMemoryError:
            raise TrainingError(
                f"out of memory on {self.env.device} at batch_size {self.cfg.batch_size} "
                f"({batch.size} per process) with up to {batch.k} negatives per caption: lower train.batch_size and "
                f"raise train.accum_steps to keep the samples per step, or use precision amp_bf16") from None
        self.samples += batch.size * self.env.world
        return values

    def _optimizer_step(self, want_norm: bool) -> float:
        return optimizer_step(self.optimizer, self.scheduler, self.clip.model, self.precision.scaler,
                              self.cfg.grad_clip, want_norm=want_norm)

    def _log(self, window: dict[str, Any], grad_norm: float) -> None:
        now = time.perf_counter()
        elapsed = max(now - window["t"], 1e-9)
        self.seconds += elapsed
        steps = max(1, window["steps"])
        record: dict[str, Any] = {"step": self.step, "epoch": round(self.epoch + self.batch_in_epoch /
                                                                    max(1, self.spe * self.cfg.accum_steps), 4)}
        record.update({k: v / steps for k, v in window["sums"].items()})
        record["lr"] = self.scheduler.get_last_lr()[-1]
        record["logit_scale"] = float(self.clip.model.logit_scale.detach().exp())
        record["grad_norm"] = grad_norm
        record["samples_per_s"] = window["samples"] / elapsed
        record["bad_images"] = self.bad_images
        self.last_log = record
        if self.env.is_main:
            self.feedback.log(record)
        window.update(t=time.perf_counter(), samples=0, steps=0, sums={})

    def _wise_ft(self, alpha: float) -> None:
        """WiSE-FT: weights = (1 - alpha) x initial + alpha x fine-tuned (floating-point tensors only)."""
        model = self.clip.model
        state = model.state_dict()
        mixed = {}
        for key, value in state.items():
            init = self.initial.get(key) if self.initial else None
            if init is not None and value.is_floating_point():
                mixed[key] = (1 - alpha) * init.to(value.device, value.dtype) + alpha * value
            else:
                mixed[key] = value
        model.load_state_dict(mixed)
        self.feedback.message(f"WiSE-FT: mixed the fine-tuned weights with the initial ones (alpha = {alpha})")


def optimizer_step(optimizer: torch.optim.Optimizer, scheduler: Any, model: nn.Module,
                   scaler: torch.amp.GradScaler | None = None, grad_clip: float = 0.0, *,
                   want_norm: bool = True) -> float:
    """Unscale (fp16), clip, step, advance the schedule, clamp the logit scale; returns the gradient norm
    (NaN when neither clipping nor ``want_norm`` asked for it: computing it costs a pass over all gradients)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm: Tensor | float = float("nan")
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    elif want_norm:
        grads = [p.grad.detach() for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])) if grads \
            else float("nan")
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))  # as open_clip does after every step
    return float(norm)
