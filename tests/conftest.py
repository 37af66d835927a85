"""Shared fixtures. Everything runs offline on CPU with the smoke profile."""
from __future__ import annotations

import os

# Read by huggingface_hub / datasets / matplotlib at import time: set before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from foodlib import config  # noqa: E402


@pytest.fixture
def smoke_params(tmp_path: Path) -> config.Params:
    """Smoke parameters writing under a fresh temporary results_dir."""
    return config.resolve("smoke", results_dir=str(tmp_path / "results"))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole notebook series run once on the smoke profile, as ./run_all.sh does.

    Returns (params, error): error is the SystemExit message of the first
    failing notebook, or None. Tests of each notebook read its artifacts.
    """
    from foodlib.run import runner

    results = tmp_path_factory.mktemp("smoke_results")
    params = config.resolve("smoke", results_dir=str(results))
    try:
        runner.main(["--profile", "smoke", "-p", "results_dir", str(results)])
        error = None
    except SystemExit as exc:
        error = str(exc)
    return params, error


@pytest.fixture(scope="session")
def smoke_ok(smoke_run) -> config.Params:
    """Smoke-run parameters, failing the test if the notebook series failed."""
    params, error = smoke_run
    if error:
        pytest.fail(f"the smoke notebook series failed:\n{error}")
    return params
