"""Write a clean source notebook from a list of (kind, text) cells.

Used by the maintainers to author notebooks/NN_*.ipynb; the .ipynb files are the
source of truth once written. `SETUP` is the set-up cell every notebook starts with.
"""
from __future__ import annotations

import sys

import nbformat

SETUP = '''\
# Set-up: installs the project when foodlib is not importable (e.g. a fresh Colab runtime); otherwise does nothing.
import importlib.util, subprocess, sys
from pathlib import Path
if importlib.util.find_spec("foodlib") is None:
    _root = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "run_all.sh").exists() and (p / "foodlib").is_dir()), None)
    if _root is None:
        raise RuntimeError("foodlib is not installed and this notebook is not inside a checkout of the project: "
                           "clone the project, then open this notebook from its notebooks/ folder")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(_root)], check=True)
    sys.path.insert(0, str(_root))'''


def build(path: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for kind, text in cells:
        text = text.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        elif kind == "params":
            nb.cells.append(nbformat.v4.new_code_cell(text, metadata={"tags": ["parameters"]}))
        elif kind == "setup":
            nb.cells.append(nbformat.v4.new_code_cell(SETUP, metadata={"tags": ["setup"]}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(text))
    for i, cell in enumerate(nb.cells):  # stable ids: no diff noise when rebuilt
        cell["id"] = f"c{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, path)


if __name__ == "__main__":
    sys.exit("import tools.nbbuild and call build(path, cells)")
