"""Rows, the table, the machine and versions, and the timing helpers the benchmark's sections share."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from foodlib import runtime

MEAN = STD = (0.5, 0.5, 0.5)  # google/vit-base-patch16-224-in21k's processor values


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


def machine_info() -> dict[str, Any]:
    """The CPU, cores, memory, GPU and the versions that set the figures."""
    import PIL
    import torch
    import torchvision
    import transformers
    from PIL import features

    cpuinfo = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if ln.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor() or platform.machine(),
        "cores": runtime.cpu_cores(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
        "transformers": transformers.__version__, "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"), "platform": platform.platform(),
    }


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, CPU seconds busy on the whole machine, CPU seconds of this process and its reaped children)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    t = os.times()
    return time.time(), busy, t.user + t.system + t.children_user + t.children_system


def other_load(before, after) -> float | None:
    """Average CPU cores that other processes kept busy between two snapshots."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / (after[0] - before[0]))


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so that a clock read after it counts it."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_loader(loader, *, epochs: int) -> float:
    """Images per second over `epochs` passes of a DataLoader."""
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, _y in loader:
            n += len(x)
    return n / (time.perf_counter() - t0)


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


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def format_table(rows: Iterable[Row]) -> str:
    """The rows as an aligned text table."""
    header = ("section", "measurement", "value", "unit", "per core", "vs naive", "note")
    body = [(r.section, r.name, _fmt(r.value), r.unit, _fmt(r.per_core),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in (2, 4, 5) else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])
