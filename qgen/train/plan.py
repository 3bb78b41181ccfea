"""The plan of a training run, said before it starts: model, data, steps, and a duration timed on a few steps."""

from __future__ import annotations

import copy
import math
import os
import time
from typing import Any

import torch
from torch import Tensor

from qgen.models.base import Strings

__all__ = ["describe_plan", "time_steps", "format_duration"]

# Steps the estimate times (after one untimed warm-up step): enough to average out a first slow step, few
# enough to cost a second or two of the run.
PROBE_STEPS = 8


def format_duration(seconds: float) -> str:
    """A duration as people say it: "40 s", "12 min", "2.5 h".

    Example:
        >>> format_duration(0.42), format_duration(42.4), format_duration(725), format_duration(9000)
        ('0.4 s', '42 s', '12 min', '2.5 h')
    """
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def time_steps(trainer: Any, rows: Tensor, n_steps: int = PROBE_STEPS) -> dict[str, float]:
    """Seconds per training step and per validation row of this Trainer's run, timed on a copy of its model.

    The copy trains `n_steps` batches of `rows` (after one untimed warm-up batch) with the run's optimizer and
    batch size, then validates a few batches; the model, its optimizer and every random stream of the real run
    are untouched, so the run stays bit-identical to one without the timing.

    Args:
        trainer: the Trainer whose run to time (not fitted yet).
        rows: the training data (or a prefix of it: only the first (n_steps + 1) batches are used).
        n_steps: the timed steps.

    Returns:
        {"step": seconds per step, "val_row": seconds per validated row, "steps": n_steps}.
    """
    from qgen.train.trainer import Trainer

    batch = trainer.batch_size
    devices = [trainer.device.index or 0] if trainer.device.type == "cuda" else []

    def probe(n_batches: int) -> Any:
        return Trainer(
            copy.deepcopy(trainer.model),
            lr=trainer.lr,
            batch_size=batch,
            epochs=1,
            optimizer=trainer.optimizer_name,
            weight_decay=trainer.weight_decay,
            clip_grad=trainer.clip_grad,
            val_fraction=0.0,
            early_stopping_patience=None,
            monitor="none",
            group_options=trainer.group_options,
            seed=trainer.seed,
            device=trainer.device,
            progress=False,
        ), rows[: n_batches * batch]

    with torch.random.fork_rng(devices=devices):
        warm, warm_rows = probe(1)
        warm.fit(warm_rows)
        timed, timed_rows = probe(n_steps)
        timed.fit(timed_rows)
        steps = math.ceil(len(timed_rows) / batch)
        val_rows = rows[: min(len(rows), 4 * max(batch, 1024))]
        started = time.perf_counter()
        timed.validate(val_rows)
        val_seconds = time.perf_counter() - started
    return {"step": timed.history["time"][-1] / steps, "val_row": val_seconds / len(val_rows), "steps": steps}


def describe_plan(
    trainer: Any,
    outcomes: Tensor,
    *,
    model_name: str,
    options: dict[str, Any],
    source: str,
    conditions: str | None = None,
) -> str:
    """The plan of `trainer`'s run on `outcomes`, as one block of text (what `qgen train` prints on stderr).

    Says the model and its options, its number of parameters, the data's size and split, the optimizer and
    schedule, the epochs and steps, and an estimated duration from timing a few steps (`time_steps`) on this
    machine; under torchrun the estimate is left out (timing on one rank would stall the others).

    Args:
        trainer: the Trainer about to fit (its model built, its settings final).
        outcomes: the data it will fit.
        model_name: the registered name of the model.
        options: the hyperparameters the model was built with.
        source: where the defaults come from (`Recipe.source`).
        conditions: for a conditional model, its conditions in words (a line of its own after the data).
    """
    model = trainer.model
    n = outcomes.shape[0]
    n_val = int(round(trainer.val_fraction * n)) if trainer.val_fraction > 0 else 0
    n_train = n - n_val
    per_epoch = max(1, math.ceil(n_train / trainer.batch_size))
    n_params = sum(p.numel() for p in model.parameters())
    threads = torch.get_num_threads()
    shown = {k: v for k, v in options.items() if v is not None and k not in ("n_conditions",)}
    if isinstance(model.support, Strings):
        what = f"strings of N = {model.n_qubits}, K = {model.n_outcomes}"
    else:
        what = f"points of dimension {outcomes.shape[1]}"
    groups = []
    for name, s in trainer.group_settings.items():
        if name not in trainer.optimizers:
            continue
        text = f"{s['optimizer']} lr {s['lr']:g}"
        text += f", weight decay {s['weight_decay']:g}" if s.get("weight_decay") else ""
        text += f", {s['schedule']} schedule" if s.get("schedule") else ", constant lr"
        groups.append(text if len(trainer.group_settings) == 1 else f"{name}: {text}")
    stopping = "none (all epochs run)"
    if trainer.early_stopping_patience is not None and trainer.monitor != "none":
        stopping = f"after {trainer.early_stopping_patience} epochs without a better {trainer.monitor}"
    lines = [
        f"plan: {model_name} {shown} ({n_params:,} parameters) on {trainer.device}, {threads} thread"
        + ("s" if threads > 1 else ""),
        f"  defaults from  {source}",
        f"  data           {n:,} {what}: {n_train:,} to train, {n_val:,} to validate",
        f"  optimizer      {'; '.join(groups) or 'none (the model updates itself)'}",
        f"  epochs         at most {trainer.epochs}; early stopping {stopping}",
        f"  steps          batch {trainer.batch_size}: {per_epoch:,} per epoch, {per_epoch * trainer.epochs:,} in all",
    ]
    if conditions is not None:
        lines.insert(3, f"  conditions     {conditions}: one model for all")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        lines.append("  time           not estimated under torchrun")
    else:
        t = time_steps(trainer, outcomes)
        epoch_seconds = per_epoch * t["step"] + n_val * t["val_row"]
        lines.append(
            f"  time           about {format_duration(epoch_seconds)} per epoch, "
            f"{format_duration(epoch_seconds * trainer.epochs)} for all {trainer.epochs}: an estimate from timing "
            f"{t['steps']} steps here (load and early stopping change it)"
        )
    return "\n".join(lines)
