"""The training engine: one loop for every model family, with checkpoints, exact resume, early stopping and DDP."""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from qgen.errors import TrainingError
from qgen.models.base import GenerativeModel, MaximumLikelihood, Ranks, Step, Strings, Update
from qgen.train.checkpoint import (
    check_checkpoint,
    data_fingerprint,
    model_from_checkpoint,
    read_checkpoint,
    refuse_changed_settings,
    restore_trainer,
    trainer_state,
    write_checkpoint,
)
from qgen.train.data import as_training_data, batch_rows, check_training_data, split
from qgen.train.distributed import Distributed
from qgen.train.history import WeightedMeans, divergence, epoch_line, record, summary_line
from qgen.train.optim import build_groups, check_run_settings, check_settings
from qgen.train.updates import apply_update

__all__ = ["Trainer", "Callback", "as_training_data"]

Callback = Callable[["Trainer", int], "dict[str, float] | None"]

# Settings that define the training run; a checkpoint stores them, and a resume with other values is refused
# (except `epochs`, which a resumed run may extend).
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
    "monitor",
    "mode",
    "group_options",
    "seed",
)
_MAY_CHANGE_ON_RESUME = ("epochs",)


class Trainer:
    """Fits any GenerativeModel through its training contract: `parameter_groups`, `prepare`, `training_step`.

    For each batch the model yields Updates; the Trainer applies each one (autograd of its loss, or its
    explicit gradients, for one group with that group's optimizer, after gradient clipping) before asking for
    the next, so a WGAN's critic steps see their own results and its generator step sees the new critic.

    Every epoch is a deterministic function of (state at its start, seed, epoch): the shuffle, the torch RNG
    (dropout) and each step's generator are seeded from (seed, epoch, step), so a run resumed from a
    checkpoint ends with the same weights as an uninterrupted one. Checkpoints carry the model's parameters
    and buffers (an RBM's persistent chains), every group's optimizer and schedule, and the history.

    Under `torchrun` (WORLD_SIZE > 1) every rank draws the same global batches and takes an interleaved share;
    losses and gradients are weighted by the share's size and averaged across ranks per group, so the step is
    the single-process step on the global batch; closed-form models sum their statistics with
    `step.ranks.sum`. Only rank 0 prints, runs callbacks and writes; a callback's stop reaches every rank.

    Args:
        model: the model to train (moved to `device`).
        lr: learning rate (every group's, unless `group_options` or the model's defaults set another).
        batch_size: global batch size (all ranks together).
        epochs: maximum number of passes over the training split.
        optimizer: "adam", "adamw", "sgd" (momentum 0.9) or "rmsprop".
        weight_decay: L2 penalty passed to the optimizer.
        schedule: None, "cosine", "step", "exponential" or "plateau" (on the monitored value).
        clip_grad: maximum gradient norm per group; None disables clipping.
        val_fraction: fraction of the data held out for validation (0: none).
        early_stopping_patience: stop after this many epochs without a better monitored value, restoring
            the best weights; None trains all `epochs` (the best weights are still restored).
        monitor: the history column early stopping and best weights watch; default "val_<model.monitor>"
            ("train_<model.monitor>" without a validation split); "none" turns both off (the last weights stay).
            A callback's column works too (e.g. "fidelity" with mode="max").
        mode: "min" or "max": whether a smaller or a larger monitored value is better.
        group_options: per-group settings, e.g. {"critic": {"lr": 1e-4, "betas": (0.5, 0.9)}}.
        callbacks: callables `cb(trainer, epoch) -> dict | None` run after each epoch (epoch counts from 1)
            on rank 0; a returned dict of floats is added to the history. A callback may set `trainer.stop`.
        checkpoint: file written atomically after every epoch; needed for `resume`.
        seed: seeds the split, the shuffles, dropout, the step generators and `prepare`.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N" or a torch.device.
        compile: compile the model's forward with torch.compile (what MaximumLikelihood trains through).
        progress: True: a progress bar with the live loss on a terminal, one line per epoch (losses, lr, time)
            otherwise, and a final summary line; "bar" or "lines" to choose; False: silent. Rank 0 prints.

    Example:
        >>> from qgen.models import build
        >>> model = build("rnn", n_qubits=3, n_outcomes=2, hidden_size=8, seed=0)
        >>> data = torch.randint(0, 2, (200, 3), generator=torch.Generator().manual_seed(0))
        >>> history = Trainer(model, epochs=2, batch_size=50, progress=False).fit(data)
        >>> len(history["train_loss"]), len(history["val_loss"])
        (2, 2)
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
        monitor: str | None = None,
        mode: str = "min",
        group_options: dict[str, dict[str, Any]] | None = None,
        callbacks: Sequence[Callback] = (),
        checkpoint: str | os.PathLike | None = None,
        seed: int = 0,
        device: Any = "auto",
        compile: bool = False,
        progress: bool | str = True,
    ) -> None:
        if not isinstance(model, GenerativeModel):
            raise TrainingError(f"model must be a qgen GenerativeModel, got {type(model).__name__}")
        ints = check_run_settings(
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
            val_fraction=val_fraction,
            mode=mode,
            monitor=monitor,
            early_stopping_patience=early_stopping_patience,
        )
        check_settings(
            dict(lr=lr, optimizer=optimizer, schedule=schedule, weight_decay=weight_decay, clip_grad=clip_grad)
        )
        batch_size, epochs, seed = ints["batch_size"], ints["epochs"], ints["seed"]
        early_stopping_patience = ints["early_stopping_patience"]
        self.lr, self.batch_size, self.epochs = float(lr), batch_size, epochs
        self.optimizer_name, self.weight_decay, self.schedule = optimizer, float(weight_decay), schedule
        self.clip_grad, self.val_fraction = clip_grad, float(val_fraction)
        self.early_stopping_patience, self.seed, self.mode = early_stopping_patience, seed, mode
        split = "val" if self.val_fraction > 0 else "train"
        self.monitor = monitor or (f"{split}_{model.monitor}" if model.monitor else "none")
        self.group_options = {g: dict(o) for g, o in (group_options or {}).items()}
        self.callbacks = list(callbacks)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        if progress not in (True, False, "bar", "lines"):
            raise TrainingError(f"progress must be True, False, 'bar' or 'lines', got {progress!r}")
        self.compile, self.progress = compile, progress
        self.stop_reason = ""
        self.dist = Distributed()
        if device == "auto":
            device = f"cuda:{self.dist.local_rank}" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError):
            raise TrainingError(f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
        self.model = model.to(self.device)
        base = {"lr": self.lr, "optimizer": self.optimizer_name, "weight_decay": self.weight_decay}
        base.update({"schedule": self.schedule, "clip_grad": self.clip_grad, "betas": None})
        groups = build_groups(
            model.parameter_groups(), base, model.default_group_options(), self.group_options, epochs, mode
        )
        self.params, self.group_settings = groups.params, groups.settings
        self.optimizers, self.schedulers = groups.optimizers, groups.schedulers
        self.history: dict[str, list[float]] = {}
        self.epoch = 0  # epochs completed
        self.step_count = 0  # optimizer steps taken (all groups)
        self.best_value = math.inf if mode == "min" else -math.inf
        self.best_state: dict[str, Tensor] | None = None
        self.bad_epochs = 0
        self.finished = False
        self.stop = False
        self._pending: dict[str, Any] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The settings that define the run (stored in checkpoints)."""
        names = {"optimizer": "optimizer_name"}
        return {k: copy.deepcopy(getattr(self, names.get(k, k))) for k in _RUN_SETTINGS}

    @property
    def is_main(self) -> bool:
        """True on the process that prints and writes (rank 0, or the only process)."""
        return self.dist.rank == 0

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of a one-group model."""
        if len(self.optimizers) != 1:
            raise TrainingError(f"this model has groups {sorted(self.optimizers)}: use trainer.optimizers[name]")
        return next(iter(self.optimizers.values()))

    # ---- checkpoints -------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run: model (with buffers), optimizers, schedules, progress."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a run from `state_dict()` output (same model config; same settings, `epochs` aside)."""
        check_checkpoint(state, self.model.config)
        refuse_changed_settings(state["settings"], self.settings, _MAY_CHANGE_ON_RESUME)
        restore_trainer(self, state)

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
                compile) or a larger `epochs`.
        """
        state = read_checkpoint(path)
        changed = sorted(set(overrides) & set(_RUN_SETTINGS) - set(_MAY_CHANGE_ON_RESUME))
        if changed:
            raise TrainingError(f"{path}: a resumed run keeps its settings; cannot change {changed}")
        model = model_from_checkpoint(state, path)
        trainer = cls(model, **{**state["settings"], "checkpoint": path, **overrides})
        trainer._pending = state
        return trainer

    # ---- data --------------------------------------------------------------------------------------------

    def _generator(self, *key: int) -> torch.Generator:
        seed = self.seed
        for k in key:
            seed = (seed * 1_000_003 + k + 1) % (2**63)
        return torch.Generator(device=self.device).manual_seed(seed)

    # ---- training ----------------------------------------------------------------------------------------

    def fit(self, data: Any, *, resume: bool = False) -> dict[str, list[float]]:
        """Train until `epochs` are done or early stopping triggers; leaves the best weights in the model.

        Args:
            data: (n, N) integer outcomes or (n, d) vectors (tensor or array), or an object with `.outcomes`.
            resume: continue from `checkpoint` when that file exists (a fresh start otherwise).

        Returns:
            the history: per epoch "epoch", "lr", "time", "train_<key>" for each number the updates logged,
            "val_<key>" for each validation metric, and whatever the callbacks returned; also `model.history`.
        """
        x = check_training_data(self.model, self.model.training_data(data))
        self._data_fingerprint = data_fingerprint(x)
        if resume and self.checkpoint is not None and self.checkpoint.is_file():
            self._pending = read_checkpoint(self.checkpoint)
        resumed = self._pending is not None
        if resumed:
            self.load_state_dict(self._pending)
            self._pending = None
            if self._resumed_fingerprint not in (None, self._data_fingerprint):
                raise TrainingError("the data differ from those the checkpoint was trained on; cannot resume")
        train_set, val_set = split(x, self.val_fraction, self.seed)
        train_set, val_set = train_set.to(self.device), val_set.to(self.device)
        self.dist.setup(self.device)
        try:
            if not resumed and self.epoch == 0:
                self.model.prepare(batch_rows(self.model, train_set), self._generator(-1))
            if self.compile:
                self.model.compile()
            self._loop(train_set, val_set)
        finally:
            self.dist.teardown()
        self.model.history = self.history
        return self.history

    def _loop(self, train_set: Tensor, val_set: Tensor) -> None:
        from tqdm.auto import tqdm

        n_batches = len(self.dist.batch_shares(torch.arange(len(train_set)), self.batch_size))
        bar = tqdm(
            total=self.epochs * n_batches,
            initial=min(self.epoch, self.epochs) * n_batches,
            disable=self._output() != "bar",
            unit="batch",
            dynamic_ncols=True,
        )
        started = time.perf_counter() - (self.history["time"][-1] if self.history.get("time") else 0.0)
        if not self.finished:
            self.stop_reason = ""  # a resumed run ends for a reason of its own, not its checkpoint's
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            while self.epoch < self.epochs and not self.finished:
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(self._generator(self.epoch).initial_seed())
                    logged = self._train_epoch(train_set, self.epoch, bar)
                self._end_epoch(logged, val_set, started, bar)
        finally:
            bar.close()
        if not self.stop_reason:
            self.stop_reason = f"all {self.epochs} epochs done" if self.epoch >= self.epochs else "finished earlier"
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        if self._output():
            print(self.summary(), file=sys.stderr, flush=True)

    def _output(self) -> str:
        """What this process prints: "bar", "lines" or "" (nothing; every rank but 0)."""
        if not self.progress or not self.is_main:
            return ""
        if self.progress is True:
            return "bar" if sys.stderr.isatty() else "lines"
        return str(self.progress)

    def summary(self) -> str:
        """One line: epochs run, why training stopped, and the best epoch and value that the model now holds;
        a warning when the run diverged (see `diverged`)."""
        restored = self.monitor != "none" and self.best_state is not None
        line = summary_line(self.history, self.epoch, self.stop_reason, self.monitor if restored else None, self.mode)
        failed = self.diverged()
        return f"{line}\nWARNING: {failed}" if failed else line

    def diverged(self) -> str:
        """Why the run failed, or "": a maximum-likelihood model on strings whose best loss stays far above the
        uniform distribution's N log K diverged (`qgen.train.history.divergence`; a lower learning rate helps)."""
        if not (isinstance(self.model, MaximumLikelihood) and isinstance(self.model.support, Strings)):
            return ""
        return divergence(self.history, self.model.n_qubits, self.model.n_outcomes)

    def _train_epoch(self, train_set: Tensor, epoch: int, bar: Any) -> dict[str, float]:
        self.model.train()
        ranks = Ranks(self.dist.rank, self.dist.world)
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        logged = WeightedMeans(self.device)
        for index, (idx, global_n) in enumerate(self.dist.batch_shares(perm, self.batch_size)):
            x = batch_rows(self.model, train_set[idx.to(train_set.device)])
            step = Step(epoch, index, self._generator(epoch, index), ranks)
            weight = len(x) * self.dist.world / global_n if self.dist.active else 1.0
            for update in self.model.training_step(x, step):
                self._apply(update, weight)
                logged.add(update.log, len(x))
            bar.update(1)
            if not bar.disable and index % 10 == 0 and logged.sums:
                key = "loss" if "loss" in logged.sums else next(iter(logged.sums))
                bar.set_postfix(epoch=epoch + 1, **{key: f"{logged.current(key):.4f}"}, refresh=False)
        out = logged.means(self.dist)
        for key, value in out.items():
            if not math.isfinite(value):
                raise TrainingError(f"the training {key} became {value} in epoch {epoch + 1}; lower the learning rate")
        return out

    def _apply(self, update: Update, weight: float) -> None:
        if not isinstance(update, Update):
            raise TrainingError(f"training_step must yield Update objects, got {type(update).__name__}")
        if update.group is None:
            return  # the model changed itself (closed form)
        if update.group not in self.optimizers:
            raise TrainingError(
                f"Update for unknown or empty group {update.group!r}; groups: {sorted(self.optimizers)}"
            )
        group = update.group
        apply_update(
            update,
            params=self.params[group],
            optimizer=self.optimizers[group],
            clip_grad=self.group_settings[group]["clip_grad"],
            dist=self.dist,
            weight=weight,
        )
        self.step_count += 1

    @torch.no_grad()
    def validate(self, rows: Tensor) -> dict[str, float]:
        """The model's validation metrics, batch means averaged over a data set and over all ranks."""
        self.model.eval()
        means = WeightedMeans(self.device)
        for index, batch in enumerate(self.dist.shard(rows).split(max(self.batch_size, 1024))):
            x = batch_rows(self.model, batch.to(self.device, non_blocking=True))
            means.add(self.model.validation_metrics(x, self._generator(-2, index)), len(x))
        return means.means(self.dist)

    def evaluate(self, rows: Tensor) -> float:
        """The mean validation loss over a data set (the NLL per string for maximum-likelihood models)."""
        return self.validate(rows.to(self.device)).get("loss", math.nan)

    def _end_epoch(self, logged: dict[str, float], val_set: Tensor, started: float, bar: Any) -> None:
        self.epoch += 1
        values: dict[str, float] = {"epoch": self.epoch}
        values.update({f"train_{k}": v for k, v in logged.items()})
        if len(val_set):
            values.update({f"val_{k}": v for k, v in self.validate(val_set).items()})
        first = next(iter(self.optimizers.values()), None)
        values["lr"] = first.param_groups[0]["lr"] if first is not None else math.nan
        values["time"] = time.perf_counter() - started
        record(self.history, self.epoch, values)
        if self.is_main:
            for callback in self.callbacks:
                extra = callback(self, self.epoch)
                if extra:
                    record(self.history, self.epoch, dict(extra))
            self.model.train()
        monitored = self.history.get(self.monitor, [math.nan])[-1] if self.monitor != "none" else math.nan
        # rank 0 alone ran the callbacks: its stop flag and monitored value decide for every rank
        self.stop, monitored = self.dist.broadcast_from_main([float(self.stop), monitored], self.device)
        self.stop = bool(self.stop)
        for scheduler in self.schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if math.isfinite(monitored):
                    scheduler.step(monitored)
            elif scheduler is not None:
                scheduler.step()
        if self.monitor != "none" and math.isfinite(monitored):
            better = monitored < self.best_value if self.mode == "min" else monitored > self.best_value
            if better:
                self.best_value, self.bad_epochs = monitored, 0
                self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
            else:
                self.bad_epochs += 1
        patience = self.early_stopping_patience
        if self.stop:
            # a callback may say why it stopped the run (qgen.train.defaults.TimeBudget does)
            self.finished, self.stop_reason = True, self.stop_reason or "a callback asked to stop"
        elif patience is not None and self.monitor != "none" and self.bad_epochs >= patience:
            # stopped early: a resume, even with more epochs, does not continue
            self.finished = True
            self.stop_reason = f"early stopping: {self.monitor} did not improve for {patience} epochs"
        shown = {
            k: f"{v:.4f}" for k, v in (("loss", logged.get("loss")), ("val", values.get("val_loss"))) if v is not None
        }
        bar.set_postfix(epoch=self.epoch, **shown)
        if self._output() == "lines":
            print(epoch_line(self.epoch, self.epochs, shown, values), file=sys.stderr, flush=True)
        if self.checkpoint is not None:
            self.save_checkpoint()
