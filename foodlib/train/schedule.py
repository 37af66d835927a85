"""What one training run does, derived from the parameters: epochs, learning rate and its schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass

from foodlib.config import Params

@dataclass
class Plan:
    """What one training run does: derived from the parameters."""

    epochs: int
    lr: float
    weight_decay: float
    augment: bool
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def lr_at(self, step: int, warmup_ratio: float) -> float:
        """Linear warm-up, then linear decay to 0 (the schedule of the cited recipes)."""
        warmup = max(1, round(warmup_ratio * self.total_steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        return self.lr * max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))


def make_plan(params: Params, num_train: int) -> Plan:
    """The fine-tune's plan for `num_train` training images."""
    steps = math.ceil(num_train / params.batch_size)
    return Plan(params.num_epochs, params.lr, params.weight_decay, params.augment, steps)
