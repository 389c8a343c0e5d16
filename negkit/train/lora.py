"""LoRA on the open_clip towers through ``peft`` (``[model] lora = { r = 16, alpha = 32, targets = [...] }``).

Only the adapters train; every other weight stays frozen. A checkpoint holds the MERGED weights under
``state_dict`` (so ``negkit eval``, ``[model] pretrained = "<checkpoint>"`` and open_clip read it as a plain
model) and the adapters with their settings under ``lora``; resuming rebuilds the base model from the recipe
and loads the adapters, so it continues bit-exactly. At the end of training the adapters are merged into the
model, and WiSE-FT mixes the merged weights with the initial ones.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn

from negkit.errors import RecipeError, TrainingError

ADAPTER = "default"
_ADAPTABLE = (nn.Linear, nn.Conv2d, nn.MultiheadAttention, nn.Embedding)


def _matches(name: str, target: str) -> bool:
    """peft's rule for a list of names: the module's full name or its last dotted parts."""
    return name == target or name.endswith(f".{target}")


def check_targets(model: nn.Module, targets: list[str]) -> None:
    """A one-line error when a target names no module, listing the layer names the model has."""
    names = [n for n, _ in model.named_modules() if n]
    missing = [t for t in targets if not any(_matches(n, t) for n in names)]
    if not targets or missing:
        layers = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, _ADAPTABLE)})
        what = f"target(s) {', '.join(map(repr, missing))} match no module" if targets else "targets is empty"
        raise RecipeError(f"[model] lora: {what} of {type(model).__name__}; its layers that LoRA can adapt are "
                          f"named: {', '.join(layers)}", key="model.lora.targets")


class Lora:
    """The adapters ``peft`` injected into ``model`` (in place: ``model`` stays the object the trainer holds)."""

    def __init__(self, model: nn.Module, r: int, alpha: float, targets: list[str], dropout: float = 0.0) -> None:
        try:
            from peft import LoraConfig
            from peft.tuners.lora import LoraModel
        except ImportError:
            raise RecipeError("[model] lora needs peft: pip install peft", key="model.lora") from None
        check_targets(model, targets)
        self.settings = {"r": r, "alpha": alpha, "targets": list(targets), "dropout": dropout}
        config = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=dropout)
        try:
            self.peft = LoraModel(model, config, ADAPTER)
        except ValueError as exc:  # e.g. a target that is a module type LoRA does not support
            raise RecipeError(f"[model] lora: {str(exc).splitlines()[0]}", key="model.lora.targets") from None
        self.model = model
        self._merged: dict[str, Tensor] | None = None

    def adapter_names(self) -> list[str]:
        return [n for n, _ in self.model.named_parameters() if ".lora_" in n]

    def adapter_state(self) -> dict[str, Tensor]:
        """The adapter weights (the trainable parameters), by parameter name."""
        if self._merged is not None:
            return self._merged
        params = dict(self.model.named_parameters())
        return {n: params[n].detach().clone() for n in self.adapter_names()}

    def merged_state_dict(self) -> dict[str, Tensor]:
        """The open_clip state dict with the adapters folded in (the model itself keeps its adapters)."""
        if self._merged is not None:
            return self.model.state_dict()
        return copy.deepcopy(self.peft).merge_and_unload().state_dict()

    def checkpoint(self) -> dict[str, Any]:
        return {**self.settings, "adapter": self.adapter_state()}

    def load(self, saved: dict[str, Any] | None, where: Any) -> None:
        """Load the adapters of a checkpoint written with the same settings."""
        if not saved:
            raise TrainingError(f"{where} holds no LoRA adapters, but the recipe sets [model] lora; resume it with "
                                f"the recipe it was trained with")
        settings = {k: saved.get(k) for k in self.settings}
        if settings != self.settings:
            raise TrainingError(f"{where} was trained with [model] lora = {settings}, the recipe says {self.settings}")
        params = dict(self.model.named_parameters())
        names = set(self.adapter_names())
        if set(saved["adapter"]) != names:
            raise TrainingError(f"{where}: its adapters do not fit this model's LoRA layers")
        for name, value in saved["adapter"].items():
            params[name].data.copy_(value)

    def merge(self) -> None:
        """Fold the adapters into the weights, in place (after training: evaluation and WiSE-FT see one model)."""
        if self._merged is None:
            state = self.adapter_state()
            self.peft.merge_and_unload()
            self._merged = state


def apply_lora(model: nn.Module, settings: Any) -> Lora:
    """Inject the adapters ``settings`` (``[model] lora``) describe; only they stay trainable."""
    lora = Lora(model, settings.r, settings.alpha, list(settings.targets), settings.dropout)
    names = set(lora.adapter_names())
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    return lora
