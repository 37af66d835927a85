"""Training checkpoints: where they lie, what they hold, writing and reading them (safetensors, nothing unpickled).

One folder per training run, `<cache_dir>/checkpoints/<artifact name>/` (`checkpoint_dir`), outside git:
  last/  model.safetensors + optimizer.safetensors + optimizer_groups.json + state.json (the trainer state,
         `new_state`'s keys): what a resumed run continues from; a finished run keeps only state.json
  best/  `save_pretrained` weights + the processor config + provenance.json: the best epoch, what 06 and 07 load
Notebooks 02/03 write them (`foodlib.train`); `foodlib.models.load_trained` reads them. A trainer state resumes
only under the same settings (its `fingerprint`, which `foodlib.train` computes). Each folder is written beside
its target and swapped in whole (`artifacts.swap_in`); `settled` finds it after a crash between the two renames.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from foodlib import artifacts, paths, registry
from foodlib.config import Params
from foodlib.models.common import quiet_loading


def checkpoint_dir(model_name: str, params: Params) -> Path:
    """Folder of a fine-tune's checkpoints (`best/`, `last/`): outside git, under the cache."""
    return params.cache_dir / "checkpoints" / registry.artifact_name(model_name)


def best_dir(model_name: str, params: Params) -> Path:
    """The `best/` checkpoint of a fine-tune (its `.old` copy after a crash between two renames)."""
    return artifacts.settled(checkpoint_dir(model_name, params) / "best")


def last_dir(model_name: str, params: Params) -> Path:
    """The `last/` checkpoint of a fine-tune (its `.old` copy after a crash between two renames)."""
    return artifacts.settled(checkpoint_dir(model_name, params) / "last")


def stopped_before_an_epoch(model_name: str, params: Params) -> bool:
    """True when `max_steps` stopped the run before its first validation: no best epoch, only `last/`."""
    state = last_dir(model_name, params) / "state.json"
    if not state.exists():
        return False
    saved = json.loads(state.read_text())
    return saved.get("stop_reason") == "max_steps" and saved.get("best_epoch") is None


def save_last(folder: Path, model, optimizer, state: dict, weights: bool = True) -> None:
    """Weights + optimizer (safetensors) + trainer state (JSON), swapped in as one folder."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if weights:
        save_model(model, str(tmp / "model.safetensors"))
        tensors, groups = _flatten_optimizer(optimizer.state_dict())
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer_groups.json").write_text(json.dumps(groups))
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    artifacts.swap_in(tmp, folder)


def _flatten_optimizer(sd: dict) -> tuple[dict[str, torch.Tensor], list]:
    tensors = {f"{pid}.{k}": v.detach().cpu().contiguous() for pid, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def load_last(folder: Path, model, optimizer, device: str) -> None:
    """Restore the weights and optimizer state that `save_last` wrote."""
    load_model(model, str(folder / "model.safetensors"), device=device)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(folder / "optimizer.safetensors")).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    groups = json.loads((folder / "optimizer_groups.json").read_text())
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_best(folder: Path, model, source: str, params: Params, epoch: int | None) -> None:
    """`save_pretrained` weights, the processor config of `source` and the parameters behind them."""
    from transformers import AutoImageProcessor

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_loading():  # no "Writing model shards" bar at every save
        model.save_pretrained(tmp)
        AutoImageProcessor.from_pretrained(source).save_pretrained(tmp)  # the matching preprocessing travels along
    artifacts.write_json(tmp / "provenance.json", {"epoch": epoch, **artifacts.provenance(params)})
    artifacts.swap_in(tmp, folder)


def resume_state(ckpt: Path, fingerprint: dict) -> dict | None:
    """The saved trainer state if it was made with the same settings; else clear the folder."""
    last = artifacts.settled(ckpt / "last")
    if (last / "state.json").exists():
        state = json.loads((last / "state.json").read_text())
        if state["fingerprint"] == fingerprint:
            return state
        print(f"checkpoints in {paths.shown(ckpt)} were made with other settings: starting again")
    shutil.rmtree(ckpt, ignore_errors=True)
    return None


def new_state(fingerprint: dict) -> dict[str, Any]:
    """The trainer state of a run that has not started; `save_last` writes it as state.json."""
    return {"fingerprint": fingerprint, "epoch": 0, "step_in_epoch": 0, "global_step": 0,
            "epoch_loss_sum": 0.0, "epoch_images": 0, "history": [], "best_top1": -1.0, "best_epoch": None,
            "since_best": 0, "finished": False, "stop_reason": None, "wall_time_s": 0.0, "step_time_s": 0.0,
            "train_images": 0, "compile_s": 0.0, "compiled": False, "peak_gpu_mem_gb": None, "scaler": None}
