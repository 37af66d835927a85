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


def _numpy_reference(labels, preds, num_classes):
    """The project's hand-written formulas before scikit-learn: kept as an independent check."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (labels, preds), 1)
    support, predicted, tp = m.sum(1), m.sum(0), np.diag(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        present = (support + predicted) > 0
        f1 = (2 * tp / (support + predicted))[present]
    return m, recall, float(np.nanmean(recall)), float(f1.mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scikit_learn_metrics_agree_with_the_hand_written_formulas(seed):
    from sklearn.metrics import top_k_accuracy_score

    rng = np.random.default_rng(seed)
    num_classes = 12
    labels = rng.integers(0, 10, 300)  # classes 10 and 11 have no test images
    preds = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 11, 300))  # class 11 never predicted
    m, recall, mean_recall, f1 = _numpy_reference(labels, preds, num_classes)
    assert (metrics.confusion(labels, preds, num_classes) == m).all()
    np.testing.assert_allclose(metrics.per_class_recall(labels, preds, num_classes), recall, equal_nan=True)
    assert np.isnan(metrics.per_class_recall(labels, preds, num_classes)[10:]).all()
    assert metrics.mean_per_class_recall(labels, preds, num_classes) == pytest.approx(mean_recall, abs=1e-12)
    assert metrics.macro_f1(labels, preds, num_classes) == pytest.approx(f1, abs=1e-12)
    assert metrics.top1(labels, preds) == pytest.approx((labels == preds).mean())
    probs = rng.dirichlet(np.ones(num_classes), 300)
    ranked = np.argsort(-probs, 1)
    assert metrics.topk(labels, ranked, 5) == pytest.approx(
        top_k_accuracy_score(labels, probs, k=5, labels=np.arange(num_classes)))
