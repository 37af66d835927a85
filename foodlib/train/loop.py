"""The training loop: fine-tuning that resumes exactly.

Why not `transformers.Trainer`: resuming must give the same predictions as an
uninterrupted run (tested on CPU), which needs control over every random draw
(`foodlib.train.sampling`), and the smoke profile trains on two CPU cores where
the Trainer's overhead matters.

`Trainer(session).train(progress)` runs one process; `foodlib.train.distributed`
subclasses it for several, overriding only what differs (the data order, the loss
summed over the processes, the validation gather, who saves).

Checkpoints (`foodlib.models.checkpoints`) live in `models.checkpoint_dir(...)`: `best/` holds the
weights with the best validation top-1, `last/` what a resumed run continues from; `last/` is
written at each epoch end, every SAVE_EVERY_S seconds and when `max_steps` stops the run.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from foodlib import compiling, frontend, metrics, models, runtime
from foodlib.data import loader
from foodlib.data.prepare import Prepared
from foodlib.models import checkpoints
from foodlib.train import scoring
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochOrder, EpochSeeded, mix
from foodlib.train.session import Session, already_trained, finish, open_session

SAVE_EVERY_S = 600  # a mid-epoch `last/` checkpoint at most this often: an interruption loses <= 10 min
LOG_EVERY = 25  # steps between TensorBoard train-loss points (reading the loss syncs the GPU)
# Gradient-norm clipping at 1.0: the transformers.Trainer default (max_grad_norm=1.0) that the
# published Food-101 fine-tunes cited in foodlib/config.py ran with.
MAX_GRAD_NORM = 1.0


def fit(model_name: str, params, prepared: Prepared, device: str, progress: bool) -> TrainResult:
    """Train `model_name` in this process (or resume, or reuse a finished run); the best epoch's result."""
    session = open_session(model_name, params, prepared, device)
    state = session.state
    if state["global_step"] and not state["finished"]:
        checkpoints.load_last(session.last, session.model, session.optimizer, device)
        print(f"{session.name}: resuming from step {state['global_step']} (epoch {state['epoch'] + 1})")
    if not state["finished"]:
        Trainer(session).train(progress)
    elif progress:
        already_trained(session)
    return finish(session, prepared)


class Trainer:
    """One training session in one process: the loop over epochs and steps, and its bookkeeping."""

    main = True  # the process that saves, logs and prints (several processes: `distributed` sets it per rank)

    def __init__(self, session: Session):
        s = self.session = session
        self.p, self.name, self.model, self.opt, self.plan, self.state = (s.params, s.name, s.model, s.optimizer,
                                                                          s.plan, s.state)
        self.device, self.amp_dtype, self.ckpt, self.model_name = s.device, s.amp_dtype, s.ckpt, s.model_name
        self.source = models.source(s.model_name, s.params)
        self.normalize = s.preprocess.normalize()  # uint8 batches -> model input, on the device
        # self.model is what is saved; self.forward what computes (the model itself, or it compiled)
        self.forward = self._forward(s.model)
        state = self.state
        state.setdefault("compile_s", 0.0)  # a state saved before compiling was an option
        state["compiled"] = state.get("compiled", False) or isinstance(self.forward, compiling.Compiled)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])

    def _forward(self, model):
        """What computes: the model itself, or it compiled (`compile`)."""
        return compiling.maybe_compile(model, compiling.enabled(self.p.compile, self.p.profile, self.device))

    def train(self, progress: bool) -> None:
        s, plan, val_set = self.state, self.plan, self.session.val_set
        order, batches = self._batches(self.session.train_set)
        writer = self._writer()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self._clock = self._last_save = time.perf_counter()
        # One bar for the whole run (a widget in JupyterLab, plain text under papermill); epoch lines go above it.
        self.bar = frontend.progress(total=plan.epochs * plan.steps_per_epoch, initial=s["global_step"],
                                    desc=self.name, enabled=progress)
        try:
            while s["epoch"] < plan.epochs and not s["finished"]:
                order.set_epoch(s["epoch"], skip=s["step_in_epoch"] * self.p.batch_size)
                self.bar.set_description(f"{self.name} epoch {s['epoch'] + 1}/{plan.epochs}", refresh=False)
                if not self._epoch(batches, writer):
                    s["stop_reason"] = "max_steps"
                    break
                self._validate(val_set, writer)
            else:
                s["finished"] = True
                s["stop_reason"] = s["stop_reason"] or "num_epochs"
        finally:
            self.bar.close()
            writer.close()
            self._tick()
            if self.device == "cuda":
                peak = torch.cuda.max_memory_allocated() / 2**30
                s["peak_gpu_mem_gb"] = max(peak, s["peak_gpu_mem_gb"] or 0.0)
        # A finished run keeps only its state (the weights are in best/); a stopped one keeps everything.
        self._save_last(weights=not s["finished"])

    def _writer(self):
        from torch.utils.tensorboard import SummaryWriter
        return SummaryWriter(str(self.p.run_dir / "tensorboard" / self.name),
                             purge_step=self.state["global_step"] or None)

    def _batches(self, train_set: EpochSeeded):
        """The seeded order (resumable mid-epoch) and the loader that follows it."""
        order = EpochOrder(len(train_set), self.p.seed)
        return order, loader.make_loader(train_set, batch_size=self.p.batch_size, shuffle=False, sampler=order,
                                         num_workers=self.p.num_workers, device=self.device)

    def _epoch(self, batches, writer) -> bool:
        """Train on the rest of the current epoch; False if max_steps stopped it."""
        s, bar = self.state, self.bar
        self.model.train()
        running = torch.zeros((), dtype=torch.float64, device=self.device)
        t0 = time.perf_counter()
        for x, y in batches:
            if 0 <= self.p.max_steps <= s["global_step"]:
                s["epoch_loss_sum"] += running.item()
                return False
            compiled_before = compiling.compile_seconds(self.forward)
            loss = self._step(loader.to_device(x, self.device, self.normalize), y.to(self.device, non_blocking=True))
            n = self._images(y)
            running += loss.detach().double() * n
            s["global_step"] += 1
            s["step_in_epoch"] += 1
            s["epoch_images"] += n
            if s["global_step"] % LOG_EVERY == 0:
                writer.add_scalar("train/loss", loss.item(), s["global_step"])
                writer.add_scalar("train/lr", self.opt.param_groups[0]["lr"], s["global_step"])
            self._count(time.perf_counter() - t0, n, compiled_before)
            bar.update(1)
            if time.perf_counter() - self._last_save > SAVE_EVERY_S:
                s["epoch_loss_sum"] += running.item()
                running.zero_()
                self._save_last()
            t0 = time.perf_counter()
        s["epoch_loss_sum"] += running.item()
        return True

    def _images(self, y: torch.Tensor) -> int:
        """Images in the step just taken (of all processes)."""
        return len(y)

    def _count(self, seconds: float, images: int, compiled_before: float | None) -> None:
        """Loading + step time: the images/s a user waits for. A step that compiled (the forward at once,
        the backward lazily at its first call) counts as compile time instead."""
        if compiling.compile_seconds(self.forward) != compiled_before:
            self.state["compile_s"] += seconds
        else:
            self.state["step_time_s"] += seconds
            self.state["train_images"] += images

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on the batch; returns the mean loss over its images (for the epoch's average)."""
        step = self.state["global_step"]
        for group in self.opt.param_groups:
            group["lr"] = self.plan.lr_at(step, self.p.warmup_ratio)
        torch.manual_seed(self._step_seed(step))  # dropout / drop-path draws depend on the step only
        with runtime.autocast(self.device, self.amp_dtype):
            logits = self.forward(pixel_values=x).logits
        loss, mean_loss = self._loss(logits, y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], MAX_GRAD_NORM)
        self.scaler.step(self.opt)
        self.scaler.update()
        return mean_loss

    def _step_seed(self, step: int) -> int:
        return mix(self.p.seed, step, 7)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(what backward differentiates, the batch's mean loss): here both the mean cross-entropy."""
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.p.label_smoothing)
        return loss, loss

    def _validate(self, val_set, writer) -> None:
        """End of an epoch: validation, history row, best checkpoint, early stopping, last checkpoint."""
        s = self.state
        self._tick()
        elapsed, compiled_so_far = s["wall_time_s"], s["compile_s"]  # this epoch's steps done, validation not yet
        compiled_before = compiling.compile_seconds(self.forward) or 0.0
        logits = self._predict(val_set)
        s["compile_s"] += (compiling.compile_seconds(self.forward) or 0.0) - compiled_before  # eval graph's
        labels = val_set.labels
        top1 = metrics.top1(labels, logits.argmax(1))
        row = {"epoch": s["epoch"] + 1, "step": s["global_step"],
               "train_loss": s["epoch_loss_sum"] / max(1, s["epoch_images"]),
               "val_loss": scoring.cross_entropy(logits, labels), "val_top1": top1,
               "lr": self.opt.param_groups[0]["lr"], "elapsed_s": elapsed, "compile_s": compiled_so_far}
        s["history"].append(row)
        for key in ("train_loss", "val_loss", "val_top1"):
            writer.add_scalar(f"epoch/{key}", row[key], row["epoch"])
        improved = top1 >= s["best_top1"]  # a tie goes to the later epoch: small validation sets tie often
        if improved:
            s["best_top1"], s["best_epoch"], s["since_best"] = top1, row["epoch"], 0
            if self.main:
                checkpoints.save_best(self.ckpt / "best", self.model, self.source, self.p, row["epoch"])
        else:
            s["since_best"] += 1
        compiled = f", compiling took {s['compile_s']:.0f} s so far" if s["compiled"] else ""
        if self.main:
            self.bar.write(f"{self.name} epoch {row['epoch']}/{self.plan.epochs}: train loss {row['train_loss']:.3f}, "
                           f"val loss {row['val_loss']:.3f}, val top-1 {top1:.3f}" + (" (best)" if improved else "")
                           + compiled)
        s.update(epoch=s["epoch"] + 1, step_in_epoch=0, epoch_loss_sum=0.0, epoch_images=0)
        if s["since_best"] >= self.p.early_stopping_patience and s["epoch"] < self.plan.epochs:
            s["finished"], s["stop_reason"] = True, f"early stopping (no gain in {s['since_best']} epochs)"
        if not s["finished"] and s["epoch"] < self.plan.epochs:  # after the last epoch train() saves the state
            self._save_last()

    def _predict(self, val_set) -> np.ndarray:
        """(N, C) validation logits in dataset order."""
        return scoring.predict(self.forward, val_set, batch_size=self.p.eval_batch_size, num_workers=self.p.num_workers,
                               device=self.device, amp_dtype=self.amp_dtype, normalize=self.normalize)

    def _tick(self) -> None:
        """Add the time since the last tick to the run's wall time (kept in the state, so it survives a resume)."""
        now = time.perf_counter()
        self.state["wall_time_s"] += now - self._clock
        self._clock = now

    def _save_last(self, weights: bool = True) -> None:
        self._tick()
        self.state["scaler"] = self.scaler.state_dict() if self.scaler.is_enabled() else None
        checkpoints.save_last(self.ckpt / "last", self.model, self.opt, self.state, weights=weights)
        self._last_save = time.perf_counter()
