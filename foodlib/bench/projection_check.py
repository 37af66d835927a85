"""Issue 25's check of foodlib.bench.projection: fitted on two small runs of the series, does it predict a
third, larger one with more epochs, within 25% for every notebook?

    python -m foodlib.bench.projection_check --out benchmarks/projection_cpu_2core.json

runs the smoke series three times back to back through ./run_all.sh (minutes on 2 cores): at `--sizes`
(train/test images per class, 2 fine-tune and 2 probe epochs: the history then tells an epoch's cost from
the first epoch's one-off costs) and at `--target` with the smoke profile's epochs, every epoch run (early
stopping off). It fits the first two, projects the third and compares with what the third measured; the
exit status is 1 when a notebook misses by more than `--tolerance`. The record keeps, per run, the files the
projection reads (timings.json, metrics, history tables) as text, so that

    python -m foodlib.bench.projection_check --refit benchmarks/projection_cpu_2core.json

(and tests/test_projection.py) refit the same measurements with the code as it stands, without running.
A timing check, so a benchmark to rerun and not a timed test: the suite checks the recorded measurements.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from foodlib import artifacts, config, registry
from foodlib.bench import projection
from foodlib.bench.common import _cpu_snapshot, machine_info, other_load
from foodlib.bench.probe import commit
from foodlib.bench.runs import _timed

PROG = "python -m foodlib.bench.projection_check"
FITTED_EPOCHS = (2, 2)  # fine-tune, linear probe: two each, so that the history has an epoch after the first
WARM_UP = "import foodlib.train, foodlib.attention, torch, torchvision, transformers, clip, pandas, matplotlib.pyplot, papermill"


def snapshot(run_dir: Path) -> dict[str, str]:
    """The files of a run that the projection reads, as text: relative path -> content."""
    names = ["timings.json"] + [f"{sub}/{a}{ext}" for a in registry.artifact_names()
                                for sub, ext in (("metrics", ".json"), ("tables", "_history.csv"))]
    return {name: (run_dir / name).read_text() for name in names if (run_dir / name).exists()}


def restore(files: dict[str, str], run_dir: Path) -> Path:
    """Write a snapshot back as a run folder (what `projection.load_run` and `measure` read)."""
    for name, text in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text(text)
    return run_dir


def check(fitted: list[Path], target: Path, tolerance: float = 0.25) -> dict[str, Any]:
    """Fit the runs `fitted`, project the run `target`'s sizes and epochs, compare with what it measured."""
    runs = [projection.load_run(d) for d in fitted]
    aim = projection.load_run(target)
    lines = projection.fit([projection.measure(p) for p in runs])
    got = projection.compare(projection.project(lines, aim), projection.measured_seconds(aim))
    total_p, total_m = sum(v["projected"] for v in got.values()), sum(v["measured"] for v in got.values())
    return {"tolerance": tolerance, "notebooks": got,
            "total": {"projected": round(total_p, 1), "measured": round(total_m, 1),
                      "error": round(total_p / total_m - 1, 3)},
            "missed": [nb for nb, v in got.items() if abs(v["error"]) > tolerance],
            "fit": projection.fit_rows(lines)}


def _size(text: str) -> tuple[int, int]:
    try:
        train, test = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is TRAIN/TEST images per class, e.g. 8/3; got {text!r}") from None
    if train < 2 or test < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 2 train and 1 test image per class")
    return train, test


def _series(size: tuple[int, int], epochs: tuple[int, int], results_dir: Path, log: Path) -> dict[str, Any]:
    """./run_all.sh --profile smoke at one size, every epoch run; (its settings, wall time, status)."""
    settings = {"synthetic_train_per_class": size[0], "synthetic_test_per_class": size[1], "num_epochs": epochs[0],
                "linear_probe_epochs": epochs[1], "early_stopping_patience": max(epochs) + 1,
                "results_dir": str(results_dir)}
    cmd = ["./run_all.sh", "--profile", "smoke", *[a for k, v in settings.items() for a in ("-p", k, str(v))]]
    env = {**os.environ, "FOODLIB_PYTHON": sys.executable, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    seconds, rc = _timed(cmd, env, config.project_root(), log)
    settings.pop("results_dir")
    return {"size": f"{size[0]}/{size[1]}", "settings": settings, "wall_s": round(seconds, 1), "rc": rc}


def measure_and_check(sizes: list[tuple[int, int]], target: tuple[int, int], work: Path,
                      tolerance: float) -> dict[str, Any]:
    smoke = config.resolve("smoke")
    subprocess.run([sys.executable, "-c", WARM_UP], check=True, capture_output=True)  # a cold first run's imports
    before = _cpu_snapshot()
    runs, dirs = [], []
    for size, epochs in [(s, FITTED_EPOCHS) for s in sizes] + [(target, (smoke.num_epochs, smoke.linear_probe_epochs))]:
        name = f"run_{size[0]}_{size[1]}"
        print(f"{PROG}: the smoke series at {size[0]}/{size[1]} images per class, {epochs[0]} + {epochs[1]} epochs",
              flush=True)
        row = _series(size, epochs, work / name, work / f"{name}.log")
        if row["rc"] != 0:
            raise SystemExit(f"{PROG}: the series at {row['size']} failed (rc {row['rc']}); see {work / name}.log")
        dirs.append(work / name / "smoke")
        runs.append({**row, "files": snapshot(dirs[-1])})
    after = _cpu_snapshot()
    load = other_load(before, after)
    return {"kind": "measured and projected", "what": "issue 25: fitted on the first runs, the last one projected",
            "command": f"{PROG} --sizes {' '.join(r['size'] for r in runs[:-1])} --target {runs[-1]['size']}",
            "machine": machine_info(), "commit": commit(), "versions": artifacts.versions(),
            "other_load_cores": None if load is None else round(load, 2),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": runs, "check": check(dirs[:-1], dirs[-1], tolerance)}


def refit(record: dict[str, Any], work: Path, tolerance: float | None = None) -> dict[str, Any]:
    """The check of a record's measurements with the projection as it stands."""
    dirs = [restore(r["files"], work / f"run_{i}" / "smoke") for i, r in enumerate(record["runs"])]
    return check(dirs[:-1], dirs[-1], record["check"]["tolerance"] if tolerance is None else tolerance)


def table(result: dict[str, Any]) -> str:
    rows = ["| notebook | projected (s) | measured (s) | error |", "| --- | ---: | ---: | ---: |"]
    for nb, v in [*result["notebooks"].items(), ("total", result["total"])]:
        rows.append(f"| {nb} | {v['projected']:.1f} | {v['measured']:.1f} | {v['error']:+.0%} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=_size, default=[(8, 3), (24, 8)],
                    help="the fitted runs' TRAIN/TEST images per class (default 8/3 24/8)")
    ap.add_argument("--target", type=_size, default=(40, 12), help="the projected run's size (default 40/12)")
    ap.add_argument("--tolerance", type=float, default=0.25, help="largest |projected / measured - 1| (0.25)")
    ap.add_argument("--out", type=Path, help="write the record (JSON) here")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="run in DIR and keep the runs (default: a temp dir)")
    ap.add_argument("--refit", type=Path, metavar="RECORD", help="refit a record's measurements; run nothing")
    args = ap.parse_args(argv)
    if len(set(args.sizes)) < 2:
        ap.error("--sizes: two different sizes at least")
    if args.refit and not args.refit.is_file():
        ap.error(f"--refit: no record at {args.refit} (write one with --out)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="projection_check_"))
    work.mkdir(parents=True, exist_ok=True)
    done = False
    try:
        if args.refit:
            result = refit(json.loads(args.refit.read_text()), work, args.tolerance)
        else:
            record = measure_and_check(args.sizes, args.target, work, args.tolerance)
            result = record["check"]
            if args.out:
                artifacts.write_json(args.out, record)
                print(f"wrote {args.out}")
        done = True
    finally:
        if not args.keep and done:  # a failed series keeps its folder and log for reading
            shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    missed = result["missed"]
    print(f"MISSED: {', '.join(missed)} off by more than {result['tolerance']:.0%}" if missed
          else f"met: every notebook within {result['tolerance']:.0%}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
