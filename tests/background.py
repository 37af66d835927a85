"""Long runs started once, in the background, at the first test; the fixtures that need them wait.

The smoke notebook series and the scaled-down rehearsal are chains of notebook kernels that leave a core
idle much of the time (kernel start-up, imports, tiny models). Started before the first test and waited
for only by the tests that read their results (those run last: conftest orders them so), they overlap
the rest of the suite. Each runs through ./run_all.sh, as a user runs it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from foodlib import config, paths

ROOT = paths.project_root()


class Run:
    """`./run_all.sh <args>` started now with its output in `log`; `wait()` gives (returncode, output tail)."""

    def __init__(self, args: list[str], log: Path, timeout_s: float):
        env = {**os.environ, "FOODLIB_PYTHON": sys.executable, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        self.args, self.log, self.timeout_s, self.started = args, log, timeout_s, time.monotonic()
        with open(log, "w") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([str(ROOT / "run_all.sh"), *args], cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> tuple[int, str]:
        left = self.timeout_s - (time.monotonic() - self.started)
        try:
            rc = self.proc.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.stop()
            rc = f"killed after {self.timeout_s:.0f} s"
        return rc, self.log.read_text()[-6000:]

    def stop(self) -> None:
        """End the run and every notebook kernel it started (an interrupted test session leaves none behind)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


# The rehearsal (Food-101's 101 classes, the real ViT-B/16, Swin V2-T and CLIP ViT-B/32 with random weights),
# scaled down to what proves that nothing assumes the smoke profile's tiny sizes: one image per class for
# training, validation and test, two training steps of each fine-tune, the linear probes (one few-shot draw at
# one image per class), every map of 06 on two images with a two-step deletion test. Every real-size code path runs: training, resuming state, scoring
# through the eval cache, CLIP zero-shot, 05's joins at 101 classes, 06's maps on every model and method,
# 07's grids. (Today's README command for a CPU rehearsal trains whole epochs: ~15 minutes on 2 cores.)
REHEARSAL = {"device": "cpu", "synthetic_train_per_class": 2, "synthetic_test_per_class": 1,
             "num_epochs": 1, "fewshot_seeds": 1, "max_steps": 2, "batch_size": 4, "eval_batch_size": 32,
             "attention_images": 2, "deletion_steps": 2}


def rehearsal_args(params: config.Params) -> list[str]:
    """./run_all.sh's arguments for the REHEARSAL settings, writing under `params.results_dir`."""
    pairs = [*REHEARSAL.items(), ("results_dir", params.results_dir)]
    return ["--profile", "rehearsal", *[a for k, v in pairs for a in ("-p", k, str(v))]]


# What the suite writes under pytest's temporary folder at its peak, in GiB, by what the selected tests need:
# measured on a fresh clone (0.8 GiB without the slow tests, 2.3 GiB with both runs), with a quarter to spare.
SPACE_GIB = {"tests": 1.0, "smoke": 0.25, "rehearsal": 1.6}


def space_problem(where: Path, runs: list[str]) -> str | None:
    """Why the tests and the background `runs` would fill the disk under `where`, in one line, or None."""
    need = SPACE_GIB["tests"] + sum(SPACE_GIB[r] for r in runs)
    free = shutil.disk_usage(where).free / 2**30
    if free >= need:
        return None
    return (f"only {free:.1f} GiB free under {where}, and the selected tests write up to {need:.1f} GiB there: "
            "free some space, point pytest at another folder (--basetemp DIR, or TMPDIR), "
            "or leave the slow tests out (-m 'not slow')")
