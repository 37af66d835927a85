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

from foodlib.bench.common import Row, cpu_snapshot, format_table, machine_info, other_load
from foodlib.bench.models import LABELS, models_section
from foodlib.bench.pipeline import pipeline_section
from foodlib.bench.runs import smoke_section, tests_section
from foodlib.config import ParameterError
from foodlib.run import cli as entry_points

PROG = "python -m foodlib.bench"
SECTIONS = {
    "pipeline": lambda args, workdir: pipeline_section(args, workdir / "pipeline"),
    "models": lambda args, workdir: models_section(args),
    "smoke": smoke_section,
    "tests": tests_section,
}
DEFAULT_SECTIONS = "pipeline,models"


def _models(text: str) -> str:
    """Refuse an unknown --models name now (a did-you-mean, one line), not after the pipeline section's minutes."""
    for name in (m.strip() for m in text.split(",")):
        if name not in LABELS:
            hint = difflib.get_close_matches(name, list(LABELS), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ParameterError(f"--models: unknown model {name!r}{extra}; choose from {', '.join(LABELS)}")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description="Benchmark the input pipeline (the naive HF path against "
                                 "the prepared caches) and the models (train step and eval) on this machine.")
    ap.add_argument("--sections", default=DEFAULT_SECTIONS,
                    help=f"comma-separated, from {','.join(SECTIONS)} (default {DEFAULT_SECTIONS}; smoke and tests: "
                         "wall time of ./run_all.sh --profile smoke and of the test suite, minutes each)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto")
    ap.add_argument("--num-images", type=int, default=256, help="photo-like JPEGs to generate (default 256)")
    ap.add_argument("--workers", type=int, default=-1,
                    help="DataLoader workers; -1 = one per core, up to 16 (default); 0 skips the worker rows")
    ap.add_argument("--pipeline-batch", type=int, default=64, help="DataLoader batch size (default 64)")
    ap.add_argument("--loader-images", type=int, default=1024,
                    help="images to time through the worker DataLoader, in whole passes (default 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each pipeline measurement (median)")
    ap.add_argument("--models", default="vit,swin,clip",
                    help="models to time, from vit,swin,clip (clip: eval only; default all three)")
    ap.add_argument("--batch-size", type=int, help="train-step batch (default 4 on CPU, 128 on GPU)")
    ap.add_argument("--eval-batch-size", type=int, help="eval batch (default 8 on CPU, 256 on GPU)")
    ap.add_argument("--iters", type=int, help="timed iterations per model (default 2 CPU, 30 GPU)")
    ap.add_argument("--warmup", type=int, help="untimed iterations first (default 1 CPU, 10 GPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the models first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder, removed)")
    ap.add_argument("--out", metavar="FILE.json", help="also write the rows, machine and versions as JSON")
    args = ap.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if args.num_images < 1:
        ap.error("--num-images must be at least 1")
    _models(args.models)
    return args


def _run_sections(args, workdir: Path) -> tuple[list[Row], dict[str, dict]]:
    """The rows, and per section its wall seconds and the cores other processes kept busy meanwhile."""
    rows: list[Row] = []
    sections = {}
    for name in args.sections:
        t0, s0 = time.perf_counter(), cpu_snapshot()
        print(f"==> {name}", flush=True)
        rows += SECTIONS[name](args, workdir)
        busy = other_load(s0, cpu_snapshot())
        sections[name] = {"seconds": round(time.perf_counter() - t0, 1),
                          "other_processes_cores": None if busy is None else round(busy, 2)}
    return rows, sections


def run(argv: list[str] | None = None) -> list[Row]:
    """Run the chosen sections; print the table (and write JSON with --out); return the rows."""
    with entry_points.usage_errors(PROG):  # a mistyped model name: one line and exit 2
        args = parse_args(argv)
    from foodlib import runtime

    args.device = runtime.resolve_device(args.device)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="foodlib-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    snap = cpu_snapshot()
    try:
        rows, sections = _run_sections(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    info, others = machine_info(), other_load(snap, cpu_snapshot())
    info["other_processes_cores"] = None if others is None else round(others, 2)
    print()
    if others is not None and others > 0.25:
        print(f"WARNING: other processes kept {others:.2f} of {info['cores']} cores busy during the run: the "
              "figures are slowed by them; rerun on a quiet machine for the record.")
    print(f"machine: {info['cpu']}, {info['cores']} cores" + (f", {info['gpu']}" if info["gpu"] else "")
          + f" | torch {info['torch']}, torchvision {info['torchvision']}, transformers {info['transformers']}")
    print(format_table(rows))
    print(f"sections: {sections}")
    if args.out:
        out = {"command": f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:]), "machine": info,
               "args": vars(args), "sections": sections, "rows": [asdict(r) for r in rows]}
        Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.out}")
    return rows


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0
