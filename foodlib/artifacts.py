"""Reading and writing the artifacts notebooks hand on.

The contract every notebook and test relies on, under `results/<profile>/`:
`predictions/<name>.parquet` (one row per test image: image_id, label, pred,
top5, probs in the dataset's class order), `metrics/<name>.json` (at least
top1, top5, mean_per_class_recall, n), `tables/<name>.csv` + `.md`. `<name>` is
a registry artifact name (`vit`, `vit_linear`, `clip`, ...). Notebook 05's
disagreement sets are read here too (`read_disagreements`, ...), by notebook 06
and anyone else, so no stage reads another stage's package.

Every write is atomic (written beside the target, then renamed), so a crash
never leaves a half file that a later notebook reads. JSON artifacts carry the
resolved parameters and package versions; other files get a sidecar
`<name>.meta.json` with the same.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from foodlib import registry
from foodlib.config import Params

PREDICTION_COLUMNS = ("image_id", "label", "pred", "top5", "probs")
_PACKAGES = ("torch", "torchvision", "transformers", "datasets", "clip-anytorch", "numpy", "pandas", "pillow")


class MissingArtifactError(FileNotFoundError):
    """An upstream artifact is missing; the message names the notebook to run first."""


def versions() -> dict[str, str]:
    """Python and key package versions, plus the git commit when there is one."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["git_commit"] = git_commit()
    return out


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def provenance(params: Params) -> dict[str, Any]:
    return {
        "params": params.to_dict(),
        "versions": versions(),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def swap_in(tmp: Path, folder: Path) -> None:
    """Replace `folder` by the completely written folder `tmp` (two renames; `settled` covers the gap)."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def settled(folder: Path) -> Path:
    """`folder`, or its `.old` copy when a crash came between the two renames of `swap_in`."""
    old = folder.with_name(folder.name + ".old")
    return old if not folder.exists() and old.exists() else folder


def write_json(path: str | Path, obj: Any) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    return Path(path)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):  # numpy / torch scalars
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def write_meta(path: str | Path, params: Params, **extra: Any) -> Path:
    """Write `<path>.meta.json` with the parameters and versions behind `path`."""
    path = Path(path)
    return write_json(path.with_name(path.name + ".meta.json"), {**provenance(params), **extra})


def write_table(df: pd.DataFrame, name: str, params: Params, float_format: str = "%.4f") -> Path:
    """Write `tables/<name>.csv` and the same table as Markdown beside it (`tables/<name>.md`)."""
    path = params.subdir("tables") / f"{name}.csv"
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    with atomic_path(path.with_suffix(".md")) as tmp:
        tmp.write_text(to_markdown(df, float_format) + "\n")
    write_meta(path, params)
    return path


def remove_table(name: str, params: Params) -> None:
    """Delete what `write_table` writes for `name` (the CSV, its Markdown and its meta file), where present."""
    path = params.subdir("tables") / f"{name}.csv"
    for written in (path, path.with_suffix(".md"), path.with_name(path.name + ".meta.json")):
        written.unlink(missing_ok=True)


def to_markdown(df: pd.DataFrame, float_format: str = "%.4f") -> str:
    """A GitHub Markdown table, without the optional `tabulate` dependency."""
    def cell(v: Any) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return "-"  # a missing value (None, pd.NA, NaN)
        if isinstance(v, float):
            return float_format % v
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def write_predictions(df: pd.DataFrame, name: str, params: Params, num_classes: int) -> Path:
    """Check and write `predictions/<name>.parquet` as the contract asks."""
    check_predictions(df, num_classes)
    path = prediction_path(name, params)
    with atomic_path(path) as tmp:
        df.loc[:, list(PREDICTION_COLUMNS)].to_parquet(tmp, index=False)
    write_meta(path, params, model=name)
    return path


def check_predictions(df: pd.DataFrame, num_classes: int) -> None:
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}")
    if df["image_id"].duplicated().any():
        raise ValueError("predictions have duplicate image_id values")
    bad = df["probs"].map(len) != num_classes
    if bad.any():
        raise ValueError(f"{int(bad.sum())} rows have probs of the wrong length (want {num_classes})")


def prediction_path(name: str, params: Params) -> Path:
    """`predictions/<name>.parquet` (whether or not it exists yet)."""
    return params.subdir("predictions") / f"{name}.parquet"


def read_predictions(name: str, params: Params) -> pd.DataFrame:
    """`predictions/<name>.parquet`; a missing file fails naming its notebook."""
    return pd.read_parquet(require(prediction_path(name, params), name))


def write_metrics(metrics: dict[str, Any], name: str, params: Params) -> Path:
    """Write `metrics/<name>.json`: the metrics (at least top1, top5, mean_per_class_recall, n) and their provenance."""
    for key in ("top1", "top5", "mean_per_class_recall", "n"):
        if key not in metrics:
            raise ValueError(f"metrics for {name!r} lack {key!r}")
    path = params.subdir("metrics") / f"{name}.json"
    return write_json(path, {"model": name, **metrics, **provenance(params)})


def read_metrics(name: str, params: Params, missing_ok: bool = False) -> dict[str, Any]:
    """`metrics/<name>.json`; a missing file fails naming its notebook, or gives {} when `missing_ok`."""
    path = params.subdir("metrics") / f"{name}.json"
    if missing_ok and not path.exists():
        return {}
    return json.loads(require(path, name).read_text())


def require(path: str | Path, producer: str) -> Path:
    """Return `path` if it exists, else fail naming the notebook that writes it.

    `producer` is a registry artifact name (e.g. "vit", "vit_linear") or a notebook name.
    """
    path = Path(path)
    if not path.exists():
        notebook = registry.producer(producer) or producer
        raise MissingArtifactError(
            f"{path} is missing: run notebooks/{notebook}.ipynb first "
            f"(with the same profile and results_dir), e.g. ./run_all.sh --profile <profile> --only {notebook[:2]}"
        )
    return path


# -- notebook 05's disagreement sets, as later notebooks read them ---------------------------
# Over the main models (every registered model): `<a>_only` (a right, every other wrong) and
# `<a>_right_<b>_wrong` (both orders of every pair), each ranked by the right model's confidence.
DISAGREEMENTS_FILE = "disagreements.csv"  # the first num_examples of each set: set, rank, image_id, label,
# pred_<m>, conf_<m> for every main model m
MEMBERS_FILE = "disagreement_members.parquet"  # every member of every set, ranked, plus the ranking key `score`
COUNTS_FILE = "disagreement_counts.csv"  # every set's size (and all_right, all_wrong), empty ones included


def right_model(set_name: str) -> str:
    """The model that is right in a set: 'clip' for clip_only and for clip_right_vit_wrong."""
    return set_name[: -len("_only")] if set_name.endswith("_only") else set_name.split("_right_")[0]


def describe_set(set_name: str, models: list[str] | None = None) -> str:
    """A set's rule in words: 'clip is right and vit is wrong', 'swin is right and vit and clip are wrong'."""
    right = right_model(set_name)
    if set_name.endswith("_only"):
        wrong = [m for m in (models or registry.available()) if m != right]
        return f"{right} is right and {' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong"
    return f"{right} is right and {set_name.split('_right_')[1][:-len('_wrong')]} is wrong"


def read_disagreements(params: Params) -> pd.DataFrame:
    """The examples of each disagreement set that notebook 05 chose to show (DISAGREEMENTS_FILE)."""
    path = require(params.subdir("tables") / DISAGREEMENTS_FILE, "05_comparison")
    return pd.read_csv(path, dtype={"image_id": str, "set": str})


def read_disagreement_members(params: Params) -> pd.DataFrame:
    """Every member of every disagreement set, ranked (the full list behind DISAGREEMENTS_FILE)."""
    return pd.read_parquet(require(params.subdir("tables") / MEMBERS_FILE, "05_comparison"))


def read_disagreement_sizes(params: Params) -> dict[str, int]:
    """Every disagreement set's size, in 05's order, empty sets included (not all_right / all_wrong)."""
    counts = pd.read_csv(require(params.subdir("tables") / COUNTS_FILE, "05_comparison"))
    return {r.set: int(r.count) for r in counts.itertuples() if r.kind != "all"}
