"""What each notebook costs: wall time, peak host and GPU memory, disk written under the run's cache.

The runner wraps each notebook it executes in `measure`, prints `format_table`
and writes `results/<profile>/timings.json` with `write_timings`; that is what a
rehearsal run is for (to learn the real run's time, memory and disk before spending them).

Host memory: the runner starts each notebook's kernel itself (`kernel_manager`) and
hands it to papermill, so it knows the kernel's process. getrusage(RUSAGE_CHILDREN)
would give the largest single child over the runner's whole life: neither per
notebook nor summed over the kernel's DataLoader workers (and a child's own
ru_maxrss starts from its parent's peak, carried across fork + exec). So a
thread samples the memory of the kernel's process tree (the kernel and everything
it started) every `interval` seconds (proportional set size, so pages forked
workers share count once), and the kernel reports its own peak RSS (VmHWM) at exit
(`runtime.report_peaks_at_exit`); the figure is the larger of the two. GPU: torch's
max_memory_allocated, reported by the kernel at exit; None without a GPU.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from foodlib import artifacts
from foodlib.config import Params
from foodlib.runtime import PEAK_FILE_ENV

GIB = 2**30


@dataclass
class Footprint:
    """One notebook's cost; bytes are None where nothing was measured."""

    notebook: str
    status: str = "running"  # ok | FAILED
    seconds: float = 0.0
    peak_host_bytes: int | None = None  # the kernel's process tree: summed PSS, or the kernel's VmHWM if larger
    peak_gpu_bytes: int | None = None  # torch.cuda.max_memory_allocated; None without a GPU
    peak_gpu_reserved_bytes: int | None = None  # what torch's caching allocator held (nvidia-smi's view)
    cache_disk_bytes: int = 0  # growth of <run_dir>/cache (negative if the notebook freed space)
    gpu_name: str | None = None  # as the kernel saw it


def _resident(process) -> int:
    import psutil

    try:
        return process.memory_full_info().pss  # reads /proc/<pid>/smaps_rollup
    except (AttributeError, OSError, psutil.AccessDenied):  # no pss here, or not readable
        return process.memory_info().rss


def tree_rss(pid: int) -> int:
    """Bytes resident in process `pid` and all its descendants, summed (0 once it has ended).

    Proportional set size where the system reports it (Linux): a page that forked DataLoader workers
    share with the kernel counts once in the sum, not once per process. Plain RSS elsewhere."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += _resident(process)
        except psutil.Error:  # it ended between the listing and the read
            pass
    return total


class PeakSampler:
    """Samples `tree_rss` of a process in a thread while the block runs; `.peak` is the largest sum seen.

    `pid()` names the process: None until it exists (a kernel still starting). 0.5 s between samples:
    listing a process tree costs about 5 ms (measured, 85 processes), about 1% of a core.
    """

    def __init__(self, pid: Callable[[], int | None], interval: float = 0.5):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="foodlib-peak-rss", daemon=True)

    def _loop(self) -> None:
        while True:
            pid = self.pid()
            if pid:
                self.peak = max(self.peak, tree_rss(pid))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def kernel_manager(folder: str | Path):
    """A kernel manager for one notebook: python3 over IPC sockets in `folder` (not TCP on localhost: no port
    another user of the machine could reach, and no warning about an unencrypted one). Give it to papermill
    (`km=`), which then starts the kernel but leaves shutting it down to its owner (`shutdown`)."""
    from jupyter_client.manager import AsyncKernelManager

    return AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(folder) / "kernel"))


def kernel_pid(km) -> int | None:
    """The process id of a kernel manager's kernel, None while it has not started."""
    return getattr(getattr(km, "provisioner", None), "pid", None) if km.has_kernel else None


def shutdown(km) -> None:
    """Stop a kernel started through `kernel_manager` (papermill leaves a kernel it does not own running): asked
    to shut down, as papermill does its own, so that it exits as usual and writes its peaks."""
    from jupyter_core.utils import run_sync

    if km.has_kernel:
        run_sync(km.shutdown_kernel)(now=False)


def dir_bytes(path: str | Path) -> int:
    """Total size of the files under `path` (0 when it does not exist); links are counted, not followed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we walk
                total += os.lstat(os.path.join(root, name)).st_size
    return total


@contextlib.contextmanager
def measure(fp: Footprint, cache_dir: Path, kernel: Callable[[], int | None], interval: float = 0.5
            ) -> Iterator[Footprint]:
    """Measure the block that executes `fp.notebook` in the kernel whose pid `kernel()` gives; `fp` is filled
    in on the way out, even on failure."""
    before = dir_bytes(cache_dir)
    folder = tempfile.mkdtemp(prefix="foodlib-peaks-")
    peak_file = os.path.join(folder, "peaks.json")
    previous = os.environ.get(PEAK_FILE_ENV)
    os.environ[PEAK_FILE_ENV] = peak_file  # the kernel papermill starts inherits it
    t0 = time.perf_counter()
    sampler = PeakSampler(kernel, interval)
    try:
        with sampler:
            yield fp
    finally:
        fp.seconds = round(time.perf_counter() - t0, 1)
        _restore_env(previous)
        peaks = _read_json(peak_file)
        shutil.rmtree(folder, ignore_errors=True)
        fp.peak_host_bytes = max(sampler.peak, peaks.get("host_peak_rss_bytes") or 0) or None
        fp.peak_gpu_bytes = peaks.get("gpu_peak_allocated_bytes")
        fp.peak_gpu_reserved_bytes = peaks.get("gpu_peak_reserved_bytes")
        fp.gpu_name = peaks.get("gpu_name")
        fp.cache_disk_bytes = dir_bytes(cache_dir) - before


def _restore_env(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(PEAK_FILE_ENV, None)
    else:
        os.environ[PEAK_FILE_ENV] = previous


def _read_json(path: str) -> dict[str, Any]:
    """The kernel's report, or {} when it wrote none (it crashed, or never ran runtime.setup)."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def resolved_device(device: str) -> str:
    """The device a run with `device` uses: 'auto' becomes cuda or cpu.

    Only torch.cuda.is_available() here (as preflight does): the runner must not hold a CUDA context and its
    GPU memory while the notebooks measure theirs; the GPU's name comes from the kernels' reports.
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _gib(n: int | None, signed: bool = False) -> str:
    if n is None:
        return "-"
    return f"{n / GIB:+.3f}" if signed else f"{n / GIB:.2f}"


def format_table(records: list[Footprint]) -> str:
    """The closing table: one line per notebook and a total (time and disk summed, memory the largest)."""
    header = ("notebook", "status", "time (s)", "peak host GiB", "peak GPU GiB", "cache disk +GiB")
    hosts = [r.peak_host_bytes for r in records if r.peak_host_bytes is not None]
    gpus = [r.peak_gpu_bytes for r in records if r.peak_gpu_bytes is not None]
    body = [(r.notebook, r.status, f"{r.seconds:.1f}", _gib(r.peak_host_bytes), _gib(r.peak_gpu_bytes),
             _gib(r.cache_disk_bytes, signed=True)) for r in records]
    body.append(("total", "", f"{sum(r.seconds for r in records):.1f}", _gib(max(hosts, default=None)),
                 _gib(max(gpus, default=None)), _gib(sum(r.cache_disk_bytes for r in records), signed=True)))
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), *map(line, body)])


def write_timings(params: Params, records: list[Footprint], overrides: dict[str, Any]) -> Path:
    """`results/<profile>/timings.json`: each notebook's footprint, the total, device, versions, parameters."""
    return artifacts.write_json(params.run_dir / "timings.json", {
        "profile": params.profile,
        "params_overrides": overrides,
        "device": resolved_device(params.device),
        "gpu": next((r.gpu_name for r in records if r.gpu_name), None),
        "notebooks": [asdict(r) for r in records],
        "total_s": round(sum(r.seconds for r in records), 1),
        **artifacts.provenance(params),  # resolved params, versions (torch, transformers, ...), written_at
    })
