"""Exercise the CUDA code paths on the smoke profile: `python tools/gpu_check.py RESULTS_DIR`.

Runs data preparation, the fine-tune of both registered models and CLIP zero-shot
with device=cuda, bf16 autocast, pinned memory and DataLoader workers, without
papermill (so it needs only torch, torchvision, transformers and clip). Prints
one line per model with accuracy, throughput and peak GPU memory.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from foodlib import config, models, runtime, scoring, train, zeroshot  # noqa: E402
from foodlib.data import prepare  # noqa: E402

results = sys.argv[1] if len(sys.argv) > 1 else "/tmp/gpu_check"
params = config.resolve("smoke", results_dir=results, device="cuda", mixed_precision="bf16", num_workers=4)
info = runtime.setup(params)
assert info["device"] == "cuda", "no GPU visible"
import torch  # noqa: E402

print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__, flush=True)
prepared = prepare.prepare(params, progress=False)
rows = {}
for name in models.trainable():
    t0 = time.time()
    result = train.fit(params, name, prepared, variant="finetune", progress=False)
    m = scoring.report(params, result, prepared)
    rows[name] = {k: m.get(k) for k in ("top1", "train_images_per_s", "eval_images_per_s", "peak_gpu_mem_gb")}
    rows[name]["wall_s"] = round(time.time() - t0, 1)
    print(name, rows[name], flush=True)
model, pre = models.load("clip", params, prepared.classes, device="cuda")
result = zeroshot.score(params, model, pre, prepared, "cuda")
probs = result["probs"][params.clip_prompt_set]
rows["clip"] = {"top1": float((probs.argmax(1) == torch.as_tensor(result["labels"]).numpy()).mean()),
                "eval_images_per_s": result["images_per_s"]}
print("clip", rows["clip"], flush=True)
print(json.dumps(rows))
