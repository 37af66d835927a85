"""Swin V2 maps: shifted-window attention reassembled on the full token grid, rollout, relevancy and Grad-CAM.

Swin V2 has no class token and attends only inside windows. A block with
shift s first rolls the (padded) token grid by (-s, -s), cuts it into
window x window tiles in row-major order, attends inside each tile, and rolls
the result back (transformers' `Swinv2Layer.forward`). `reassemble` undoes
exactly that: window k, position p -> the token it came from on the
unshifted grid, giving a (B, heads, N, N) map that is zero across windows.

Hugging Face returns only the last block of each stage in `attentions`; a
removable forward hook on every block's self-attention collects them all.
Geometry (grid per stage, window, shift) comes from the config, by the same
rules the model applies: the window shrinks to the grid when the grid is
smaller, and then there is no shift.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch

from foodlib.attention.vit import hf_grid, require_eager, with_residual


@dataclass(frozen=True)
class BlockGeometry:
    stage: int
    height: int  # token grid of the stage
    width: int
    window: int
    shift: int


def block_geometry(config) -> list[BlockGeometry]:
    """One entry per Swin block, in forward order, from the config alone."""
    h, w = hf_grid(config)
    out = []
    for stage, depth in enumerate(config.depths):
        # The model sizes windows from grid // 2**stage but merges odd grids up: (n + 1) // 2.
        rh, rw = h // 2**stage, w // 2**stage
        window = min(rh, rw, config.window_size)
        for i in range(depth):
            shift = 0 if (i % 2 == 0 or min(rh, rw) <= config.window_size) else config.window_size // 2
            out.append(BlockGeometry(stage, -(-h // 2**stage), -(-w // 2**stage), window, shift))
    return out


def window_token_ids(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """(num_windows, window**2) ids (row * padded_width + col) of the padded grid's tokens in each window."""
    hp, wp = -(-height // window) * window, -(-width // window) * window
    r = torch.arange(hp // window).view(-1, 1, 1, 1) * window + torch.arange(window).view(1, 1, -1, 1)
    c = torch.arange(wp // window).view(1, -1, 1, 1) * window + torch.arange(window).view(1, 1, 1, -1)
    ids = ((r + shift) % hp) * wp + (c + shift) % wp  # undo roll(-shift): shifted[r] = grid[r + shift]
    return ids.reshape(-1, window * window)


def reassemble(windows: torch.Tensor, height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """(B*num_windows, heads, w*w, w*w) window attention -> (B, heads, H*W, H*W) on the unshifted grid."""
    ids = window_token_ids(height, width, window, shift).to(windows.device)
    num_windows, area = ids.shape
    hp, wp = -(-height // window) * window, -(-width // window) * window
    heads = windows.shape[1]
    att = windows.reshape(-1, num_windows, heads, area, area).transpose(1, 2)  # (B, heads, nW, a, a)
    full = windows.new_zeros(att.shape[0], heads, hp * wp, hp * wp)
    full[:, :, ids[:, :, None].expand(-1, -1, area), ids[:, None, :].expand(-1, area, -1)] = att
    keep = (torch.arange(hp).view(-1, 1) < height) & (torch.arange(wp).view(1, -1) < width)
    keep = keep.flatten().nonzero().squeeze(1).to(windows.device)  # padding tokens dropped
    return full[:, :, keep][:, :, :, keep]


@contextlib.contextmanager
def block_attention_hooks(model) -> Iterator[list[torch.Tensor]]:
    """Within the context, a forward with output_attentions=True appends every block's window attention."""
    store: list[torch.Tensor] = []

    def keep(module, args, output):
        if len(output) > 1:
            store.append(output[1])

    handles = [block.attention.self.register_forward_hook(keep)
               for stage in model.swinv2.encoder.layers for block in stage.blocks]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def swin_attentions(model, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every block's attention reassembled to (B, heads, N_stage, N_stage), and the logits."""
    require_eager(model)
    with torch.no_grad(), block_attention_hooks(model) as store:
        logits = model(pixel_values=pixel_values, output_attentions=True).logits
    geometry = block_geometry(model.config)
    if len(store) != len(geometry):
        raise RuntimeError(f"captured {len(store)} attention maps for {len(geometry)} blocks")
    return [reassemble(a.float(), g.height, g.width, g.window, g.shift) for a, g in zip(store, geometry)], logits


def received(full: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, heads, N, N) -> (B, H, W): attention each token receives, averaged over heads and queries."""
    return full.mean(1).mean(1).reshape(-1, height, width)


def merge_matrix(height: int, width: int) -> torch.Tensor:
    """(N_out, N_in) averaging matrix of patch merging: token (r, c) <- the 2x2 tokens (2r.., 2c..)."""
    ho, wo = (height + 1) // 2, (width + 1) // 2
    r, c = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    m = torch.zeros(ho * wo, height * width, dtype=torch.float64)
    m[((r // 2) * wo + c // 2).flatten(), torch.arange(height * width)] = 1.0
    return m / m.sum(1, keepdim=True)


def rollout(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """Attention rollout through every block and patch merging: (B, H1, W1) on the first stage's grid.

    Each block contributes rownorm(mean_heads(A) + I); a merge averages 2x2
    tokens; the classifier averages the last stage's tokens, so the map is the
    mean row of the product. Rows of the product sum to 1, so the map sums to 1.
    """
    maps, _ = swin_attentions(model, pixel_values)
    geometry = block_geometry(model.config)
    result, stage = None, 0
    for full, g in zip(maps, geometry):
        if g.stage != stage:  # a patch merging sits between stages
            prev = geometry[[x.stage for x in geometry].index(stage)]
            result = merge_matrix(prev.height, prev.width).to(result.device) @ result
            stage = g.stage
        a = with_residual(full.double().mean(1))
        result = a if result is None else a @ result
    first = geometry[0]
    return result.mean(1).float().reshape(-1, first.height, first.width)


def grad_cam(model, pixel_values: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) on the last stage's tokens: (B, h, w).

    Channel weights are the token-averaged gradients of the target logit
    (default: predicted class); the map is relu(sum_c weight_c * activation_c).
    """
    acts: list[torch.Tensor] = []
    handle = model.swinv2.encoder.layers[-1].register_forward_hook(lambda m, a, out: acts.append(out[0]))
    try:
        with torch.enable_grad():
            logits = model(pixel_values=pixel_values.detach().requires_grad_(True)).logits
            if target is None:
                target = logits.argmax(-1)
            score = logits.gather(1, target.view(-1, 1).to(logits.device)).sum()
            (grad,) = torch.autograd.grad(score, acts[0])
    finally:
        handle.remove()
    act = acts[0].detach().float()  # (B, N_last, C)
    weights = grad.float().mean(1, keepdim=True)  # (B, 1, C)
    cam = (act * weights).sum(-1).clamp(min=0)
    last = block_geometry(model.config)[-1]
    return cam.reshape(-1, last.height, last.width)


def attentions_and_grads(model, pixel_values: torch.Tensor, target: torch.Tensor | None = None
                         ) -> list[torch.Tensor]:
    """Per block, mean_heads((dS/dA * A)^+) on the stage's full token grid: (B, N_stage, N_stage) each.

    S is the target class's logit (default: the predicted class). The product is taken per window, where
    the model computed A, then reassembled like the attention itself (zero across windows).
    """
    require_eager(model)
    with torch.enable_grad(), block_attention_hooks(model) as store:
        # An input that needs grad keeps a frozen model in the autograd graph.
        logits = model(pixel_values=pixel_values.detach().requires_grad_(True), output_attentions=True).logits
        if target is None:
            target = logits.argmax(-1)
        score = logits.gather(1, target.view(-1, 1).to(logits.device)).sum()  # images are independent
        grads = torch.autograd.grad(score, store)
    geometry = block_geometry(model.config)
    if len(store) != len(geometry):
        raise RuntimeError(f"captured {len(store)} attention maps for {len(geometry)} blocks")
    cams = [(g.float() * a.detach().float()).clamp(min=0).mean(1, keepdim=True) for a, g in zip(store, grads)]
    return [reassemble(c, g.height, g.width, g.window, g.shift)[:, 0] for c, g in zip(cams, geometry)]


def relevancy(model, pixel_values: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Class-specific relevancy (Chefer et al. 2021) through every block and patch merging: (B, H1, W1).

    R starts as the identity on the first stage's tokens; each block adds its gradient-weighted attention,
    R <- R + mean_heads((dS/dA * A)^+) @ R; a merge maps R through its 2x2 averaging matrix, as rollout
    does; the classifier averages the last stage's tokens, so the map is the mean row of R, less the share
    of the identity alone (each token's own residual path: 1/N1 everywhere on an even grid). Chefer et al.'s
    ViT map likewise leaves out the class token's own; what remains is the relevance the attention adds.

    R = A_L ... A_1 with A = I + cam or a merge, so its mean row is v = (1/N_last) 1^T A_L ... A_1, taken
    from the classifier's end as a row vector: N^2 work per block instead of N^3 for R itself (Swin V2-T's
    first stage has N = 64 * 64 tokens).
    """
    cams = attentions_and_grads(model, pixel_values, target)
    geometry = block_geometry(model.config)
    steps = []  # (matrix, is_merge) in forward order
    for cam, g, prev in zip(cams, geometry, [geometry[0], *geometry[:-1]]):
        if g.stage != prev.stage:  # a patch merging sits between stages
            steps.append((merge_matrix(prev.height, prev.width).float().to(cam.device), True))
        steps.append((cam, False))
    n_last = cams[-1].shape[-1]
    v = torch.full((len(pixel_values), 1, n_last), 1.0 / n_last, device=cams[0].device)  # (B, 1, N_stage)
    identity = v[:1].clone()  # the same product with every cam left out
    for m, is_merge in reversed(steps):
        v = v @ m if is_merge else v + v @ m  # v (I + cam) = v + v cam
        identity = identity @ m if is_merge else identity
    first = geometry[0]
    return (v - identity).squeeze(1).clamp(min=0).reshape(-1, first.height, first.width)


METHODS = ("rollout", "gradcam", "last_stage", "relevancy")


def swin_map(model, pixel_values: torch.Tensor, method: str, target: torch.Tensor | None = None) -> torch.Tensor:
    """One (B, h, w) map by `method`: rollout | gradcam | last_stage (attention received in the last block)
    | relevancy; `target` (B,) is the class of the class-specific ones (gradcam, relevancy), default predicted."""
    if method == "rollout":
        return rollout(model, pixel_values)
    if method == "relevancy":
        return relevancy(model, pixel_values, target)
    if method == "gradcam":
        return grad_cam(model, pixel_values, target)
    if method == "last_stage":
        maps, _ = swin_attentions(model, pixel_values)
        last = block_geometry(model.config)[-1]
        return received(maps[-1], last.height, last.width)
    raise ValueError(f"Swin method must be one of {METHODS}, got {method!r}")
