"""Disagreement sets over the main models: which images one model gets right and others wrong.

  `<a>_only`            images model a gets right and every other main model gets wrong;
  `<a>_right_<b>_wrong` images a gets right and b gets wrong (both orders of every pair).
Within each set, images are ranked by the confidence of the model that is right
(highest first, ties by image_id). `tables/disagreements.csv` holds the first
`num_examples` of each set (columns set, rank, image_id, label, pred_<m>, conf_<m>
for every main model m); `tables/disagreement_members.parquet` every member,
with the ranking key `score`. The file names, the sets' naming rule and their
readers are in `foodlib.artifacts` (notebook 06 reads them with `artifacts.read_disagreements`).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pandas as pd

from foodlib import artifacts
from foodlib.artifacts import COUNTS_FILE, DISAGREEMENTS_FILE, MEMBERS_FILE, right_model
from foodlib.compare.inputs import MAIN_MODELS, Joined
from foodlib.config import Params


def disagreement_masks(correct: np.ndarray, models: Sequence[str]) -> dict[str, np.ndarray]:
    """Boolean masks over images: `<a>_only` for each model, then `<a>_right_<b>_wrong` both ways for each pair.

    correct: (N, M) bool for `models`, in that order.
    """
    correct = np.asarray(correct, dtype=bool)
    masks = {}
    for i, m in enumerate(models):
        others = np.delete(correct, i, axis=1)
        masks[f"{m}_only"] = correct[:, i] & ~others.any(axis=1)
    for i, j in itertools.combinations(range(len(models)), 2):
        masks[f"{models[i]}_right_{models[j]}_wrong"] = correct[:, i] & ~correct[:, j]
        masks[f"{models[j]}_right_{models[i]}_wrong"] = correct[:, j] & ~correct[:, i]
    return masks


def disagreement_members(joined: Joined, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """Every member of every disagreement set, ranked within its set.

    Rank rule (deterministic): score = the confidence of the model that is
    right in the set (the `<a>` of `<a>_only` / `<a>_right_<b>_wrong`), highest
    first; ties by image_id. Columns: set, rank, image_id, label, pred_<m>,
    conf_<m> for each of `models`, score.
    """
    confidence = joined.confidence
    base = pd.DataFrame({"image_id": joined.image_ids, "label": joined.labels})
    for m in models:
        base[f"pred_{m}"] = joined.preds[joined.index(m)]
        base[f"conf_{m}"] = confidence[joined.index(m)]
    parts = []
    for name, mask in disagreement_masks(joined.correct_for(models), models).items():
        part = base[mask].copy()
        part.insert(0, "set", name)
        part["score"] = part[f"conf_{right_model(name)}"]
        part = part.sort_values(["score", "image_id"], ascending=[False, True], kind="stable")
        part.insert(1, "rank", np.arange(len(part)))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def shown_examples(members: pd.DataFrame, num_examples: int) -> pd.DataFrame:
    """The rows notebook 06 shows: the first `num_examples` of each set (the disagreements.csv format)."""
    return members[members["rank"] < num_examples].drop(columns="score").reset_index(drop=True)


def save_disagreements(members: pd.DataFrame, counts: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Write disagreements.csv (+ .md), disagreement_members.parquet and disagreement_counts.csv; return the shown rows."""
    tables = params.subdir("tables")
    shown = shown_examples(members, params.num_examples)
    artifacts.write_table(shown, DISAGREEMENTS_FILE.removesuffix(".csv"), params)
    with artifacts.atomic_path(tables / MEMBERS_FILE) as tmp:
        members.to_parquet(tmp, index=False)
    artifacts.write_meta(tables / MEMBERS_FILE, params)
    artifacts.write_table(counts, COUNTS_FILE.removesuffix(".csv"), params)
    return shown


def with_class_names(df: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """A copy for reading: label and pred_* ids replaced by class names."""
    out = df.copy()
    for col in [c for c in out.columns if c == "label" or c.startswith("pred_")]:
        out[col] = [classes[i] for i in out[col]]
    return out


def correctness_patterns(correct: np.ndarray, models: Sequence[str]) -> pd.DataFrame:
    """How many images each right/wrong pattern over `models` has (2**M rows, most common first)."""
    correct = np.asarray(correct, dtype=bool)
    codes = correct @ (1 << np.arange(correct.shape[1]))  # bit i set = model i right
    counts = np.bincount(codes, minlength=2 ** len(models))
    rows = [{**{m: bool(code >> i & 1) for i, m in enumerate(models)}, "count": int(counts[code])}
            for code in range(2 ** len(models))]
    table = pd.DataFrame(rows)
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def disagreement_counts(joined: Joined, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """Size of each disagreement set (and of all-right / all-wrong) with its share of the test set."""
    correct = joined.correct_for(models)
    sizes = {name: int(mask.sum()) for name, mask in disagreement_masks(correct, models).items()}
    sizes["all_right"] = int(correct.all(axis=1).sum())
    sizes["all_wrong"] = int((~correct).all(axis=1).sum())
    kinds = ["only" if s.endswith("_only") else "all" if s.startswith("all_") else "pair" for s in sizes]
    n = len(joined.labels)
    return pd.DataFrame({"set": list(sizes), "kind": kinds, "count": list(sizes.values()),
                         "share": [v / n for v in sizes.values()]})
