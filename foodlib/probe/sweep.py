"""Choosing the probe's L2 strength on the validation split: the CLIP paper's parametric binary search.

Radford et al. 2021 (appendix A.3) sweep lambda over 10^-6 .. 10^6 in 96 log-spaced steps and, to save
compute, run a parametric binary search: start with lambda = 10^-6, 10^-4, ..., 10^6 and halve the interval
around the peak until the resolution is 8 steps per decade (the procedure openai/CLIP issue #39 discusses
and LAION's CLIP_benchmark implements in clip_benchmark/metrics/linear_probe.py, there for an AdamW probe).

Here: a grid of 97 strengths, 10^(-6 + i/8) for i = 0..96; the 7 starting points are every 16th
(every two decades); then, around the best point so far, the points `span` grid steps either side are
fitted for span = 8, 4, 2, 1 (one decade, half, a quarter, an eighth), and the best of the three becomes
the peak. At most 7 + 2 x 4 = 15 fits. "Best" is the highest validation top-1; a tie goes to the lower
validation cross-entropy, and a tie in both to the stronger regularisation (fewer assumptions).

Only the training features are fitted and only the validation features are scored: the test split never
enters the search (`search` does not receive it). Each fit warm-starts from the fitted strength nearest
on the grid; the starting points are fitted from the strongest to the weakest, as a regularisation path
is (a strongly regularised solution is near zero and a good start for the next weaker one).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from foodlib.probe import logreg

LOG10_MIN, LOG10_MAX = -6.0, 6.0  # the paper's range of lambda
STEPS_PER_DECADE = 8  # the paper's final resolution
START_EVERY = 2  # decades between the starting points: 1e-6, 1e-4, ..., 1e6
SWEEP_COLUMNS = ["log10_strength", "strength", "C", "val_top1", "val_loss", "iterations", "converged", "order",
                 "chosen"]


@dataclass
class Sweep:
    """The search's outcome: every strength it fitted (`table`), the chosen one and its fit on the training split."""

    table: pd.DataFrame  # SWEEP_COLUMNS, one row per fitted strength, by strength
    strength: float  # the chosen lambda
    fit: logreg.Fit  # the chosen strength's fit on the training features
    seconds: float


def grid(log10_min: float = LOG10_MIN, log10_max: float = LOG10_MAX,
         steps_per_decade: int = STEPS_PER_DECADE) -> np.ndarray:
    """Every strength the search may visit: 10^(log10_min + i / steps_per_decade), both ends included."""
    steps = round((log10_max - log10_min) * steps_per_decade)
    if steps < 1 or abs(steps - (log10_max - log10_min) * steps_per_decade) > 1e-9:
        raise ValueError(f"the range {log10_min}..{log10_max} is not a whole number of 1/{steps_per_decade} decades")
    return 10.0 ** (log10_min + np.arange(steps + 1) / steps_per_decade)


def search(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
           num_classes: int, *, log10_min: float = LOG10_MIN, log10_max: float = LOG10_MAX,
           steps_per_decade: int = STEPS_PER_DECADE, start_every: float = START_EVERY, max_iter: int = 1000,
           tol: float = logreg.TOL) -> Sweep:
    """The parametric binary search over `grid(...)`: fit on (train_x, train_y), score on (val_x, val_y)."""
    t0 = time.perf_counter()
    strengths = grid(log10_min, log10_max, steps_per_decade)
    last = len(strengths) - 1
    stride = max(1, round(start_every * steps_per_decade))
    visited: dict[int, dict] = {}  # grid index -> its row (and fit), in the order fitted

    def visit(i: int) -> None:
        if i in visited:
            return
        start = visited[min(visited, key=lambda j: (abs(j - i), j))]["fit"] if visited else None
        model = logreg.fit(train_x, train_y, num_classes, float(strengths[i]), init=start, max_iter=max_iter, tol=tol)
        top1, loss = logreg.score(model, val_x, val_y)
        visited[i] = {"fit": model, "val_top1": top1, "val_loss": loss, "order": len(visited)}

    def best(indices) -> int:
        return max(indices, key=lambda i: (visited[i]["val_top1"], -visited[i]["val_loss"], i))

    starts = sorted(set(range(0, last + 1, stride)) | {last})
    for i in reversed(starts):  # strongest first: a regularisation path
        visit(i)
    peak, span = best(starts), stride // 2
    while span >= 1:
        around = [max(peak - span, 0), peak, min(peak + span, last)]
        for i in around:
            visit(i)
        peak, span = best(around), span // 2
    return Sweep(_table(visited, strengths, peak), float(strengths[peak]), visited[peak]["fit"],
                 time.perf_counter() - t0)


def _table(visited: dict[int, dict], strengths: np.ndarray, peak: int) -> pd.DataFrame:
    """One row per fitted strength, sorted by strength, the chosen one flagged."""
    rows = [{"log10_strength": float(np.log10(strengths[i])), "strength": float(strengths[i]),
             "C": logreg.inverse(float(strengths[i])), "val_top1": v["val_top1"], "val_loss": v["val_loss"],
             "iterations": v["fit"].iterations, "converged": v["fit"].converged, "order": v["order"],
             "chosen": i == peak} for i, v in sorted(visited.items())]
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)
