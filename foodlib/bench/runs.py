"""Sections `smoke` and `tests`: wall time of `./run_all.sh --profile smoke` and of the test suite, as subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from foodlib import paths
from foodlib.bench.common import Row
from foodlib.run import runner

OFFLINE = {**runner.OFFLINE_ENV, "MPLBACKEND": "Agg", "FOODLIB_PYTHON": sys.executable}


def _timed(section: str, name: str, cmd: list[str], log: Path, target_s: int) -> list[Row]:
    """One row: the seconds `cmd` took from the project root, its status and its output's last line."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=paths.project_root(), env={**os.environ, **OFFLINE}, stdout=fh,
                             stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    last = ([ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] or [""])[-1]
    return [Row(section, name, seconds, "s", note=f"{'ok' if rc == 0 else f'FAILED rc={rc}'}; {last}",
                extra={"rc": rc, "target_s": target_s})]


def smoke_section(args, workdir: Path) -> list[Row]:
    return _timed("smoke", "smoke rebuild: ./run_all.sh --profile smoke",
                  ["./run_all.sh", "--profile", "smoke", "-p", "results_dir", str(workdir / "smoke")],
                  workdir / "smoke.log", target_s=300)


def tests_section(args, workdir: Path) -> list[Row]:
    return _timed("tests", "test suite: python -m pytest -q", [sys.executable, "-m", "pytest", "-q", "-p",
                  "no:cacheprovider"], workdir / "tests.log", target_s=600)
