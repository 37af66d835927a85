"""The command line: parse the arguments, run the chosen sections, print the table, write JSON."""
from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from foodlib.run import cli as entry_points
from foodlib.bench.common import (DEFAULT_SECTIONS, SECTIONS, Row, _cpu_snapshot, format_table, machine_info,
                                  other_load)
from foodlib.bench.models import LABELS, models_section
from foodlib.bench.pipeline import pipeline_section
from foodlib.bench.runs import smoke_section, tests_section
from foodlib.config import ParameterError

PROG = "python -m foodlib.bench"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark the input pipeline (naive HF path vs the prepared cache), the models "
                    "(train step and eval), and optionally the smoke rebuild and the test suite.")
    ap.add_argument("--sections", default=DEFAULT_SECTIONS,
                    help=f"comma-separated, from {','.join(SECTIONS)} (default {DEFAULT_SECTIONS}; "
                         "smoke and tests take minutes)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="models section, and the GPU rows of the pipeline section (default auto)")
    ap.add_argument("--num-images", type=int, default=256, help="photo-like JPEGs to generate (default 256)")
    ap.add_argument("--workers", type=int, default=-1,
                    help="DataLoader workers; -1 = one per core, up to 8 (default); 0 skips the worker rows")
    ap.add_argument("--pipeline-batch", type=int, default=64, help="DataLoader batch size (default 64)")
    ap.add_argument("--loader-images", type=int, default=1024,
                    help="images to time through the worker DataLoader, in whole passes (default 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each one-process measurement (median)")
    ap.add_argument("--models", default="vit,swin", help="models to time, from vit,swin,clip (clip: eval only)")
    ap.add_argument("--batch-size", type=int, default=None, help="train-step batch (default 4 on CPU, 128 on GPU)")
    ap.add_argument("--eval-batch-size", type=int, default=None, help="eval batch (default 8 on CPU, 256 on GPU)")
    ap.add_argument("--iters", type=int, default=None, help="timed iterations per model (default 2 CPU, 30 GPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed iterations first (default 1 CPU, 10 GPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the models first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir, removed)")
    ap.add_argument("--out", metavar="FILE.json", help="also write the rows, machine and versions as JSON")
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = _parser()
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    args.sections = sections
    if args.num_images < 1:
        ap.error("--num-images must be at least 1")
    _check_models(args.models)
    return args


def _check_models(models: str) -> None:
    """Refuse an unknown --models name now, not after the pipeline section has run for minutes."""
    for name in (m.strip() for m in models.split(",")):
        if name not in LABELS:
            hint = difflib.get_close_matches(name, list(LABELS), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ParameterError(f"--models: unknown model {name!r}{extra}; choose from {', '.join(LABELS)}")


SECTION_RUNNERS = {
    "pipeline": lambda args, workdir: pipeline_section(args, workdir / "pipeline"),
    "models": lambda args, workdir: models_section(args),
    "smoke": smoke_section,
    "tests": tests_section,
}


def _run_sections(args, workdir: Path) -> tuple[list[Row], dict[str, float], dict[str, float | None]]:
    """Rows, wall seconds per section and the cores other processes kept busy per section."""
    rows: list[Row] = []
    timings: dict[str, float] = {}
    others_by_section: dict[str, float | None] = {}
    for name in args.sections:
        t0, s0 = time.perf_counter(), _cpu_snapshot()
        print(f"==> {name}", flush=True)
        rows += SECTION_RUNNERS[name](args, workdir)
        timings[name] = round(time.perf_counter() - t0, 1)
        busy = other_load(s0, _cpu_snapshot())
        others_by_section[name] = None if busy is None else round(busy, 2)
    return rows, timings, others_by_section


def _print_summary(rows: list[Row], info: dict, others: float | None, timings: dict, others_by_section: dict) -> None:
    print()
    if others is not None and others > 0.25:
        print(f"WARNING: other processes kept {others:.2f} of {info['cores']} cores busy during the run: "
              "figures are slowed by them; rerun on a quiet machine for the record.")
    print(f"machine: {info['cpu']}, {info['cores']} cores" + (f", {info['gpu']}" if info["gpu"] else "")
          + ("" if others is None else f", other processes busy {others:.2f} cores")
          + f" | torch {info['torch']}, torchvision {info['torchvision']}, transformers {info['transformers']}")
    print(format_table(rows))
    print(f"section wall times (s): {timings}; other processes' cores busy: {others_by_section}")


def run(argv: list[str] | None = None) -> list[Row]:
    """Run the chosen sections; print the table (and write JSON with --out); return the rows."""
    with entry_points.usage_errors(PROG):  # a mistyped model name: one line and exit 2
        args = parse_args(argv)
    from foodlib import runtime

    args.device = runtime.resolve_device(args.device)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="foodlib-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    snap = _cpu_snapshot()
    try:
        rows, timings, others_by_section = _run_sections(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    info = machine_info()
    others = other_load(snap, _cpu_snapshot())
    info["other_processes_cores"] = None if others is None else round(others, 2)
    _print_summary(rows, info, others, timings, others_by_section)
    if args.out:
        out = {"command": f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": info, "args": {k: v for k, v in vars(args).items()}, "section_seconds": timings,
               "section_other_processes_cores": others_by_section,
               "rows": [asdict(r) for r in rows]}
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        print(f"wrote {args.out}")
    return rows


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0
