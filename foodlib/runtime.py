"""The one explicit set-up call each notebook makes after its parameters cell.

Nothing here runs on import: seeds, determinism, plot style and offline flags
are set by `setup(params)`.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from foodlib import frontend, paths
from foodlib.config import Params

OFFLINE_PROFILES = {"smoke", "rehearsal"}  # rehearsal: models built from configs, data generated
# Set by the runner (foodlib.run.footprint) for each notebook it executes: where the kernel writes its peaks at exit.
PEAK_FILE_ENV = "FOODLIB_PEAK_FILE"


@dataclass(frozen=True)
class Setup:
    """What `setup` decided: the device every later call of the notebook is given."""

    profile: str
    device: str  # "cpu" or "cuda": `params.device` resolved ("auto" -> cuda when a GPU is visible)
    run_dir: str


def setup(params: Params) -> Setup:
    """Seed everything, pick the device, style plots, show the settings in use; return what was decided."""
    if params.profile in OFFLINE_PROFILES:
        # Read by huggingface_hub / datasets at import time: set before they load.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    seed_everything(params.seed)
    style_plots()
    for sub in ("figures", "tables", "metrics", "predictions", "data"):
        params.subdir(sub).mkdir(parents=True, exist_ok=True)
    device = resolve_device(params.device)
    report_peaks_at_exit()
    show_settings(params, device)
    return Setup(params.profile, device, paths.shown(params.run_dir))


def show_settings(params: Params, device: str) -> None:
    """In a notebook, a small table of the settings this run uses (papermill's cell shows only None)."""
    if not frontend.in_kernel():
        return
    import pandas as pd
    from IPython.display import display

    dtype = autocast_dtype(params.mixed_precision, device)
    resolved = {"device": device, "mixed_precision": str(dtype).replace("torch.", "") if dtype else "no"}
    if params.num_workers < 0:
        resolved["num_workers"] = num_workers(params.num_workers)
    if params.compile == "auto" and "compile" in dict(params.notebook_knobs):  # 02-04 only
        from foodlib import compiling  # here: it imports torch, which the runner need not load

        resolved["compile"] = "on" if compiling.enabled(params.compile, params.profile, device) else "off"
    rows = settings(params, resolved)
    display(pd.DataFrame(rows, columns=["setting", "value", "from"]).set_index("setting")
            .style.set_caption("Settings of this run"))


def settings(params: Params, resolved: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(setting, value, where it comes from) for the notebook's knobs, after the profile and overrides.

    `resolved` maps a setting to what "auto" became on this machine (device, precision, workers).
    """
    knobs = dict(params.notebook_knobs)  # set by config.from_notebook
    names = ["profile", "data_source", "model_source"] + [n for n in knobs if n not in ("profile",)]
    names += [n for n in (resolved or {}) if n not in names]
    rows = []
    for name in dict.fromkeys(names):
        value = getattr(params, name)
        shown = "(default)" if value == "" else repr(value) if isinstance(value, str) else str(value)
        if resolved and name in resolved and str(resolved[name]) != str(value):
            shown = f"{shown} -> {resolved[name]}"
        origin = "profile" if name == "profile" else "parameter" if knobs.get(name) else f"profile {params.profile}"
        rows.append((name, shown, origin))
    return rows


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(False)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def style_plots() -> None:
    import matplotlib as mpl

    _inline_in_notebooks()
    mpl.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 130,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "image.cmap": "viridis",
    })


def _inline_in_notebooks() -> None:
    """Show figures inside notebooks even when MPLBACKEND=Agg (papermill runs), so executed copies keep them."""
    if frontend.in_kernel():
        from IPython import get_ipython

        get_ipython().run_line_magic("matplotlib", "inline")


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no GPU; use device='cpu' or profile smoke")
    return device


def autocast_dtype(mixed_precision: str, device: str):
    """The autocast dtype for `mixed_precision` on `device`, or None for full precision."""
    import torch

    if device != "cuda" or mixed_precision == "no":
        return None
    if mixed_precision == "auto":  # bf16 where the GPU computes in it (Ampere on), fp16 on older ones (a T4)
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mixed_precision]


def autocast(device: str, dtype):
    """Mixed-precision context for training, scoring and CLIP alike; a no-op when `dtype` is None."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Run torch on at most `n` intra-op threads inside the block.

    Tiny models gain little from a second thread, and when other processes
    share the cores, threads waiting for each other at every op made them
    5-20x slower (measured on the 2-core test machine).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as taskset or a container sets it; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def num_workers(requested: int) -> int:
    """DataLoader workers: -1 means one per available CPU core, at most 16 (8 starved ViT-B/16 training on an H100, benchmarks.md)."""
    if requested >= 0:
        return requested
    return max(0, min(16, cpu_cores()))


def report_peaks_at_exit() -> None:
    """When the runner asks (FOODLIB_PEAK_FILE is set), write this process's `peaks()` there as it exits."""
    path = os.environ.get(PEAK_FILE_ENV)
    if not path:
        return
    atexit.unregister(write_peaks)  # once per process, however often a notebook runs its set-up cell
    atexit.register(write_peaks, path)


def peaks() -> dict[str, int | str | None]:
    """This process's peak resident memory and torch's peak GPU memory in bytes, and the GPU's name.

    GPU figures are None without a GPU, 0 when this process never used it.
    """
    host = _peak_rss()
    torch = sys.modules.get("torch")  # read only if the notebook imported it: never import torch at exit
    allocated = reserved = name = None
    if torch is not None and torch.cuda.is_available():
        allocated = reserved = 0
        if torch.cuda.is_initialized():  # the largest per-GPU peak: what has to fit on one card
            allocated = max(torch.cuda.max_memory_allocated(d) for d in range(torch.cuda.device_count()))
            reserved = max(torch.cuda.max_memory_reserved(d) for d in range(torch.cuda.device_count()))
            name = torch.cuda.get_device_name()
    return {"host_peak_rss_bytes": host, "gpu_peak_allocated_bytes": allocated, "gpu_peak_reserved_bytes": reserved,
            "gpu_name": name}


def _peak_rss() -> int:
    """Peak resident bytes of this process since it started.

    Linux: VmHWM. Not getrusage's ru_maxrss, which keeps the parent's peak across fork + exec: a kernel
    started by a runner holding 800 MB reported 800 MB for a notebook that used 120 (measured).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    import resource

    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def write_peaks(path: str) -> None:
    """Write `peaks()` to `path` as JSON (whole or not at all: the runner may read it at any moment)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(peaks(), fh)
    os.replace(tmp, path)
