"""Evaluate a trained classifier and write what notebooks 02 and 03 hand on.

`predict` runs a model over a split; `report` writes the contract files of one
trained classifier: test predictions, metrics JSON, the per-epoch history table
and the training-curve figure.
"""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from foodlib import artifacts, metrics, runtime
from foodlib.config import Params
from foodlib.data import loader
from foodlib.data.prepare import Prepared

if TYPE_CHECKING:  # import cycle: train imports evaluate
    from foodlib.train import TrainResult


def autocast(device: str, amp_dtype):
    """Mixed-precision context on GPU; a no-op in full precision."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=amp_dtype)


@torch.no_grad()
def predict(model, dataset, *, batch_size: int, num_workers: int, device: str, amp_dtype=None,
            progress: bool = False, desc: str = "eval") -> np.ndarray:
    """(N, C) float32 logits of `model` over `dataset`, in dataset order."""
    from tqdm import tqdm  # plain text bars: readable in Jupyter and in papermill logs alike

    was_training = model.training
    model.eval()
    batches = loader.make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                 device=device)
    out = []
    for x, _ in tqdm(batches, desc=desc, disable=not progress, mininterval=5):
        with autocast(device, amp_dtype):
            logits = model(pixel_values=x.to(device, non_blocking=True)).logits
        out.append(logits.float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def cross_entropy(logits: np.ndarray, labels) -> float:
    """Mean cross-entropy (no label smoothing), comparable across models and splits."""
    return float(F.cross_entropy(torch.from_numpy(logits), torch.as_tensor(np.asarray(labels))))


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.from_numpy(logits).softmax(dim=1).numpy()


def test_predictions(params: Params, result: "TrainResult", prepared: Prepared) -> tuple[pd.DataFrame, dict]:
    """The test split through the trained model: the contract's predictions and their metrics."""
    device = runtime.resolve_device(params.device)
    test = loader.CachedImages(prepared, "test", result.preprocess.eval())
    t0 = time.perf_counter()
    logits = predict(result.model, test, batch_size=params.eval_batch_size, num_workers=params.num_workers,
                     device=device, amp_dtype=runtime.autocast_dtype(params.mixed_precision, device),
                     progress=True, desc=f"test {result.name}")
    seconds = time.perf_counter() - t0
    probs = softmax(logits)  # columns in the dataset's class order: the head was sized from prepared.classes
    frame = metrics.predictions_frame(test.image_ids, test.labels, probs)
    summary = {**metrics.summarize(test.labels, probs), "loss": cross_entropy(logits, test.labels),
               "eval_images_per_s": len(test) / max(seconds, 1e-9)}
    return frame, summary


def report(params: Params, result: "TrainResult", prepared: Prepared) -> dict[str, Any]:
    """Write predictions, metrics, history table and curves of `result`; return the metrics."""
    frame, summary = test_predictions(params, result, prepared)
    artifacts.write_predictions(frame, result.name, params, num_classes=len(prepared.classes))
    row = {**summary, **result.summary()}
    artifacts.write_metrics(params, result.name, row)
    if len(result.history):
        artifacts.write_table(result.history, params.subdir("tables") / f"{result.name}_history.csv", params)
        fig = curves_figure(result.history, title=f"{result.name}: training curves")
        artifacts.save_figure(fig, params.subdir("figures") / f"{result.name}_curves.png", params)
        import matplotlib.pyplot as plt

        plt.close(fig)
    return row


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


def metrics_table(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per classifier with the headline numbers, for display."""
    keys = ["top1", "top5", "mean_per_class_recall", "macro_f1", "loss", "epochs_run", "best_epoch",
            "num_trainable_parameters", "train_wall_time_s", "train_images_per_s", "eval_images_per_s"]
    return pd.DataFrame([{"model": name, **{k: row.get(k) for k in keys}} for name, row in rows.items()])
