"""Rows, the table, machine info and timing helpers shared by the benchmark's sections."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from foodlib import runtime

SECTIONS = ("pipeline", "models", "smoke", "tests")
DEFAULT_SECTIONS = "pipeline,models"
MEAN = STD = (0.5, 0.5, 0.5)  # google/vit-base-patch16-224-in21k's processor values
FOOD101_IMAGES = 101_000


@dataclass
class Row:
    section: str
    name: str
    value: float | None
    unit: str
    per_core: float | None = None  # value / CPU cores used, for rates
    ratio: float | None = None  # vs the naive path
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class LiveRows(list):
    """A list of rows that prints each one as it is added, so a run cut short still shows its figures."""

    def append(self, row) -> None:
        super().append(row)
        print(f"  {row.name}: {_fmt(row.value)} {row.unit}" + (f" ({row.ratio:.2f}x naive)" if row.ratio else ""),
              flush=True)

    def __iadd__(self, rows):
        for row in rows:
            self.append(row)
        return self


# -- machine and versions ------------------------------------------------------------------

def _cpu_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    import PIL
    import torch
    import torchvision
    import transformers

    info = {
        "cpu": _cpu_name(),
        "cores": runtime.cpu_cores(),
        "memory_gib": _memory_gib(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
    }
    try:
        from PIL import features

        info["pillow_jpeg"] = "libjpeg-turbo " + str(features.version("libjpeg_turbo"))
    except Exception:  # noqa: BLE001 - informational only
        pass
    return info


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, CPU seconds busy on the whole machine, CPU seconds of this process and its reaped children)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / hz  # all but idle and iowait (guest is inside user)
    t = os.times()
    return time.time(), busy, t.user + t.system + t.children_user + t.children_system


def other_load(before, after) -> float | None:
    """Average CPU cores that other processes kept busy between two snapshots."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / (after[0] - before[0]))


def _workers(requested: int) -> int:
    return runtime.num_workers(requested)


# -- timing helpers ------------------------------------------------------------------------

def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_loader(loader, *, epochs: int, warmup_epochs: int, post: Callable | None = None,
                device: str = "cpu") -> float:
    """Images per second over `epochs` passes, after `warmup_epochs` untimed ones."""
    for _ in range(warmup_epochs):
        for x, _y in loader:
            if post is not None:
                post(x)
    _sync(device)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, _y in loader:
            if post is not None:
                post(x)
            n += len(x)
    _sync(device)
    return n / (time.perf_counter() - t0)


def per_item_ms(fn: Callable, items: list, repeats: int) -> float:
    """Median over `repeats` passes of the mean milliseconds per item of fn(item)."""
    fn(items[0])
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        runs.append((time.perf_counter() - t0) / len(items) * 1000)
    return statistics.median(runs)


def interleaved(measure: dict[str, Callable[[], float]], repeats: int,
                warm: dict[str, Callable[[], Any]] | None = None) -> dict[str, float]:
    """Median of `repeats` calls of each measurement, taken in turns (a, b, c, a, b, c, ...)
    so that a burst of load from elsewhere slows all of them alike and the ratios hold."""
    for fn in (warm or {}).values():
        fn()
    got: dict[str, list[float]] = {name: [] for name in measure}
    for _ in range(max(1, repeats)):
        for name, fn in measure.items():
            got[name].append(fn())
    return {name: statistics.median(v) for name, v in got.items()}


# -- the table -----------------------------------------------------------------------------

def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def format_table(rows: Iterable[Row]) -> str:
    header = ("section", "measurement", "value", "unit", "per core", "vs naive", "note")
    body = [(r.section, r.name, _fmt(r.value), r.unit, _fmt(r.per_core),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    right = {2, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])
