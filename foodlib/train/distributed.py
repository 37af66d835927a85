"""`train.fit` data-parallel over `num_processes` processes: DDP through accelerate, launched from the kernel.

The notebook kernel checks the parameters, loads the model once (so the processes do not race to build or
download it) and clears checkpoints of other settings; then it starts the processes with
`torch.multiprocessing` (spawn: the worker is an importable function, so this works in JupyterLab, Colab and
under papermill, and whether or not the kernel has touched CUDA), waits for them, and loads the best
checkpoint and the trainer state that the main process (rank 0) wrote: the same `TrainResult` as one process.

Each process builds an `accelerate.Accelerator` (process group: nccl on GPUs, gloo on CPU; one device per
process; DDP wrapping). What stays as with one process: the global batch (`batch_size`, split evenly over the
processes), the global data order (`EpochOrder`, sharded per global batch, so `skip` resumes mid-epoch under
any number of processes), the learning-rate schedule (one step per global batch), mixed precision (the loop's
own autocast and GradScaler, not accelerate's) and the loss: the mean over the global batch's images.
Validation is split over the processes and gathered back in dataset order, the padding removed; the test split
is scored afterwards in the kernel by `train.write_results`, one process, each image once.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import warnings
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_model
from torch.utils.data import Dataset, Subset

from foodlib import runtime
from foodlib.config import ParameterError, Params
from foodlib.data import loader
from foodlib.data.prepare import Prepared
from foodlib.models import checkpoints
from foodlib.train import loop, scoring
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochOrder, EpochSeeded, mix
from foodlib.train.session import already_trained, finish, open_session

IGNORE = -100  # label of a padding image in a short last batch: F.cross_entropy's default ignore_index


def check(params: Params, device: str) -> None:
    """Refuse more processes than the machine has devices for: a clear error before any process starts.

    (`config.resolve` has already refused a batch that does not split evenly over the processes.)
    """
    n = params.num_processes
    if device == "cuda":
        available, what = torch.cuda.device_count(), "GPUs (torch.cuda.device_count())"
    else:  # one process per core: more would only time-slice the same cores
        available, what = runtime.cpu_cores(), "CPU cores available to this process"
    if n > available:
        raise ParameterError(f"num_processes {n} is more than the {available} {what} on this machine; "
                             f"use num_processes <= {available}")


def fit(model_name: str, params: Params, prepared: Prepared, device: str,
        progress: bool) -> TrainResult:
    """Train in `params.num_processes` processes, then return the result as `loop.fit` does with one."""
    check(params, device)
    # In the kernel, on the CPU: the model is built or downloaded once, and stale checkpoints are cleared.
    session = open_session(model_name, params, prepared, "cpu")
    if not session.state["finished"]:
        _launch(model_name, params, prepared, progress, device)
        session.state = json.loads((session.last / "state.json").read_text())
    elif progress:
        already_trained(session)
    weights = session.last / "model.safetensors"
    if session.state["best_epoch"] is None and weights.exists():  # stopped (max_steps) before a first validation
        load_model(session.model, str(weights))
    session.model.to(device)
    session.device = device
    return finish(session, prepared)


def _launch(model_name: str, params: Params, prepared: Prepared, progress: bool, device: str) -> None:
    import torch.multiprocessing as mp

    n = params.num_processes
    print(f"training on {n} {'GPUs' if device == 'cuda' else 'CPU processes (gloo)'}: "
          f"{params.batch_size // n} images per process per step, a global batch of {params.batch_size}")
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(n),
           "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo"),  # as accelerate's debug_launcher
           # the cores shared by the processes, not oversubscribed (accelerate warns when it is unset)
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, runtime.cpu_cores() // n)))}
    with _environment(env):
        try:
            mp.start_processes(_worker, args=(model_name, params, prepared, progress, device), nprocs=n,
                               start_method="spawn")
        except mp.ProcessException as exc:  # raised an exception, or was killed (out of memory, a signal)
            raise RuntimeError(f"data-parallel training failed in one of its {n} processes:\n{exc}") from None


def _worker(rank: int, model_name: str, params: Params, prepared: Prepared, progress: bool,
            device: str) -> None:
    """One process of the run (`rank` 0 is the main one: it saves, logs and prints)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    n = params.num_processes
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(n))
    if rank:  # the main process speaks for all (errors still reach stderr)
        sys.stdout = open(os.devnull, "w")
    if device == "cuda":
        torch.cuda.set_device(rank)  # so "cuda" (the loop's device) is this process's GPU
    else:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    # Buffers (Swin's relative-position tables) are constant: no broadcast, so a forward is never a collective.
    acc = Accelerator(cpu=device == "cpu", mixed_precision="no",
                      kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)])
    if params.num_workers < 0:  # "one per core" shared by the processes
        params = dataclasses.replace(params, num_workers=runtime.num_workers(-1) // n)
    session = open_session(model_name, params, prepared, device)
    if session.state["global_step"]:
        checkpoints.load_last(session.last, session.model, session.optimizer, device)
        if acc.is_main_process:
            print(f"{session.name}: resuming from step {session.state['global_step']} "
                  f"(epoch {session.state['epoch'] + 1})")
    DistributedTrainer(acc, session).train(progress and acc.is_main_process)
    acc.wait_for_everyone()
    acc.end_training()


class ShardedOrder(EpochOrder):
    """`EpochOrder` shared by `world` processes: each global batch of `batch_size` is cut into `world`
    consecutive parts, and this process (`rank`) takes its part. A short last batch is padded (cycling its own
    images, returned with index -1 - i: the loss ignores them) so every process takes the same number of steps."""

    def __init__(self, n: int, seed: int, batch_size: int, rank: int, world: int):
        super().__init__(n, seed)
        self.batch_size, self.rank, self.world = batch_size, rank, world

    def __iter__(self):
        items, out = list(super().__iter__()), []
        for k in range(0, len(items), self.batch_size):
            chunk = items[k:k + self.batch_size]
            part = -(-len(chunk) // self.world)  # ceil
            chunk += [(e, -1 - i) for e, i in (chunk[j % len(chunk)] for j in range(part * self.world - len(chunk)))]
            out += chunk[self.rank * part:(self.rank + 1) * part]
        return iter(out)

    def __len__(self) -> int:
        full, rest = divmod(super().__len__(), self.batch_size)
        return full * (self.batch_size // self.world) + -(-rest // self.world)


class _Padded(Dataset):
    """`EpochSeeded` that also serves the padding keys (epoch, -1 - i): image i, label IGNORE."""

    def __init__(self, train_set: EpochSeeded):
        self.train_set = train_set

    def __len__(self) -> int:
        return len(self.train_set)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        if i >= 0:
            return self.train_set[key]
        return self.train_set[(epoch, -1 - i)][0], IGNORE


class _NoWriter:
    """TensorBoard for the processes other than the main one: nothing."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


class DistributedTrainer(loop.Trainer):
    """`loop.Trainer` in one of several processes: DDP forward/backward, sharded data, gathered validation."""

    def __init__(self, accelerator, session):
        self.acc, self.main = accelerator, accelerator.is_main_process
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        self._n = 0
        super().__init__(session)

    def _forward(self, model):
        """DDP around the plain model (gradients averaged over the processes in backward), compiled as with one
        process; `self.model` stays the plain model, what is saved."""
        with warnings.catch_warnings():  # accelerate 1.15 passes broadcast_buffers, which torch now calls deprecated
            warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)
            ddp = self.acc.prepare_model(model)
        return super()._forward(ddp)

    def _writer(self):
        return super()._writer() if self.main else _NoWriter()

    def _batches(self, train_set: EpochSeeded):
        order = ShardedOrder(len(train_set), self.p.seed, self.p.batch_size, self.rank, self.world)
        return order, loader.make_loader(_Padded(train_set), batch_size=self.p.batch_size // self.world,
                                         shuffle=False, sampler=order, num_workers=self.p.num_workers,
                                         device=self.device)

    def _step_seed(self, step: int) -> int:
        return mix(self.p.seed, step, 7, self.rank)  # dropout draws: per step and process

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The global batch's mean loss: summed here, reduced over the processes (padding ignored)."""
        loss_sum = F.cross_entropy(logits.float(), y, ignore_index=IGNORE, label_smoothing=self.p.label_smoothing,
                                   reduction="sum")
        totals = torch.stack([loss_sum.detach(), (y != IGNORE).sum().float()])
        dist.all_reduce(totals)  # (sum of losses, images) over the global batch
        self._n = int(totals[1].item())
        # DDP averages gradients over the processes: x world / images makes them those of the global mean loss.
        return loss_sum * (self.world / totals[1]), totals[0] / totals[1]

    def _images(self, y: torch.Tensor) -> int:
        return self._n

    def _predict(self, val_set) -> np.ndarray:
        """Each process scores every world-th image (padded to equal shares), gathered back in dataset order."""
        n = len(val_set)
        share = -(-n // self.world)
        mine = [(j * self.world + self.rank) % n for j in range(share)]  # (share,) dataset indices
        local = scoring.predict(self.forward, Subset(val_set, mine), batch_size=self.p.eval_batch_size,
                                num_workers=self.p.num_workers, device=self.device, amp_dtype=self.amp_dtype,
                                normalize=self.normalize)
        every = self.acc.gather(torch.from_numpy(local).to(self.acc.device))  # (world * share, C), rank by rank
        every = every.reshape(self.world, share, -1).transpose(0, 1).reshape(self.world * share, -1)
        return every[:n].cpu().numpy()  # position j * world + r is rank r's j-th image: dataset order

    def _save_last(self, weights: bool = True) -> None:
        if self.main:
            super()._save_last(weights)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for the processes started inside, then restore the kernel's."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
