"""Score a trained classifier on a split and write what notebooks 02 and 03 hand on.

`predict` runs a model (or a `foodlib.compiling.Compiled` one) over a split;
`write_results` writes the contract files of one trained classifier: test
predictions, metrics JSON, the per-epoch history table and the training-curve
figure (drawn by `foodlib.train.plots`).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from foodlib import artifacts, compiling, figures, frontend, metrics, runtime
from foodlib.config import Params
from foodlib.data import evalcache, loader
from foodlib.data.prepare import Prepared
from foodlib.train import plots
from foodlib.train.result import TrainResult


@torch.no_grad()
def predict(model, dataset, *, batch_size: int, num_workers: int, device: str, amp_dtype=None,
            progress: bool = False, desc: str = "eval", normalize=None) -> np.ndarray:
    """(N, C) float32 logits of `model` over `dataset`, in dataset order.

    uint8 batches (what `evalcache.eval_images` gives) are copied to `device` as uint8 and normalised
    there with `normalize` (`Preprocess.normalize()`); float batches go in as they are.

    A compiled model gets every batch at `batch_size` rows (the last one padded, its outputs sliced
    back), so it runs the one graph compiled for that shape.
    """
    was_training = model.training
    model.eval()
    batches = loader.make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                 device=device)
    pad = isinstance(model, compiling.Compiled)
    out = []
    bar = frontend.progress(total=len(batches), desc=desc, enabled=progress)
    for x, _ in batches:
        x = loader.to_device(x, device, normalize)
        x, n = compiling.pad_batch(x, batch_size) if pad else (x, len(x))
        with runtime.autocast(device, amp_dtype):
            logits = model(pixel_values=x).logits[:n]
        out.append(logits.float().cpu())
        bar.update(1)
    bar.close()
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def cross_entropy(logits: np.ndarray, labels) -> float:
    """Mean cross-entropy (no label smoothing), comparable across models and splits."""
    return float(F.cross_entropy(torch.from_numpy(logits), torch.as_tensor(np.asarray(labels))))


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.from_numpy(logits).softmax(dim=1).numpy()


def test_predictions(result: TrainResult, params: Params, prepared: Prepared, device: str
                     ) -> tuple[pd.DataFrame, dict]:
    """The test split through the trained model: the contract's predictions and their metrics."""
    test = evalcache.for_run(params, prepared, "test", result.preprocess)
    model = compiling.maybe_compile(result.model, compiling.enabled(params.compile, params.profile, device))
    t0 = time.perf_counter()
    logits = predict(model, test, batch_size=params.eval_batch_size, num_workers=params.num_workers,
                     device=device, amp_dtype=runtime.autocast_dtype(params.mixed_precision, device),
                     progress=True, desc=f"test {result.name}", normalize=result.preprocess.normalize())
    compile_s = compiling.compile_seconds(model)  # None when not compiled
    seconds = time.perf_counter() - t0 - (compile_s or 0.0)
    probs = softmax(logits)  # columns in the dataset's class order: the head was sized from prepared.classes
    frame = metrics.predictions_frame(test.image_ids, test.labels, probs)
    summary = {**metrics.summarize(test.labels, probs), "loss": cross_entropy(logits, test.labels),
               "eval_images_per_s": len(test) / max(seconds, 1e-9), "eval_compile_s": compile_s}
    return frame, summary


def write_results(result: TrainResult | None, params: Params, prepared: Prepared, device: str
                  ) -> dict[str, Any] | None:
    """Score the test split and write predictions, metrics, history table and curves of `result`; return the
    metrics (None for no result: a run that was skipped, `train.fit` says why)."""
    if result is None:
        return None
    frame, summary = test_predictions(result, params, prepared, device)
    artifacts.write_predictions(frame, result.name, params, num_classes=len(prepared.classes))
    row = {**summary, **result.summary()}
    artifacts.write_metrics(row, result.name, params)
    if len(result.history):
        artifacts.write_table(result.history, f"{result.name}_history", params)
    fig = plots.curves_figure(result.history, title=f"{result.name}: training curves",
                              best_epoch=result.summary()["best_epoch"], params=params)
    # 02 and 03 show the saved file in a later cell, after the note on what the training loss includes
    figures.save_figure(fig, f"{result.name}_curves", params, show=False)
    import matplotlib.pyplot as plt  # here, not at the top: spawned training processes import this module

    plt.close(fig)
    return row


def metrics_table(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per classifier with the headline numbers, for display."""
    keys = ["top1", "top5", "mean_per_class_recall", "macro_f1", "loss", "epochs_run", "best_epoch",
            "num_trainable_parameters", "train_wall_time_s", "train_images_per_s", "eval_images_per_s"]
    return pd.DataFrame([{"model": name, **{k: row.get(k) for k in keys}} for name, row in rows.items() if row])
