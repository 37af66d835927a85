"""Classification metrics through scikit-learn (`evaluate.load` would fetch metric code from the hub)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as _sk


def top1(labels: Sequence[int], preds: Sequence[int]) -> float:
    return float(_sk.accuracy_score(labels, preds)) if len(labels) else float("nan")


def topk(labels: Sequence[int], ranked: Sequence[Sequence[int]], k: int = 5) -> float:
    """Fraction of rows whose label is among the first k entries of `ranked` (e.g. a predictions file's top5).

    From class scores, `sklearn.metrics.top_k_accuracy_score` gives the same number; this form takes the
    ranked lists the predictions contract stores.
    """
    labels = np.asarray(labels)
    ranked = np.asarray([list(r)[:k] for r in ranked])
    return float((ranked == labels[:, None]).any(axis=1).mean()) if len(labels) else float("nan")


def confusion(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts; rows are true labels, columns predictions."""
    return _sk.confusion_matrix(labels, preds, labels=np.arange(num_classes)).astype(np.int64)


def per_class_recall(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> np.ndarray:
    """Recall per class; NaN for a class with no test images."""
    return _sk.recall_score(labels, preds, labels=np.arange(num_classes), average=None, zero_division=np.nan)


def mean_per_class_recall(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> float:
    """Balanced accuracy: the mean recall over the classes that have test images."""
    return float(np.nanmean(per_class_recall(labels, preds, num_classes)))


def macro_f1(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> float:
    """Unweighted mean F1 over classes that occur in labels or predictions."""
    present = np.union1d(np.asarray(labels), np.asarray(preds))
    return float(_sk.f1_score(labels, preds, labels=present, average="macro", zero_division=0))


def summarize(labels: Sequence[int], probs: np.ndarray) -> dict[str, float]:
    """top1, top5, mean per-class recall and n from (N, C) class probabilities."""
    probs = np.asarray(probs)
    preds = probs.argmax(axis=1)
    ranked = np.argsort(-probs, axis=1)[:, :5]
    num_classes = probs.shape[1]
    return {
        "top1": top1(labels, preds),
        "top5": topk(labels, ranked, 5),
        "mean_per_class_recall": mean_per_class_recall(labels, preds, num_classes),
        "macro_f1": macro_f1(labels, preds, num_classes),
        "n": int(len(labels)),
    }


def predictions_frame(image_ids: Sequence[str], labels: Sequence[int], probs: np.ndarray) -> pd.DataFrame:
    """The contract's prediction table from (N, C) probabilities in the dataset's class order."""
    probs = np.asarray(probs, dtype=np.float32)
    ranked = np.argsort(-probs, axis=1)[:, :5]
    return pd.DataFrame({
        "image_id": [str(i) for i in image_ids],
        "label": np.asarray(labels, dtype=np.int64),
        "pred": probs.argmax(axis=1).astype(np.int64),
        "top5": [r.astype(np.int64).tolist() for r in ranked],
        "probs": [p.tolist() for p in probs],
    })
