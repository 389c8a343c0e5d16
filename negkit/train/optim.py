"""AdamW with open_clip's parameter groups and a cosine schedule with linear warmup."""

from __future__ import annotations

import math

import torch
from torch import nn


def no_weight_decay(name: str, param: nn.Parameter) -> bool:
    """open_clip's rule (``training/main.py``): gains, biases, norms and the logit scale get no weight decay."""
    return param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (plain if no_weight_decay(name, param) else decay).append(param)
    return [{"params": plain, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def build_optimizer(model: nn.Module, cfg) -> torch.optim.AdamW:  # noqa: ANN001 - TrainConfig
    groups = [g for g in param_groups(model, cfg.weight_decay) if g["params"]]
    if not groups:
        raise ValueError("no trainable parameters (are both towers locked?)")
    kwargs = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}
    params = [p for g in groups for p in g["params"]]
    if all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
        # One fused kernel for every parameter: on a CPU about 5x faster than the default per-tensor loop,
        # which for a small model costs more than its forward and backward together.
        kwargs["fused"] = True
    try:
        return torch.optim.AdamW(groups, **kwargs)
    except (RuntimeError, ValueError):  # a device or dtype the fused kernel does not cover
        kwargs.pop("fused", None)
        return torch.optim.AdamW(groups, **kwargs)


def cosine_factor(step: int, warmup: int, total: int) -> float:
    """LR multiplier at optimiser step ``step`` (0-based): linear warmup to 1, then cosine to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, warmup, total))


def hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict]:
    """Each parameter group's settings (lr, betas, eps, weight decay, ...) without its parameters."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def restore_hyperparameters(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                            recipe: list[dict]) -> None:
    """After loading a checkpoint's optimiser and scheduler state: put the recipe's settings back.

    ``load_state_dict`` restores the settings the checkpoint was trained with (lr, betas, eps, weight decay, the
    scheduler's base lrs); a resume that changed them (``--resume --force``) must train with the new ones, as
    ``recipe.json`` records. The moments (Adam's state) and the schedule's position are kept. With unchanged
    settings this reproduces the loaded values exactly (the schedule's own formula)."""
    for group, values in zip(optimizer.param_groups, recipe):
        for key, value in values.items():
            if key != "lr":
                group[key] = value
    scheduler.base_lrs = [values["initial_lr"] for values in recipe]
    lrs = [base * factor(scheduler.last_epoch) for base, factor in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports (and the log records)
