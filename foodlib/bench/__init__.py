"""A rerunnable speed benchmark of this machine: `python -m foodlib.bench --help`; docs/speed.md explains the rows.

Sections (pick with --sections; default `pipeline,models`): `pipeline`, the naive per-image path (PIL +
ViTImageProcessor, as the HF tutorial does) against the prepared caches that training and scoring read, in one
process with one thread and with DataLoader workers; `models`, ViT-B/16 and Swin V2-T train step and eval and CLIP
ViT-B/32's image tower eval, built from configs with random weights; `smoke` and `tests`, the wall time of
`./run_all.sh --profile smoke` and of the test suite. Prints a table; `--out FILE.json` also writes the rows with
the machine and versions. Nothing is downloaded. Modules: `common` (rows, table, machine, timing), `photos` and
`naive` (the pipeline's images and baseline), `pipeline`, `models`, `runs`, `cli`.
"""

from foodlib.bench.cli import main, run

__all__ = ["main", "run"]
