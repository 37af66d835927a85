"""The training loop: fine-tuning and linear probing that resume exactly.

Why not `transformers.Trainer`: resuming must give the same predictions as an
uninterrupted run (tested on CPU), which needs control over every random draw
(`foodlib.train.sampling`), and the smoke profile trains on two CPU cores where
the Trainer's overhead matters.

Checkpoints (`foodlib.train.checkpoints`) live in `models.checkpoint_dir(...)`: `best/` holds the
weights with the best validation top-1, `last/` what a resumed run continues from; `last/` is
written at each epoch end, every SAVE_EVERY_S seconds and when `max_steps` stops the run.
"""
from __future__ import annotations

import shutil
import time
from types import SimpleNamespace

import pandas as pd
import torch
import torch.nn.functional as F

from foodlib import artifacts, compiling, config, metrics, models, runtime, scoring
from foodlib.config import Params
from foodlib.data import evalcache, loader
from foodlib.data.prepare import Prepared
from foodlib.train import checkpoints
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochOrder, EpochSeeded, mix
from foodlib.train.schedule import Plan, make_plan

SAVE_EVERY_S = 600  # a mid-epoch `last/` checkpoint at most this often: an interruption loses <= 10 min
LOG_EVERY = 25  # steps between TensorBoard train-loss points (reading the loss syncs the GPU)
# Gradient-norm clipping at 1.0: the transformers.Trainer default (max_grad_norm=1.0) that the
# published Food-101 fine-tunes cited in foodlib/config.py ran with.
MAX_GRAD_NORM = 1.0


def _freeze_for(model, model_name: str, variant: str) -> None:
    """Linear probe: only the head learns."""
    head = models.spec(model_name).family.head + "."
    for name, p in model.named_parameters():
        p.requires_grad = variant == "finetune" or name.startswith(head)


def _optimizer(model, plan: Plan):
    """AdamW; no weight decay on biases and norm weights (1-d tensors), as transformers.Trainer does."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": plan.weight_decay},
              {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=plan.lr)


def fit(params: Params, model_name: str, prepared: Prepared, variant: str = "finetune",
        progress: bool = True) -> TrainResult | None:
    """Train (or resume, or reuse a finished run of) `model_name` on the prepared data.

    With a published fine-tune (`<model_name>_finetuned`), the fine-tune is that
    checkpoint, evaluated instead of trained, and the linear probe is skipped (None).
    """
    published = params.finetuned(model_name)
    if published:
        if variant != "finetune":
            print(f"{models.artifact_name(model_name, variant)}: skipped: {model_name}_finetuned={published!r} "
                  "stands in for training")
            return None
        return from_published(params, model_name, prepared, published)
    if params.num_processes > 1:  # data-parallel in launched processes; the kernel loads what they saved
        from foodlib.train import distributed

        return distributed.fit(params, model_name, prepared, variant, progress)
    run = session(params, model_name, prepared, variant)
    if run.state["global_step"] and not run.state["finished"]:
        checkpoints.load_last(run.last, run.model, run.optimizer, run.device)
        print(f"{run.name}: resuming from step {run.state['global_step']} (epoch {run.state['epoch'] + 1})")
    if not run.state["finished"]:
        _Run(params, run.name, run.model, run.optimizer, run.plan, run.state, run.device, run.amp_dtype, run.ckpt,
             run.preprocess, model_name).train(run.train_set, run.val_set, progress)
    elif progress:
        print(f"{run.name}: already trained with these settings ({config.shown(run.ckpt)}); delete that folder to "
              "train again")
    return finish(params, model_name, prepared, variant, run)


def session(params: Params, model_name: str, prepared: Prepared, variant: str, device: str | None = None):
    """What a run starts from: model, data, plan, optimizer and the trainer state (resumed when it matches)."""
    device = device or runtime.resolve_device(params.device)
    amp_dtype = runtime.autocast_dtype(params.mixed_precision, device)
    model, preprocess = models.load(model_name, params, prepared.classes, device=device)
    _freeze_for(model, model_name, variant)
    train_images = loader.CachedImages(prepared, "train", None)
    plan = make_plan(params, variant, len(train_images))
    train_images.transform = preprocess.train_uint8(augment=plan.augment)  # uint8 batches, normalised on the device
    train_set = EpochSeeded(train_images, params.seed)
    val_set = evalcache.for_run(params, prepared, "val", preprocess)
    ckpt = models.checkpoint_dir(params, model_name, variant)
    name = models.artifact_name(model_name, variant)
    fingerprint = checkpoints.fingerprint(params, model_name, plan, list(prepared.classes), prepared.root)
    state = checkpoints.resume_state(ckpt, fingerprint) or checkpoints.new_state(fingerprint)
    optimizer = _optimizer(model, plan)
    return SimpleNamespace(device=device, amp_dtype=amp_dtype, model=model, preprocess=preprocess, plan=plan,
                           train_set=train_set, val_set=val_set, ckpt=ckpt, name=name, state=state,
                           optimizer=optimizer, last=artifacts.settled(ckpt / "last"))


def finish(params: Params, model_name: str, prepared: Prepared, variant: str, run) -> TrainResult:
    """The result: the best epoch loaded as notebooks 06 and 07 load it (else the model as trained)."""
    model, preprocess, state = run.model, run.preprocess, run.state
    if state["best_epoch"] is not None:
        model, preprocess = models.load_finetuned(params, model_name, prepared.classes, device=run.device,
                                                  variant=variant)
        _freeze_for(model, model_name, variant)  # so the trainable-parameter count describes this variant
    model.eval()
    return TrainResult(run.name, model_name, variant, model, preprocess, pd.DataFrame(state["history"]), state)


def from_published(params: Params, model_name: str, prepared: Prepared, path_or_id: str) -> TrainResult:
    """A published fine-tune as the result of training: saved as the best checkpoint that 06 and 07 load."""
    device = runtime.resolve_device(params.device)
    model, preprocess = models.load_published(model_name, path_or_id, prepared.classes, device)
    ckpt = models.checkpoint_dir(params, model_name)
    shutil.rmtree(ckpt, ignore_errors=True)  # a later run without it must not mistake this for its own training
    checkpoints.save_best(ckpt / "best", model, path_or_id, params, epoch=None)
    print(f"{model_name}: using the published fine-tune {config.shown(path_or_id)} (labels matched to the dataset's classes "
          "by name); not trained here")
    state = {**checkpoints.new_state({}), "finished": True, "stop_reason": "published fine-tune",
             "published": path_or_id}
    name = models.artifact_name(model_name)
    return TrainResult(name, model_name, "finetune", model, preprocess, pd.DataFrame(), state)


class _Run:
    """One training session: the loop over epochs and steps, and its bookkeeping."""

    main = True  # the process that saves, logs and prints (several processes: `distributed` sets it per rank)

    def __init__(self, params, name, model, optimizer, plan, state, device, amp_dtype, ckpt, preprocess,
                 model_name):
        self.p, self.name, self.model, self.opt, self.plan, self.state = params, name, model, optimizer, plan, state
        self.device, self.amp_dtype, self.ckpt, self.model_name = device, amp_dtype, ckpt, model_name
        self.source = models.source(params, model_name)
        self.normalize = preprocess.normalize()  # uint8 batches -> model input, on the device
        # self.model is what is saved; self.forward what computes (the model itself, or it compiled)
        self.forward = compiling.maybe_compile(model, compiling.enabled(params.compile, params.profile, device))
        state.setdefault("compile_s", 0.0)  # a state saved before compiling was an option
        state["compiled"] = state.get("compiled", False) or isinstance(self.forward, compiling.Compiled)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])

    def train(self, train_set: EpochSeeded, val_set, progress: bool) -> None:
        s, plan = self.state, self.plan
        order, batches = self._batches(train_set)
        writer = self._writer()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self._clock = self._last_save = time.perf_counter()
        # One bar for the whole run (a widget in JupyterLab, plain text under papermill); epoch lines go above it.
        self.bar = runtime.progress(total=plan.epochs * plan.steps_per_epoch, initial=s["global_step"],
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
        self.model.train(self.plan.variant == "finetune")  # the probe's frozen backbone stays in eval mode
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
        step = self.state["global_step"]
        for group in self.opt.param_groups:
            group["lr"] = self.plan.lr_at(step, self.p.warmup_ratio)
        torch.manual_seed(mix(self.p.seed, step, 7))  # dropout / drop-path draws depend on the step only
        with runtime.autocast(self.device, self.amp_dtype):
            logits = self.forward(pixel_values=x).logits
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.p.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], MAX_GRAD_NORM)
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss

    def _validate(self, val_set, writer) -> None:
        """End of an epoch: validation, history row, best checkpoint, early stopping, last checkpoint."""
        s = self.state
        self._tick()
        compiled_before = compiling.compile_seconds(self.forward) or 0.0
        logits = self._predict(val_set)
        s["compile_s"] += (compiling.compile_seconds(self.forward) or 0.0) - compiled_before  # eval graph's
        labels = val_set.labels
        top1 = metrics.top1(labels, logits.argmax(1))
        row = {"epoch": s["epoch"] + 1, "step": s["global_step"],
               "train_loss": s["epoch_loss_sum"] / max(1, s["epoch_images"]),
               "val_loss": scoring.cross_entropy(logits, labels), "val_top1": top1,
               "lr": self.opt.param_groups[0]["lr"], "elapsed_s": s["wall_time_s"]}
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
        if not s["finished"]:
            self._save_last()

    def _predict(self, val_set):
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
