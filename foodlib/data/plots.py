"""Notebook 01's figures: sample training images and the original image sizes."""
from __future__ import annotations

import numpy as np

from foodlib.data.prepare import Prepared


def sample_grid(prepared: Prepared, per_class: int = 4, max_classes: int = 12, seed: int = 0,
                thumbnail: int = 96):
    """A figure with `per_class` training images for each of the first `max_classes` classes.

    Each image is shrunk to at most `thumbnail` px a side first: a 1-inch cell shows no more than
    that at the dpi the figure is saved with, and full-size photos would only make the PNG heavier.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    train = prepared.split("train")
    classes = prepared.classes[:max_classes]
    fig, axes = plt.subplots(len(classes), per_class, figsize=(1.0 * per_class, 1.0 * len(classes) + 0.4),
                             squeeze=False)
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        rows = train[train["label"] == label]
        pick = rows.iloc[rng.permutation(len(rows))[:per_class]]
        for j, ax in enumerate(axes[label]):
            ax.axis("off")
            if j < len(pick):
                with Image.open(prepared.path(pick.iloc[j]["path"])) as img:
                    img = img.convert("RGB")
                    img.thumbnail((thumbnail, thumbnail), Image.LANCZOS)
                ax.imshow(img)
        axes[label][0].set_title(name, loc="left", fontsize=8)
    fig.suptitle(f"Training images, {per_class} per class\n(first {len(classes)} of {len(prepared.classes)} classes)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def size_figure(prepared: Prepared):
    """Histogram of original short and long sides of the usable images."""
    import matplotlib.pyplot as plt

    usable = prepared.index[prepared.index["status"] != "excluded"]
    sides = usable[["orig_width", "orig_height"]]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(sides.min(axis=1), bins=30, alpha=0.7, label="short side")
    ax.hist(sides.max(axis=1), bins=30, alpha=0.7, label="long side")
    ax.set_xlabel("pixels (original file)")
    ax.set_ylabel("images")
    ax.legend()
    ax.set_title("Original image sizes")
    fig.tight_layout()
    return fig
