"""Where a run's files are: the checkout results belong to, and paths as notebooks print them."""
from __future__ import annotations

from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The checkout results belong to: the folder holding run_all.sh and foodlib/.

    Without `start`, the checkout this foodlib is imported from (editable
    install, or a notebook that put its checkout on sys.path), whatever the
    current directory: a grader may run `papermill <checkout>/notebooks/x.ipynb`
    from anywhere. Otherwise (or for an installed, non-editable foodlib) the
    nearest such folder at or above `start` (default: cwd); else cwd.
    """
    if start is None:
        package_root = Path(__file__).resolve().parents[1]
        if _is_checkout(package_root):
            return package_root
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_checkout(folder):
            return folder
    return here


def shown(path: str | Path) -> str:
    """A path as notebooks print it: relative to the checkout, never this machine's absolute location."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return str(Path("...", *path.parts[-2:])) if path.is_absolute() else str(path)


def _is_checkout(folder: Path) -> bool:
    return (folder / "run_all.sh").exists() and (folder / "foodlib").is_dir()


def from_root(path: str) -> Path:
    """A path as a parameter gives it: absolute as it is, relative from the checkout."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
