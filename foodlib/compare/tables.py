"""The tables of notebook 05: headline accuracy, pairwise tests, per-class differences, confusions, calibration.

Accuracy figures are recomputed from the joined predictions, so every model is
scored on the same images; the statistics themselves are in `foodlib.stats`.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import pandas as pd

from foodlib import metrics, registry, stats
from foodlib.compare.inputs import Joined

# Columns of the headline table that come from the metrics files; NaN where a model has none.
METRIC_FILE_KEYS = ("num_parameters", "train_wall_time_s", "eval_images_per_s")


def headline_table(joined: Joined, model_metrics: dict[str, dict[str, Any]], confidence: float = 0.95) -> pd.DataFrame:
    """Per model: top-1 with a Wilson interval, top-5, mean per-class recall, macro-F1, size and speed.

    Accuracy figures are recomputed from the predictions (so every row uses the
    same images); parameter count, training time and throughput come from the
    metrics files and are NaN where a file lacks them.
    """
    rows = []
    n, num_classes = len(joined.labels), len(joined.classes)
    for i, model in enumerate(joined.models):
        k = int((joined.preds[i] == joined.labels).sum())
        lo, hi = stats.wilson_interval(k, n, confidence)
        found = model_metrics.get(model, {})
        rows.append({
            "model": model, "n": n, "top1": k / n, "top1_ci_low": lo, "top1_ci_high": hi,
            "top5": float(joined.top5_hit[i].mean()),
            "mean_per_class_recall": metrics.mean_per_class_recall(joined.labels, joined.preds[i], num_classes),
            "macro_f1": metrics.macro_f1(joined.labels, joined.preds[i], num_classes),
            **{key: _number(found.get(key)) for key in METRIC_FILE_KEYS},
        })
    table = pd.DataFrame(rows)
    table["num_parameters"] = table["num_parameters"].astype("Int64")
    return table


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def pairwise_table(joined: Joined, num_samples: int, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Every pair of models: accuracy difference with a paired-bootstrap interval and exact McNemar p.

    p_holm adjusts the McNemar p-values for the number of pairs (Holm-Bonferroni).
    """
    correct = joined.correct
    boot = stats.bootstrap_accuracy(correct, num_samples, seed)  # (B, M), the same resamples for all
    rows = []
    for a, b in itertools.combinations(range(len(joined.models)), 2):
        a_only = int((correct[:, a] & ~correct[:, b]).sum())
        b_only = int((correct[:, b] & ~correct[:, a]).sum())
        lo, hi = stats.percentile_interval(boot[:, a] - boot[:, b], confidence)
        rows.append({
            "model_a": joined.models[a], "model_b": joined.models[b],
            "top1_a": correct[:, a].mean(), "top1_b": correct[:, b].mean(),
            "diff": correct[:, a].mean() - correct[:, b].mean(), "diff_ci_low": float(lo), "diff_ci_high": float(hi),
            "a_right_b_wrong": a_only, "b_right_a_wrong": b_only,
            "mcnemar_p": stats.mcnemar_exact(a_only, b_only),
        })
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = stats.holm(table["mcnemar_p"])
    return table


def per_class_accuracy(joined: Joined) -> pd.DataFrame:
    """Accuracy (recall) of each model on each class; columns class_id, class, support, <model>..."""
    num_classes = len(joined.classes)
    table = pd.DataFrame({
        "class_id": np.arange(num_classes), "class": joined.classes,
        "support": np.bincount(joined.labels, minlength=num_classes),
    })
    for i, m in enumerate(joined.models):
        table[m] = metrics.per_class_recall(joined.labels, joined.preds[i], num_classes)
    return table


def class_gaps(per_class: pd.DataFrame, model: str | None = None, versus: Sequence[str] | None = None,
               k: int = 10) -> pd.DataFrame:
    """The k classes where `model` leads all of `versus` most, and the k where all of them lead it most.

    By default `model` is the zero-shot model and `versus` the fine-tuned ones (from the registry).

    margin for 'ahead' = acc(model) - max(acc(versus)): positive where it beats every one of them;
    margin for 'behind' = min(acc(versus)) - acc(model): positive where every one of them beats it.
    Ties are broken by class id; k is at most half the classes, so the two lists differ.
    """
    model = model or next(n for n in registry.available() if not registry.spec(n).trainable)
    versus = list(versus or registry.trainable())
    cols = ["class_id", "class", model, *versus]
    table = per_class.dropna(subset=[model, *versus])
    k = min(k, max(1, len(table) // 2))
    ahead = table[model] - table[list(versus)].max(axis=1)
    behind = table[list(versus)].min(axis=1) - table[model]
    parts = []
    for direction, margin in (("ahead", ahead), ("behind", behind)):
        part = table[cols].assign(direction=f"{model} {direction}", margin=margin)
        parts.append(part.sort_values(["margin", "class_id"], ascending=[False, True], kind="stable").head(k))
    return pd.concat(parts, ignore_index=True)


def confused_pairs(labels: np.ndarray, preds: np.ndarray, classes: Sequence[str], top: int = 10) -> pd.DataFrame:
    """The `top` most frequent (true, predicted) mistakes with counts and share of the true class."""
    m = metrics.confusion(labels, preds, len(classes))
    support = m.sum(axis=1)
    np.fill_diagonal(m, 0)
    true, pred = np.nonzero(m)
    counts = m[true, pred]
    order = np.lexsort((pred, true, -counts))[:top]  # most first; ties by class ids
    return pd.DataFrame({
        "true": [classes[t] for t in true[order]], "predicted": [classes[p] for p in pred[order]],
        "count": counts[order], "share_of_true": counts[order] / support[true[order]],
    })


def confused_pairs_table(joined: Joined, top: int = 10) -> pd.DataFrame:
    """`confused_pairs` of every model, one block per model."""
    parts = [confused_pairs(joined.labels, joined.preds[i], joined.classes, top).assign(model=m)
             for i, m in enumerate(joined.models)]
    table = pd.concat(parts, ignore_index=True)
    return table[["model", *table.columns[:-1]]]


def most_confused_classes(joined: Joined, models: Sequence[str], k: int = 12) -> np.ndarray:
    """Ids of the k classes involved in the most mistakes (as true or predicted class) over `models`."""
    num_classes = len(joined.classes)
    involved = np.zeros(num_classes, dtype=np.int64)
    for m in models:
        c = metrics.confusion(joined.labels, joined.preds[joined.index(m)], num_classes)
        np.fill_diagonal(c, 0)
        involved += c.sum(axis=0) + c.sum(axis=1)
    order = np.lexsort((np.arange(num_classes), -involved))
    return np.sort(order[: min(k, num_classes)])


def confusion_submatrix(joined: Joined, model: str, class_ids: np.ndarray) -> np.ndarray:
    """(k, k) counts among `class_ids` only: rows true, columns predicted."""
    c = metrics.confusion(joined.labels, joined.preds[joined.index(model)], len(joined.classes))
    return c[np.ix_(class_ids, class_ids)]


def calibration_table(joined: Joined, num_bins: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary per model: ECE, mean confidence, accuracy; the reliability bins of every model)."""
    rows, bins = [], []
    correct, confidence = joined.correct, joined.confidence
    for i, m in enumerate(joined.models):
        ece = stats.expected_calibration_error(confidence[i], correct[:, i], num_bins)
        rows.append({"model": m, "ece": ece, "mean_confidence": float(confidence[i].mean()),
                     "top1": float(correct[:, i].mean()),
                     "overconfidence": float(confidence[i].mean() - correct[:, i].mean())})
        bins.append(stats.calibration_bins(confidence[i], correct[:, i], num_bins).assign(model=m))
    long = pd.concat(bins, ignore_index=True)
    return pd.DataFrame(rows), long[["model", *long.columns[:-1]]]
