"""The records of tools/gpu_probe.sh: `python -m foodlib.bench.probe {slug,device,rehearsal} ...`.

- `slug`: the device's name for file names (`nvidia_h200`, `cpu`).
- `device WORK --out FILE`: `benchmarks/<device>.json`, the measured rows of the probe's steps (the CUDA
  check, the bench's models eager and compiled, the input pipeline) with device, versions and commit.
- `rehearsal RUN_DIR RUN_DIR [...] --out FILE [--target PROFILE] [-p KEY VALUE]`: `benchmarks/rehearsal_<device>.json`,
  the runs as measured, the fit (foodlib.bench.projection) and the target projected, labelled so.

Each reads what is there and writes what it can: the probe calls them after every step, so a run cut short
still leaves its records.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from foodlib import artifacts, config, registry
from foodlib.bench import projection
from foodlib.bench.common import machine_info

PROG = "python -m foodlib.bench.probe"
BENCH_PARTS = ("bench_eager", "bench_compiled", "bench_pipeline")  # WORK/<part>.json, as gpu_probe.sh names them
TRAINED_KEYS = ("train_images_per_s", "eval_images_per_s", "train_compile_s", "eval_compile_s", "peak_gpu_mem_gb",
                "epochs_run")


def slug() -> str:
    """The device's name in file names: the GPU's name in lower case ('nvidia_h200'), else 'cpu'."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "_", torch.cuda.get_device_name(0).lower()).strip("_")


def commit() -> str:
    """The commit measured: $FOODLIB_COMMIT (the device gets no .git), else git's, else 'unknown'."""
    if os.environ.get("FOODLIB_COMMIT"):
        return os.environ["FOODLIB_COMMIT"]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=config.project_root(),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _steps(work: Path) -> list[dict[str, Any]]:
    """The probe's steps as it logged them (steps.tsv: name, status, seconds, budget)."""
    path = work / "steps.tsv"
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    return [{"step": r[0], "status": r[1], "seconds": float(r[2]), "budget_s": float(r[3])} for r in rows]


def device_record(work: Path) -> dict[str, Any]:
    """Everything the probe measured outside the rehearsal: labelled measured, with device, versions, commit."""
    bench = {part: _read(work / f"{part}.json") for part in BENCH_PARTS}
    rows = [{"step": part, **row} for part, got in bench.items() if got for row in got["rows"]]
    return {"kind": "measured", "device": slug(), "machine": machine_info(), "commit": commit(),
            "steps": _steps(work), "gpu_check": _read(work / "gpu_check.json"),
            "bench_commands": {part: got["command"] for part, got in bench.items() if got},
            "rows": rows}


def _trained(params: config.Params) -> dict[str, dict[str, Any]]:
    """artifact -> the throughput and compile figures its metrics hold (the runs' own, at full settings)."""
    out = {}
    for artifact in registry.artifact_names():
        m = _read(params.subdir("metrics") / f"{artifact}.json")
        if m:
            out[artifact] = {k: m.get(k) for k in TRAINED_KEYS if m.get(k) is not None}
    return out


def _run_summary(params: config.Params) -> dict[str, Any]:
    timings = _read(params.run_dir / "timings.json")
    return {"run_dir": config.shown(params.run_dir), "counts": projection.counts(params),
            "overrides": timings["params_overrides"], "gpu": timings["gpu"], "notebooks": timings["notebooks"],
            "total_s": timings["total_s"], "models": _trained(params)}


def rehearsal_record(run_dirs: list[Path], target: config.Params) -> dict[str, Any]:
    """The runs (measured), the fit and the target's projection (labelled projected)."""
    runs = [projection.load_run(d) for d in run_dirs]
    lines = projection.fit([projection.measure(p) for p in runs])
    rec = projection.record(runs, target, lines)
    peaks = [r.get("peak_gpu_bytes") for p in runs for r in _read(p.run_dir / "timings.json")["notebooks"]]
    peaks = [b for b in peaks if b is not None]
    rec["projected"]["peak_gpu_gib"] = round(max(peaks) / 2**30, 2) if peaks else None  # same batches: no growth
    return {**rec, "device": slug(), "machine": machine_info(), "commit": commit(),
            "versions": artifacts.versions(), "runs": [_run_summary(p) for p in runs]}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="The records of tools/gpu_probe.sh.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("slug", help="print the device's name for file names")
    dev = sub.add_parser("device", help="write benchmarks/<device>.json from the probe's work folder")
    dev.add_argument("work", type=Path)
    dev.add_argument("--out", type=Path, required=True)
    reh = sub.add_parser("rehearsal", help="fit two or more runs and project the target; write the record")
    reh.add_argument("runs", type=Path, nargs="+", help="run folders (results_dir/<profile>) with timings.json")
    reh.add_argument("--out", type=Path, required=True)
    reh.add_argument("--target", default="rehearsal", choices=sorted(config.PROFILES),
                     help="the profile projected to (default rehearsal: Food-101's size, full's settings)")
    reh.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="a parameter of the target, e.g. -p device cuda")
    return ap


def main(argv: list[str] | None = None) -> int:
    from foodlib.run import cli, runner

    args = _parser().parse_args(argv)
    if args.command == "slug":
        print(slug())
        return 0
    if args.command == "device":
        artifacts.write_json(args.out, device_record(args.work))
    else:
        with cli.usage_errors(PROG):
            target = config.resolve(args.target, **{k: runner.parse_value(v) for k, v in args.param})
        rec = rehearsal_record(args.runs, target)
        artifacts.write_json(args.out, rec)
        got = rec["projected"]
        print(f"projected ({got['profile']}, {got['counts']['fit'] + got['counts']['val']:,} train / "
              f"{got['counts']['test']:,} test, {got['num_epochs']} epochs): "
              + ", ".join(f"{nb[:2]} {s:.0f} s" for nb, s in got["seconds"].items()) + f"; total {got['total_s']:.0f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
