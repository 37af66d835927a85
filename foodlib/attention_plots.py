"""Figures for notebook 06: maps overlaid on their images, disagreement galleries, per-head grids."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from foodlib.faithfulness import resample


def to_image(pixel_values: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(3, H, W) normalised tensor -> (H, W, 3) float array in [0, 1]."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    return (pixel_values.detach().cpu().float() * s + m).clamp(0, 1).permute(1, 2, 0).numpy()


def upsample(saliency: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(h, w) map -> (H, W) in [0, 1] (min-max scaled), bilinear."""
    s = resample(saliency.detach().cpu()[None], size)[0]
    s = s - s.min()
    return (s / s.max().clamp(min=1e-12)).numpy()


def overlay(ax, image: np.ndarray, saliency: torch.Tensor | None, title: str = "", alpha: float = 0.5) -> None:
    """Draw `image` (H, W, 3) with `saliency` upsampled over it."""
    ax.imshow(image)
    if saliency is not None:
        ax.imshow(upsample(saliency, image.shape[:2]), cmap="jet", alpha=alpha, vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def label_text(classes: Sequence[str], label: int, pred: int, conf: float) -> str:
    mark = "ok" if pred == label else "wrong"
    return f"pred {classes[pred]} ({conf:.0%}, {mark})"


def gallery(rows: list[dict], columns: Sequence[str], classes: Sequence[str], title: str = ""):
    """One row per image: the image, then one overlay per model in `columns`.

    Each row is {"image": (H, W, 3), "label": int, "maps": {model: (h, w)},
    "pred": {model: int}, "conf": {model: float}, "method": {model: str}}.
    """
    n = len(rows)
    fig, axes = plt.subplots(max(n, 1), 1 + len(columns), figsize=(2.3 * (1 + len(columns)), 2.5 * max(n, 1)),
                             squeeze=False)
    for r, row in enumerate(rows):
        overlay(axes[r, 0], row["image"], None, f"true: {classes[row['label']]}")
        for c, name in enumerate(columns, start=1):
            text = f"{name} {row['method'][name]}\n" + label_text(classes, row["label"], row["pred"][name],
                                                                   row["conf"][name])
            image = row.get("images", {}).get(name, row["image"])  # each model's own input crop
            overlay(axes[r, c], image, row["maps"][name], text)
    if not rows:
        axes[0, 0].text(0.5, 0.5, "no images in this set", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def head_grid(image: np.ndarray, heads: dict[str, torch.Tensor], title: str = ""):
    """Rows: models; columns: the head-averaged map, then each head. `heads[name]` is (heads, h, w)."""
    width = 1 + max(len(v) for v in heads.values())
    fig, axes = plt.subplots(len(heads), width + 1, figsize=(1.9 * (width + 1), 2.1 * len(heads)), squeeze=False)
    for r, (name, maps) in enumerate(heads.items()):
        overlay(axes[r, 0], image, None, name)
        overlay(axes[r, 1], image, maps.mean(0), "mean of heads")
        for h in range(width - 1):
            if h < len(maps):
                overlay(axes[r, h + 2], image, maps[h], f"head {h}")
            else:
                axes[r, h + 2].axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def deletion_plot(curves: dict[str, torch.Tensor]):
    """Mean deletion curve per (model method) label; the x axis is the fraction of patches removed."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, c in curves.items():
        ax.plot(np.linspace(0, 1, c.shape[1]), c.mean(0).numpy(), label=name,
                linestyle="--" if "random" in name else "-")
    ax.set_xlabel("fraction of patches removed (most important first)")
    ax.set_ylabel("probability of the predicted class")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
