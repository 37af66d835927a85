"""Figures for notebook 06: maps overlaid on their images, disagreement galleries, per-head grids."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from foodlib.attention.faithfulness import auc
from foodlib.attention.resize import upsample

MAP_CMAP = "inferno"  # perceptually uniform: equal steps in value read as equal steps in lightness
MAP_LABEL = "map value, min-max scaled per map (0 = least, 1 = most)"


def to_image(pixel_values: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(3, H, W) normalised tensor -> (H, W, 3) float array in [0, 1]."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    return (pixel_values.detach().cpu().float() * s + m).clamp(0, 1).permute(1, 2, 0).numpy()


def overlay(ax, image: np.ndarray, saliency: torch.Tensor | None, title: str = "", alpha: float = 0.5) -> None:
    """Draw `image` (H, W, 3) with `saliency` upsampled over it."""
    ax.imshow(image)
    if saliency is not None:
        ax.imshow(upsample(saliency, image.shape[:2]), cmap=MAP_CMAP, alpha=alpha, vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def map_colorbar(fig, axes) -> None:
    """One labelled colour bar for every overlay of the figure (all share the 0-1 scale of `upsample`)."""
    mappable = plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap=MAP_CMAP)
    # Below the panels: the label reads in one line whatever the number of rows.
    bar = fig.colorbar(mappable, ax=axes, location="bottom", shrink=0.45, aspect=45, pad=0.02)
    bar.set_label(MAP_LABEL, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def text_panel(text: str, title: str = ""):
    """A figure holding one line of text and no axes: what is drawn when there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, wrap=True)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def label_text(classes: Sequence[str], label: int, pred: int, conf: float) -> str:
    mark = "ok" if pred == label else "wrong"
    return f"pred {classes[pred]} ({conf:.0%}, {mark})"


def gallery(rows: list[dict], columns: Sequence[str], classes: Sequence[str], title: str = "",
            empty: str = "no images in this set"):
    """One row per image: the image, then one overlay per model in `columns`; `empty` is shown when there is none.

    Each row is {"image": (H, W, 3), "label": int, "maps": {model: (h, w)},
    "pred": {model: int}, "conf": {model: float}, "method": {model: str}},
    optionally "images": {model: (H, W, 3)}, each model's own input (else "image").
    """
    if not rows:
        return text_panel(empty, title)
    n, width = len(rows), 1 + len(columns)
    fig, axes = plt.subplots(n, width, figsize=(2.3 * width, 2.5 * n + 0.7), squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        overlay(axes[r, 0], row["image"], None, f"true: {classes[row['label']]}")
        for c, name in enumerate(columns, start=1):
            text = f"{name} {row['method'][name]}\n" + label_text(classes, row["label"], row["pred"][name],
                                                                   row["conf"][name])
            image = row.get("images", {}).get(name, row["image"])  # each model's own input crop
            overlay(axes[r, c], image, row["maps"][name], text)
    map_colorbar(fig, axes)
    fig.suptitle(title, fontsize=10)
    return fig


HEADS_PER_ROW = 12  # a model with more heads (Swin V2-T's last stage has 24) continues on a second row


def head_grid(images: dict[str, np.ndarray], heads: dict[str, torch.Tensor], title: str = ""):
    """Rows: models; columns: the model's input, the head-averaged map, then each head (at most
    HEADS_PER_ROW per row: more heads wrap onto the next row, under the first ones).

    `images[name]` is (H, W, 3), the model's own preprocessed input; `heads[name]` is (heads, h, w).
    """
    per_row = min(HEADS_PER_ROW, max(len(v) for v in heads.values()))
    rows = [(name, start) for name, maps in heads.items() for start in range(0, len(maps), per_row)]
    fig, axes = plt.subplots(len(rows), per_row + 2, figsize=(1.45 * (per_row + 2), 1.65 * len(rows) + 0.7),
                             squeeze=False, layout="constrained")
    for r, (name, start) in enumerate(rows):
        image, maps = images[name], heads[name]
        if start == 0:
            overlay(axes[r, 0], image, None, f"{name} input ({image.shape[0]}px)")
            overlay(axes[r, 1], image, maps.mean(0), "mean of heads")
        else:
            axes[r, 0].axis("off")
            axes[r, 1].axis("off")
        for c in range(per_row):
            if start + c < len(maps):
                overlay(axes[r, c + 2], image, maps[start + c], f"head {start + c}")
            else:
                axes[r, c + 2].axis("off")
    map_colorbar(fig, axes)
    fig.suptitle(title, fontsize=10)
    return fig


def deletion_plot(curves: dict[str, torch.Tensor]):
    """One panel per model: the mean deletion curve of each of its methods and of its random order.

    `curves` is keyed "<model> <method>" (method "random": the baseline), each (images, steps + 1).
    """
    models = list(dict.fromkeys(key.split(" ", 1)[0] for key in curves))
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.6), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, model in zip(axes[0], models):
        methods = [k.split(" ", 1)[1] for k in curves if k.split(" ", 1)[0] == model]
        colours = iter(plt.cm.tab10.colors)
        for method in sorted(methods, key=lambda m: m == "random"):  # the baseline last, in grey
            c = curves[f"{model} {method}"]
            style = dict(color="grey", ls="--") if method == "random" else dict(color=next(colours))
            ax.plot(np.linspace(0, 1, c.shape[1]), c.mean(0).numpy(), label=f"{method} (AUC {auc(c).mean():.2f})",
                    **style)
        ax.set_title(model)
        ax.set_xlabel("fraction of patches removed\n(most important first)")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("probability of the predicted class")
    fig.suptitle("Deletion test: mean probability of the predicted class as patches are removed "
                 "(lower area = more faithful map)", fontsize=10)
    return fig


TRUE_COLOUR, OTHER_COLOUR = "tab:green", "0.65"  # the true class's bar, the others' (grey)


def top5_bars(ax, names: Sequence[str], probs: Sequence[float], true_at: int | None, title: str) -> None:
    """Horizontal bars of a model's top-5 (most probable on top), the true class's bar in TRUE_COLOUR."""
    y = np.arange(len(names))
    bars = ax.barh(y, probs, color=[TRUE_COLOUR if i == true_at else OTHER_COLOUR for i in y])
    ax.set_yticks(y, list(names), fontsize=7)
    if true_at is not None:
        ax.get_yticklabels()[true_at].set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)  # room for the value labels
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("probability", fontsize=7)
    ax.set_title(title if true_at is not None else f"{title}\n(true class not in the top 5)", fontsize=8)


def explorer_view(image: np.ndarray, panels: list[dict], bars: list[dict], title: str, alpha: float = 0.5):
    """The explorer's figure: the image, each model's map on its own input, and each model's top-5 under it.

    panels: [{"image": (S, S, 3) the model's input, "map": (h, w), "title": str}], one per model;
    bars: [{"names": 5 class names, "probs": 5 floats, "true_at": index of the true class or None,
    "title": str}], in the same order.
    """
    n = len(panels)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.7 * (n + 1), 5.4), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": [1.2, 1]})
    overlay(axes[0, 0], image, None, f"test image ({image.shape[1]}x{image.shape[0]} px)")
    for ax, panel in zip(axes[0, 1:], panels):
        overlay(ax, panel["image"], panel["map"], panel["title"], alpha)
    axes[1, 0].axis("off")
    axes[1, 0].text(0.5, 0.5, "top-5 probabilities\nof each model;\nthe true class in green", ha="center",
                    va="center", fontsize=8, color=TRUE_COLOUR)
    for ax, bar in zip(axes[1, 1:], bars):
        top5_bars(ax, bar["names"], bar["probs"], bar["true_at"], bar["title"])
    if panels:  # an explorer without models (explainers={}) draws the image alone
        map_colorbar(fig, axes[0, 1:])
    fig.suptitle(title, fontsize=10)
    return fig
