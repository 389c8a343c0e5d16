"""The open_clip adapter: build a model from ``[model]``, tokenise, and encode text at the batch's own length.

open_clip's ``CLIP.encode_text`` always runs all ``context_length`` positions (77 for the OpenAI models). With
causal attention and end-of-text pooling, the padding after a caption's last token cannot change the features,
so negkit runs the text tower through the model's own modules with the positional embedding and the causal
mask sliced to the longest text in the batch. Models for which that is not exact (bidirectional text towers,
Hugging Face text towers, pooling on the last position) are encoded at full length with ``encode_text``.
"""

from __future__ import annotations

import difflib
import logging
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from negkit.errors import RecipeError, ResourceMissingError, TrainingError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
_TRIM_POOLS = ("argmax", "eos", "first")


class QuickGELUWarning(UserWarning):
    """OpenAI weights loaded from a file into a model config without QuickGELU."""


@dataclass
class TextTower:
    """The pieces of an open_clip text tower that the trimmed encoder runs, or ``None`` fields if it cannot."""

    token_embedding: nn.Module
    positional_embedding: Tensor
    transformer: nn.Module
    ln_final: nn.Module
    text_projection: Any
    attn_mask: Tensor
    pool_type: str
    eos_id: int | None


def text_tower(model: nn.Module) -> TextTower | None:
    """The text tower's modules if padding can be trimmed exactly for this model, else ``None``."""
    owner: Any = model
    if not hasattr(model, "token_embedding") and hasattr(model, "text"):
        owner = model.text
        if getattr(owner, "cls_emb", None) is not None or getattr(owner, "use_pad_mask", False):
            return None
        pool = getattr(owner, "pool_type", None)
        eos = getattr(owner, "eos_id", None)
    else:
        pool = getattr(model, "text_pool_type", None)
        eos = getattr(model, "text_eos_id", None)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
    if not all(getattr(owner, n, None) is not None for n in needed) or pool not in _TRIM_POOLS:
        return None
    return TextTower(owner.token_embedding, owner.positional_embedding, owner.transformer, owner.ln_final,
                     getattr(owner, "text_projection", None), owner.attn_mask, pool, eos)


def encode_text(model: nn.Module, tokens: Tensor, *, normalize: bool = True) -> Tensor:
    """Text features of ``tokens`` ([N, L], L <= context length), equal to ``model.encode_text`` at full length."""
    from open_clip.transformer import text_global_pool

    tower = text_tower(model)
    if tower is None:
        ctx = int(getattr(model, "context_length", tokens.shape[1]))
        if tokens.shape[1] < ctx:
            tokens = F.pad(tokens, (0, ctx - tokens.shape[1]), value=0)
        return model.encode_text(tokens, normalize=normalize)
    length = tokens.shape[1]
    cast = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast)
    x = x + tower.positional_embedding[:length].to(cast)
    x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
    x = tower.ln_final(x)
    x = text_global_pool(x, tokens, tower.pool_type, eos_token_id=tower.eos_id)
    if tower.text_projection is not None:
        x = tower.text_projection(x) if isinstance(tower.text_projection, nn.Linear) else x @ tower.text_projection
    return F.normalize(x, dim=-1) if normalize else x


def trim_padding(tokens: Tensor, pad_id: int = 0, multiple: int = 1) -> Tensor:
    """Drop the columns after the longest text (at least one column), keeping a length that is a multiple of
    ``multiple`` where the context allows (on a GPU, 8 suits tensor cores and limits recompiles)."""
    if tokens.numel() == 0:
        return tokens[:, :1]
    used = (tokens != pad_id).any(dim=0).nonzero()
    length = int(used.max()) + 1 if used.numel() else 1
    if multiple > 1:
        length = min(tokens.shape[1], -(-length // multiple) * multiple)
    return tokens[:, :length]


class TwoTower(nn.Module):
    """One module around the open_clip model so that DDP and ``torch.compile`` see a single forward:
    images through the image tower and all texts (positives and negatives) through the text tower, once each."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, images: Tensor | None, tokens: Tensor | None, select: Callable[..., Tensor] | None = None
                ) -> tuple[Tensor | None, Tensor | None, Tensor, Tensor | None]:
        """``select(clip, image_features, tokens) -> tokens`` (hardest-of-K) may change the texts after the
        image tower has run and before the text tower does."""
        img = self.clip.encode_image(images, normalize=True) if images is not None else None
        if select is not None and tokens is not None and img is not None:
            tokens = select(self.clip, img, tokens)
        txt = encode_text(self.clip, tokens) if tokens is not None else None
        bias = getattr(self.clip, "logit_bias", None)
        return img, txt, self.clip.logit_scale.exp(), bias


@dataclass
class ClipModel:
    """An open_clip model with its transforms and tokenizer, as ``[model]`` describes it."""

    model: nn.Module
    name: str
    preprocess_train: Callable[[Any], Tensor]
    preprocess_val: Callable[[Any], Tensor]
    tokenizer: Any
    context_length: int
    pretrained: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def tokenize(self, texts: list[str]) -> Tensor:
        """Token ids at full context length, as open_clip's tokenizer makes them ([N, context_length])."""
        return self.tokenizer(list(texts))

    def tokenize_trimmed(self, texts: list[str]) -> Tensor:
        return trim_padding(self.tokenize(texts))


def register_model_configs(extra_dir: str | None = None) -> None:
    """Make negkit's shipped configs (and ``extra_dir``) known to open_clip; idempotent."""
    import open_clip
    from open_clip import factory

    for path in (CONFIG_DIR, Path(extra_dir).expanduser() if extra_dir else None):
        if path is None:
            continue
        if not path.exists():
            raise RecipeError(f"model config folder not found: {path}", key="model.config_dir")
        if path not in factory._MODEL_CONFIG_PATHS:
            open_clip.add_model_config(path)


def check_model_name(name: str) -> None:
    import open_clip

    if name.startswith(("hf-hub:", "local-dir:")):
        return
    models = open_clip.list_models()
    if name.replace("/", "-") in models:
        return
    close = difflib.get_close_matches(name, models, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise RecipeError(f"unknown open_clip model {name!r}{hint} (all names: python -c \"import open_clip; "
                      f"print(open_clip.list_models())\"; negkit ships negkit-tiny and negkit-small)",
                      key="model.name")


def create_model(cfg: Any, device: str | torch.device = "cpu", *, seed: int = 0) -> ClipModel:
    """Build the model of ``[model]``: random init (seeded) when ``pretrained`` is empty, an open_clip tag, or a
    local checkpoint file (open_clip or negkit format, loaded with ``weights_only=True``)."""
    import open_clip

    register_model_configs(cfg.config_dir)
    check_model_name(cfg.name)
    pretrained = cfg.pretrained or ""
    path = Path(pretrained).expanduser() if pretrained else None
    is_file = path is not None and path.is_file()
    if path is not None and not is_file and ("/" in pretrained or pretrained.endswith((".pt", ".pth", ".bin",
                                                                                        ".safetensors"))):
        raise RecipeError(f"pretrained checkpoint file not found: {pretrained}", key="model.pretrained")
    torch.manual_seed(seed)
    quiet = logging.getLogger()
    level = quiet.level
    if not pretrained or is_file:  # open_clip warns "initialized randomly" even when weights follow
        quiet.setLevel(logging.ERROR)
    try:
        model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
            cfg.name, pretrained=None if (is_file or not pretrained) else pretrained, device="cpu",
            cache_dir=cfg.cache_dir, weights_only=True)
    except RuntimeError as exc:
        if pretrained and not is_file:
            tags = open_clip.list_pretrained_tags_by_model(cfg.name)
            raise ResourceMissingError(
                f"[model] pretrained={pretrained!r}: could not load weights for {cfg.name} ({exc}); known tags: "
                f"{', '.join(tags) or '(none)'}; or give a local checkpoint path, or \"\" for random init") from exc
        raise
    finally:
        quiet.setLevel(level)
    if is_file:
        warn_quickgelu(cfg.name, path)
        load_weights(model, path, expected_model=cfg.name)
    tokenizer = open_clip.get_tokenizer(cfg.name, cache_dir=cfg.cache_dir)
    ctx = int(getattr(model, "context_length", None) or getattr(tokenizer, "context_length", 77))
    model.to(device)
    info = {"trimmed_text": text_tower(model) is not None, "quick_gelu": uses_quickgelu(cfg.name)}
    return ClipModel(model, cfg.name, preprocess_train, preprocess_val, tokenizer, ctx, pretrained, info)


def uses_quickgelu(name: str) -> bool:
    import open_clip

    config = open_clip.get_model_config(name) or {}
    return bool(config.get("quick_gelu", False))


def looks_like_openai(path: Path) -> bool:
    """OpenAI released TorchScript archives; users often keep the name ("ViT-B-32.pt", "openai-...")."""
    if "openai" in path.name.lower():
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def warn_quickgelu(name: str, path: Path) -> None:
    if looks_like_openai(path) and not uses_quickgelu(name):
        warnings.warn(
            f"[model] pretrained={str(path)!r} looks like OpenAI weights, which were trained with QuickGELU, but "
            f"{name!r} uses GELU: every score will silently change. Use {name}-quickgelu (or a config with "
            f"\"quick_gelu\": true).", QuickGELUWarning, stacklevel=3)


def read_state_dict(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Model weights and negkit metadata (empty for open_clip files) from a checkpoint file."""
    from negkit.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path)
    meta = ckpt.get("negkit", {}) if isinstance(ckpt, dict) else {}
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise TrainingError(f"{path}: not a model checkpoint (no state_dict of tensors)")
    if next(iter(state)).startswith("module."):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, meta


def load_weights(model: nn.Module, path: Path, *, expected_model: str) -> dict[str, Any]:
    """Load a checkpoint into ``model``; a checkpoint of another architecture is a clear error."""
    from open_clip.factory import convert_state_dict, resize_pos_embed, resize_text_pos_embed

    state, meta = read_state_dict(path)
    saved_model = meta.get("model")
    if saved_model and saved_model != expected_model:
        raise TrainingError(f"{path} was saved from model {saved_model!r}, but the recipe builds {expected_model!r}; "
                            f"set [model] name = \"{saved_model}\" or use a checkpoint of {expected_model}")
    try:
        state = convert_state_dict(model, state)
        resize_pos_embed(state, model)
        resize_text_pos_embed(state, model)
        if "logit_scale" in state and model.logit_scale.ndim != state["logit_scale"].ndim:
            state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, AssertionError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise TrainingError(f"{path} does not fit model {expected_model!r} (a checkpoint of another model?): "
                            f"{detail[:400]}") from None
    return meta
