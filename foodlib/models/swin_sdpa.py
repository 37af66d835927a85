"""Swin V2 window attention through `torch.nn.functional.scaled_dot_product_attention`.

transformers implements Swin V2's attention only eagerly: it materialises the
(windows, heads, N, N) scores, adds the position bias and the shifted-window
mask, then softmax and a second matmul, each a separate kernel. Here the same
arithmetic goes through one fused SDPA call:

  scores = (logit_scale * q/|q|) @ (k/|k|)^T + 16 * sigmoid(cpb_mlp(coords))[index] + 2 * shift_mask

`install(model)` replaces the `forward` of each `Swinv2SelfAttention` *instance*
(`types.MethodType`); transformers' source is neither edited nor copied, its
parameters and buffers are used as they are, and `uninstall(model)` deletes the
instance attribute so the class's eager forward is back. A call asking for
`output_attentions` runs the eager forward, so attention maps can still be read.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import types
from typing import Iterator

import torch
import torch.nn.functional as F

# Swin V2 caps the learned temperature of cosine attention at 1/0.01 = 100 (log 4.605).
MAX_LOGIT_SCALE = math.log(1.0 / 0.01)


def position_bias(module) -> torch.Tensor:
    """(heads, N, N) continuous relative position bias of one attention module, N = window area."""
    n = module.window_size[0] * module.window_size[1]
    table = module.continuous_position_bias_mlp(module.relative_coords_table).view(-1, module.num_attention_heads)
    bias = table[module.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
    return 16 * torch.sigmoid(bias)  # bounded to (0, 16), as in the paper


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B*windows, N, C) -> (B*windows, heads, N, C // heads)."""
    return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def sdpa_forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 output_attentions: bool | None = False) -> tuple[torch.Tensor, ...]:
    """Swinv2SelfAttention.forward's signature and result, computed by one SDPA call."""
    if output_attentions:  # the fused kernel never forms the weights: the eager forward returns them
        return type(self).forward(self, hidden_states, attention_mask, output_attentions)
    rows, tokens, _ = hidden_states.shape  # rows = batch x windows
    heads = self.num_attention_heads
    q, k, v = (_heads(layer(hidden_states), heads) for layer in (self.query, self.key, self.value))
    scale = torch.clamp(self.logit_scale, max=MAX_LOGIT_SCALE).exp()  # (heads, 1, 1)
    q = F.normalize(q, dim=-1) * scale  # cosine attention: the temperature multiplies, so sdpa gets scale=1
    k = F.normalize(k, dim=-1)
    mask = position_bias(self).unsqueeze(0)  # (1, heads, N, N)
    windows = 1
    if attention_mask is not None:  # (windows, N, N): 0 within a region of the shifted image, -100 across
        windows = attention_mask.shape[0]
        # transformers adds the shift mask twice (-100 becomes -200); kept so outputs match the eager forward
        mask = mask + 2 * attention_mask.unsqueeze(1)  # (windows, heads, N, N)
    # Windows go in the head axis: (B, windows*heads, N, d) with a (1, windows*heads, N, N) mask that
    # broadcasts over the batch, so the mask is never expanded to the batch and the fused kernels accept it.
    q, k, v = (t.reshape(rows // windows, windows * heads, tokens, -1) for t in (q, k, v))
    mask = mask.reshape(1, windows * heads, tokens, tokens).to(v.dtype)
    out = F.scaled_dot_product_attention(q.to(v.dtype), k.to(v.dtype), v, attn_mask=mask, scale=1.0,
                                         dropout_p=self.dropout.p if self.training else 0.0)
    out = out.reshape(rows, heads, tokens, -1).transpose(1, 2).reshape(rows, tokens, self.all_head_size)
    return (out,)


def _attention_modules(model) -> list[torch.nn.Module]:
    from transformers.models.swinv2.modeling_swinv2 import Swinv2SelfAttention

    return [m for m in model.modules() if isinstance(m, Swinv2SelfAttention)]


def _uses_sdpa(module) -> bool:
    return getattr(module.__dict__.get("forward"), "__func__", None) is sdpa_forward


# The eager forward this one stands in for, as transformers 5 writes it (4.x also takes a head_mask).
SIGNATURE = ("self", "hidden_states", "attention_mask", "output_attentions")
_WEIGHTS = ("query", "key", "value", "logit_scale", "continuous_position_bias_mlp", "relative_coords_table")


def supported(module) -> bool:
    """True when `module`'s class has the forward and the weights `sdpa_forward` is written for."""
    params = tuple(inspect.signature(type(module).forward).parameters)
    return params == SIGNATURE and all(hasattr(module, name) for name in _WEIGHTS)


def install(model) -> int:
    """Route every Swin V2 self-attention of `model` through SDPA; returns how many modules (0: no Swin V2,
    or a transformers version whose attention differs from the one written here: it stays eager)."""
    found = _attention_modules(model)
    if not all(supported(m) for m in found):
        return 0
    for m in found:
        m.forward = types.MethodType(sdpa_forward, m)
    return len(found)


def uninstall(model) -> int:
    """Give every Swin V2 self-attention of `model` back its eager forward; returns how many were changed."""
    changed = [m for m in _attention_modules(model) if _uses_sdpa(m)]
    for m in changed:
        del m.forward  # the instance attribute goes: the class's forward is found again
    return len(changed)


def is_installed(model) -> bool:
    """True when `model` has Swin V2 attention and all of it runs through SDPA."""
    found = _attention_modules(model)
    return bool(found) and all(_uses_sdpa(m) for m in found)


@contextlib.contextmanager
def eager(model) -> Iterator[None]:
    """Inside the block `model` runs transformers' eager attention; SDPA comes back after if it was installed."""
    was = is_installed(model)
    uninstall(model)
    try:
        yield
    finally:
        if was:
            install(model)
