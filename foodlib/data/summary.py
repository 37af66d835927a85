"""What notebook 01 shows about the data: counts, sizes, colour modes, exclusions, samples."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from foodlib.data.prepare import Prepared
from foodlib.data.sources import class_counts

SPLITS = ("train", "val", "test")


def counts(prepared: Prepared) -> pd.DataFrame:
    """Usable images per class (rows, dataset order) and split (columns), with totals."""
    usable = prepared.index[prepared.index["status"] != "excluded"]
    table = class_counts(usable, prepared.classes, list(SPLITS)).reset_index()
    table.loc[len(table)] = ["(total)", *table[list(SPLITS)].sum()]
    return table


def summarize(prepared: Prepared) -> dict[str, Any]:
    """Counts, original sizes and colour modes, exclusions: the data summary JSON."""
    idx = prepared.index
    usable = idx[idx["status"] != "excluded"]
    sizes = usable[["orig_width", "orig_height"]]
    per_class = usable[usable["split"] == "train"].groupby("label").size()
    return {
        "num_classes": len(prepared.classes),
        "classes": prepared.classes,
        "split_counts": {s: int((usable["split"] == s).sum()) for s in SPLITS},
        "train_per_class": {"min": int(per_class.min()), "max": int(per_class.max())},
        "excluded": int((idx["status"] == "excluded").sum()),
        "converted": int((idx["status"] == "converted").sum()),
        "orig_modes": {str(k): int(v) for k, v in idx["orig_mode"].replace("", "(unreadable)").value_counts().items()},
        "orig_size": {
            "width_median": float(sizes["orig_width"].median()),
            "height_median": float(sizes["orig_height"].median()),
            "short_side_min": int(sizes.min(axis=1).min()),
            "long_side_max": int(sizes.max(axis=1).max()),
        },
        "cached_short_side_max": int(usable[["width", "height"]].min(axis=1).max()),
    }


def problem_files(prepared: Prepared) -> pd.DataFrame:
    """Every excluded or converted file with what was done and why."""
    rows = prepared.index[prepared.index["status"] != "ok"]
    out = rows[["image_id", "split", "status", "orig_mode", "orig_format", "reason"]].copy()
    return out.sort_values(["status", "image_id"]).reset_index(drop=True)
