"""Few-shot linear probes: k labelled training images per class, several seeds, the probe's top-1 and spread.

Which images: for a seed, one random order of the training split (numpy's default_rng(seed)); the
k-shot set is the first k images of each class in that order. The sets are therefore stratified (k per
class, every class) and nested (a seed's 1-shot images are among its 2-shot ones, ...), so along k only
the added images change, not the draw: the curve over k is smoother and cheaper to read than with
independent draws. "all" is every training image (one run: it does not depend on a seed).

How the strength is chosen at each k: the same parametric binary search as the full probe
(`foodlib.probe.sweep`), scored on the FULL held-out validation split at every k. This is what the
CLIP paper did for its few-shot probes: "Across all compared models, we used the performance on same
validation set that we used for the full-data linear probe" (openai/CLIP issue #128, J. W. Kim). Why
here: a k-shot validation split would hold 1 to 16 images per class, too few to rank 15 strengths (at
k = 1 a single image per class decides), and the selection noise would then change with k; with the full
validation split it is the same at every k, so the curve reflects the training shots. The caveat, as in
the paper: the selection sees more labels than k, so the result is an upper bound on a strict k-shot
probe. The final fit at each k is on the k-shot images alone (adding the validation images would no
longer be k-shot), and each k-shot probe is scored once on the test split.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from foodlib.probe import logreg, sweep

ALL = "all"
TABLE_COLUMNS = ["k", "seed", "n_train", "strength", "val_top1", "test_top1", "seconds"]
SUMMARY_COLUMNS = ["k", "seeds", "n_train", "mean", "std", "min", "max"]


def shots(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of k training rows per class, nested in k for a given seed."""
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))  # depends on the seed and N only, not on k
    picked = []
    for c in np.unique(labels):
        in_class = order[labels[order] == c]
        if len(in_class) < k:
            raise ValueError(f"class {c} has {len(in_class)} training images, fewer than k = {k}")
        picked.append(in_class[:k])
    return np.sort(np.concatenate(picked))


def run(train, val, test, num_classes: int, *, ks: Sequence[int | str] = (1, 2, 4, 8, 16, ALL),
        seeds: Sequence[int] = (0, 1, 2), full: sweep.Sweep | None = None, **search) -> pd.DataFrame:
    """One row per (k, seed): the chosen strength, its validation top-1 and its test top-1 (TABLE_COLUMNS).

    `train`, `val`, `test`: (x, y) tensor pairs on the device the fits run on. `full`: the search already
    run on every training image (reused for k = "all"). `search`: keyword arguments of `sweep.search`.
    """
    rows, labels = [], train[1].cpu().numpy()
    for k in ks:
        if k == ALL:
            t0 = time.perf_counter()
            result = full or sweep.search(*train, *val, num_classes, **search)
            seconds = result.seconds if full else time.perf_counter() - t0
            rows.append(_row(ALL, None, len(train[1]), result, test, seconds))
            continue
        for seed in seeds:
            idx = torch.as_tensor(shots(labels, int(k), seed), device=train[0].device)
            result = sweep.search(train[0][idx], train[1][idx], *val, num_classes, **search)
            rows.append(_row(int(k), seed, len(idx), result, test, result.seconds))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["seed"] = table["seed"].astype("Int64")  # "all" has no seed: <NA>, the others stay integers
    return table


def _row(k, seed, n_train: int, result: sweep.Sweep, test, seconds: float) -> dict:
    chosen = result.table[result.table["chosen"]].iloc[0]
    return {"k": k, "seed": seed, "n_train": n_train, "strength": result.strength, "val_top1": chosen["val_top1"],
            "test_top1": logreg.score(result.fit, *test)[0], "seconds": seconds}


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per k, in the table's order: test top-1 mean, std (ddof 1; 0 for one seed), min and max."""
    rows = []
    for k, group in table.groupby("k", sort=False):
        top1 = group["test_top1"].to_numpy()
        rows.append({"k": k, "seeds": len(group), "n_train": int(group["n_train"].iloc[0]), "mean": float(top1.mean()),
                     "std": float(top1.std(ddof=1)) if len(top1) > 1 else 0.0,
                     "min": float(top1.min()), "max": float(top1.max())})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
