"""Figures of notebooks 02 and 03: a training run's history in, a matplotlib figure out."""
from __future__ import annotations

import pandas as pd

from foodlib.config import Params


def train_loss_label(params: Params | None) -> str:
    """What the training loss includes under `params`: the reason it may sit above the validation loss."""
    if params is None:
        return "train"
    extras = [f"label smoothing {params.label_smoothing:g}"] if params.label_smoothing > 0 else []
    extras += ["augmented"] if params.augment else []
    return f"train ({', '.join(extras)})" if extras else "train"


def gap_note(params: Params) -> str:
    """One sentence on the train/validation loss gap that holds for this run's settings."""
    label = train_loss_label(params)
    if label == "train":
        return ("Training loss: plain cross-entropy on unaugmented images, as for validation; it is averaged over "
                "each epoch while the weights change, validation is measured at the epoch's end.")
    return (f"Training loss is measured as optimised ({label[7:-1]}), so it can sit above the validation loss; "
            "it is also averaged over each epoch while the weights change.")


def curves_figure(history: pd.DataFrame, title: str = "", best_epoch: int | None = None,
                  params: Params | None = None):
    """Train/val loss and val top-1 per epoch; the kept epoch is marked.

    `best_epoch` is the epoch whose weights training kept; without it, the last
    epoch with the highest validation top-1 (training's rule: a tie goes to the
    later epoch). A history without a complete epoch gives a text panel.
    """
    import matplotlib.pyplot as plt

    if not len(history):
        fig, ax = plt.subplots(figsize=(9, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "No complete epoch: training stopped inside the first epoch (max_steps),\n"
                "so there is no validation point to plot. The test metrics use the weights it stopped with.",
                ha="center", va="center", fontsize=9)
        fig.suptitle(title, fontsize=10)
        return fig
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(history["epoch"], history["train_loss"], "o-", label=train_loss_label(params))
    ax_loss.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_loss.legend(frameon=False, fontsize=8)
    ax_acc.plot(history["epoch"], history["val_top1"], "o-", color="C2")
    if best_epoch is None:
        best_epoch = int(history.loc[history["val_top1"] == history["val_top1"].max(), "epoch"].iloc[-1])
    best = history.loc[history["epoch"] == best_epoch].iloc[0]
    ax_acc.axvline(best_epoch, color="grey", lw=0.8, ls="--")
    ax_acc.text(0.98, 0.04, f"kept: epoch {best_epoch}, top-1 {best['val_top1']:.3f}", transform=ax_acc.transAxes,
                ha="right", va="bottom", fontsize=8)
    ax_acc.set(xlabel="epoch", ylabel="top-1", title="validation accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
