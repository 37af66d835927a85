"""Figures of notebook 04: the prompt-set table in, a matplotlib figure out."""
from __future__ import annotations

import pandas as pd


def prompt_figure(table: pd.DataFrame, num_classes: int, saved: str | None = None,
                  published: dict[str, float] | None = None):
    """Bar chart of top-1 per prompt set (the `saved` set darker), with chance and published figures as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    colours = ["#1F3F73" if name == saved else "#7A9CCB" for name in table["prompt_set"]]
    bars = ax.bar(table["prompt_set"], 100 * table["top1"], color=colours)
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.axhline(100 / num_classes, color="grey", ls=":", lw=1, label=f"chance ({100 / num_classes:.1f}%)")
    for (source, value), ls in zip((published or {}).items(), ("--", "-.")):
        ax.axhline(100 * value, color="#C44E52", ls=ls, lw=1, label=f"published: {source} ({100 * value:.1f}%)")
    ax.set(ylabel="top-1 accuracy (%)", xlabel="prompt set (dark: saved as predictions/clip)", ylim=(0, 100),
           title="CLIP zero-shot on the test split, by prompt set")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
