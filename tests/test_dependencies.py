"""The dependency ranges admit Google Colab's own packages, so installing the project there replaces none of them.

Colab's versions (googlecolab/backend-info, pip-freeze.gpu.txt, August 2026; docs/colab.md lists them). The
check that installs them for real is tools/colab_check.sh; this one guards the ranges in pyproject.toml.
"""
import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from foodlib import paths

COLAB = {"torch": "2.11.0", "torchvision": "0.26.0", "transformers": "5.15.0", "datasets": "4.0.0",
         "accelerate": "1.14.0", "huggingface-hub": "1.27.0", "numpy": "2.1.3", "pandas": "2.2.3", "pyarrow": "18.1.0",
         "scipy": "1.16.3", "scikit-learn": "1.6.1", "matplotlib": "3.10.0", "pillow": "11.3.0",
         "safetensors": "0.8.0", "tqdm": "4.67.3", "ipywidgets": "7.7.1", "ipykernel": "6.17.1",
         "ipython": "7.34.0", "jupyter-client": "7.4.9", "notebook": "6.5.7", "setuptools": "75.2.0",
         "nbformat": "5.10.4", "nbconvert": "7.17.1", "tensorboard": "2.20.0", "psutil": "5.9.5"}
COLAB_PYTHON = "3.13"
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _project() -> dict:
    return tomllib.loads((paths.project_root() / "pyproject.toml").read_text())["project"]


def _name(requirement: Requirement) -> str:
    return re.sub(r"[-_.]+", "-", requirement.name).lower()


def test_every_range_admits_colabs_version():
    requirements = [Requirement(r) for r in _project()["dependencies"]]
    refused = [f"{r} refuses Colab's {COLAB[_name(r)]}" for r in requirements
               if _name(r) in COLAB and not r.specifier.contains(COLAB[_name(r)], prereleases=True)]
    assert not refused, refused
    assert len([r for r in requirements if _name(r) in COLAB]) >= 15  # the list above is the one in use
    assert _project()["requires-python"].startswith(">=") and Version(COLAB_PYTHON) >= Version(
        _project()["requires-python"][2:])


def test_what_only_a_local_jupyterlab_needs_is_an_extra():
    core = {_name(Requirement(r)) for r in _project()["dependencies"]}
    lab = [Requirement(r) for r in _project()["optional-dependencies"]["lab"]]
    assert "jupyterlab" not in core and {_name(r) for r in lab} >= {"jupyterlab", "ipywidgets"}
    assert not next(r for r in lab if _name(r) == "ipywidgets").specifier.contains(COLAB["ipywidgets"])
    run_all = (paths.project_root() / "run_all.sh").read_text()
    assert '-e ".[dev,lab]"' in run_all  # the local set-up gets JupyterLab and ipywidgets 8
