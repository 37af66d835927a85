"""How long the notebook series takes: the CPU estimate run_all.sh prints, and the projection from short runs.

    python -m foodlib.run.estimate RUN_DIR RUN_DIR [...] [--profile full] [--out FILE.json]

A notebook's time is a sum of parts, each `fixed + per_image * images` (a `Line`): a trained variant's epoch (its
artifact name, "vit") over fit + val images, repeated per epoch (the fine-tune `num_epochs` times, another variant
trained for epochs as often as when measured); the notebook's rest, once, over the images it reads (01 every file,
02 / 03 / 04 every usable image: a probe's features, val and test, 05 the test split, 06 its deletion test's forward
passes, 07 none); compiling (the metrics' torch.compile seconds), once, fixed. `cpu_lines` holds seconds per image
measured on a 2-core CPU and no fixed cost (`cpu_estimate`, printed by run_all.sh before a full-scale CPU run);
`fit` fits lines on finished runs of the series at two data sizes or more (e.g. two short rehearsals on your GPU);
`project` turns either into seconds per notebook. Orders of magnitude: early stopping can end training sooner, and
nothing else is assumed to grow with the data.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from foodlib import artifacts, config, registry, runtime
from foodlib.config import Params
from foodlib.run import cli

PROG = "python -m foodlib.run.estimate"
REST, COMPILE = "rest", "compile"
# Seconds per image on a 2-core AMD EPYC (AVX2), fp32, torch 2.14.1, batch 8, the real architectures with random
# weights (`python -m foodlib.bench --sections models` remeasures): train = forward, loss, backward, AdamW step;
# eval = forward. 2026-11-23, twice under load 3-5; the faster run [the slower]: a quiet machine may be ~2x faster.
MEASURED_CORES = 2
SECONDS_PER_IMAGE = {
    ("vit", "train"): 3.9,  # ViT-B/16 224: 0.25 img/s [0.23]; benchmarks.md, shared machine: 0.22
    ("vit", "eval"): 0.77,  # 1.31 img/s [0.78]
    ("swin", "train"): 0.84,  # Swin V2-T 256: 1.19 img/s [0.57]; benchmarks.md, busier: 0.27
    ("swin", "eval"): 0.24,  # 4.12 img/s [4.10]
    ("clip", "eval"): 0.088,  # CLIP ViT-B/32 image encoder: 11.4 img/s [2.5]
}
# Data preparation, seconds per image on one core: the photo-style generator (render + JPEG + write: 36.5 ms of
# CPU time per 512 px image) and notebook 01's cache (decode, convert, resize, JPEG: 334 img/s, benchmarks.md).
GENERATE_S_PER_IMAGE = 0.037
PREPARE_S_PER_IMAGE = 1 / 334
DELETION_CURVE_SETS = 3  # notebook 06, per model: one random-order and about two saliency-order sets
REPORT_ABOVE_S = 3600  # shorter runs need no warning


@dataclass(frozen=True)
class Part:
    """One measured piece of a notebook: `seconds` each time it ran (`epochs` times), over `images` images."""

    notebook: str
    name: str  # REST, COMPILE, or a trained variant's artifact name (one epoch of it)
    seconds: float
    images: int
    epochs: int = 1


@dataclass(frozen=True)
class Line:
    """seconds = fixed + per_image * images, each of the `epochs` times a part runs where no parameter says."""

    fixed: float
    per_image: float
    epochs: int = 1

    def at(self, images: int) -> float:
        return self.fixed + self.per_image * images


def image_counts(params: Params) -> dict[str, int]:
    """Images per split as notebook 01 prepares them: fit (train less val), val, test, and every file read.

    Each class holds max(1, round(val_fraction * n)) of its n usable train images out for validation (as
    data.prepare.assign_validation does). A synthetic set plants `synthetic.FAULTS` in train, fault i in class
    i % classes, the converted ones usable (under a subset they may not be drawn: left out)."""
    from foodlib.data import synthetic  # imports torch: only when counting, not at every run_all.sh start

    if params.data_source == "synthetic":
        classes, train, test = (params.synthetic_classes, params.synthetic_train_per_class,
                                params.synthetic_test_per_class)
    else:  # Food-101 itself, from the hub or the archive
        classes, train, test = (len(synthetic.FOOD101_CLASSES), synthetic.FOOD101_TRAIN_PER_CLASS,
                                synthetic.FOOD101_TEST_PER_CLASS)
    planted = synthetic.FAULTS if params.data_source == "synthetic" and params.subset_per_class <= 0 else []
    if params.subset_per_class > 0:
        train, test = min(train, params.subset_per_class), min(test, max(1, params.subset_per_class // 3))
    usable = [train] * classes
    for i, (_kind, fate) in enumerate(planted):
        usable[i % classes] += fate == "converted"
    val = sum(max(1, round(params.val_fraction * n)) for n in usable)
    return {"fit": sum(usable) - val, "val": val, "test": classes * test,
            "files": classes * (train + test) + len(planted)}


def images(notebook: str, part: str, params: Params) -> int:
    """The images a part of a notebook scales with (see the module's docstring)."""
    n = image_counts(params)
    if part != REST:
        return 0 if part == COMPILE else n["fit"] + n["val"]
    usable = n["fit"] + n["val"] + n["test"]
    deletion = min(params.attention_images, n["test"]) * (params.deletion_steps + 1)
    return {"01": n["files"], "02": usable, "03": usable, "04": usable, "05": n["test"], "06": deletion,
            "07": 0}.get(notebook[:2], n["test"])


def project(lines: dict[tuple[str, str], Line], params: Params) -> dict[str, float]:
    """Seconds per notebook at `params`' image counts and epochs."""
    out: dict[str, float] = {}
    for (nb, part), line in sorted(lines.items()):
        repeats = params.num_epochs if part in registry.trainable() else line.epochs  # the fine-tune's epochs
        out[nb] = out.get(nb, 0.0) + repeats * line.at(images(nb, part, params))
    return {nb: max(0.0, s) for nb, s in out.items()}


def cpu_lines(params: Params, cores: int = MEASURED_CORES) -> dict[tuple[str, str], Line]:
    """The parts on a CPU with `cores` cores (linear scaling assumed: optimistic), no fixed cost; a part's seconds
    per image mix its passes (an epoch: train steps on fit, a pass on val) at `params`' counts."""
    n = image_counts(params)
    s = {key: v * MEASURED_CORES / max(1, cores) for key, v in SECONDS_PER_IMAGE.items()}
    photos = params.data_source == "synthetic" and params.synthetic_style == "photo"
    prepare = PREPARE_S_PER_IMAGE + (GENERATE_S_PER_IMAGE if photos else 0.0)  # per core, one process per core
    deletion = DELETION_CURVE_SETS * images("06", REST, params)
    seconds = {("01_data_prep", REST): n["files"] * prepare / max(1, cores),
               ("04_clip_zero_shot", REST): (n["fit"] + n["val"] + 2 * n["test"]) * s["clip", "eval"],  # as 02's
               ("06_attention_maps", REST): deletion * sum(s[m, "eval"] for m in ("vit", "swin", "clip"))}
    for nb, model in (("02_vit_finetune", "vit"), ("03_swin_finetune", "swin")):
        train, evaluate = s[model, "train"], s[model, "eval"]
        # the probe's frozen features of every usable image, then both models' test passes
        seconds[nb, REST] = (n["fit"] + n["val"] + 2 * n["test"]) * evaluate
        if not params.finetuned(model):  # a published fine-tune is not trained here
            seconds[nb, model] = n["fit"] * train + n["val"] * evaluate
    return {key: Line(0.0, sec / max(1, images(key[0], key[1], params))) for key, sec in seconds.items()}


def duration(seconds: float) -> str:
    """45 s, 12 min, 3.4 h, or 120 h (5.0 days)."""
    hours = seconds / 3600
    if seconds < 60:
        return f"{seconds:.0f} s"
    if hours < 1:
        return f"{seconds / 60:.0f} min"
    return f"{hours:,.0f} h ({hours / 24:,.1f} days)" if hours >= 48 else f"{hours:,.1f} h"


def cpu_estimate(params: Params, cores: int | None = None) -> str | None:
    """A few lines estimating the run's wall time on this CPU; None for a GPU, the tiny models, or under an hour."""
    if params.model_source == "tiny" or params.device == "cuda" or (
            params.device == "auto" and runtime.resolve_device("auto") != "cpu"):
        return None
    cores = cores or runtime.cpu_cores()
    stages = project(cpu_lines(params, cores), params)
    total = sum(stages.values())
    if total < REPORT_ABOVE_S:
        return None
    n = image_counts(params)
    lines = [
        f"Rough CPU estimate for profile {params.profile!r} on {cores} cores: about {duration(total)}.",
        f"  {n['fit']:,} training / {n['val']:,} validation / {n['test']:,} test images; "
        f"{params.num_epochs} epochs of ViT-B/16 and Swin V2-T at "
        f"{SECONDS_PER_IMAGE['vit', 'train']:.1f} / {SECONDS_PER_IMAGE['swin', 'train']:.2f} s per image "
        f"(measured on {MEASURED_CORES} cores, scaled by core count).",
    ]
    lines += [f"  {name}: {duration(s)}" for name, s in stages.items() if s >= 60]
    lines.append("  For comparison, one H100 trains ViT-B/16 at about 2,400 images/s (benchmarks.md); "
                 "on a CPU, profile smoke runs in minutes.")
    return "\n".join(lines)


def load_run(run_dir: str | Path) -> Params:
    """The parameters a finished run was made with (its timings.json), results_dir pointing at it."""
    timings = json.loads((Path(run_dir) / "timings.json").read_text())
    given = {k: v for k, v in timings["params"].items() if k in config.field_names() and k != "profile"}  # not retired
    profile, folder = timings["params"]["profile"], Path(run_dir).resolve()
    if folder.name != profile:  # a run's files are found as <results_dir>/<profile>/...
        raise ValueError(f"{run_dir} holds a {profile!r} run, read from a folder named after its profile: move its "
                         f"files into one (e.g. {Path(run_dir) / profile}) and pass that")
    return config.resolve(profile, **{**given, "results_dir": str(folder.parent)})


def epoch_seconds(history: list[dict[str, Any]], metrics: dict[str, Any]) -> float | None:
    """Seconds per epoch of a trained variant, compile excluded (None if not trained): from one validation to the
    next, over the epochs after the first (whose one-off costs stay in the rest); one epoch: wall / epochs."""
    if metrics.get("train_wall_time_s") is None or not metrics.get("epochs_run"):
        return None
    compiled = metrics.get("train_compile_s") is not None  # None: not compiled, nothing to take out
    if len(history) >= 2 and (not compiled or all(row.get("compile_s") not in (None, "") for row in history)):
        def net(row):
            return float(row["elapsed_s"]) - (float(row["compile_s"]) if compiled else 0.0)
        return (net(history[-1]) - net(history[0])) / (len(history) - 1)
    return metrics["train_wall_time_s"] / metrics["epochs_run"]


def _history(params: Params, artifact: str) -> list[dict[str, Any]]:
    """The rows of `tables/<artifact>_history.csv`, [] if there is none."""
    path = params.subdir("tables") / f"{artifact}_history.csv"
    return list(csv.DictReader(path.read_text().splitlines())) if path.exists() else []


def measure(params: Params) -> list[Part]:
    """The parts of one finished run at `params`: timings.json, and 02 / 03's metrics and history tables."""
    parts = []
    for row in json.loads((params.run_dir / "timings.json").read_text())["notebooks"]:
        nb = row["notebook"]
        if row["status"] != "ok":
            raise ValueError(f"{params.run_dir}: {nb} did not finish ({row['status']})")
        written = {a: m for a in registry.artifact_names()
                   if registry.producer(a) == nb and (m := artifacts.read_metrics(a, params, missing_ok=True))}
        epochs = [Part(nb, a, s, images(nb, a, params), len(h)) for a, m in written.items()
                  if (h := _history(params, a)) and (s := epoch_seconds(h, m)) is not None]
        compiling = sum((m.get("train_compile_s") or 0.0) + (m.get("eval_compile_s") or 0.0) for m in written.values())
        rest = row["seconds"] - compiling - sum(p.seconds * p.epochs for p in epochs)
        parts += [Part(nb, REST, rest, images(nb, REST, params)), *epochs]
        if compiling:
            parts.append(Part(nb, COMPILE, compiling, 0))
    return parts


def fit(runs: list[list[Part]]) -> dict[tuple[str, str], Line]:
    """(notebook, part) -> its line, from runs at two data sizes or more, for the notebooks every run measured.

    A part measured at one size is a fixed cost (the mean), and so is one that took less time with more images
    (noise in a fixed cost, not a saving per image). Compiling is the longest measured: a later run may find the
    graphs in inductor's on-disk cache, a real run starts cold."""
    common = set.intersection(*({p.notebook for p in run} for run in runs)) if runs else set()
    sizes = {tuple(sorted((p.notebook, p.images) for p in run if p.name == REST and p.notebook in common))
             for run in runs}
    if len(sizes) < 2:
        raise ValueError(f"a fixed cost and a cost per image need runs at two data sizes at least; got {len(runs)} "
                         "run(s) at one size")
    lines = {}
    for key in sorted({(p.notebook, p.name) for run in runs for p in run if p.notebook in common}):
        got = [p for run in runs for p in run if (p.notebook, p.name) == key]
        x, y = np.array([p.images for p in got], float), np.array([p.seconds for p in got], float)
        per_image, fixed = np.polyfit(x, y, 1) if np.ptp(x) > 0 and key[1] != COMPILE else (0.0, y.mean())
        if per_image < 0:
            per_image, fixed = 0.0, y.mean()
        fixed = y.max() if key[1] == COMPILE else fixed
        lines[key] = Line(float(fixed), float(per_image), max(p.epochs for p in got))
    return lines


def record(runs: list[Params], target: Params, lines: dict[tuple[str, str], Line]) -> dict[str, Any]:
    """The runs measured, the fitted lines and the target's seconds, labelled projected (JSON-able)."""
    seconds = project(lines, target)
    measured = [{row["notebook"]: row["seconds"]
                 for row in json.loads((p.run_dir / "timings.json").read_text())["notebooks"]} for p in runs]
    return {
        "kind": "projected", "profile": target.profile, "counts": image_counts(target),
        "num_epochs": target.num_epochs, "seconds": {nb: round(s, 1) for nb, s in seconds.items()},
        "total_s": round(sum(seconds.values()), 1),
        "not_projected": sorted({nb for m in measured for nb in m} - set(seconds)),  # not measured in every run
        "assumes": "every epoch runs (no early stopping); nothing else grows with the data",
        "fit": [{"notebook": nb, "part": part, **asdict(line)} for (nb, part), line in lines.items()],
        "measured": [{"kind": "measured", "run_dir": str(p.run_dir), "counts": image_counts(p),
                      "num_epochs": p.num_epochs, "seconds": m, "total_s": round(sum(m.values()), 1)}
                     for p, m in zip(runs, measured)],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description="Project the series' time per notebook from finished "
                                 "runs of it at two data sizes or more (e.g. two short rehearsals).")
    ap.add_argument("runs", type=Path, nargs="+", help="finished runs: RESULTS_DIR/<profile> with timings.json")
    ap.add_argument("--profile", choices=sorted(config.PROFILES), help="project to this profile (default: the "
                    "runs' own, at its own sizes: rehearsal is Food-101's)")
    ap.add_argument("--out", type=Path, metavar="FILE.json", help="also write the projection as JSON")
    args = ap.parse_args(argv)
    if unfinished := [str(d) for d in args.runs if not (d / "timings.json").is_file()]:
        ap.error(f"no timings.json in {', '.join(unfinished)}: ./run_all.sh writes one as it runs")
    try:
        with cli.usage_errors(PROG):
            runs = [load_run(d) for d in args.runs]
        target = config.resolve(args.profile or runs[0].profile)
        rec = record(runs, target, fit([measure(p) for p in runs]))
    except ValueError as err:
        ap.error(str(err))
    n = rec["counts"]
    print(f"projected for profile {target.profile!r}: {n['fit']:,} training / {n['val']:,} validation / "
          f"{n['test']:,} test images, {target.num_epochs} epochs (fitted on {len(runs)} runs)")
    for nb, s in [*rec["seconds"].items(), ("total", rec["total_s"])]:
        print(f"  {nb:26s} {duration(s):>20s}  projected")
    if rec["not_projected"]:
        print(f"  not projected (not in every run): {', '.join(rec['not_projected'])}")
    if args.out:
        artifacts.write_json(args.out, rec)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
