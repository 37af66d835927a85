"""Run the notebook series with papermill: `python -m foodlib.run.runner --help` (what run_all.sh calls).

`run_all.sh` sets up the environment and then calls this. It runs the
notebooks in order, writes executed copies to `results/<profile>/notebooks/`,
stops at the first failure naming the notebook and the cell, and prints a
closing table of each notebook's time, peak memory and disk, also written to
`results/<profile>/timings.json`.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

from foodlib import config, frontend, paths, runtime
from foodlib.run import cli, estimate, footprint, report

SERIES = [
    "01_data_prep", "02_vit_finetune", "03_swin_finetune", "04_clip_zero_shot",
    "05_comparison", "06_attention_maps", "07_positional_embeddings",
]
PROG = "run_all.sh"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# For every kernel: ipykernel 6 (Colab's) imports debugpy at start, and on Python 3.11+ debugpy warns in four lines
# that frozen modules may hide breakpoints. No one attaches a debugger to these kernels: its own switch skips the check.
# And nobody watches them live: progress bars and the explorer write for the finished document (frontend.interactive).
KERNEL_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1", frontend.BATCH_ENV: "1"}  # frontend.interactive


def parse_value(text: str) -> Any:
    """Papermill's -p typing: int, float, True/False, None, else the string itself."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def select(notebook_dir: Path, only: list[str], start: str | None) -> tuple[list[Path], list[str]]:
    """Notebooks to run (existing, in order) and the names of series members not present yet."""
    present = {p.name[:2]: p for p in sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))}
    wanted = [name[:2] for name in SERIES]
    if only:
        unknown = [n for n in only if n not in wanted]
        if unknown:
            raise SystemExit(f"--only {' '.join(unknown)}: no such notebook number (have {', '.join(wanted)})")
        wanted = [n for n in wanted if n in only]
    if start:
        if start not in wanted:
            raise SystemExit(f"--from {start}: no such notebook number (have {', '.join(wanted)})")
        wanted = wanted[wanted.index(start):]
    run = [present[n] for n in wanted if n in present]
    missing = [name for name in SERIES if name[:2] in wanted and name[:2] not in present]
    return run, missing


def preflight(params: config.Params) -> None:
    """Fail within seconds when a non-smoke profile cannot work on this machine."""
    import torch

    problems = []
    if params.device != "cpu" and not torch.cuda.is_available():
        problems.append("no GPU is visible to torch (torch.cuda.is_available() is False)")
    # model_source "random" (rehearsal) builds CLIP too: a released name like ViT-B/32 is then not downloaded.
    needs_hub = params.data_source == "hub" or params.model_source == "hub"
    if needs_hub and not _reachable("huggingface.co", 443):
        problems.append("huggingface.co is not reachable (no internet, or HF_HUB_OFFLINE is set)")
    if problems:
        raise SystemExit(
            f"profile {params.profile!r} cannot run here: " + "; ".join(problems) + ".\n"
            "For an offline CPU run use: ./run_all.sh --profile smoke   "
            "(or pass --skip-checks if the models and data are already cached locally)"
        )


def _reachable(host: str, port: int, timeout: float = 4.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run(notebooks: list[Path], parameters: dict[str, Any], params: config.Params) -> list[footprint.Footprint]:
    """Execute each notebook, measuring it; write timings.json after each. Stops at the first failure."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    out_dir = params.run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = {k: v for k, v in parameters.items() if k != "profile"}
    records: list[footprint.Footprint] = []
    for nb in notebooks:
        target = out_dir / nb.name
        print(f"==> {nb.name}  ->  {target}", flush=True)
        fp = footprint.Footprint(nb.stem)
        records.append(fp)
        try:
            with tempfile.TemporaryDirectory(prefix="foodlib-kernel-") as sockets:
                km = footprint.kernel_manager(sockets)
                with footprint.measure(fp, params.cache_dir, lambda: footprint.kernel_pid(km)):
                    try:
                        _execute(nb, target, parameters, km)
                    finally:  # inside the measurement: the kernel writes its peaks as it exits
                        footprint.shutdown(km)
            fp.status = "ok"
        except PapermillExecutionError as err:
            fp.status = "FAILED"
            _stop(records, f"notebooks/{nb.name}, cell [{err.exec_count}] (cell index {err.cell_index}): "
                           f"{err.ename}: {err.evalue}\nThe executed copy with the traceback is {target}")
        except (DeadKernelError, CellTimeoutError) as err:
            fp.status = "FAILED"
            why = ("the kernel died (most often: it ran out of memory; a smaller batch_size or eval_batch_size "
                   "helps)" if isinstance(err, DeadKernelError) else f"{type(err).__name__}: {err}")
            _stop(records, f"notebooks/{nb.name}: {why}\nThe executed copy up to that cell is {target}")
        finally:
            if fp.status == "running":  # interrupted
                fp.status = "FAILED"
            footprint.write_timings(params, records, overrides)
    return records


def _stop(records: list[footprint.Footprint], failure: str) -> NoReturn:
    """The closing table so far, then the failure in one message, and the run stops."""
    print("\n" + footprint.format_table(records), flush=True)
    raise SystemExit(f"\nFAILED: {failure}")


class _RunWideParameters(logging.Filter):
    """Every -p reaches every notebook: a later notebook must see the run's data and model settings (02's
    `synthetic_train_per_class`, 04's `clip_prompt_set` in 06) even where its parameters cell does not list
    them, and `config.from_notebook` reads them. papermill warns of each name a cell does not list; these
    names were checked against the profile table before any notebook ran, so that warning is left out here."""

    def __init__(self, names):
        super().__init__()
        self.expected = {f"Passed unknown parameter: {name}" for name in names}

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.expected


def _execute(nb: Path, target: Path, parameters: dict[str, Any], km) -> None:
    import papermill as pm

    quiet = _RunWideParameters(parameters)
    logging.getLogger("papermill").addFilter(quiet)
    try:
        # papermill stores the paths it is given in the executed copy's metadata: relative ones (run_all.sh
        # runs from the checkout) keep this machine's location out of the document.
        pm.execute_notebook(
            _from_cwd(nb), _from_cwd(target), parameters=parameters, kernel_name="python3", km=km,
            cwd=str(paths.project_root()), progress_bar=False, log_output=True,
        )
    finally:
        logging.getLogger("papermill").removeFilter(quiet)


def _from_cwd(path: Path) -> str:
    """`path` relative to the current directory when it lies in the checkout, else as it is (a results_dir
    outside the checkout is the user's own choice)."""
    path = path.resolve()
    if not path.is_relative_to(paths.project_root()):
        return str(path)
    return os.path.relpath(path, Path.cwd().resolve())


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="Run the Food-101 notebook series.")
    ap.add_argument("--profile", default="full", choices=sorted(config.PROFILES))
    ap.add_argument("--only", nargs="+", default=[], metavar="NN", help="run only these notebooks, e.g. --only 04 05")
    ap.add_argument("--from", dest="start", metavar="NN", help="run from this notebook on")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="a papermill parameter for every notebook, e.g. -p num_epochs 3")
    ap.add_argument("--skip-checks", action="store_true", help="skip the GPU/hub check of non-smoke profiles")
    return ap


def _resolve(args: argparse.Namespace) -> tuple[config.Params, dict[str, Any]]:
    """The checked parameters and the -p overrides; refuses unknown names and wrong types now."""
    overrides = {k: parse_value(v) for k, v in args.param}
    params = config.resolve(args.profile, **overrides)
    if args.profile in runtime.OFFLINE_PROFILES:  # smoke, rehearsal: nothing is downloaded
        os.environ.update(OFFLINE_ENV)
    if args.profile != "smoke" and not args.skip_checks:
        preflight(params)
    return params, overrides


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with cli.usage_errors(PROG):  # before any notebook runs: one line and exit 2, not a traceback
        params, overrides = _resolve(args)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name, value in KERNEL_ENV.items():  # the kernels inherit the runner's environment
        os.environ.setdefault(name, value)

    root = paths.project_root()
    notebooks, missing = select(root / "notebooks", args.only, args.start)
    if missing:
        print("not present yet (skipped): " + ", ".join(missing))
    if not notebooks:
        raise SystemExit("no notebook to run")
    print(f"profile {args.profile}: running {', '.join(n.stem for n in notebooks)}", flush=True)
    warning = estimate.cpu_estimate(params)  # a CPU at full scale: say how long before starting
    if warning:
        print(warning, flush=True)
    records = run(notebooks, {"profile": args.profile, **overrides}, params)
    print("\n" + footprint.format_table(records))
    print(f"timings: {params.run_dir / 'timings.json'}")
    path = report.build(params)
    print(f"report: {path}")
    broken = report.missing_links(path)
    if broken:  # a figure or table the report names but the run did not write
        print(f"WARNING: {path.name} links to files that do not exist: {', '.join(broken)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
