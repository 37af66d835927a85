"""Source notebooks: valid, clean, parameterised, and with a set-up cell that is a no-op when installed."""
import subprocess

import nbformat
import pytest

from foodlib import config

ROOT = config.project_root()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:1] == ["01"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_clean_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "committed outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    lines = [ln for ln in params[0].source.splitlines() if ln.strip()]
    assert lines[0].startswith('profile = "smoke"')
    for ln in lines:  # nanoGPT style: one literal per line with a comment, no computation
        name, _, rest = ln.partition(" = ")
        assert name.isidentifier() and "#" in rest, f"parameters line not of the form 'name = literal  # comment': {ln}"
        assert name == "profile" or name in config.field_names(), f"{name} is not a Params field"
    # papermill must parse every line, or `papermill --help-notebook` and injection get them wrong.
    import papermill as pm

    assert list(pm.inspect_notebook(str(path))) == [ln.partition(" = ")[0] for ln in lines]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_a_noop_when_installed(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1 and nb.cells.index(setup[0]) < nb.cells.index(
        next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(setup[0].source, f"{path.name}:setup", "exec"), {})
    assert calls == [], "the set-up cell tried to install although foodlib is importable"
    # And it would install when foodlib is missing (checked by hiding it from find_spec).
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "foodlib" else real(n, *a))
    monkeypatch.chdir(ROOT / "notebooks")
    exec(compile(setup[0].source, f"{path.name}:setup", "exec"), {})
    assert calls and "pip" in calls[0][0] and "install" in calls[0][0]
