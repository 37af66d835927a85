"""Notebook 07's figures: position-embedding similarity, its fall with distance, movement, Swin V2's bias."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch


def mosaic(sim: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Arrange the H*W similarity maps (each H x W) into one image, NaN gutters between them."""
    h, w = grid
    maps = sim.cpu().numpy().reshape(h, w, h, w)  # (query row, query col, key row, key col)
    canvas = np.full((h * (h + 1) - 1, w * (w + 1) - 1), np.nan)
    for i in range(h):
        for j in range(w):
            canvas[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = maps[i, j]
    return canvas


def similarity_grid(sim: torch.Tensor, grid: tuple[int, int], title: str, ax=None):
    """ViT paper Figure 7: for each patch position (row, col of the big grid), its similarity to all positions."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    im = ax.imshow(mosaic(sim, grid), cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    h, w = grid
    ax.set_xticks([j * (w + 1) + w / 2 - 0.5 for j in range(w)], [str(j + 1) for j in range(w)])
    ax.set_yticks([i * (h + 1) + h / 2 - 0.5 for i in range(h)], [str(i + 1) for i in range(h)])
    ax.set_xlabel("input patch column")
    ax.set_ylabel("input patch row")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    return ax.figure


def distance_profiles(profiles: dict[str, pd.DataFrame]):
    """Mean similarity against patch distance, one line per model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, df in profiles.items():
        ax.plot(df["distance"], df["mean_similarity"], marker=".", label=name)
    ax.set_xlabel("distance between patches (patches)")
    ax.set_ylabel("mean cosine similarity")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    ax.set_title("Position-embedding similarity falls with distance?")
    fig.tight_layout()
    return fig


def movement_map(df: pd.DataFrame, grid: tuple[int, int], title: str):
    """Map of cosine(before, after) per patch position: where fine-tuning moved the embeddings most."""
    import matplotlib.pyplot as plt

    values = df.sort_values(["row", "col"])["cosine_before_after"].to_numpy().reshape(grid)
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    im = ax.imshow(values, cmap="viridis", interpolation="nearest")
    ax.set_xlabel("patch column")
    ax.set_ylabel("patch row")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine(before, after)")
    fig.tight_layout()
    return fig


def swin_bias(bias: torch.Tensor, title: str):
    """One map per head of the relative position bias over offsets (dy, dx)."""
    import matplotlib.pyplot as plt

    heads, hh, ww = bias.shape
    cols = min(heads, 6)
    rows = math.ceil(heads / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.1 * rows + 0.4), squeeze=False)
    ry, rx = (hh - 1) // 2, (ww - 1) // 2
    lo, hi = float(bias.min()), float(bias.max())  # one scale for every head, so heads compare by colour
    im = None
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < heads:
            im = ax.imshow(bias[k].numpy(), cmap="magma", vmin=lo, vmax=hi,
                           extent=(-rx - .5, rx + .5, ry + .5, -ry - .5))
            ax.set_title(f"head {k}", fontsize=8)
            ax.axis("on")
            ax.set_xticks([-rx, 0, rx])
            ax.set_yticks([-ry, 0, ry])
    axes[0][0].set_ylabel("dy")
    axes[-1][0].set_xlabel("dx")
    fig.suptitle(title)
    fig.tight_layout()
    fig.colorbar(im, ax=axes, fraction=0.025, pad=0.02, label="bias added to the attention logit")
    return fig
