"""The training loop: forward with negatives, the recipe's losses by weight, AdamW, checkpoints, exact resume."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from negkit import interrupts
from negkit.distributed import (
    DistEnv,
    any_rank,
    gather,
    gather_with_grad,
    gather_with_local_grad,
    rank,
    share_scalar,
    sum_over_ranks,
)
from negkit.errors import Interrupted, RecipeError, TrainingError
from negkit.losses.base import Loss, LossInputs
from negkit.sections import LoraSettings, PrecisionName, TrainConfig
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
from negkit.train.optim import build_optimizer, build_scheduler, hyperparameters, restore_hyperparameters
from negkit.train.samplers import BatchSampler, batch_sampler
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


def resolve_precision(name: PrecisionName, device: torch.device) -> Precision:
    """fp32; amp_bf16 = bf16 autocast (also on the CPU, where it is slower than fp32 without AMX);
    amp = fp16 autocast with a GradScaler on CUDA. fp16 has no use on the CPU: there ``amp`` runs fp32.
    The recipe schema has already rejected any other name (``[model] precision``)."""
    if name == "fp32":
        return Precision(name, device.type, None)
    if name == "amp_bf16":
        return Precision(name, device.type, torch.bfloat16)
    if device.type != "cuda":
        warnings.warn("[model] precision = \"amp\" (fp16) needs CUDA; running fp32 on the CPU "
                      "(use amp_bf16 for bf16 autocast on the CPU)", stacklevel=2)
        return Precision("fp32", device.type, None)
    return Precision(name, "cuda", torch.float16, torch.amp.GradScaler("cuda"))


# -- losses ----------------------------------------------------------------------------------------------------


@dataclass
class WeightedLoss:
    """A built loss and its weight in the objective (``negkit.factory.build_losses`` makes them)."""

    key: str  # the prefix of its logged terms: the loss name, or "name[i]" when a name repeats
    loss: Loss
    weight: float


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


def check_shardable(losses: Sequence[WeightedLoss], exact_accumulation: bool, image_negatives: int = 0) -> None:
    """train.sharded_loss needs losses that compute only their rows, no exact accumulation and no image
    negatives."""
    plain = [wl.key for wl in losses if not getattr(wl.loss, "shardable", False)]
    if plain:
        raise RecipeError(f"train.sharded_loss = true, but loss {', '.join(plain)} cannot compute only this "
                          f"process's rows (its class does not set shardable = True); set sharded_loss = false",
                          key="train.sharded_loss")
    if exact_accumulation:
        raise RecipeError("train.sharded_loss = true does not combine with exact accumulation (accum_steps > 1, "
                          "accum_mode = \"exact\"): use accum_mode = \"sum\" or accum_steps = 1",
                          key="train.sharded_loss")
    if image_negatives:
        raise RecipeError("train.sharded_loss = true does not combine with image negatives (mining.image_negatives "
                          "> 0): set sharded_loss = false or image_negatives = 0", key="train.sharded_loss")


# -- one forward -----------------------------------------------------------------------------------------------


def loss_inputs(net: nn.Module, batch: Batch, precision: Precision, kind_names: tuple[str, ...] = (),
                world: int = 1, *, sharded: bool = False) -> LossInputs:
    """Images (and image negatives) and all texts through the towers (one call each; hardest-of-K picks
    its negatives in between), negatives scattered into ``[B, K, D]``, features gathered across ranks: the
    ``LossInputs`` of the global batch. ``sharded``: gathered with gradients, and ``rows`` set to this rank's
    rows: the losses compute only those (docs/scaling.md)."""
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
    rows = None
    if world > 1:
        gather_feats = gather_with_grad if sharded else gather_with_local_grad
        img, pos, neg = gather_feats(img), gather_feats(pos), gather_feats(neg)
        mask, conc, kinds = gather(mask), gather(conc), gather(kinds)
        if neg_img is not None:  # never sharded (check_shardable refuses image negatives)
            neg_img, neg_img_mask = gather_with_local_grad(neg_img), gather(neg_img_mask)
        if sharded:  # each rank's loss is its rows' share: the scalars' gradients add up across ranks as they are
            me = rank()
            rows = slice(me * b, (me + 1) * b)
        else:
            scale, bias = share_scalar(scale), share_scalar(bias)
    return LossInputs(img, pos, neg, mask, conc, scale.float(), None if bias is None else bias.float(), kinds,
                      kind_names, neg_img, neg_img_mask, rows)


def forward_loss(net: nn.Module, batch: Batch, losses: Sequence[WeightedLoss], precision: Precision,
                 kind_names: tuple[str, ...] = (), world: int = 1, *,
                 sharded: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """The weighted losses of the global batch (``loss_inputs`` then ``combine_losses``)."""
    return combine_losses(losses, loss_inputs(net, batch, precision, kind_names, world, sharded=sharded))


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

    def __init__(self, clip: ClipModel, dataset: TrainDataset, losses: Sequence[WeightedLoss], cfg: TrainConfig, *,
                 seed: int, precision: Precision, env: DistEnv, ckpt_dir: Path | None, feedback: Feedback,
                 model_name: str | None = None, lora: LoraSettings | None = None,
                 sampler: BatchSampler | None = None, keep: int = 0) -> None:
        self.clip, self.dataset, self.losses, self.cfg = clip, dataset, losses, cfg
        self.seed, self.precision, self.env, self.ckpt_dir, self.feedback = seed, precision, env, ckpt_dir, feedback
        self.model_name = model_name or clip.name
        self.kind_names = dataset.negatives.kind_names
        self.exact = cfg.accum_steps > 1 and getattr(cfg, "accum_mode", "exact") == "exact"
        self.sharded = bool(getattr(cfg, "sharded_loss", False)) and env.world > 1
        if getattr(cfg, "sharded_loss", False):
            check_shardable(losses, self.exact, dataset.image_negatives)
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
        self.lora = None
        if lora is not None:  # after the WiSE-FT snapshot: that holds the plain initial weights
            from negkit.train.lora import apply_lora

            self.lora = apply_lora(model, lora)
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
            "state_dict": self.lora.merged_state_dict() if self.lora else self.clip.model.state_dict(),
            "lora": self.lora.checkpoint() if self.lora else None,
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
        if bad := ckpt.non_finite(self.clip.model.state_dict()):
            raise TrainingError(f"non-finite weights after step {self.step} ({', '.join(bad[:3])}); training "
                                f"stopped without writing {name}. Try a lower train.lr or grad_clip > 0")
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
        from negkit.train.model import load_weights

        if state.get("lora") and self.lora is None:
            raise TrainingError(f"{path} holds LoRA adapters, but the recipe has no [model] lora; resume it with the "
                                f"recipe it was trained with, or start from its merged weights with [model] "
                                f"pretrained = \"{path}\"")
        if self.lora is not None:  # the base weights are the recipe's; the adapters are the checkpoint's
            self.lora.load(state.get("lora"), path)
        else:
            load_weights(self.clip.model, path, expected_model=self.model_name)
        if bad := ckpt.non_finite(self.clip.model.state_dict()):
            raise TrainingError(f"{path} holds non-finite weights ({', '.join(bad[:3])}); resume from an earlier "
                                f"checkpoint by deleting it, or start over with --force")
        recipe_settings = hyperparameters(self.optimizer)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_hyperparameters(self.optimizer, self.scheduler, recipe_settings)
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
        interrupts.defer_termination(True)  # SIGTERM now stops at the next step boundary, with a checkpoint
        try:
            micro_per_epoch = self.spe * self.cfg.accum_steps
            pending: list[Batch] = []
            while self.step < self.total:
                self.sampler.set_epoch(self.epoch, self.batch_in_epoch, micro_per_epoch)
                for micro_index, batch in enumerate(self._loader()):
                    batch = self._admit(batch)
                    last = (micro_index + 1) % self.cfg.accum_steps == 0
                    if self.exact:  # the step's micro-batches are kept and accumulated together
                        pending += [batch] if batch.size else []
                        terms = self._exact_step(model, pending) if last and pending else {}
                        pending = [] if last else pending
                    else:
                        terms = self._micro_step(model, batch, sync=last) if batch.size else {}
                    for key, value in terms.items():
                        window["sums"][key] = window["sums"].get(key, 0.0) + value / (1 if self.exact else
                                                                                      self.cfg.accum_steps)
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
                    if self.step < self.total and self._preempted():
                        self._stop_for_preemption()
                    if self.step >= self.total:
                        break
        finally:
            interrupts.defer_termination(False)
            self.feedback.close()
        if finished_before:  # resumed from final.pt: nothing left to train or mix
            final = self.last_checkpoint
        else:
            if self.lora is not None:
                self.lora.merge()
            if self.cfg.wise_ft is not None and self.initial is not None:
                self._wise_ft(self.cfg.wise_ft)
            final = self.save(ckpt.FINAL)
        self.env.barrier()
        return TrainResult(self.step, self.epoch + self.batch_in_epoch / max(1, self.spe * self.cfg.accum_steps),
                           self.samples, self.seconds, self.bad_images, final, self.last_log)

    def _preempted(self) -> bool:
        """SIGTERM arrived (on any rank: every rank must stop at the same step)."""
        return any_rank(interrupts.stop_requested(), self.env.device)

    def _stop_for_preemption(self) -> None:
        name = f"step-{self.step}.pt"
        if self.last_checkpoint is None or self.last_checkpoint.name != name:
            self.save(name)
        self.env.barrier()
        where = f"checkpoint {self.ckpt_dir / name} written" if self.ckpt_dir else "no checkpoint folder"
        raise Interrupted(f"terminated (SIGTERM) after step {self.step} of {self.total}: {where}; continue with "
                          f"--resume", exit_code=143)

    def _admit(self, batch: Batch) -> Batch:
        """Count and report skipped images; under DDP every rank keeps the same number of rows."""
        bad, size = len(batch.bad), batch.size
        if self.env.world > 1:
            counts = gather(torch.tensor([[size, bad]], device=self.env.device))
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
        """Plain gradient summation (``accum_mode = "sum"``): this micro-batch's own loss, backpropagated."""
        no_sync = model.no_sync if (self.env.world > 1 and not sync and hasattr(model, "no_sync")) else nullcontext
        with self._oom_hint(batch), no_sync():
            total, terms = forward_loss(model, batch, self.losses, self.precision, self.kind_names,
                                        self.env.world, sharded=self.sharded)
            values = self._backward(total, terms, self.cfg.accum_steps)
        self.samples += batch.size * self.env.world
        return values

    def _exact_step(self, model: nn.Module, batches: list[Batch]) -> dict[str, float]:
        """Exact accumulation (``accum_mode = "exact"``): the loss and gradients of all ``batches`` as one batch."""
        from negkit.train.accumulate import exact_accumulation

        def sync(last: bool) -> Any:
            return model.no_sync() if self.env.world > 1 and not last and hasattr(model, "no_sync") else nullcontext()

        with self._oom_hint(batches[0]):
            values = exact_accumulation(
                batches, lambda b: loss_inputs(model, b, self.precision, self.kind_names, self.env.world),
                lambda x: combine_losses(self.losses, x), lambda total, terms: self._backward(total, terms, 1), sync)
        self.samples += sum(b.size for b in batches) * self.env.world
        return values

    def _backward(self, total: Tensor, terms: dict[str, Tensor], divide_by: int) -> dict[str, float]:
        """Stop on a non-finite loss, else scale (world size for DDP's mean, ``divide_by``, fp16 scaler) and
        backpropagate; returns the terms as numbers."""
        stacked = torch.stack([v.float().mean() for v in terms.values()])
        if self.sharded:  # each rank holds its rows' share of the losses; diagnostics are averaged
            share = [1.0 if k.endswith("loss") else self.env.world for k in terms]
            stacked = sum_over_ranks(stacked) / torch.tensor(share, device=stacked.device)
        values = dict(zip(terms, stacked.tolist()))
        if not math.isfinite(values["loss"]):
            bad_terms = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
            kept = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else \
                "no checkpoint was written yet"
            raise TrainingError(
                f"non-finite loss at step {self.step + 1} (epoch {self.epoch}): {bad_terms}; training stopped "
                f"and {kept}. Try a lower train.lr, grad_clip > 0, or precision amp_bf16/fp32")
        loss = total * self.env.world / divide_by
        if self.precision.scaler is not None:
            loss = self.precision.scaler.scale(loss)
        loss.backward()
        return values

    @contextmanager
    def _oom_hint(self, batch: Batch) -> Iterator[None]:
        try:
            yield
        except torch.OutOfMemoryError:
            raise TrainingError(
                f"out of memory on {self.env.device} at batch_size {self.cfg.batch_size} "
                f"({batch.size} per process) with up to {batch.k} negatives per caption: lower train.batch_size and "
                f"raise train.accum_steps to keep the samples per step, or use precision amp_bf16") from None

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
