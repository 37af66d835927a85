"""Statistics for comparing classifiers on one test set: intervals, paired tests, calibration.

Array in, number or array out; nothing here knows about models or files.
Conventions: `correct` is a boolean array (one entry per test image, or
(N, M) for M models on the same N images); `confidence` is the probability a
model gave to the class it predicted.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (NaNs when n == 0): `scipy.stats.binomtest`'s
    `proportion_ci(method="wilson")`.

    Better than the normal (Wald) interval near 0 or 1 and for small n; for
    n = 25,250 and an accuracy of 0.88 it is 0.88 +- 0.004.
    """
    if n == 0:
        return float("nan"), float("nan")
    ci = _scipy_stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: `scipy.stats.binomtest`.

    b = images model A gets right and B wrong, c = the reverse. Under the null
    (equal accuracy) b ~ Binomial(b + c, 1/2). Images both get right (or both
    wrong) carry no information.
    """
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    return float(_scipy_stats.binomtest(int(b), n, 0.5).pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error over all the tests given)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])  # step-down, kept monotone
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def bootstrap_accuracy(correct: np.ndarray, num_samples: int, seed: int = 0) -> np.ndarray:
    """Accuracy of each model on `num_samples` bootstrap resamples of the test images.

    correct: (N, M) bool. Each resample draws N images with replacement and
    scores every model on the same draw, so differences between columns are
    paired. Returns (num_samples, M).
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim == 1:
        correct = correct[:, None]
    n, m = correct.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, 2**24 // max(1, n * m))  # (chunk, N, M) booleans: about 16 MB at a time
    out = np.empty((num_samples, m))
    for start in range(0, num_samples, chunk):
        stop = min(num_samples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))  # (chunk, N) image indices
        out[start:stop] = correct[idx].mean(axis=1)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0."""
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(np.asarray(samples), [alpha, 1 - alpha], axis=0)
    return lo, hi


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, num_bins: int = 15) -> pd.DataFrame:
    """Equal-width confidence bins: count, mean confidence and accuracy per bin.

    Bin i holds confidences in (i/num_bins, (i+1)/num_bins]; the first bin also
    holds 0. Empty bins have NaN confidence and accuracy.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    which = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    count = np.bincount(which, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=num_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=num_bins) / count
    edges = np.linspace(0, 1, num_bins + 1)
    return pd.DataFrame({
        "bin": np.arange(num_bins), "lower": edges[:-1], "upper": edges[1:],
        "count": count, "confidence": mean_conf, "accuracy": accuracy,
    })


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = 15) -> float:
    """ECE: sum over bins of (share of images in the bin) * |accuracy - mean confidence|."""
    bins = calibration_bins(confidence, correct, num_bins)
    used = bins[bins["count"] > 0]
    if used.empty:
        return float("nan")
    weights = used["count"] / used["count"].sum()
    return float((weights * (used["accuracy"] - used["confidence"]).abs()).sum())
