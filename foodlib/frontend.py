"""What a person sees of a run: whether one watches the kernel live, and progress bars for either case."""
from __future__ import annotations

import os
import sys
import time


def progress(total: int, initial: int = 0, desc: str = "", enabled: bool = True):
    """One progress bar: a widget where a person watches (JupyterLab, Colab); elsewhere (papermill, a script, a
    log) a `FinalLine`, which the finished document shows as one line per bar, with no redrawing trail."""
    if enabled and interactive():
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc)
    return FinalLine(total, initial, desc, enabled)


class FinalLine:
    """tqdm's calls a caller makes (update, set_description, write, close) for a reader of the finished text:
    nothing while it runs, `desc: n/total (p%) in s` when it closes; `write` prints its line at once."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", enabled: bool = True):
        self.total, self.n, self.desc, self.enabled = total, initial, desc, enabled
        self.start, self.closed = time.perf_counter(), False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def write(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        if self.enabled and not self.closed:
            share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
            print(f"{self.desc}: {self.n}/{self.total}{share} in {time.perf_counter() - self.start:.1f} s", flush=True)
        self.closed = True


# A kernel started by one of these writes a document nobody watches while it runs; `BATCH_ENV` set says the same
# (./run_all.sh's runner sets it for its kernels).
BATCH_PARENTS = ("papermill", "nbclient", "nbconvert", "jupyter-execute", "pytest")
BATCH_ENV = "FOODLIB_BATCH"


def interactive() -> bool:
    """True in a kernel that a person watches live (JupyterLab, Notebook, Colab, VS Code). False where the
    notebook runs unattended (`BATCH_ENV` set, or a kernel started by papermill, nbclient, nbconvert
    --execute, jupyter execute or pytest) and outside a kernel."""
    if os.environ.get(BATCH_ENV):
        return False
    if "google.colab" in sys.modules:
        return True
    try:
        import ipywidgets  # noqa: F401  (widgets need it; without it tqdm.auto warns "IProgress not found")
    except ImportError:
        return False
    if not in_kernel():
        return False
    return not any(name in parent_command() for name in BATCH_PARENTS)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a live or an unattended one); False in a plain Python or IPython terminal,
    or where IPython is not installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def parent_command() -> str:
    """The command line of the process that started this one ("" where it cannot be read)."""
    import psutil

    try:
        return " ".join(psutil.Process(os.getppid()).cmdline())
    except (psutil.Error, OSError):
        return ""
