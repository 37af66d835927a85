"""Reading and writing the artifacts notebooks hand on (see DESIGN.md's contract).

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


def write_table(df: pd.DataFrame, path: str | Path, params: Params, float_format: str = "%.4f") -> Path:
    """Write `path` (.csv) and the same table as Markdown beside it."""
    path = Path(path).with_suffix(".csv")
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    with atomic_path(path.with_suffix(".md")) as tmp:
        tmp.write_text(to_markdown(df, float_format) + "\n")
    write_meta(path, params)
    return path


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


MAX_FIGURE_BYTES = 300_000  # a committed figure stays light in the repository and quick to open
MIN_FIGURE_DPI = 80  # below this, 8 pt labels fall under 9 px and stop being legible


def save_figure(fig: Any, path: str | Path, params: Params, dpi: int = 130,
                max_bytes: int = MAX_FIGURE_BYTES, show: bool = True) -> None:
    """Write `fig` as a PNG of at most `max_bytes`: lossless, lowering the dpi when needed (not below
    MIN_FIGURE_DPI); a figure that cannot fit losslessly even then (many real photos) is written with a
    256-colour dithered palette, again at the highest dpi that fits, and at MIN_FIGURE_DPI if none does.

    The dpi used, whether the palette was reduced and the size are recorded in the sidecar meta file.
    In a notebook (with `show`), the saved file itself is displayed and the figure closed, so the executed
    notebook carries the same compact PNG rather than a larger inline copy; `show=False` leaves the figure
    to the caller. Returns nothing: a notebook cell ending in this call shows no path.
    """
    path = Path(path).with_suffix(".png")
    reduced = False
    used, data = _fitted(fig, dpi, max_bytes, png_bytes)
    if len(data) > max_bytes:
        reduced = True
        used, data = _fitted(fig, dpi, max_bytes, png_256_colours)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    write_meta(path, params, dpi=used, png_bytes=len(data), colours_reduced=reduced)
    if show and _in_kernel():
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        plt.close(fig)
        display(Image(data=data, format="png"))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _fitted(fig: Any, dpi: int, max_bytes: int, render) -> tuple[int, bytes]:
    """(dpi, `render(fig, dpi)`) at the highest dpi from `dpi` down to MIN_FIGURE_DPI whose PNG fits `max_bytes`."""
    used = dpi
    data = render(fig, used)
    while len(data) > max_bytes and used > MIN_FIGURE_DPI:
        # Bytes grow with the pixel count, i.e. with dpi**2; 0.95 leaves room for the estimate's error.
        used = max(MIN_FIGURE_DPI, int(used * (max_bytes / len(data)) ** 0.5 * 0.95))
        data = render(fig, used)
    return used, data


def png_256_colours(fig: Any, dpi: int) -> bytes:
    """`fig` as a palette PNG of 256 colours (median cut, Floyd-Steinberg dithering): lossy, about a third
    of the lossless size for photos with map overlays, and hard to tell apart from it at screen size."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    img = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                                   dither=Image.Dither.FLOYDSTEINBERG)
    out = io.BytesIO()
    img.save(out, format="png", optimize=True)
    return out.getvalue()


def png_bytes(fig: Any, dpi: int) -> bytes:
    """`fig` rendered as PNG, compacted losslessly: RGB when opaque, a palette when it has at most 256 colours."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    rgba = np.asarray(Image.open(buf).convert("RGBA"))
    if (rgba[..., 3] != 255).any():
        return buf.getvalue()  # transparency: keep matplotlib's own file
    rgb = rgba[..., :3]
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, index = np.unique(packed.ravel(), return_inverse=True)
    if len(colours) <= 256:  # every colour kept exactly: a palette image is the same picture
        img = Image.fromarray(index.reshape(packed.shape).astype(np.uint8))  # "L"; putpalette makes it "P"
        img.putpalette(np.stack([colours >> 16, colours >> 8 & 255, colours & 255], 1).astype(np.uint8).ravel())
    else:
        img = Image.fromarray(np.ascontiguousarray(rgb))
    out = io.BytesIO()
    img.save(out, format="png", optimize=True)
    return min(out.getvalue(), buf.getvalue(), key=len)


def write_predictions(df: pd.DataFrame, model: str, params: Params, num_classes: int) -> Path:
    """Check and write `predictions/<model>.parquet` as the contract asks."""
    check_predictions(df, num_classes)
    path = params.subdir("predictions") / f"{model}.parquet"
    with atomic_path(path) as tmp:
        df.loc[:, list(PREDICTION_COLUMNS)].to_parquet(tmp, index=False)
    write_meta(path, params, model=model)
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


def read_predictions(params: Params, model: str) -> pd.DataFrame:
    return pd.read_parquet(require(params.subdir("predictions") / f"{model}.parquet", model))


def write_metrics(params: Params, model: str, metrics: dict[str, Any]) -> Path:
    for key in ("top1", "top5", "mean_per_class_recall", "n"):
        if key not in metrics:
            raise ValueError(f"metrics for {model!r} lack {key!r}")
    path = params.subdir("metrics") / f"{model}.json"
    return write_json(path, {"model": model, **metrics, **provenance(params)})


def read_metrics(params: Params, model: str, missing_ok: bool = False) -> dict[str, Any]:
    """`metrics/<model>.json`; a missing file fails naming its notebook, or gives {} when `missing_ok`."""
    path = params.subdir("metrics") / f"{model}.json"
    if missing_ok and not path.exists():
        return {}
    return json.loads(require(path, model).read_text())


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
