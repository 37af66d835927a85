"""Copy a run's results into the repository's record: `./run_all.sh --record <profile>`.

Runs write to `results/<profile>/`, which git ignores, so rebuilding never
modifies a tracked file. The example run kept in git lives in `record/<profile>/`
and changes only through this explicit command. The cache (prepared images,
checkpoints, local models) is never copied.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from foodlib import artifacts, config, paths

SKIPPED = ("cache", "checkpoints", "tensorboard")


def record(profile: str, results_dir: str = "results", dest: str | Path | None = None) -> Path:
    """Replace `record/<profile>/` with a copy of `<results_dir>/<profile>/` (without its cache)."""
    source = config.resolve(profile, results_dir=results_dir).run_dir
    if not (source / "REPORT.md").exists():
        raise FileNotFoundError(f"no finished run in {paths.shown(source)} (its REPORT.md is missing): "
                                f"run ./run_all.sh --profile {profile} first")
    target = Path(dest) if dest else paths.project_root() / "record" / profile
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(*SKIPPED))
    artifacts.swap_in(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh --record", description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="the profile whose results/<profile>/ is copied")
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args(argv)
    try:
        target = record(args.profile, args.results_dir)
    except (FileNotFoundError, config.ParameterError) as err:
        print(f"run_all.sh: {err}", file=sys.stderr)
        return 2
    print(f"recorded {paths.shown(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
