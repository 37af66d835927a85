"""The probe's figures: the sweep's tables in, a matplotlib figure out."""
from __future__ import annotations

import numpy as np
import pandas as pd


def sweep_figure(table: pd.DataFrame, title: str = "L2 strength chosen on the validation split"):
    """Validation top-1 (and cross-entropy, right axis) against the strength lambda, the chosen one marked."""
    import matplotlib.pyplot as plt

    table = table.sort_values("strength")
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(table["strength"], 100 * table["val_top1"], "o-", color="#1F3F73", ms=4, label="validation top-1")
    chosen = table[table["chosen"]].iloc[0]
    ax.plot([chosen["strength"]], [100 * chosen["val_top1"]], "*", color="#C44E52", ms=14,
            label=f"chosen: lambda = {chosen['strength']:.3g} (C = {chosen['C']:.3g})")
    ax.set(xscale="log", xlabel="L2 strength lambda (scikit-learn's C = 1 / lambda)", ylabel="validation top-1 (%)",
           title=title)
    loss = ax.twinx()
    loss.plot(table["strength"], table["val_loss"], "s--", color="#8C8C8C", ms=3, lw=1, label="validation loss")
    loss.set_ylabel("validation cross-entropy", color="#6C6C6C")
    lines = ax.get_legend_handles_labels()[0] + loss.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + loss.get_legend_handles_labels()[1]
    ax.legend(lines, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def fewshot_figure(summary: pd.DataFrame, title: str = "Few-shot linear probes", num_classes: int | None = None):
    """Test top-1 against images per class: the mean over seeds, a bar from min to max; "all" at the right."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    labels = [str(k) for k in summary["k"]]
    x = np.arange(len(summary))
    mean, low, high = (100 * summary[c].to_numpy(float) for c in ("mean", "min", "max"))
    ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="o-", color="#1F3F73", capsize=3, ms=4,
                label="mean over seeds (bars: min to max)")
    if num_classes:
        ax.axhline(100 / num_classes, color="grey", ls=":", lw=1, label=f"chance ({100 / num_classes:.1f}%)")
    ax.set_xticks(x, labels)
    ax.set(xlabel="labelled training images per class", ylabel="test top-1 (%)", title=title, ylim=(0, 100))
    ax.legend(fontsize=7, loc="center right", frameon=False)
    fig.tight_layout()
    return fig
