"""The layout a maintainer reads from the series: one package per notebook stage over a small ground floor,
imports that go one way, small modules and functions, notebooks that import modules by name."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from foodlib import paths

ROOT = paths.project_root()
# notebook stage -> the package that holds its logic (README, "Where things are")
STAGES = {"01": "data", "02": "train", "03": "train", "04": "zeroshot", "05": "compare", "06": "attention",
          "07": "posembed"}
PACKAGES = {*STAGES.values(), "models", "probe", "run", "bench"}
GROUND_FLOOR = {"artifacts", "compiling", "config", "figures", "frontend", "metrics", "paths", "registry", "runtime",
                "stats"}
# What each package may import of foodlib besides itself and the ground floor: a stage package (one per notebook
# stage but data) reads no other stage, only what stages share: `data`, `models` and `probe` (02-04's linear
# probe); `probe` reads `data` and `models`; `models` reads `data`, never the reverse; the ground floor reads no
# package. `run` and `bench` drive the series and may read anything.
SHARED = {"probe": {"data", "models"}, "models": {"data"}, "data": set()}
ALLOWED = {**{p: {"data", "models", "probe"} for p in set(STAGES.values()) - {"data"}}, **SHARED}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str = "foodlib") -> dict[str, dict[str, int]]:
    """module -> {imported module of the package: line of the first such import}, every import statement
    counted: at the top, inside functions, under `if TYPE_CHECKING`. `from pkg import name` is an import of
    the module pkg.name where that is a module, else of pkg."""
    files = {module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {m: {} for m in files}
    for mod, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's own package, `level - 1` packages up
                    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    src = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in files else src for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # foodlib.data.loader.decode_rgb -> foodlib.data.loader
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].setdefault(target, node.lineno)
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every import circle, as a path a -> b -> ... -> a (one per strongly connected set of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(_path_through(graph, component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _path_through(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """One circle inside a strongly connected set: from its first module back to it, by breadth-first search."""
    start = min(component)
    previous, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w in component and w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("not a strongly connected set")


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_no_import_circle_in_foodlib():
    graph = import_graph(ROOT)
    assert len(graph) > 50  # the whole package was read
    cycles = import_cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(describe(c, graph) for c in cycles)


def plant(root: Path, files: dict[str, str]) -> Path:
    """A made-up package under `root`: {path relative to root: source}; returns root / "foodlib"."""
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root / "foodlib"


def test_a_planted_circle_is_found_and_named(tmp_path):
    pkg = plant(tmp_path, {
        "foodlib/__init__.py": "",
        "foodlib/leaf.py": "import os\n",
        "foodlib/stage/__init__.py": "from foodlib.stage import a\n",
        "foodlib/stage/a.py": "from foodlib import leaf\nfrom foodlib.stage.b import thing\n",
        "foodlib/stage/b.py": "def thing():\n    from . import c  # inside a function: still a circle\n",
        "foodlib/stage/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from foodlib.stage.a import x\n",
    })
    graph = import_graph(tmp_path)
    cycles = import_cycles(graph)
    assert cycles == [["foodlib.stage.a", "foodlib.stage.b", "foodlib.stage.c", "foodlib.stage.a"]]
    assert describe(cycles[0], graph) == ("foodlib.stage.a (line 2) -> foodlib.stage.b (line 2) -> "
                                          "foodlib.stage.c (line 3) -> foodlib.stage.a")
    (pkg / "stage" / "c.py").write_text("x = 1\n")  # the circle broken: none left
    assert import_cycles(import_graph(tmp_path)) == []


def test_one_package_per_stage_over_a_small_ground_floor():
    top = ROOT / "foodlib"
    modules = {p.stem for p in top.glob("*.py")} - {"__init__"}
    packages = {p.name for p in top.iterdir() if (p / "__init__.py").exists()}
    assert modules == GROUND_FLOOR and packages == PACKAGES
    for package in {*STAGES.values(), "probe"}:  # each stage package (and the probe) holds its figures
        assert (top / package / "plots.py").exists(), f"foodlib/{package} has no plots.py"


def test_the_layout_page_says_where_things_are():
    text = (ROOT / "docs" / "layout.md").read_text()
    table = text.split("# Where things are", 1)[1].split("\n## ", 1)[0]
    for number, package in STAGES.items():
        assert re.search(rf"`{number}_\w+`.*\| `foodlib/{package}/`", table), (number, package)
    for name in GROUND_FLOOR:
        assert f"`{name}`" in table, name


def package_of(module: str) -> str | None:
    """'foodlib.attention.vit' -> 'attention'; a ground-floor module -> 'ground floor'; foodlib itself -> None."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return parts[1] if (len(parts) > 2 or parts[1] in PACKAGES) else "ground floor"


def forbidden_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import of a package that the importing module's package may not read (ALLOWED), named."""
    found = []
    for mod, targets in sorted(graph.items()):
        home = package_of(mod)
        for target, line in sorted(targets.items()):
            there = package_of(target)
            if home in ALLOWED and there not in (None, home, "ground floor") and there not in ALLOWED[home]:
                may = " and ".join(sorted(ALLOWED[home])) + " and the ground floor" if ALLOWED[home] else "only the ground floor"
                found.append(f"{mod} (line {line}) imports {target}: {home} may import {may}, not {there}")
            elif home == "ground floor" and there not in (None, "ground floor"):
                found.append(f"{mod} (line {line}) imports {target}: the ground floor imports no package")
    return found


def test_stage_packages_import_none_of_each_other():
    problems = forbidden_imports(import_graph(ROOT))
    assert not problems, "imports across the layout's walls:\n" + "\n".join(problems)


def test_a_planted_import_across_stages_is_found_and_named(tmp_path):
    pkg = plant(tmp_path, {
        "foodlib/__init__.py": "",
        **{f"foodlib/{package}/__init__.py": "" for package in ("attention", "compare", "data", "models")},
        "foodlib/artifacts.py": "import json\n",
        "foodlib/compare/sets.py": "x = 1\n",
        "foodlib/models/load.py": "from foodlib.data import prepare\n",
        "foodlib/data/prepare.py": "from foodlib import artifacts\n",
        "foodlib/attention/maps.py": "from foodlib import artifacts, models\n"
                                     "def f():\n    from foodlib.compare import sets  # inside a function\n",
    })
    assert forbidden_imports(import_graph(tmp_path)) == [
        "foodlib.attention.maps (line 3) imports foodlib.compare.sets: attention may import data and models and probe "
        "and the ground floor, not compare"]
    (pkg / "data" / "prepare.py").write_text("from foodlib import artifacts\nfrom foodlib.models import load\n")
    (pkg / "artifacts.py").write_text("from foodlib.data import prepare\n")
    assert forbidden_imports(import_graph(tmp_path))[:3] == [
        "foodlib.artifacts (line 1) imports foodlib.data.prepare: the ground floor imports no package",
        "foodlib.attention.maps (line 3) imports foodlib.compare.sets: attention may import data and models and probe "
        "and the ground floor, not compare",
        "foodlib.data.prepare (line 2) imports foodlib.models.load: data may import only the ground floor, not models"]


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_the_measuring_code_stays_the_size_of_its_job():
    """What measures a user's machine (the bench) and estimates a run's time, together: at most 900 lines."""
    files = [*sorted((ROOT / "foodlib" / "bench").glob("*.py")), ROOT / "foodlib" / "run" / "estimate.py"]
    lines = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files}
    assert sum(lines.values()) <= 900, lines


@pytest.mark.parametrize("path", sorted((ROOT / "foodlib").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{len(lines)} lines"
    long = {f.name: f.end_lineno - f.lineno + 1 for f in _functions(ast.parse("\n".join(lines)))
            if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_import_modules_by_name_and_stay_short(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and not set(c.metadata.get("tags", [])) & {"setup", "parameters"}]
    for cell in cells:
        code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert len(code) <= 8, f"a cell of {len(code)} lines of code:\n{cell.source}"
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("foodlib"):
                assert node.module == "foodlib", f"import modules by name (from foodlib import ...): {node.module}"
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                assert node.id not in {"models", "data", "train", "compare", "attention", "posembed", "zeroshot"}, \
                    f"a variable shadows the module {node.id!r}"
    # the notebook's logic is its stage package's; beside it, the ground floor, the models and the prepared data
    imported = {a.name for c in cells for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.ImportFrom)
                and n.module == "foodlib" for a in n.names}
    stage = STAGES[path.name[:2]]
    assert stage in imported and imported <= GROUND_FLOOR | {stage, *SHARED}, imported
