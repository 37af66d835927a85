"""Compare the predictions of two runs of the same profile: are they the same, image by image?

    python tools/compare_runs.py RESULTS_A RESULTS_B [--profile smoke]

RESULTS_A / RESULTS_B are results_dir folders (holding <profile>/predictions/*.parquet). Prints, per
predictions file, whether labels, predicted classes and top-5 lists agree and the largest probability
difference; exits 1 when any file is missing on one side or a predicted class differs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def compare(a: Path, b: Path) -> dict:
    x = pd.read_parquet(a).set_index("image_id")
    y = pd.read_parquet(b).set_index("image_id")
    if set(x.index) != set(y.index):
        return {"same_images": False}
    y = y.loc[x.index]
    return {
        "same_images": True, "n": len(x),
        "labels_equal": bool((x["label"] == y["label"]).all()),
        "preds_equal": bool((x["pred"] == y["pred"]).all()),
        "top5_equal": all(list(p) == list(q) for p, q in zip(x["top5"], y["top5"])),
        "max_abs_prob_diff": float(np.abs(np.stack(x["probs"]) - np.stack(y["probs"])).max()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--profile", default="smoke")
    args = ap.parse_args(argv)
    files = sorted({p.name for r in (args.a, args.b) for p in (r / args.profile / "predictions").glob("*.parquet")})
    ok = bool(files)
    for name in files:
        pa, pb = (r / args.profile / "predictions" / name for r in (args.a, args.b))
        if not (pa.exists() and pb.exists()):
            print(f"{name}: only in {'a' if pa.exists() else 'b'}")
            ok = False
            continue
        row = compare(pa, pb)
        ok &= row.get("preds_equal", False)
        print(f"{name:24s} " + " ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
