"""The runner measures every notebook: time, peak host (and GPU) memory, disk written under the cache."""
import json
import subprocess
import sys

import nbformat
import pytest

from foodlib import config, runtime
from foodlib.run import footprint, runner

MIB = 2**20


def _notebook(path, source: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


HOG = """
from pathlib import Path
from foodlib import runtime
runtime.report_peaks_at_exit()
hog = bytearray({mib} * 2**20)
for i in range(0, len(hog), 4096):  # touch every page so it is resident
    hog[i] = 1
cache = Path({cache!r})
cache.mkdir(parents=True, exist_ok=True)
(cache / "blob.bin").write_bytes(b"x" * {size})
"""


def test_runner_writes_timings_per_notebook(tmp_path):
    params = config.resolve("smoke", results_dir=str(tmp_path / "results"))
    size = 1_234_567
    big = _notebook(tmp_path / "01_big.ipynb", HOG.format(mib=400, cache=str(params.cache_dir / "a"), size=size))
    small = _notebook(tmp_path / "02_small.ipynb", HOG.format(mib=1, cache=str(params.cache_dir / "b"), size=10))
    overrides = {"profile": "smoke", "results_dir": params.results_dir}
    assert [r.status for r in runner.run([big, small], overrides, params)] == ["ok", "ok"]

    saved = json.loads((params.run_dir / "timings.json").read_text())
    assert saved["profile"] == "smoke" and saved["params_overrides"] == {"results_dir": params.results_dir}
    assert saved["device"] == "cpu" and saved["gpu"] is None
    assert {"torch", "transformers"} <= set(saved["versions"]) and saved["params"]["profile"] == "smoke"
    first, second = saved["notebooks"]
    assert [first["notebook"], second["notebook"]] == ["01_big", "02_small"]
    assert saved["total_s"] == pytest.approx(first["seconds"] + second["seconds"], abs=0.11)
    assert first["seconds"] > 0 and second["seconds"] > 0
    # The 400 MiB buffer and the kernel itself (python + foodlib: tens of MiB), within a sane bound.
    assert 400 * MIB < first["peak_host_bytes"] < 2048 * MIB
    # Per notebook, not the runner's lifetime maximum (which RUSAGE_CHILDREN would give).
    assert 0 < second["peak_host_bytes"] < first["peak_host_bytes"] - 300 * MIB
    assert first["peak_gpu_bytes"] is None and second["peak_gpu_bytes"] is None  # no torch in these kernels
    assert first["cache_disk_bytes"] == size and second["cache_disk_bytes"] == 10


@pytest.mark.parametrize("name, source, message", [
    ("01_bad", "raise ValueError('broken on purpose')", "broken on purpose"),
    # a kernel killed (as for lack of memory) stops the run with one message, as a failing cell does
    ("01_dies", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
     r"FAILED: notebooks/01_dies.ipynb: the kernel died"),
], ids=["a cell fails", "the kernel dies"])
def test_a_failed_notebook_is_named_recorded_and_the_table_printed(tmp_path, capsys, name, source, message):
    params = config.resolve("smoke", results_dir=str(tmp_path / "results"))
    notebook = _notebook(tmp_path / f"{name}.ipynb", source)
    with pytest.raises(SystemExit, match=message):
        runner.run([notebook], {"profile": "smoke"}, params)
    saved = json.loads((params.run_dir / "timings.json").read_text())
    assert [(r["notebook"], r["status"]) for r in saved["notebooks"]] == [(name, "FAILED")]
    assert saved["params_overrides"] == {}
    assert name in capsys.readouterr().out


def test_kernel_reports_its_peaks_at_exit(tmp_path):
    """The hook runtime.setup installs: at exit the process writes its peak RSS (and GPU peak, None without torch)."""
    path = tmp_path / "peaks.json"
    code = ("from foodlib import runtime\nruntime.report_peaks_at_exit()\nruntime.report_peaks_at_exit()\n"
            "x = bytearray(200 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**__import__("os").environ,
                                                                   runtime.PEAK_FILE_ENV: str(path)})
    peaks = json.loads(path.read_text())
    assert 200 * MIB < peaks["host_peak_rss_bytes"] < 1024 * MIB
    assert peaks["gpu_peak_allocated_bytes"] is None and peaks["gpu_peak_reserved_bytes"] is None
    assert peaks["gpu_name"] is None
    assert not list(tmp_path.glob("*.tmp"))


def test_no_peak_file_without_the_runner(monkeypatch):
    import atexit

    monkeypatch.delenv(runtime.PEAK_FILE_ENV, raising=False)
    registered = []
    monkeypatch.setattr(atexit, "register", lambda *a: registered.append(a))
    runtime.report_peaks_at_exit()
    assert registered == []


def test_closing_table_has_one_line_per_notebook_and_a_total():
    records = [footprint.Footprint("01_data_prep", "ok", 12.0, 3 * 2**30, None, None, 2**29),
               footprint.Footprint("02_vit_finetune", "FAILED", 30.5, 5 * 2**30, 2**31, 2**31, -(2**20))]
    lines = footprint.format_table(records).splitlines()
    assert lines[0].split() == ["notebook", "status", "time", "(s)", "peak", "host", "GiB", "peak", "GPU", "GiB",
                                "cache", "disk", "+GiB"]
    assert lines[1].split() == ["01_data_prep", "ok", "12.0", "3.00", "-", "+0.500"]
    assert lines[2].split() == ["02_vit_finetune", "FAILED", "30.5", "5.00", "2.00", "-0.001"]
    assert lines[3].split() == ["total", "42.5", "5.00", "2.00", "+0.499"]


def test_dir_bytes_counts_files_and_missing_is_zero(tmp_path):
    assert footprint.dir_bytes(tmp_path / "nope") == 0
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"1" * 1000)
    (tmp_path / "y.bin").write_bytes(b"1" * 24)
    assert footprint.dir_bytes(tmp_path) == 1024


SPAWNS = """
import subprocess, sys, time
from foodlib import runtime
runtime.report_peaks_at_exit()
hold = "b = bytearray(250 * 2**20); b[::4096] = b'1' * len(b[::4096]); import time; time.sleep(4)"
child = subprocess.Popen([sys.executable, "-c", hold])  # e.g. a DataLoader worker: the notebook's own
time.sleep(3)
child.wait()
"""


def test_a_notebook_is_measured_with_its_kernels_children_and_nothing_else(tmp_path):
    """The peak is the kernel's process tree: a process the kernel starts (a DataLoader worker) counts; one the
    caller started beside it (a server, another run) does not."""
    params = config.resolve("smoke", results_dir=str(tmp_path / "results"))
    hold = "b = bytearray(300 * 2**20); b[::4096] = b'1' * len(b[::4096]); import time; time.sleep(60)"
    beside = subprocess.Popen([sys.executable, "-c", hold])
    try:
        spawns = _notebook(tmp_path / "01_spawns.ipynb", SPAWNS)
        (record,) = runner.run([spawns], {"profile": "smoke"}, params)
    finally:
        beside.kill()
        beside.wait()
    assert record.status == "ok"
    assert 250 * MIB < record.peak_host_bytes < 550 * MIB  # the child's 250 MiB and the kernel, not the 300 MiB
