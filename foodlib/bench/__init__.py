"""A rerunnable speed benchmark: `python -m foodlib.bench --help`.

Sections (pick with --sections; default `pipeline,models`):

- pipeline: photo-like Food-101-sized JPEGs are generated into a temporary copy
  of the official archive layout; the naive path (PIL open + convert + the
  Hugging Face ViTImageProcessor per image, as the HF tutorial does) is timed
  side by side with the fast path that training uses (the prepared cache read
  through foodlib.data.loader). One process with one thread gives the
  per-core figures; then the same through a DataLoader with workers. A
  per-stage profile (decode, resize, normalise) says where the time goes.
- models: full-size ViT-B/16 and Swin V2-T built from configs (random
  weights): train step (forward + cross-entropy + backward + AdamW step) and
  inference_mode eval, fp32 on CPU, bf16 autocast on GPU.
- smoke, tests: wall time of `./run_all.sh --profile smoke` and of the test
  suite, each as a subprocess.

Prints a table; `--out FILE.json` also writes the rows with the machine and
versions. Nothing is downloaded: models are built from configs, images made here.

Modules: `common` (rows, table, machine info, timing helpers), `photos` (the
photo-like JPEGs), `naive` (the HF per-image path), `pipeline`, `models`,
`runs` (smoke and tests), `cli` (arguments and the run). Beside the benchmark: `projection` (per
notebook a fixed cost plus a cost per image, fitted on runs of the series and projected to other sizes),
`projection_check` (`python -m foodlib.bench.projection_check`: that fit checked against a third run),
`probe` (the records of tools/gpu_probe.sh).
"""

from foodlib.bench.cli import main, run

__all__ = ["main", "run"]
