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


def interactive() -> bool:
    """True in a kernel that a person watches live: JupyterLab / Notebook (the kernel's parent is a Jupyter
    server) or Colab. False under papermill, nbclient, pytest or a plain interpreter."""
    if "google.colab" in sys.modules:
        return True
    try:
        from IPython import get_ipython
        import ipywidgets  # noqa: F401  (widgets need it; without it tqdm.auto warns "IProgress not found")
    except ImportError:
        return False
    if get_ipython() is None or getattr(get_ipython(), "kernel", None) is None:
        return False
    try:
        parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "jupyter" in parent and "papermill" not in parent and "nbclient" not in parent
