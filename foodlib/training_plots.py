"""Figures of notebooks 02 and 03: a training run's history in, a matplotlib figure out."""
from __future__ import annotations

import pandas as pd


def curves_figure(history: pd.DataFrame, title: str = ""):
    """Train/val loss and val top-1 per epoch; the best epoch is marked."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(history["epoch"], history["train_loss"], "o-", label="train (as optimised: augmented, smoothed)")
    ax_loss.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_loss.legend(frameon=False, fontsize=8)
    ax_acc.plot(history["epoch"], history["val_top1"], "o-", color="C2")
    best = history.loc[history["val_top1"].idxmax()]
    ax_acc.axvline(best["epoch"], color="grey", lw=0.8, ls="--")
    ax_acc.text(0.98, 0.04, f"best {best['val_top1']:.3f} at epoch {int(best['epoch'])}", transform=ax_acc.transAxes,
                ha="right", va="bottom", fontsize=8)
    ax_acc.set(xlabel="epoch", ylabel="top-1", title="validation accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
