"""Command-line entry points: a mistyped parameter or a missing upstream artifact is one line on
stderr and exit status 2 (as argparse's own errors), not a traceback."""
import os
import subprocess
import sys

import pytest

from foodlib import paths
from foodlib.run import cli
from foodlib.artifacts import MissingArtifactError

ROOT = paths.project_root()
ENV = {**os.environ, "FOODLIB_PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
       "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}


def _usage_error(cmd: list[str]) -> str:
    """Run `cmd` from the project root; check exit 2 and a single stderr line; return that line."""
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


@pytest.mark.parametrize("param, value, expected", [
    ("lr", "abc", "run_all.sh: parameter 'lr' must be float, got str 'abc'"),
    ("lrr", "1", "run_all.sh: unknown parameter 'lrr' (did you mean 'lr'?)"),
])
def test_run_all_mistyped_parameter_is_one_line(param, value, expected):
    line = _usage_error(["./run_all.sh", "--profile", "smoke", "-p", param, value])
    assert line.startswith(expected)


def test_runner_module_mistyped_parameter_is_one_line():
    line = _usage_error([sys.executable, "-m", "foodlib.run.runner", "--profile", "smoke", "-p", "num_epochs", "2.5"])
    assert line == "run_all.sh: parameter 'num_epochs' must be int, got float 2.5"


def test_bench_unknown_model_is_one_line():
    line = _usage_error([sys.executable, "-m", "foodlib.bench", "--sections", "models", "--models", "vit,swim"])
    assert line == ("python -m foodlib.bench: --models: unknown model 'swim' (did you mean 'swin'?); "
                    "choose from vit, swin, clip")


@pytest.mark.parametrize("param, value, named", [("lrr", "1", "'lrr' (did you mean 'lr'?)"),
                                                 ("batch_size", "big", "'batch_size' must be int")])
def test_gpu_check_mistyped_parameter_is_one_line(param, value, named):
    line = _usage_error([sys.executable, "tools/gpu_check.py", "-p", param, value])
    assert line.startswith("tools/gpu_check.py: ") and named in line


def test_usage_errors_turns_a_missing_artifact_into_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        with cli.usage_errors("prog"):
            raise MissingArtifactError("results/smoke/predictions/vit.parquet is missing:\n run 02 first")
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "prog: results/smoke/predictions/vit.parquet is missing: run 02 first\n"


def test_usage_errors_leaves_other_errors_alone():
    with pytest.raises(ValueError, match="a bug"):
        with cli.usage_errors("prog"):
            raise ValueError("a bug")
