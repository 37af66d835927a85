"""Exercise the CUDA code paths on the smoke profile: `python tools/gpu_check.py [RESULTS_DIR] [-p KEY VALUE ...]`.

Runs data preparation, the fine-tune of both registered models and CLIP zero-shot
with device=cuda, bf16 autocast, pinned memory and DataLoader workers, without
papermill (so it needs only torch, torchvision, transformers and clip). Prints
one line per model with accuracy, throughput and peak GPU memory. `-p` overrides
a parameter as run_all.sh's does; a mistyped one is one line on stderr and exit 2.
`-p device cpu -p mixed_precision no` runs the same paths on a CPU;
`--out FILE.json` also writes the rows with the device and versions.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from foodlib import config  # noqa: E402
from foodlib.run import cli, runner  # noqa: E402

PROG = "tools/gpu_check.py"
DEFAULTS = {"device": "cuda", "mixed_precision": "bf16", "num_workers": 4}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description="Exercise the CUDA code paths on the smoke profile.")
    ap.add_argument("results_dir", nargs="?", default="results/gpu_check",
                    help="where to write (default results/gpu_check in the checkout)")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="override a smoke parameter, e.g. -p batch_size 64")
    ap.add_argument("--out", metavar="FILE.json", help="also write the rows, the parameters and versions as JSON")
    return ap.parse_args(argv)


def check(params: config.Params) -> dict:
    """Prepare, fine-tune each trainable model and score CLIP on `params`; one row per model."""
    import torch

    from foodlib import data, models, runtime, train, zeroshot

    device = runtime.setup(params).device
    assert device == "cuda" or params.device == "cpu", "no GPU visible"
    print("device:", torch.cuda.get_device_name() if device == "cuda" else "cpu", "| torch", torch.__version__,
          flush=True)
    prepared = data.prepare_dataset(params, progress=False)
    rows = {}
    for name in models.trainable():
        t0 = time.time()
        result = train.fit(name, params, prepared, "finetune", device=device, progress=False)
        m = train.write_results(result, params, prepared, device)
        rows[name] = {k: m.get(k) for k in ("top1", "train_images_per_s", "eval_images_per_s", "peak_gpu_mem_gb",
                                            "train_compile_s", "eval_compile_s")}
        rows[name]["wall_s"] = round(time.time() - t0, 1)
        print(name, rows[name], flush=True)
    model, pre = models.load("clip", params, prepared.classes, device=device)
    result = zeroshot.score(params, model, pre, prepared, device)
    probs = result["probs"][params.clip_prompt_set]
    rows["clip"] = {"top1": float((probs.argmax(1) == torch.as_tensor(result["labels"]).numpy()).mean()),
                    "eval_images_per_s": result["images_per_s"], "eval_compile_s": result["compile_s"]}
    print("clip", rows["clip"], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"results_dir": args.results_dir, **DEFAULTS, **{k: runner.parse_value(v) for k, v in args.param}}
    with cli.usage_errors(PROG):  # a mistyped -p: one line and exit 2, not a traceback
        params = config.resolve("smoke", **overrides)
    rows = check(params)
    print(json.dumps(rows))
    if args.out:
        from foodlib import artifacts

        artifacts.write_json(args.out, {"command": " ".join([PROG, *(argv if argv is not None else sys.argv[1:])]),
                                        "rows": rows, **artifacts.provenance(params)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
