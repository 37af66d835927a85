"""Sections `smoke` and `tests`: wall time of `./run_all.sh --profile smoke` and of the test suite,
each as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from foodlib.bench.common import Row


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0, rc


def _tail(log: Path, n: int = 1) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def smoke_section(args, workdir: Path) -> list[Row]:
    from foodlib import config

    root = config.project_root()
    notebooks = sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    env = {**os.environ, "FOODLIB_PYTHON": sys.executable}
    log = workdir / "smoke.log"
    seconds, rc = _timed(["./run_all.sh", "--profile", "smoke", "-p", "results_dir", str(workdir / "smoke")],
                         env, root, log)
    return [Row("smoke", "smoke rebuild: ./run_all.sh --profile smoke", seconds, "s",
                note=f"{'ok' if rc == 0 else f'FAILED rc={rc}'}; notebooks: {', '.join(notebooks) or 'none'}",
                extra={"rc": rc, "notebooks": notebooks, "target_s": 300})]


def tests_section(args, workdir: Path) -> list[Row]:
    from foodlib import config

    root = config.project_root()
    log = workdir / "tests.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    seconds, rc = _timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, root, log)
    return [Row("tests", "test suite: python -m pytest -q", seconds, "s",
                note=f"{'ok' if rc == 0 else f'rc={rc}'}; {_tail(log)}", extra={"rc": rc, "target_s": 600})]
