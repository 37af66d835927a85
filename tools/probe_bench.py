"""Time the linear probe's solver on random class-clustered features: one fit, then the whole strength sweep.

    python tools/probe_bench.py                          # Food-101 scale: 72,000 x 768, 101 classes, 3,800 val
    python tools/probe_bench.py --n 7200 --device cuda   # smaller, or on a GPU
    python tools/probe_bench.py --out benchmarks/probe_cpu_2core.json   # also the record: machine, commit, rows

Features: a random mean per class plus unit Gaussian noise (`--scale` sets how far apart the means are,
hence how separable the classes are). Prints, as JSON lines, each fit's strength, iterations and seconds.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from foodlib import artifacts
from foodlib.bench.common import machine_info
from foodlib.probe import logreg, sweep


def features(n: int, dim: int, classes: int, scale: float, seed: int, device: str):
    """(n, dim) float32 features and (n,) labels: class mean + noise."""
    g = torch.Generator().manual_seed(seed)
    means = scale * torch.randn(classes, dim, generator=torch.Generator().manual_seed(0))
    y = torch.randint(classes, (n,), generator=g)
    return (means[y] + torch.randn(n, dim, generator=g)).to(device), y.to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=72_000)
    ap.add_argument("--val", type=int, default=3_800)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--classes", type=int, default=101)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--strength", type=float, default=1.0, help="lambda of the single fit")
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-sweep", action="store_true", help="only the single fit")
    ap.add_argument("--out", help="also write every row, the machine and the commit as JSON")
    args = ap.parse_args()
    rows = []

    def say(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    train = features(args.n, args.dim, args.classes, args.scale, 1, args.device)
    val = features(args.val, args.dim, args.classes, args.scale, 2, args.device)
    t0 = time.perf_counter()
    one = logreg.fit(*train, args.classes, args.strength, max_iter=args.max_iter)
    seconds = time.perf_counter() - t0
    say({"fit": "single", "strength": args.strength, "iterations": one.iterations,
         "seconds": round(seconds, 2), "s_per_iteration": round(seconds / max(one.iterations, 1), 4),
         "val_top1": round(logreg.score(one, *val)[0], 4), "threads": torch.get_num_threads()})
    if not args.no_sweep:
        result = sweep.search(*train, *val, args.classes, max_iter=args.max_iter)
        for row in result.table.sort_values("order").itertuples():
            say({"fit": "sweep", "order": int(row.order), "log10_strength": float(row.log10_strength),
                 "iterations": int(row.iterations), "val_top1": round(float(row.val_top1), 4)})
        say({"sweep_fits": len(result.table), "sweep_iterations": int(result.table["iterations"].sum()),
             "sweep_seconds": round(result.seconds, 1), "chosen": result.strength})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    say({"peak_host_gib": round(peak, 2)})
    if args.out:
        record = {"command": "python tools/probe_bench.py " + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d"),
                  "commit": artifacts.git_commit(), "machine": machine_info(), "rows": rows}
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
