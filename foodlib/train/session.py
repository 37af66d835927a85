"""What a training run starts from and what it ends with: `Session`, `open_session`, `finish`.

A `Session` holds everything one fine-tuning run needs (model, data, plan,
optimizer, trainer state, checkpoint folder, device) and is passed whole to the
loop, one process or several. `finish` turns a trained session into the
`TrainResult` notebooks read; `from_published` makes the same result from a
published fine-tune that stands in for training.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from foodlib import models, paths, runtime
from foodlib.config import Params
from foodlib.data import evalcache, loader
from foodlib.data.prepare import Prepared
from foodlib.models import checkpoints, hf
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochSeeded
from foodlib.train.schedule import Plan, make_plan


@dataclass
class Session:
    """One fine-tuning run: what the loop needs, passed whole."""

    model_name: str  # registry name: vit | swin
    params: Params
    device: str  # resolved once, by runtime.setup
    model: Any  # the model trained and saved (never a compiled or DDP wrapper)
    preprocess: models.Preprocess
    plan: Plan
    train_set: EpochSeeded
    val_set: Any  # uint8 eval inputs of the validation split (evalcache)
    optimizer: torch.optim.Optimizer
    state: dict[str, Any]  # the trainer state saved as last/state.json (checkpoints.new_state)

    @property
    def name(self) -> str:
        """Artifact name: vit or swin."""
        return models.artifact_name(self.model_name)

    @property
    def ckpt(self) -> Path:
        return models.checkpoint_dir(self.model_name, self.params)

    @property
    def last(self) -> Path:
        return checkpoints.last_dir(self.model_name, self.params)

    @property
    def amp_dtype(self):
        return runtime.autocast_dtype(self.params.mixed_precision, self.device)


def optimizer(model, plan: Plan):
    """AdamW; no weight decay on biases and norm weights (1-d tensors), as transformers.Trainer does."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": plan.weight_decay},
              {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=plan.lr)


def resume_fingerprint(params: Params, model_name: str, plan: Plan, classes: list[str], data_root: Path
                       ) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (max_steps is only a stop, so it is left out)."""
    keys = ["model_source", "seed", "batch_size", "warmup_ratio", "label_smoothing",
            "early_stopping_patience", "mixed_precision"]
    return json.loads(json.dumps({
        "model_name": model_name, **{k: getattr(params, k) for k in keys},
        "plan": plan.__dict__, "classes": classes, "data": json.loads((data_root / "settings.json").read_text()),
    }))


def open_session(model_name: str, params: Params, prepared: Prepared, device: str) -> Session:
    """What a run starts from: model, data, plan, optimizer and the trainer state (resumed when it matches)."""
    model, preprocess = models.load(model_name, params, prepared.classes, device=device)
    train_images = loader.CachedImages(prepared, "train", None)
    plan = make_plan(params, len(train_images))
    train_images.transform = preprocess.train_uint8(augment=plan.augment)  # uint8 batches, normalised on the device
    val_set = evalcache.for_run(params, prepared, "val", preprocess)
    ckpt = models.checkpoint_dir(model_name, params)
    fingerprint = resume_fingerprint(params, model_name, plan, list(prepared.classes), prepared.root)
    state = checkpoints.resume_state(ckpt, fingerprint) or checkpoints.new_state(fingerprint)
    return Session(model_name, params, device, model, preprocess, plan, EpochSeeded(train_images, params.seed),
                   val_set, optimizer(model, plan), state)


def finish(session: Session, prepared: Prepared) -> TrainResult:
    """The result: the best epoch loaded as notebooks 06 and 07 load it (else the model as trained)."""
    s = session
    model, preprocess = s.model, s.preprocess
    if s.state["best_epoch"] is not None:
        model, preprocess = models.load_trained(s.model_name, s.params, prepared.classes, device=s.device)
    model.eval()
    return TrainResult(s.model_name, model, preprocess, pd.DataFrame(s.state["history"]), s.state)


def already_trained(session: Session) -> None:
    print(f"{session.name}: already trained with these settings ({paths.shown(session.ckpt)}); delete that folder "
          "to train again")


def from_published(model_name: str, params: Params, prepared: Prepared, path_or_id: str, device: str
                   ) -> TrainResult:
    """A published fine-tune as the result of training: saved as the best checkpoint that 06 and 07 load."""
    model, preprocess = hf.load_published(model_name, path_or_id, prepared.classes, device)
    ckpt = models.checkpoint_dir(model_name, params)
    if ckpt.exists():  # a later run without it must not mistake this for its own training
        print(f"{model_name}: clearing {paths.shown(ckpt)} for the published fine-tune")
        shutil.rmtree(ckpt)
    checkpoints.save_best(ckpt / "best", model, hf.published_source(path_or_id), params, epoch=None)
    print(f"{model_name}: using the published fine-tune {paths.shown(path_or_id)} (labels matched to the dataset's "
          "classes by name); not trained here")
    state = {**checkpoints.new_state({}), "finished": True, "stop_reason": "published fine-tune",
             "published": path_or_id}
    return TrainResult(model_name, model, preprocess, pd.DataFrame(), state)
