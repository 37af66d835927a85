"""Time the attention explorer at Food-101's size, without models: building it, then each change a person makes.

    python tools/explorer_bench.py [--repeats 5] [--out benchmarks/explorer_cpu.json]

The catalogue is made up (tests/fake_catalogue.py: 25,250 test images over 101 classes, three models' predictions,
05's sets) and the explorer gets no models (`explainers={}`): what is timed is the catalogue's paging, the widgets
and drawing the image with its title, not the maps (those cost what each model's forward and backward cost, once
per image and method, then come from the cache). Prints the median seconds of each step; the goal for building is
under 1 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_catalogue import fabricate  # noqa: E402

from foodlib import artifacts, attention  # noqa: E402
from foodlib.bench.common import machine_info  # noqa: E402


def steps(catalogue) -> dict[str, float]:
    """Seconds of building the explorer and of each change, once."""
    out, t0 = {}, time.perf_counter()
    view = attention.Explorer(catalogue, {}, {}, seed=0)
    out["build (first set, first view drawn)"] = time.perf_counter() - t0
    other = catalogue.test.index[catalogue.test["label"] == 90][170]
    changes = {"browse a class (250 images)": lambda: setattr(view.browse, "value", "class:57"),
               "next page": lambda: setattr(view.page, "value", 2),
               "find an id in another class": lambda: setattr(view.search, "value", other),
               "browse all 25,250 test images": lambda: setattr(view.browse, "value", "all"),
               "random image": view.random.click,
               "pick another image on the page": lambda: setattr(view.image, "value", view.image.options[7][1])}
    for name, change in changes.items():
        t0 = time.perf_counter()
        change()
        out[name] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="also write the medians as JSON")
    args = ap.parse_args(argv)
    catalogue = fabricate(Path(tempfile.mkdtemp(prefix="explorer-bench-")))
    steps(catalogue)  # warm-up: imports, fonts, matplotlib's caches
    runs = [steps(catalogue) for _ in range(args.repeats)]
    medians = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    for name, seconds in medians.items():
        print(f"{seconds:7.3f} s  {name}")
    if args.out:
        command = "python tools/explorer_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
        record = {"command": command, "date": time.strftime("%Y-%m-%d"), "commit": artifacts.git_commit(),
                  "machine": machine_info(), "repeats": args.repeats, "median_seconds": medians}
        artifacts.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
