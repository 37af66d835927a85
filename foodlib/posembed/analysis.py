"""Positional-embedding analysis: tensor in, tensor (or table) out, then figures.

ViT and CLIP's visual transformer learn one absolute embedding per patch
position (plus the class token). Their cosine similarities, drawn as a grid of
small maps (ViT paper, Figure 7), show what the model learnt about 2-D layout.
Swin V2 has no absolute embedding: its position information is a continuous
relative position bias, an MLP of (dy, dx) per head, drawn instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from foodlib import artifacts, models
from foodlib.config import Params
from foodlib.data.prepare import load_prepared


def check_inputs(params: Params) -> list[str]:
    """The dataset's classes, once 01-04 have run; fails at once naming the notebook to run first.

    07 reads the fine-tuned checkpoints of 02 and 03 and the CLIP of 04: each model's predictions file
    is the sign that its notebook finished.
    """
    for name in models.available():
        artifacts.require(artifacts.prediction_path(name, params), name)
    return load_prepared(params).classes


def patch_embeddings(posemb: torch.Tensor, grid: tuple[int, int], has_class_token: bool) -> torch.Tensor:
    """(T, D) or (1, T, D) position embeddings -> (H*W, D) patch rows, class token dropped."""
    pe = posemb.detach().float().reshape(-1, posemb.shape[-1])
    if has_class_token:
        pe = pe[1:]
    h, w = grid
    if pe.shape[0] != h * w:
        raise ValueError(f"{pe.shape[0]} patch embeddings do not fill a {h}x{w} grid")
    return pe


def cosine_similarity(pe: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N) cosine similarities."""
    z = F.normalize(pe.float(), dim=-1)
    return z @ z.T


def similarity(posemb: torch.Tensor, grid: tuple[int, int], has_class_token: bool) -> torch.Tensor:
    """(H*W, H*W) cosine similarity of every patch position's embedding with every other."""
    return cosine_similarity(patch_embeddings(posemb, grid, has_class_token))


def _pair_geometry(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = grid
    rows, cols = np.divmod(np.arange(h * w), w)
    dy = rows[:, None] - rows[None, :]
    dx = cols[:, None] - cols[None, :]
    return dy, dx, np.sqrt(dy**2 + dx**2)


def distance_profile(sim: torch.Tensor, grid: tuple[int, int]) -> pd.DataFrame:
    """Mean similarity of position pairs by Euclidean distance (rounded to 0.5 patch), self-pairs excluded."""
    _, _, dist = _pair_geometry(grid)
    s = sim.cpu().numpy()
    off = ~np.eye(len(s), dtype=bool)
    d = np.round(dist[off] * 2) / 2
    df = pd.DataFrame({"distance": d, "similarity": s[off]})
    return df.groupby("distance", as_index=False)["similarity"].agg(["mean", "std", "count"]).rename(
        columns={"mean": "mean_similarity", "std": "std_similarity", "count": "pairs"})


def row_column_table(sim: torch.Tensor, grid: tuple[int, int]) -> pd.DataFrame:
    """Mean similarity for pairs in the same row, the same column, and neither (self-pairs excluded).

    'neighbour_*' compares like with like: pairs one patch apart along a row, a
    column, or a diagonal, so distance does not explain the difference.
    """
    dy, dx, dist = _pair_geometry(grid)
    s = sim.cpu().numpy()
    off = ~np.eye(len(s), dtype=bool)
    groups = {
        "same_row": (dy == 0) & off,
        "same_column": (dx == 0) & off,
        "other": (dy != 0) & (dx != 0),
        "neighbour_row (dx=1)": (dy == 0) & (np.abs(dx) == 1),
        "neighbour_column (dy=1)": (dx == 0) & (np.abs(dy) == 1),
        "neighbour_diagonal": (np.abs(dy) == 1) & (np.abs(dx) == 1),
    }
    rows = [{"pairs": name, "mean_similarity": float(s[m].mean()) if m.any() else float("nan"),
             "mean_distance": float(dist[m].mean()) if m.any() else float("nan"), "n": int(m.sum())}
            for name, m in groups.items()]
    return pd.DataFrame(rows)


def distance_correlation(sim: torch.Tensor, grid: tuple[int, int]) -> float:
    """Spearman correlation between pair distance and similarity (negative: nearer is more similar)."""
    from scipy.stats import spearmanr

    _, _, dist = _pair_geometry(grid)
    off = ~np.eye(dist.shape[0], dtype=bool)
    return float(spearmanr(dist[off], sim.cpu().numpy()[off]).statistic)


def movement(before: torch.Tensor, after: torch.Tensor, grid: tuple[int, int], has_class_token: bool) -> pd.DataFrame:
    """How far fine-tuning moved each position's embedding: cosine(before, after) and relative L2 change."""
    b = patch_embeddings(before, grid, has_class_token)
    a = patch_embeddings(after, grid, has_class_token)
    cos = F.cosine_similarity(a, b, dim=-1)
    rel = (a - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-12)
    rows, cols = np.divmod(np.arange(grid[0] * grid[1]), grid[1])
    return pd.DataFrame({"row": rows, "col": cols, "cosine_before_after": cos.numpy(), "relative_l2_change": rel.numpy()})


# -- where each model keeps them ------------------------------------------------------------

def vit_position_embeddings(model: torch.nn.Module) -> tuple[torch.Tensor, tuple[int, int]]:
    """(1 + H*W, D) learned embeddings of a Hugging Face ViT (with or without a head) and its grid (H, W)."""
    backbone = getattr(model, "vit", model)
    cfg = backbone.config
    side = cfg.image_size // cfg.patch_size
    return backbone.embeddings.position_embeddings.detach()[0].cpu(), (side, side)


def clip_position_embeddings(model: torch.nn.Module) -> tuple[torch.Tensor, tuple[int, int]]:
    """(1 + H*W, D) learned embeddings of CLIP's visual transformer and its grid (H, W)."""
    visual = model.visual
    if not hasattr(visual, "positional_embedding"):
        raise ValueError("this CLIP has a ResNet image encoder (no patch position embeddings): use a ViT-based CLIP")
    side = visual.input_resolution // visual.conv1.kernel_size[0]
    return visual.positional_embedding.detach().float().cpu(), (side, side)


def structure_table(sims: dict[str, torch.Tensor], grids: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per embedding: distance correlation and the row / column / other mean similarities."""
    rows = []
    for name, sim in sims.items():
        grid = grids[name]
        table = row_column_table(sim, grid).set_index("pairs")["mean_similarity"]
        rows.append({"embedding": name, "grid": f"{grid[0]}x{grid[1]}",
                     "spearman(distance, similarity)": distance_correlation(sim, grid),
                     **{k: float(v) for k, v in table.items()}})
    return pd.DataFrame(rows)


# -- Swin V2: continuous relative position bias ------------------------------------------------

def swin_relative_bias(attention: torch.nn.Module) -> torch.Tensor:
    """(heads, 2*Wh-1, 2*Ww-1) bias that a Swin V2 attention module adds for each offset (dy, dx).

    Uses the module's own MLP and coordinate table: 16 * sigmoid(cpb_mlp(coords)),
    exactly what it adds to the attention logits.
    """
    wh, ww = attention.window_size
    with torch.no_grad():
        table = attention.continuous_position_bias_mlp(attention.relative_coords_table)  # (1, 2Wh-1, 2Ww-1, heads)
        bias = 16 * torch.sigmoid(table)
    return bias.reshape(2 * wh - 1, 2 * ww - 1, -1).permute(2, 0, 1).float().cpu()


def swin_attention_module(model: torch.nn.Module, stage: int = 0, block: int = 0) -> torch.nn.Module:
    """The self-attention module of one block of a Hugging Face Swin V2 model (with or without a head)."""
    backbone = getattr(model, "swinv2", model)
    return backbone.encoder.layers[stage].blocks[block].attention.self
