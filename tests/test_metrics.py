import numpy as np
import pytest

from foodlib import metrics


def test_hand_computed_metrics():
    labels = [0, 0, 0, 1, 2, 2]
    preds = [0, 1, 0, 1, 0, 2]
    assert metrics.top1(labels, preds) == pytest.approx(4 / 6)
    # recalls: class0 2/3, class1 1/1, class2 1/2
    assert metrics.mean_per_class_recall(labels, preds, 3) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    # F1: c0 p=2/3 r=2/3 -> 2/3; c1 p=1/2 r=1 -> 2/3; c2 p=1 r=1/2 -> 2/3
    assert metrics.macro_f1(labels, preds, 3) == pytest.approx(2 / 3)
    m = metrics.confusion(labels, preds, 3)
    assert m[0, 1] == 1 and m[2, 0] == 1 and m.sum() == 6  # rows true, columns predicted


def test_summarize_topk_and_prediction_frame():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]])
    labels = [2, 0, 1]
    s = metrics.summarize(labels, probs)
    assert s["top1"] == pytest.approx(1 / 3) and s["n"] == 3
    ranked = np.argsort(-probs, 1)
    assert metrics.topk(labels, ranked, k=1) == pytest.approx(1 / 3)
    assert metrics.topk(labels, ranked, k=2) == pytest.approx(1.0)
    df = metrics.predictions_frame(["a", "b", "c"], labels, probs)
    assert df["pred"].tolist() == [1, 0, 2]
    assert df["top5"][0] == [1, 2, 0]
