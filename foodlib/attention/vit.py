"""Attention capture and attention-based maps for ViT and CLIP (tensor in, tensor out).

Capture never edits a model's code:
- Hugging Face ViT / Swin V2 return their attention probabilities with
  `output_attentions=True` when loaded with `attn_implementation="eager"`.
- The openai `clip` visual transformer calls `nn.MultiheadAttention` with
  `need_weights=False`; a removable forward pre-hook asks it for per-head
  weights instead (need_weights=True, average_attn_weights=False) and a
  forward hook keeps them. Both hooks are removed when the context exits.

Maps (all on the patch grid, class token dropped):
- `cls_attention`: last layer, class token -> patches, per head (DINO style).
- `rollout`: Abnar & Zuidema (2020), identity for the residual, rows renormalised.
- `relevancy`: Chefer et al. (2021, "Generic attention-model explainability"):
  R <- R + mean_heads((dS/dA * A)^+) @ R, layer by layer, for a target score S.
Swin V2 (no class token, shifted windows) lives in `foodlib.attention.swin`.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


# -- geometry -------------------------------------------------------------
def _pair(x) -> tuple[int, int]:
    return (int(x), int(x)) if isinstance(x, int) else (int(x[0]), int(x[1]))


def hf_grid(config) -> tuple[int, int]:
    """Patch grid (rows, cols) of a Hugging Face ViT / Swin config: image_size // patch_size."""
    (ih, iw), (ph, pw) = _pair(config.image_size), _pair(config.patch_size)
    return ih // ph, iw // pw


def clip_grid(model) -> tuple[int, int]:
    """Patch grid of an openai-clip ViT: input_resolution // patch size (conv1's kernel)."""
    visual = model.visual
    if not hasattr(visual, "transformer"):
        raise TypeError("attention maps need a ViT CLIP; this CLIP has a ResNet image encoder")
    ph, pw = visual.conv1.kernel_size
    return visual.input_resolution // ph, visual.input_resolution // pw


def to_grid(patch_values: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(..., H*W) -> (..., H, W), checking that the grid fits."""
    h, w = grid
    if patch_values.shape[-1] != h * w:
        raise ValueError(f"{patch_values.shape[-1]} patch values do not fill a {h}x{w} grid")
    return patch_values.reshape(*patch_values.shape[:-1], h, w)


# -- capture --------------------------------------------------------------
def require_eager(model) -> None:
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "eager":
        raise ValueError(
            f"attention maps need the eager attention implementation, the model uses {impl!r}: "
            "load it with attn_implementation='eager'"
        )


def hf_attentions(model, pixel_values: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Run a Hugging Face image classifier; returns (attentions, logits).

    ViT: one (B, heads, T, T) tensor per layer, T = 1 + H*W. The tensors stay in
    the autograd graph when gradients are enabled, so `relevancy` can use them.
    """
    require_eager(model)
    out = model(pixel_values=pixel_values, output_attentions=True)
    if not out.attentions:
        raise RuntimeError("the model returned no attentions")
    return tuple(out.attentions), out.logits


@contextlib.contextmanager
def clip_attention_hooks(model) -> Iterator[list[torch.Tensor]]:
    """Within the context, every forward of CLIP's visual transformer appends its
    per-layer attention weights, (B, heads, T, T) each, to the yielded list."""
    store: list[torch.Tensor] = []

    def ask_for_weights(module, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def keep_weights(module, args, kwargs, output):
        store.append(output[1])

    handles = []
    try:
        for block in model.visual.transformer.resblocks:
            handles.append(block.attn.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(block.attn.register_forward_hook(keep_weights, with_kwargs=True))
        yield store
    finally:
        for h in handles:
            h.remove()


class ClipClassifier(nn.Module):
    """CLIP as a classifier: logits = scale * cos(image embedding, class text embedding).

    `text_features` is (C, D), one (normalised) text embedding per class.
    """

    def __init__(self, model, text_features: torch.Tensor):
        super().__init__()
        self.model = model
        device = next(model.parameters()).device
        self.register_buffer("text_features", F.normalize(text_features.float(), dim=-1).to(device))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        dtype = self.model.visual.conv1.weight.dtype  # fp16 on a GPU clip.load
        image = F.normalize(self.model.encode_image(pixel_values.to(dtype)).float(), dim=-1)
        return self.model.logit_scale.exp().float() * image @ self.text_features.T


def clip_attentions(clf: ClipClassifier, pixel_values: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Same contract as `hf_attentions`, for a `ClipClassifier`."""
    with clip_attention_hooks(clf.model) as store:
        logits = clf(pixel_values)
    return tuple(store), logits  # not cast: `relevancy` differentiates these very tensors


def attentions_and_logits(model, pixel_values: torch.Tensor):
    """(attentions, logits) for a HF ViT or a `ClipClassifier`."""
    if isinstance(model, ClipClassifier):
        return clip_attentions(model, pixel_values)
    return hf_attentions(model, pixel_values)


def grid_of(model) -> tuple[int, int]:
    return clip_grid(model.model) if isinstance(model, ClipClassifier) else hf_grid(model.config)


# -- maps -----------------------------------------------------------------
def cls_attention(attentions: tuple[torch.Tensor, ...], grid: tuple[int, int]) -> torch.Tensor:
    """Last layer's class-token attention to each patch: (B, heads, H, W); `.mean(1)` averages heads."""
    last = attentions[-1].detach().float()  # (B, heads, T, T)
    return to_grid(last[:, :, 0, 1:], grid)


def fuse_heads(att: torch.Tensor, head_fusion: str) -> torch.Tensor:
    """(B, heads, T, T) -> (B, T, T) by mean | max | min over heads."""
    if head_fusion == "mean":
        return att.mean(1)
    if head_fusion == "max":
        return att.amax(1)
    if head_fusion == "min":
        return att.amin(1)
    raise ValueError(f"head_fusion must be mean, max or min, got {head_fusion!r}")


def rollout_matrix(attentions: tuple[torch.Tensor, ...], head_fusion: str = "mean",
                   discard_ratio: float = 0.0) -> torch.Tensor:
    """Attention rollout (B, T, T): product over layers of rownorm(fused + I); rows sum to 1.

    `discard_ratio` zeroes that fraction of each layer's lowest fused weights
    (never those from or to the class token, index 0) before the identity is added.
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    b, _, t, _ = attentions[0].shape
    eye = torch.eye(t, dtype=torch.float64, device=attentions[0].device)
    result = eye.expand(b, t, t)
    for att in attentions:
        a = fuse_heads(att.detach().to(torch.float64), head_fusion)
        if discard_ratio > 0:
            a = _discard_lowest(a, discard_ratio)
        result = with_residual(a) @ result
    return result.float()


def with_residual(a: torch.Tensor) -> torch.Tensor:
    """One rollout step's matrix: attention plus the identity for the residual path, rows renormalised to 1."""
    a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    return a / a.sum(-1, keepdim=True)


def _discard_lowest(a: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the `ratio` lowest patch-to-patch weights of each (T, T) map in the batch."""
    inner = a[:, 1:, 1:].reshape(a.shape[0], -1)
    k = int(inner.shape[1] * ratio)
    if k == 0:
        return a
    idx = inner.topk(k, dim=-1, largest=False).indices
    inner = inner.scatter(1, idx, 0.0)
    out = a.clone()
    out[:, 1:, 1:] = inner.view_as(a[:, 1:, 1:])
    return out


def rollout(attentions: tuple[torch.Tensor, ...], grid: tuple[int, int], head_fusion: str = "mean",
            discard_ratio: float = 0.0) -> torch.Tensor:
    """Rolled-out class-token row over the patches: (B, H, W)."""
    return to_grid(rollout_matrix(attentions, head_fusion, discard_ratio)[:, 0, 1:], grid)


def relevancy(model, pixel_values: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Class-specific relevancy (Chefer et al. 2021) of each patch: (B, H, W).

    `model` is a HF ViT or a `ClipClassifier` (for CLIP the score is the
    similarity to the target class's text embedding); `target` is (B,) class
    indices, default each image's predicted class.
    """
    with torch.enable_grad():
        # An input that needs grad keeps frozen models in the autograd graph (and off MHA's fast path).
        attentions, logits = attentions_and_logits(model, pixel_values.detach().requires_grad_(True))
        if target is None:
            target = logits.argmax(-1)
        score = logits.gather(1, target.view(-1, 1).to(logits.device)).sum()  # images are independent
        grads = torch.autograd.grad(score, [_in_graph(a) for a in attentions])
        grads = [g.reshape(a.shape) for g, a in zip(grads, attentions)]
    b, _, t, _ = attentions[0].shape
    rel = torch.eye(t, device=logits.device).expand(b, t, t)
    for att, grad in zip(attentions, grads):
        cam = (grad.float() * att.detach().float()).clamp(min=0).mean(1)  # (B, T, T)
        rel = rel + cam @ rel
    return to_grid(rel[:, 0, 1:], grid_of(model))


def _in_graph(att: torch.Tensor) -> torch.Tensor:
    """The tensor the forward pass multiplied with the values.

    nn.MultiheadAttention returns its per-head weights as a `.view` made after
    the product, which the score does not depend on; its base, (B*heads, T, T),
    is the tensor that was used.
    """
    base = att._base
    return base if base is not None and base.numel() == att.numel() else att


METHODS = ("cls", "rollout", "relevancy")


def attention_map(model, pixel_values: torch.Tensor, method: str, target: torch.Tensor | None = None,
                  head_fusion: str = "mean", discard_ratio: float = 0.0) -> torch.Tensor:
    """One (B, H, W) map for a HF ViT or a `ClipClassifier` by `method` in METHODS."""
    if method == "relevancy":
        return relevancy(model, pixel_values, target)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    with torch.no_grad():
        attentions, _ = attentions_and_logits(model, pixel_values)
    grid = grid_of(model)
    if method == "cls":
        return cls_attention(attentions, grid).mean(1)
    return rollout(attentions, grid, head_fusion, discard_ratio)


def batched(fn: Callable[[torch.Tensor], torch.Tensor], pixel_values: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Apply a map function in chunks of `batch_size` images and concatenate."""
    return torch.cat([fn(pixel_values[i:i + batch_size]) for i in range(0, len(pixel_values), batch_size)])
