"""Shared fixtures. Everything runs offline on CPU with the smoke profile.

Expensive things are built once per test session and shared read-only; a test that writes gets a copy:
- `smoke_run` / `smoke_ok`: the whole smoke notebook series, run once as ./run_all.sh does;
- `smoke_data`: the smoke data generated and prepared once (what notebook 01 does), copied under a test's
  own results_dir by `smoke_data(params)`;
- `real_models`: the real-size architectures with random weights (ViT-B/16, Swin V2-T, CLIP ViT-B/32),
  built and saved once, linked where a test's parameters load them by `real_models(params)`.

Tests that need the notebook series or a real-size run are marked `slow` here (see `SLOW_FIXTURES`), so
that `./run_all.sh --test -m "not slow"` is the quick loop.
"""
from __future__ import annotations

import os

# Read by huggingface_hub / datasets / matplotlib at import time: set before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# One torch thread per process, for this process and the runs it starts (read when torch is imported): the suite
# runs three workloads at once (the tests, the smoke series, the rehearsal), and torch's threads spin-wait on
# each other when the cores are shared. Measured on 2 cores: 03's smoke fine-tune took 27 s alone and 194 s beside
# the other two with two threads each.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from foodlib import config, models  # noqa: E402
from foodlib.data import prepare  # noqa: E402

from background import REHEARSAL, Run, rehearsal_args, space_problem  # noqa: E402

# A test using one of these (directly or through another fixture) is slow: it reads the smoke notebook
# series or the real-size rehearsal, both run in the background (tests/background.py).
SLOW_FIXTURES = {"smoke_run": 1, "smoke_ok": 1, "rehearsal": 2}


def _waits_for(item) -> int:
    """0: needs no background run; 1: the smoke series; 2: the rehearsal."""
    return max((SLOW_FIXTURES.get(f, 0) for f in getattr(item, "fixturenames", ())), default=0)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _waits_for(item):
            item.add_marker(pytest.mark.slow)
    # Tests that wait for a background run go last (stable: file order otherwise), so the runs overlap the rest.
    items.sort(key=_waits_for)


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """The long runs the selected tests read, started at the first test (so the rest of the suite overlaps
    them) and stopped at the end: {"smoke": (params, Run), "rehearsal": (params, Run)}, each only if needed."""
    needed = {_waits_for(item) for item in request.session.items}
    long_runs = [name for name, level in (("smoke", 1), ("rehearsal", 2)) if level in needed]
    problem = long_runs and space_problem(tmp_path_factory.getbasetemp(), long_runs)
    if problem:  # before anything is written, rather than "No space left on device" minutes later
        pytest.exit(problem, returncode=1)
    runs = {}
    try:  # a run already started is stopped even when the set-up of the next one fails
        if 1 in needed:  # the shorter one first
            results = tmp_path_factory.mktemp("smoke_results")
            runs["smoke"] = (config.resolve("smoke", results_dir=str(results)),
                             Run(["--profile", "smoke", "-p", "results_dir", str(results)],
                                 results.parent / "smoke.log", timeout_s=1800))
        if 2 in needed:
            results = tmp_path_factory.mktemp("rehearsal") / "results"
            params = request.getfixturevalue("real_models")(config.resolve("rehearsal", **REHEARSAL,
                                                                           results_dir=str(results)))
            runs["rehearsal"] = (params, Run(rehearsal_args(params), results.parent / "rehearsal.log",
                                             timeout_s=2400))
        yield runs
    finally:
        for _, run in runs.values():
            run.stop()


def _waited(background, name: str) -> tuple[config.Params, tuple[int | str, str], list[str]]:
    params, run = background[name]
    return params, run.wait(), run.args


@pytest.fixture
def smoke_params(tmp_path: Path) -> config.Params:
    """Smoke parameters writing under a fresh temporary results_dir."""
    return config.resolve("smoke", results_dir=str(tmp_path / "results"))


@pytest.fixture(scope="session")
def smoke_run(background):
    """The whole notebook series run once on the smoke profile through ./run_all.sh, in the background.

    Returns (params, error): error is the end of the run's output if a notebook failed, or None. Tests of
    each notebook read its artifacts.
    """
    params, (rc, output), args = _waited(background, "smoke")
    return params, None if rc == 0 else f"./run_all.sh {' '.join(args)}: exit {rc}\n{output}"


@pytest.fixture(scope="session")
def rehearsal(background):
    """The rehearsal scaled down (tests/background.py's REHEARSAL), run once through ./run_all.sh:
    (params, output)."""
    params, (rc, output), args = _waited(background, "rehearsal")
    assert rc == 0, f"./run_all.sh {' '.join(args)}: exit {rc}\n{output}"
    return params, output


@pytest.fixture(scope="session")
def smoke_ok(smoke_run) -> config.Params:
    """Smoke-run parameters, failing the test if the notebook series failed."""
    params, error = smoke_run
    if error:
        pytest.fail(f"the smoke notebook series failed:\n{error}")
    return params


@pytest.fixture(scope="session")
def smoke_console(background, smoke_ok) -> str:
    """What ./run_all.sh printed while it ran the smoke series."""
    return background["smoke"][1].log.read_text()


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """smoke_data(params) -> Prepared: the smoke data, generated and prepared once per session, copied under
    `params`' cache (a test may write there: the eval cache, a re-preparation). Parameters that change the
    data (e.g. synthetic_train_per_class) are prepared anew, as notebook 01 would."""
    built = config.resolve("smoke", results_dir=str(tmp_path_factory.mktemp("smoke_data") / "results"))
    prepare.prepare_dataset(built, progress=False)

    def copy(params: config.Params) -> prepare.Prepared:
        for part in ("synthetic", "prepared"):
            shutil.copytree(built.cache_dir / part, params.cache_dir / part, dirs_exist_ok=True)
        return prepare.prepare_dataset(params, progress=False)

    return copy


def _link(src: str, dst: str) -> None:
    """Hard-link a built file (0.7 GiB per copy of the real-size models), or copy it where links cannot be made.
    Safe because the project replaces files by renaming new ones into place, never by writing into them."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture(scope="session")
def real_models(tmp_path_factory):
    """real_models(params) -> params: the real-size architectures with random weights (seed 0), built and
    saved once per session, linked to where `params` (model_source="random") loads them from."""
    built = config.resolve("rehearsal", results_dir=str(tmp_path_factory.mktemp("real_models") / "results"))
    for name in models.available():
        models.source(name, built)  # builds ViT-B/16, Swin V2-T and CLIP ViT-B/32 under cache/models/random

    def copy(params: config.Params) -> config.Params:
        assert (params.model_source, params.seed, params.clip_model) == ("random", built.seed, built.clip_model)
        shutil.copytree(built.cache_dir / "models" / "random", params.cache_dir / "models" / "random",
                        dirs_exist_ok=True, copy_function=_link)
        return params

    return copy
