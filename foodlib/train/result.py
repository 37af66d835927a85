"""What `train.fit` returns: the trained classifier (best weights loaded) and how training went."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from foodlib import models


@dataclass
class TrainResult:
    """A trained classifier (best weights loaded) and how training went."""

    model_name: str
    model: Any
    preprocess: models.Preprocess
    history: pd.DataFrame
    state: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """Artifact name: vit or swin."""
        return models.artifact_name(self.model_name)

    def summary(self) -> dict[str, Any]:
        """The training keys of the metrics JSON."""
        s = self.state
        n_all, n_train = models.count_parameters(self.model)
        trained = not s.get("published")
        compile_s = s.get("compile_s", 0.0) if trained and s.get("compiled") else None  # None: not compiled
        return {  # compile time is kept out of the training time and the images/s
            "train_wall_time_s": s["wall_time_s"] - (compile_s or 0.0) if trained else None,
            "train_compile_s": compile_s,
            "train_images_per_s": s["train_images"] / max(s["step_time_s"], 1e-9) if trained else None,
            "num_parameters": n_all,
            "num_trainable_parameters": n_train,
            "peak_gpu_mem_gb": s["peak_gpu_mem_gb"],
            "epochs_run": s["epoch"],
            "best_epoch": s["best_epoch"],
            "stop_reason": s["stop_reason"],
            **({} if trained else {"published_checkpoint": s["published"]}),
        }
