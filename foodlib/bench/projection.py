"""Project the series' wall time to another data size: per notebook, a fixed cost plus a cost per image.

Two runs of the series at different data sizes (their `timings.json` and metrics) give, for each
part of each notebook, `seconds = fixed + per_image * images` exactly; `project` applies that line to
the image counts and epochs of other parameters (Food-101's real size, the full profile's epochs).

The parts, and the images each scales with (`counts`):
- 02 / 03: each trained variant's epochs (the fine-tune and the linear probe; per epoch the steps, the
  validation pass and the checkpoints, compile excluded, read off the history after the first epoch:
  `epoch_seconds`) scale with fit + val images and repeat `num_epochs` / `linear_probe_epochs` times;
  the rest of the notebook (start-up, the first epoch's one-off costs, the eval cache, scoring the test
  split) scales with val + test images. Runs of two epochs or more are needed for the first epoch's
  one-off costs to be told apart: a run of one epoch counts them in every epoch.
- 01: every file; 04, 05: the test split; 06: the test images its deletion test reads
  (`min(attention_images, test)`); 07: none (a fixed cost).
A part whose count is the same in both runs is a fixed cost (the mean of the two), and so is one that
took less time with more images (a fixed cost's noise between the runs, not a negative cost per image). Compiling is a
part of its own, as the metrics report it, and a fixed cost taken from the run that compiled longest:
a second run can find the first one's graphs in inductor's on-disk cache, a real run starts cold. The projection
assumes every epoch runs (early stopping can only end sooner) and that nothing else grows with the
data: it is labelled `projected`, never mixed with measured rows.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from foodlib import registry
from foodlib.config import Params
from foodlib.run.runner import SERIES

PROJECTED = "projected"
REST = "rest"  # the part of a notebook that is neither a training epoch nor compiling
COMPILE = "compile"  # torch.compile's seconds (metrics' train_compile_s + eval_compile_s): a one-off cost
FOOD101 = {"classes": 101, "train_per_class": 750, "test_per_class": 250}  # the official split


@dataclass(frozen=True)
class Part:
    """One measured piece of a notebook: `seconds` each time it runs, over `images` images."""

    notebook: str
    part: str  # REST, or the artifact name of a trained variant ("vit", "vit_linear": one epoch of it)
    seconds: float
    images: int


@dataclass(frozen=True)
class Line:
    """seconds = fixed + per_image * images, fitted over `sizes` (the images each run had)."""

    fixed: float
    per_image: float
    sizes: tuple[int, ...]

    def at(self, images: int) -> float:
        return self.fixed + self.per_image * images


def counts(params: Params) -> dict[str, int]:
    """Images per split as foodlib.data holds them out (each class: max(1, round(val_fraction * train)) to val)."""
    if params.data_source == "synthetic":
        classes, train_pc, test_pc = (params.synthetic_classes, params.synthetic_train_per_class,
                                      params.synthetic_test_per_class)
    else:
        classes, train_pc, test_pc = FOOD101["classes"], FOOD101["train_per_class"], FOOD101["test_per_class"]
    if params.subset_per_class > 0:
        train_pc, test_pc = min(train_pc, params.subset_per_class), min(test_pc, max(1, params.subset_per_class // 3))
    val = classes * max(1, int(round(params.val_fraction * train_pc)))
    train, test = classes * train_pc, classes * test_pc
    return {"fit": train - val, "val": val, "test": test, "files": train + test}


def part_images(notebook: str, part: str, params: Params) -> int:
    """The images a part of a notebook scales with (see the module's docstring)."""
    n = counts(params)
    if part == COMPILE:
        return 0
    if part != REST:
        return n["fit"] + n["val"]
    by_notebook = {"01": n["files"], "02": n["val"] + n["test"], "03": n["val"] + n["test"], "04": n["test"],
                   "05": n["test"], "06": min(params.attention_images, n["test"]), "07": 0}
    return by_notebook.get(notebook[:2], n["test"])


def part_repeats(part: str, params: Params) -> int:
    """How often a part runs: once, or once per epoch of its variant."""
    if part in (REST, COMPILE):
        return 1
    return params.linear_probe_epochs if part.endswith("_linear") else params.num_epochs


def _metrics(params: Params, notebook: str) -> dict[str, dict[str, Any]]:
    """artifact -> its metrics JSON, for the artifacts this notebook wrote."""
    out = {}
    for artifact in registry.artifact_names():
        path = params.subdir("metrics") / f"{artifact}.json"
        if registry.producer(artifact) == notebook and path.exists():
            out[artifact] = json.loads(path.read_text())
    return out


def _history(params: Params, artifact: str) -> list[dict[str, Any]]:
    """The rows of `tables/<artifact>_history.csv` (epoch, ..., elapsed_s, compile_s), [] if none."""
    path = params.subdir("tables") / f"{artifact}_history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def epoch_seconds(history: list[dict[str, Any]], metrics: dict[str, Any]) -> float | None:
    """Seconds per training epoch of one trained variant, compile excluded; None if it was not trained.

    From the history when it has two epochs or more: the time from one epoch's validation to the next
    (that validation, the checkpoints, the next epoch's steps) averaged over the epochs after the first, so
    that the first epoch's one-off costs (the loader's start, warm-up, the first checkpoint) stay out of a
    cost the projection multiplies by the epochs; `measure` counts them with the fixed costs. With one
    epoch only, `train_wall_time_s / epochs_run` (the one-off costs included)."""
    if metrics.get("train_wall_time_s") is None or not metrics.get("epochs_run"):
        return None
    compiled = metrics.get("train_compile_s") is not None  # None: not compiled, nothing to take out
    if len(history) >= 2 and (not compiled or all(row.get("compile_s") not in (None, "") for row in history)):
        def net(row):
            return float(row["elapsed_s"]) - (float(row["compile_s"]) if compiled else 0.0)
        return (net(history[-1]) - net(history[0])) / (len(history) - 1)
    return metrics["train_wall_time_s"] / metrics["epochs_run"]


def _compile_seconds(written: dict[str, dict[str, Any]]) -> float:
    return sum((m.get("train_compile_s") or 0.0) + (m.get("eval_compile_s") or 0.0) for m in written.values())


def timings_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Each notebook's row of a run: timings.json, and `timings_NN.json` copies that a run made one notebook
    at a time (`run_all.sh --only NN`, which rewrites timings.json) left beside it; the latest row per notebook."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(run_dir.glob("timings_[0-9][0-9].json")) + [run_dir / "timings.json"]:
        if path.exists():
            rows.update({r["notebook"]: r for r in json.loads(path.read_text())["notebooks"]})
    return [rows[nb] for nb in sorted(rows)]


def measure(params: Params) -> list[Part]:
    """The parts of one run of the series at `params` (its timings, and its metrics for 02 / 03)."""
    parts = []
    for row in timings_rows(params.run_dir):
        if row["status"] != "ok":
            raise ValueError(f"{params.run_dir}: {row['notebook']} did not finish ({row['status']})")
        nb = row["notebook"]
        written = _metrics(params, nb)
        epochs = {a: e for a, m in written.items() if (e := epoch_seconds(_history(params, a), m)) is not None}
        compiling = _compile_seconds(written)
        rest = row["seconds"] - compiling - sum(s * part_repeats(a, params) for a, s in epochs.items())
        parts.append(Part(nb, REST, rest, part_images(nb, REST, params)))
        if compiling:
            parts.append(Part(nb, COMPILE, compiling, 0))
        parts += [Part(nb, a, s, part_images(nb, a, params)) for a, s in epochs.items()]
    return parts


def fit(runs: list[list[Part]]) -> dict[tuple[str, str], Line]:
    """(notebook, part) -> its line, from two or more runs of which at least two differ in data size; only the
    notebooks that every run measured."""
    common = set.intersection(*({p.notebook for p in run} for run in runs)) if runs else set()
    sizes = {tuple(sorted((p.notebook, p.images) for p in run if p.part == REST and p.notebook in common))
             for run in runs}
    if len(sizes) < 2:
        raise ValueError("a fixed cost and a cost per image need runs at two data sizes at least; "
                         f"got {len(runs)} run(s) at one size")
    lines = {}
    keys = sorted({(p.notebook, p.part) for run in runs for p in run if p.notebook in common})
    for key in keys:
        got = [p for run in runs for p in run if (p.notebook, p.part) == key]
        x = np.array([p.images for p in got], dtype=float)
        y = np.array([p.seconds for p in got], dtype=float)
        if key[1] == COMPILE:  # cold, as a real run starts
            lines[key] = Line(float(y.max()), 0.0, tuple(int(v) for v in x))
        elif len(got) < 2 or np.ptp(x) == 0:  # the same images every time: a fixed cost
            lines[key] = Line(float(y.mean()), 0.0, tuple(int(v) for v in x))
        else:
            per_image, fixed = np.polyfit(x, y, 1)
            if per_image < 0:  # more images took less time: noise in a fixed cost, not a saving per image
                per_image, fixed = 0.0, y.mean()
            lines[key] = Line(float(fixed), float(per_image), tuple(int(v) for v in x))
    return lines


def fit_rows(lines: dict[tuple[str, str], Line]) -> list[dict[str, Any]]:
    """The fitted lines as JSON-able rows (notebook, part, fixed, per_image, sizes)."""
    return [{"notebook": nb, "part": part, **asdict(line)} for (nb, part), line in lines.items()]


def project(lines: dict[tuple[str, str], Line], params: Params) -> dict[str, float]:
    """Projected seconds per notebook at `params`' image counts and epochs."""
    out: dict[str, float] = {}
    for (nb, part), line in lines.items():
        out[nb] = out.get(nb, 0.0) + part_repeats(part, params) * line.at(part_images(nb, part, params))
    return {nb: max(0.0, s) for nb, s in sorted(out.items())}


def measured_seconds(params: Params) -> dict[str, float]:
    """Measured seconds per notebook of one run (its timings.json)."""
    return {row["notebook"]: row["seconds"] for row in timings_rows(params.run_dir)}


def record(fitted: list[Params], target: Params, lines: dict[tuple[str, str], Line]) -> dict[str, Any]:
    """The projection as a JSON-able record: the runs it was fitted on (measured), the lines, and the
    target's seconds per notebook and in all, labelled projected."""
    notebooks = project(lines, target)
    return {
        "kind": PROJECTED,
        "measured": [{"kind": "measured", "counts": counts(p), "num_epochs": p.num_epochs,
                      "linear_probe_epochs": p.linear_probe_epochs, "seconds": measured_seconds(p),
                      "total_s": round(sum(measured_seconds(p).values()), 1)} for p in fitted],
        "fit": fit_rows(lines),
        "projected": {"kind": PROJECTED, "profile": target.profile, "counts": counts(target),
                      "num_epochs": target.num_epochs, "linear_probe_epochs": target.linear_probe_epochs,
                      "attention_images": target.attention_images,
                      "seconds": {nb: round(s, 1) for nb, s in notebooks.items()},
                      "total_s": round(sum(notebooks.values()), 1),
                      "not_projected": [nb for nb in SERIES if nb not in notebooks],  # not measured in every run
                      "assumes": "every epoch runs (no early stopping); nothing else grows with the data"},
    }


def compare(projected: dict[str, float], measured: dict[str, float]) -> dict[str, dict[str, float]]:
    """notebook -> projected, measured and their relative error (projected / measured - 1)."""
    return {nb: {"projected": round(projected[nb], 1), "measured": round(measured[nb], 1),
                 "error": round(projected[nb] / measured[nb] - 1, 3)} for nb in measured}


def load_run(run_dir: str | Path) -> Params:
    """The parameters a run was made with, from its timings.json (they sit beside every artifact)."""
    from foodlib import config

    timings = json.loads((Path(run_dir) / "timings.json").read_text())
    resolved = {k: v for k, v in timings["params"].items() if k != "profile"}
    resolved["results_dir"] = str(Path(run_dir).resolve().parent)
    return config.resolve(timings["params"]["profile"], **resolved)
