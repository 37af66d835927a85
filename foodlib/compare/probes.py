"""Notebook 05's view of the linear probes of 02-04: features against training, few-shot against zero-shot.

Every backbone got the same probe (a logistic regression on its frozen features, `foodlib.probe`), so
`features_vs_training` sets what training adds (the fine-tune, or for CLIP its zero-shot prompts) beside what
the features alone give; `fewshot_table` gathers the probes' few-shot curves (02-04's
`tables/<model>_linear_fewshot_summary`), which `plots.fewshot_figure` draws beside CLIP's zero-shot top-1.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from foodlib import registry
from foodlib.compare.inputs import MAIN_MODELS
from foodlib.config import Params

FEWSHOT_COLUMNS = ["model", "k", "seeds", "n_train", "mean", "std", "min", "max"]


def probe_of(model_name: str) -> str:
    """The artifact name of a registered model's linear probe: 'vit' -> 'vit_linear'."""
    return registry.artifact_name(model_name, "linear")


def features_vs_training(headline: pd.DataFrame, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """Per backbone with both: the trained model's top-1 (fine-tune, or CLIP's zero-shot prompts) and its
    linear probe's, each with its 95% interval, and the difference in points (trained - probe)."""
    rows = headline.set_index("model")
    out = []
    for m in models:
        if m not in rows.index or probe_of(m) not in rows.index:
            continue
        trained, probed = rows.loc[m], rows.loc[probe_of(m)]
        out.append({"backbone": registry.spec(m).title, "trained": m,
                    "how": "fine-tuned" if registry.spec(m).trainable else "zero-shot (prompts, no labelled image)",
                    "top1": trained["top1"], "top1_ci_low": trained["top1_ci_low"],
                    "top1_ci_high": trained["top1_ci_high"], "probe": probe_of(m), "probe_top1": probed["top1"],
                    "probe_ci_low": probed["top1_ci_low"], "probe_ci_high": probed["top1_ci_high"],
                    "difference_points": 100 * (trained["top1"] - probed["top1"])})
    return pd.DataFrame(out)


def fewshot_table(params: Params, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """The few-shot summaries 02-04 wrote (test top-1 over seeds per k), one block per probe that has one."""
    parts = []
    for m in models:
        path = params.subdir("tables") / f"{probe_of(m)}_fewshot_summary.csv"
        if path.exists():
            parts.append(pd.read_csv(path, dtype={"k": str}).assign(model=probe_of(m)))
    return pd.concat(parts, ignore_index=True)[FEWSHOT_COLUMNS] if parts else pd.DataFrame(columns=FEWSHOT_COLUMNS)


def worth(table: pd.DataFrame, probe: str, zero_shot: float) -> str:
    """How many labelled images per class the probe `probe` needs to match `zero_shot` (its mean over seeds)."""
    rows = table[(table["model"] == probe) & (table["k"] != "all")]
    ks, means = rows["k"].astype(int).to_numpy(), rows["mean"].to_numpy(float)
    above = np.flatnonzero(means >= zero_shot)
    if not len(ks):
        return f"{probe}: no few-shot probes to compare with"
    if not len(above):
        return f"{probe} stays below the zero-shot top-1 ({zero_shot:.1%}) up to {ks.max()} images per class"
    first = above[0]
    if first == 0:
        return f"{probe} matches the zero-shot top-1 ({zero_shot:.1%}) from {ks[0]} image per class on"
    return (f"{probe} matches the zero-shot top-1 ({zero_shot:.1%}) between {ks[first - 1]} and {ks[first]} "
            "images per class")
