"""Source notebooks: valid, clean, parameterised, and with a set-up cell that is a no-op when installed and
clones the project where a notebook is opened outside a checkout (Colab)."""
import subprocess
import sys

import nbformat
import pytest

from foodlib import config, paths

ROOT = paths.project_root()
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


def _setup_cells(nb) -> list:
    return [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]


def _hide_foodlib(monkeypatch) -> None:
    """From here on the kernel looks like a fresh runtime: `find_spec("foodlib")` finds nothing."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "foodlib" else real(n, *a))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_a_noop_when_installed(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    setup = _setup_cells(nb)
    assert len(setup) == 1 and nb.cells.index(setup[0]) < nb.cells.index(
        next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(setup[0].source, f"{path.name}:setup", "exec"), {})
    assert calls == [], "the set-up cell tried to install although foodlib is importable"
    # And it would install when foodlib is missing (checked by hiding it from find_spec).
    _hide_foodlib(monkeypatch)
    monkeypatch.chdir(ROOT / "notebooks")
    exec(compile(setup[0].source, f"{path.name}:setup", "exec"), {})
    assert calls and calls[0][0][-4:] == ["install", "-q", "-e", str(ROOT)]  # the checkout it was opened from


def _setup_source() -> str:
    cells = {c.source for p in NOTEBOOKS for c in _setup_cells(nbformat.read(p, as_version=4))}
    assert len(cells) == 1, "the seven set-up cells differ: keep them identical (one URL, one behaviour)"
    return cells.pop()


def test_outside_a_checkout_without_a_url_the_set_up_cell_says_what_to_do_in_one_line(tmp_path, monkeypatch):
    calls = []
    _hide_foodlib(monkeypatch)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delenv("FOODLIB_REPO", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError) as err:
        exec(compile(_setup_source(), "setup", "exec"), {})
    assert "set FOODLIB_REPO" in str(err.value) and "\n" not in str(err.value) and calls == []


CLONING = r"""
import importlib.util, subprocess, sys
real, run = importlib.util.find_spec, subprocess.run
importlib.util.find_spec = lambda n, *a: None if n == "foodlib" else real(n, *a)  # a runtime without the project
installs = []
subprocess.run = lambda cmd, **k: installs.append(cmd) if "pip" in cmd else run(cmd, **k)  # git for real
exec(compile(open(sys.argv[1]).read(), "setup", "exec"), {})
importlib.util.find_spec, subprocess.run = real, run
import foodlib.paths
print(installs[0][-1], foodlib.__file__, foodlib.paths.project_root(), sep="\n")
"""


def test_outside_a_checkout_the_set_up_cell_clones_the_project_and_uses_that_clone(tmp_path):
    """As in Colab: no checkout around the notebook, FOODLIB_REPO names the project (here this checkout's own
    path, a URL git clones from): the cell clones it beside the notebook, installs it (pip, recorded here, not
    run), and the kernel imports foodlib from the clone, so results land in the clone's results/."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    (tmp_path / "setup.py").write_text(_setup_source())
    (tmp_path / "colab").mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", CLONING, str(tmp_path / "setup.py")], cwd=tmp_path / "colab",
                         env={**env, "FOODLIB_REPO": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    clone = tmp_path / "colab" / "food101"
    installed, imported, root = out.stdout.split()
    assert (clone / "run_all.sh").exists() and installed == str(clone)
    assert imported == str(clone / "foodlib" / "__init__.py") and root == str(clone)
