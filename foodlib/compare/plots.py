"""Figures of notebook 05: the tables of `foodlib.compare` in, a matplotlib figure out."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from foodlib.compare.inputs import Joined
from foodlib.compare.tables import confusion_submatrix, most_confused_classes
from foodlib.registry import colour  # one colour per model in every figure


def accuracy_figure(headline: pd.DataFrame):
    """Top-1 accuracy of each model with its 95% interval (and top-5 as a hollow marker), from `headline_table`."""
    import matplotlib.pyplot as plt

    models = list(headline["model"])
    top1, low, high = (100 * headline[c].to_numpy(dtype=float) for c in ("top1", "top1_ci_low", "top1_ci_high"))
    top5 = 100 * headline["top5"].to_numpy(dtype=float) if "top5" in headline else None
    y = np.arange(len(models))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(models) + 1.4))
    for yi, m, acc, lo, hi in zip(y, models, top1, low, high):
        ax.errorbar(acc, yi, xerr=[[acc - lo], [hi - acc]], fmt="o", color=colour(m), capsize=4)
    if top5 is not None:
        ax.scatter(top5, y, facecolors="none", edgecolors="k")
    for yi, acc, lo, hi in zip(y, top1, low, high):  # a text column right of the axis, clear of the markers
        ax.annotate(f"{acc:.1f}% [{lo:.1f}, {hi:.1f}]", (1.0, yi), xycoords=("axes fraction", "data"),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, list(models))
    ax.set_xlabel("test accuracy (%)")
    left = np.nanmin(low) if top5 is None else min(np.nanmin(low), np.nanmin(top5))
    ax.set_xlim(max(0, left - 5), 100)
    ax.set_title("Top-1 accuracy with 95% Wilson interval" + ("; top-5: open circles" if top5 is not None else ""))
    fig.tight_layout()
    return fig


def pairwise_figure(pairwise: pd.DataFrame):
    """Forest plot of `pairwise_table`: each pair's accuracy difference (points) with its bootstrap interval
    and Holm-adjusted p.

    p_holm: the exact McNemar p-values adjusted for the number of pairs: with ten pairs, unadjusted p-values
    would overstate how surprising the smallest one is.
    """
    import matplotlib.pyplot as plt

    labels = list(pairwise["model_a"] + " - " + pairwise["model_b"])
    diff, low, high = (100 * pairwise[c].to_numpy(dtype=float) for c in ("diff", "diff_ci_low", "diff_ci_high"))
    p_holm = pairwise["p_holm"].to_numpy(dtype=float)
    y = np.arange(len(labels))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.3))
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.errorbar(diff, y, xerr=[diff - low, high - diff], fmt="o", color="k", capsize=3)
    span = max(1e-9, np.nanmax(np.abs(np.r_[low, high])))
    for yi, hi, p in zip(y, high, p_holm):
        ax.annotate("Holm-adjusted p" + ("<1e-300" if p == 0 else f"={p:.2g}"), (hi, yi), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(-1.3 * span, 1.45 * span)
    ax.set_yticks(y, list(labels))
    ax.set_xlabel("difference in top-1 accuracy, A - B (percentage points)")
    ax.set_title("Pairwise differences: 95% paired-bootstrap interval,\n"
                 "exact McNemar p adjusted for all pairs (Holm-adjusted p)")
    fig.tight_layout()
    return fig


def upset_figure(patterns: pd.DataFrame, models: Sequence[str]):
    """UpSet-style plot of `correctness_patterns`: one bar per right/wrong pattern; filled dots mark the models
    that are right."""
    import matplotlib.pyplot as plt

    membership = patterns[list(models)].to_numpy(dtype=bool)  # (P, M) for P patterns over M models
    counts = patterns["count"].to_numpy()
    p, m = membership.shape
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(1.0 + 0.75 * p, 3.2 + 0.35 * m), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 0.35 * m + 0.4]})
    x = np.arange(p)
    bars = top.bar(x, counts, color=["tab:red" if row.sum() == 1 else "grey" for row in membership])
    top.bar_label(bars, labels=[f"{c}\n{c / max(1, counts.sum()):.1%}" for c in counts], fontsize=7)
    top.set_ylabel("test images")
    top.set_ylim(0, counts.max() * 1.25 + 1)
    top.set_title("Which models get an image right (red: exactly one model right)")
    for j in range(m):
        bottom.scatter(x, np.full(p, j), s=60, c=np.where(membership[:, j], "k", "lightgrey"), zorder=2)
    for xi, row in zip(x, membership):
        if row.sum() > 1:
            rows = np.nonzero(row)[0]
            bottom.plot([xi, xi], [rows.min(), rows.max()], color="k", lw=2, zorder=1)
    bottom.set_yticks(range(m), list(models))
    bottom.set_ylim(-0.6, m - 0.4)
    bottom.invert_yaxis()
    bottom.set_xticks([])
    for side in ("left", "bottom"):
        bottom.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def class_gap_figure(gaps: pd.DataFrame, models: Sequence[str]):
    """Per-class accuracy of `models` on the classes of `compare.class_gaps`, one panel per direction."""
    import matplotlib.pyplot as plt

    directions = list(dict.fromkeys(gaps["direction"]))
    k = max(len(gaps[gaps["direction"] == d]) for d in directions)
    fig, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 0.45 * k + 1.5), squeeze=False)
    width = 0.8 / len(models)
    for ax, direction in zip(axes[0], directions):
        part = gaps[gaps["direction"] == direction]
        y = np.arange(len(part))[::-1]
        for j, m in enumerate(models):
            ax.barh(y + (len(models) / 2 - j - 0.5) * width, 100 * part[m], height=width, color=colour(m), label=m)
        ax.set_yticks(y, [f"{c} ({100 * g:+.0f})" for c, g in zip(part["class"], part["margin"])])
        ax.set_xlim(0, 100)
        ax.set_xlabel("per-class accuracy (%)")
        ax.set_title(f"{direction} (margin in points)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(models), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def confusion_figure(joined: Joined, models: Sequence[str], k: int = 12):
    """Side-by-side confusion counts of `models`, restricted to the k classes involved in the most mistakes
    (rows true, columns predicted)."""
    import matplotlib.pyplot as plt

    class_ids = most_confused_classes(joined, models, k)
    matrices = [confusion_submatrix(joined, m, class_ids) for m in models]
    class_names, titles = [joined.classes[i] for i in class_ids], list(models)
    k = len(class_names)
    size = 0.42 * k + 1.5
    fig, axes = plt.subplots(1, len(matrices), figsize=(size * len(matrices), size + 0.8), squeeze=False)
    off = [np.where(np.eye(k, dtype=bool), 0, m) for m in matrices]  # colour the mistakes, not the diagonal
    vmax = max(1, max(int(np.max(m)) for m in off))
    for ax, mat, mistakes, title in zip(axes[0], matrices, off, titles):
        ax.imshow(mistakes, cmap="Reds", vmin=0, vmax=vmax)
        for (i, j), v in np.ndenumerate(mat):
            if i == j:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="grey", style="italic")
            elif v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                        color="white" if v > vmax / 2 else "black")
        ax.set_xticks(range(k), list(class_names), rotation=90)
        ax.set_yticks(range(k), list(class_names) if ax is axes[0][0] else [""] * k)
        ax.set_xlabel("predicted")
        ax.set_title(title)
    axes[0][0].set_ylabel("true")
    fig.suptitle(f"Confusions among the {k} most confused classes (counts; diagonal in grey: correct)")
    fig.tight_layout()
    return fig


def reliability_figure(reliability: pd.DataFrame, calibration: pd.DataFrame):
    """Reliability diagram per model (accuracy vs confidence per bin) over its confidence histogram, from
    `calibration_table`'s two tables (bins: lower, upper, count, confidence, accuracy per model; ECE per model)."""
    import matplotlib.pyplot as plt

    titles = list(calibration["model"])
    bins = [reliability[reliability["model"] == m] for m in titles]
    eces = list(calibration["ece"])
    n = len(bins)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 4.6), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]})
    for j, (b, title, ece) in enumerate(zip(bins, titles, eces)):
        ax, hist = axes[0][j], axes[1][j]
        centre, width = (b["lower"] + b["upper"]) / 2, b["upper"] - b["lower"]
        used = b["count"] > 0
        ax.bar(centre[used], b["accuracy"][used], width=width[used], color=colour(title), edgecolor="k", lw=0.5,
               label="accuracy")
        ax.bar(centre[used], (b["confidence"] - b["accuracy"])[used], bottom=b["accuracy"][used],
               width=width[used], fill=False, edgecolor="tab:red", hatch="///", lw=0.5, label="gap to confidence")
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: ECE {100 * ece:.1f}%")
        hist.bar(centre, b["count"] / max(1, b["count"].sum()), width=width, color="grey")
        hist.set_xlabel("confidence")
    axes[0][0].set_ylabel("accuracy")
    axes[1][0].set_ylabel("share")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def fewshot_figure(table: pd.DataFrame, zero_shot: float | None, num_classes: int):
    """Each probe's few-shot test top-1 (mean over seeds, bars min to max) against labelled images per class,
    in its model's colour, beside CLIP's zero-shot top-1 (no labelled image) as a line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ks = sorted({str(k) for k in table["k"]}, key=lambda k: (k == "all", int(k) if k != "all" else 0))
    where = {k: i for i, k in enumerate(ks)}  # one position per k for every probe, "all" last
    for probe, rows in table.groupby("model", sort=False):
        x = np.array([where[str(k)] for k in rows["k"]])
        mean, low, high = (100 * rows[c].to_numpy(float) for c in ("mean", "min", "max"))
        main = probe.removesuffix("_linear")
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="o-", capsize=3, ms=4, color=colour(main),
                    label=f"{probe} (linear probe)")
    ax.set_xticks(range(len(ks)), ks)
    if zero_shot is not None:
        ax.axhline(100 * zero_shot, color=colour("clip"), ls="--", lw=1.2, label=f"clip zero-shot ({100 * zero_shot:.1f}%)")
    ax.axhline(100 / num_classes, color="grey", ls=":", lw=1, label=f"chance ({100 / num_classes:.1f}%)")
    ax.set(xlabel="labelled training images per class", ylabel="test top-1 (%)", ylim=(0, 100),
           title="Linear probes with few labelled images, and CLIP's zero-shot head")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
