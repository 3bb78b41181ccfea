"""The training engine: maximum likelihood with checkpoints, resume, early stopping, callbacks and DDP."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qgen.errors import TrainingError
from qgen.models import GenerativeModel
from qgen.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    check_checkpoint,
    data_fingerprint,
    model_from_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from qgen.train.distributed import Distributed

__all__ = ["Trainer", "Callback", "as_outcomes"]

Callback = Callable[["Trainer", int], "dict[str, float] | None"]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = (None, "cosine", "step", "exponential", "plateau")
# Settings that define the training run; a checkpoint stores them so `Trainer.resume` continues the same run.
_RUN_SETTINGS = (
    "lr",
    "batch_size",
    "epochs",
    "optimizer",
    "weight_decay",
    "schedule",
    "clip_grad",
    "val_fraction",
    "early_stopping_patience",
    "seed",
)


def as_outcomes(data: Any) -> Tensor:
    """Measurement data as a (n, N) uint8/int64 CPU tensor: a tensor, an array, or anything with `.outcomes`."""
    if hasattr(data, "outcomes"):
        data = data.outcomes
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, Tensor):
        raise TrainingError(f"data must be an (n, N) integer tensor/array or have .outcomes, got {type(data).__name__}")
    if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool or data.dim() != 2:
        raise TrainingError(
            f"data must be an (n, N) integer array, got dtype {data.dtype} and shape {tuple(data.shape)}"
        )
    return data.cpu()


class Trainer:
    """Fits a GenerativeModel to outcome strings by minimising `model.loss` (the NLL for exact models).

    Every epoch is a deterministic function of (state at its start, seed, epoch number): the shuffle and the
    torch RNG (dropout) are reseeded from (seed, epoch), so a run resumed from a checkpoint ends with the
    same weights as an uninterrupted one, and the checkpoint need not carry RNG streams.

    Under `torchrun` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel. Every rank draws the
    same global batches of `batch_size` and takes an interleaved share of each; the loss is weighted so the
    averaged gradient equals the single-process gradient of the global batch. Only rank 0 prints, runs the
    callbacks and writes checkpoints.

    Args:
        model: the model to train (moved to `device`).
        lr: learning rate.
        batch_size: global batch size (all ranks together).
        epochs: maximum number of passes over the training split.
        optimizer: "adam", "adamw", "sgd" (momentum 0.9) or "rmsprop".
        weight_decay: L2 penalty passed to the optimizer.
        schedule: None, "cosine" (to 0 over `epochs`), "step" (x0.1 at 1/2 and 3/4 of `epochs`),
            "exponential" (x0.95 per epoch) or "plateau" (x0.5 after 3 epochs without a better validation loss).
        clip_grad: maximum global gradient norm; None disables clipping.
        val_fraction: fraction of the data held out for validation and early stopping (0 disables both).
        early_stopping_patience: stop after this many epochs without a better validation loss, and restore
            the best weights; None trains all `epochs` (the best weights are still restored).
        callbacks: callables `cb(trainer, epoch) -> dict | None` run after each epoch (epoch counts from 1);
            a returned dict of floats is added to the history. A callback may set `trainer.stop = True`.
        checkpoint: file written atomically after every epoch; needed for `resume`.
        seed: seeds the train/validation split, the shuffles and dropout.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N" or a torch.device.
        compile: train through `torch.compile(model)`.
        progress: show a tqdm progress bar with the live loss.

    Example:
        >>> from qgen.models import build
        >>> model = build("rnn", n_qubits=3, n_outcomes=2, hidden_size=8, seed=0)
        >>> data = torch.randint(0, 2, (200, 3), generator=torch.Generator().manual_seed(0))
        >>> history = Trainer(model, epochs=2, batch_size=50, progress=False).fit(data)
        >>> len(history["train_loss"])
        2
    """

    def __init__(
        self,
        model: GenerativeModel,
        *,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 50,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        schedule: str | None = None,
        clip_grad: float | None = 1.0,
        val_fraction: float = 0.1,
        early_stopping_patience: int | None = 10,
        callbacks: Sequence[Callback] = (),
        checkpoint: str | os.PathLike | None = None,
        seed: int = 0,
        device: Any = "auto",
        compile: bool = False,
        progress: bool = True,
    ) -> None:
        if not isinstance(model, GenerativeModel):
            raise TrainingError(f"model must be a qgen GenerativeModel, got {type(model).__name__}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise TrainingError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not (isinstance(epochs, int) and epochs >= 1):
            raise TrainingError(f"epochs must be a positive integer, got {epochs!r}")
        if not (isinstance(lr, int | float) and lr > 0):
            raise TrainingError(f"lr must be a positive number, got {lr!r}")
        if optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {optimizer!r}: expected one of {OPTIMIZERS}")
        if schedule not in SCHEDULES:
            raise TrainingError(f"unknown schedule {schedule!r}: expected one of {SCHEDULES}")
        if not 0.0 <= val_fraction < 1.0:
            raise TrainingError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
        if early_stopping_patience is not None and early_stopping_patience < 1:
            raise TrainingError(f"early_stopping_patience must be >= 1 or None, got {early_stopping_patience!r}")
        if clip_grad is not None and clip_grad <= 0:
            raise TrainingError(f"clip_grad must be positive or None, got {clip_grad!r}")
        self.lr, self.batch_size, self.epochs = float(lr), batch_size, epochs
        self.optimizer_name, self.weight_decay, self.schedule = optimizer, float(weight_decay), schedule
        self.clip_grad, self.val_fraction = clip_grad, float(val_fraction)
        self.early_stopping_patience, self.seed = early_stopping_patience, int(seed)
        self.callbacks = list(callbacks)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.compile, self.progress = compile, progress
        self.dist = Distributed()
        if device == "auto":
            device = f"cuda:{self.dist.local_rank}" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError):
            raise TrainingError(f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
        self.model = model.to(self.device)
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.history: dict[str, list[float]] = {}
        self.epoch = 0  # epochs completed
        self.best_loss = math.inf
        self.best_state: dict[str, Tensor] | None = None
        self.bad_epochs = 0
        self.finished = False
        self.stop = False
        self._pending: dict[str, Any] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The settings that define the run (stored in checkpoints)."""
        names = {"optimizer": "optimizer_name"}
        return {k: getattr(self, names.get(k, k)) for k in _RUN_SETTINGS}

    @property
    def is_main(self) -> bool:
        """True on the process that prints and writes (rank 0, or the only process)."""
        return self.dist.rank == 0

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params, wd = self.model.parameters(), self.weight_decay
        if self.optimizer_name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=wd)
        if self.optimizer_name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=wd)
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=wd)
        return torch.optim.RMSprop(params, lr=self.lr, weight_decay=wd)

    def _make_scheduler(self) -> Any:
        opt = self.optimizer
        if self.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs)
        if self.schedule == "step":
            milestones = sorted({max(1, self.epochs // 2), max(1, 3 * self.epochs // 4)})
            return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
        if self.schedule == "exponential":
            return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
        if self.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
        return None

    # ---- checkpoints -------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run: model, optimizer, scheduler, progress and history."""
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "model_config": self.model.config,
            "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler is not None else None,
            "settings": self.settings,
            "epoch": self.epoch,
            "history": self.history,
            "best_loss": self.best_loss,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "finished": self.finished,
            "data_fingerprint": getattr(self, "_data_fingerprint", None),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a run from `state_dict()` output (the model must have the same config)."""
        check_checkpoint(state, self.model.config)
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        if self.scheduler is not None and state["scheduler_state"] is not None:
            self.scheduler.load_state_dict(state["scheduler_state"])
        self.epoch, self.history = state["epoch"], {k: list(v) for k, v in state["history"].items()}
        self.best_loss, self.bad_epochs = state["best_loss"], state["bad_epochs"]
        self.best_state, self.finished = state["best_state"], state["finished"]
        self._resumed_fingerprint = state["data_fingerprint"]

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> None:
        """Write the checkpoint atomically (rank 0 only); defaults to the `checkpoint` path."""
        path = path if path is not None else self.checkpoint
        if path is None:
            raise TrainingError("no checkpoint path: pass checkpoint= to the Trainer")
        if self.is_main:
            write_checkpoint(self.state_dict(), path)

    @classmethod
    def resume(cls, path: str | os.PathLike, **overrides: Any) -> Trainer:
        """A Trainer that continues the run saved in `path`; call `fit(data)` with the same data.

        Args:
            path: a checkpoint written by a Trainer.
            **overrides: constructor arguments not stored in the checkpoint (callbacks, device, progress,
                compile) or run settings to change deliberately (e.g. a larger `epochs`).
        """
        state = read_checkpoint(path)
        model = model_from_checkpoint(state, path)
        kwargs = {**state["settings"], "checkpoint": path, **overrides}
        trainer = cls(model, **kwargs)
        trainer._pending = state
        return trainer

    # ---- training ----------------------------------------------------------------------------------------

    def _split(self, outcomes: Tensor) -> tuple[Tensor, Tensor]:
        n = outcomes.shape[0]
        n_val = int(round(self.val_fraction * n)) if self.val_fraction > 0 else 0
        if n - n_val < 1:
            raise TrainingError(f"{n} samples leave nothing to train on with val_fraction={self.val_fraction}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        return outcomes[perm[n_val:]], outcomes[perm[:n_val]]

    def _batches(self, n: int, epoch: int) -> list[tuple[Tensor, int]]:
        """This rank's index share of each global batch of the epoch (the same permutation on every rank)."""
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        return self.dist.batch_shares(perm, self.batch_size)

    @torch.no_grad()
    def evaluate(self, outcomes: Tensor) -> float:
        """Mean `model.loss` over a data set (the NLL per string for exact models), across all ranks."""
        self.model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.device)
        for batch in self.dist.shard(outcomes).split(max(self.batch_size, 1024)):
            x = batch.to(self.device, non_blocking=True).long()
            total[0] += self.model.loss(x).double() * len(x)
            total[1] += len(x)
        self.dist.sum_over_ranks(total)
        return float(total[0] / total[1]) if total[1] > 0 else math.nan

    def _record(self, values: dict[str, float]) -> None:
        """Set this epoch's entries; every history column stays one value per epoch (NaN where missing)."""
        for key, value in values.items():
            self.history.setdefault(key, [])
            column = self.history[key]
            column.extend([math.nan] * (self.epoch - len(column)))
            column[self.epoch - 1] = float(value)
        for column in self.history.values():
            column.extend([math.nan] * (self.epoch - len(column)))

    def fit(self, data: Any, *, resume: bool = False) -> dict[str, list[float]]:
        """Train until `epochs` are done or early stopping triggers; leaves the best weights in the model.

        Args:
            data: (n, N) integer tensor or array with values in [0, K), or an object with `.outcomes`
                (MeasurementData).
            resume: continue from `checkpoint` when that file exists (a fresh start otherwise).

        Returns:
            the history: lists per epoch of "epoch", "train_loss", "val_loss", "lr", "time" and whatever
            the callbacks returned; also stored as `model.history`.
        """
        outcomes = as_outcomes(data)
        n_qubits, n_outcomes = self.model.n_qubits, self.model.n_outcomes
        if outcomes.shape[1] != n_qubits or outcomes.shape[0] < 1:
            raise TrainingError(f"data have shape {tuple(outcomes.shape)}; this model needs (n >= 1, {n_qubits})")
        low, high = int(outcomes.min()), int(outcomes.max())
        if low < 0 or high >= n_outcomes:
            raise TrainingError(f"data hold outcomes in [{low}, {high}]; this model needs values in [0, {n_outcomes})")
        self._data_fingerprint = data_fingerprint(outcomes)
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            self._pending = read_checkpoint(self.checkpoint)
        if self._pending is not None:
            self.load_state_dict(self._pending)
            self._pending = None
            if self._resumed_fingerprint not in (None, self._data_fingerprint):
                raise TrainingError("the data differ from those the checkpoint was trained on; cannot resume")
        train_set, val_set = self._split(outcomes)
        self.dist.setup(self.device)
        try:
            self._loop(train_set.to(self.device), val_set.to(self.device))
        finally:
            self.dist.teardown()
        self.model.history = self.history
        return self.history

    def _loop(self, train_set: Tensor, val_set: Tensor) -> None:
        from tqdm.auto import tqdm

        net: Any = self.dist.wrap(self.model, self.device)
        if self.compile:
            net = torch.compile(net)
        n_batches = len(self._batches(len(train_set), 0))
        bar = tqdm(
            total=self.epochs * n_batches,
            initial=self.epoch * n_batches,
            disable=not (self.progress and self.is_main),
            unit="batch",
            dynamic_ncols=True,
        )
        started = time.perf_counter() - (self.history["time"][-1] if self.history.get("time") else 0.0)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            while self.epoch < self.epochs and not self.finished:
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(self.seed * 1_000_003 + self.epoch + 1)
                    train_loss = self._train_epoch(net, train_set, self.epoch, bar)
                self._end_epoch(train_loss, val_set, started, bar)
        finally:
            bar.close()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def _train_epoch(self, net: Any, train_set: Tensor, epoch: int, bar: Any) -> float:
        self.model.train()
        # Summed on the device and read back only for the progress bar, so CUDA runs without a sync per batch.
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for step, (idx, global_n) in enumerate(self._batches(len(train_set), epoch)):
            x = train_set[idx.to(train_set.device)].long()
            loss = net(x)
            # Weight so DDP's average over ranks is the gradient of the global batch mean.
            scaled = loss * (len(x) * self.dist.world / global_n) if self.dist.active else loss
            self.optimizer.zero_grad(set_to_none=True)
            scaled.backward()
            if self.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
            self.optimizer.step()
            total += loss.detach().double() * len(x)
            count += len(x)
            bar.update(1)
            if not bar.disable and step % 10 == 0:
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(total) / count:.4f}", refresh=False)
        mean = float(total) / max(count, 1)
        if not math.isfinite(mean):
            raise TrainingError(f"the training loss became {mean} in epoch {epoch + 1}; lower the learning rate")
        return mean

    def _end_epoch(self, train_loss: float, val_set: Tensor, started: float, bar: Any) -> None:
        self.epoch += 1
        train_loss = self.dist.mean_over_ranks(train_loss, self.device)
        val_loss = self.evaluate(val_set) if len(val_set) else math.nan
        monitored = val_loss if len(val_set) else train_loss
        lr = self.optimizer.param_groups[0]["lr"]
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        elif self.scheduler is not None:
            self.scheduler.step()
        if monitored < self.best_loss:
            self.best_loss, self.bad_epochs = monitored, 0
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
        else:
            self.bad_epochs += 1
        record = {"epoch": self.epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr}
        record["time"] = time.perf_counter() - started
        self._record(record)
        if self.is_main:
            for callback in self.callbacks:
                extra = callback(self, self.epoch)
                if extra:
                    self._record(dict(extra))
            self.model.train()
        patience = self.early_stopping_patience
        if self.stop or (patience is not None and len(val_set) and self.bad_epochs >= patience):
            self.finished = True  # stopped early: a resume, even with more epochs, does not continue
        bar.set_postfix(epoch=self.epoch, loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if self.checkpoint is not None:
            self.save_checkpoint()
