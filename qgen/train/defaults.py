"""Training with defaults chosen by the data's size: what `qgen train` runs, on top of qgen.train.Trainer."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from torch import Tensor

from qgen.errors import TrainingError
from qgen.models import GenerativeModel, build, save

# The recipes (the benchmarks' settings and their lookup) live in qgen.train.recipes; re-exported here, where the
# README, the CLI and user code import them from.
from qgen.train.recipes import (
    CONDITIONAL_MODEL,
    LARGE_DATA,
    Recipe,
    conditional_recipe,
    default_recipe,
    default_settings,
)
from qgen.train.trainer import Callback, Trainer, as_training_data

__all__ = [
    "train",
    "default_settings",
    "default_recipe",
    "conditional_recipe",
    "resolve_settings",
    "Recipe",
    "TimeBudget",
    "LARGE_DATA",
    "CONDITIONAL_MODEL",
]


def resolve_settings(
    recipe: Recipe, given: dict[str, Any], model_options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Trainer settings and model options of a run: what the caller gave over the recipe.

    Another optimizer than the recipe's comes without the recipe's weight decay (AdamW's decoupled 0.1 would
    become Adam's L2 penalty 0.1 on every weight) unless `weight_decay` is given too; lr falls back to 1e-3.
    In `given`, None for epochs, batch_size or lr means "not given"; for the other settings None is a value.

    Example:
        >>> recipe = default_recipe("rnn", 100_000)
        >>> settings, options = resolve_settings(recipe, {"optimizer": "adam", "epochs": None}, {"hidden_size": 32})
        >>> settings["optimizer"], settings["weight_decay"], settings["epochs"], options["hidden_size"]
        ('adam', 0.0, 20, 32)
    """
    settings = dict(recipe.settings)
    # None means "not given" for these three; for the rest (schedule, early_stopping_patience, clip_grad, ...)
    # it is a value the Trainer knows ("none").
    given = {k: v for k, v in given.items() if v is not None or k not in ("epochs", "batch_size", "lr")}
    if "optimizer" in given and given["optimizer"] != settings.get("optimizer"):
        settings["weight_decay"] = 0.0
    settings.update(given)
    settings.setdefault("lr", 1e-3)
    return settings, {**recipe.model_options, **(model_options or {})}


class TimeBudget:
    """A Trainer callback that stops training after the first epoch that ends past `minutes` of wall time.

    The clock starts when the callback is made (`train` makes it just before fitting) or at `start()`. It sets
    `trainer.stop_reason` before `trainer.stop`, so the summary says why training ended.

    Example:
        >>> budget = TimeBudget(0.0)
        >>> from types import SimpleNamespace
        >>> trainer = SimpleNamespace(stop=False, stop_reason="")
        >>> budget(trainer, 3); trainer.stop, trainer.stop_reason.split(":")[0]
        (True, 'time budget of 0 min used')
    """

    def __init__(self, minutes: float) -> None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 <= minutes < math.inf:
            raise TrainingError(f"max_minutes must be a finite number >= 0, got {minutes!r}")
        self.minutes = float(minutes)
        self.start()

    def start(self) -> None:
        """Restart the clock."""
        self.started = time.perf_counter()
        self.used = False

    def __call__(self, trainer: Any, epoch: int) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed >= 60.0 * self.minutes:
            used = f"{elapsed / 60:.1f} min after epoch {epoch}"
            trainer.stop_reason = f"time budget of {self.minutes:g} min used: {used}"
            trainer.stop = self.used = True


def train(
    model_name: str,
    data: Any,
    *,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    output: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    device: Any = "auto",
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    model_options: dict[str, Any] | None = None,
    max_minutes: float | None = None,
    plan: TextIO | None = None,
    **trainer_options: Any,
) -> GenerativeModel:
    """Build a model for the data and train it with the benchmarks' recipe for its size: what `qgen train` runs.

    Whatever the caller leaves out comes from `default_recipe(model_name, n_samples, N)`: the model's
    hyperparameters (merged under `model_options`), the learning rate, optimizer, weight decay, schedule, batch
    size, epochs and patience.

    Args:
        model_name: "rnn", "pixelcnn", "transformer" (or any registered model).
        data: (n, N) outcomes (tensor or array) or MeasurementData; K is taken from `data.povm` when present,
            else from the largest outcome. A VectorData (continuous points) builds the model on Vectors(dim).
        seed: seeds the weight initialisation, the split, the shuffles and dropout.
        epochs, batch_size, lr: override the recipe's.
        output: write the trained model here with `qgen.models.save` (rank 0 only).
        checkpoint: per-epoch checkpoint; defaults to `output` + ".ckpt" when output is given.
        resume: continue from the checkpoint when it exists.
        device: "auto", "cpu", "cuda", ...
        progress: tqdm progress bar.
        callbacks: per-epoch callbacks, as for Trainer.
        model_options: hyperparameters for `qgen.models.build`, over the recipe's.
        max_minutes: stop after the first epoch that ends past this many minutes of training (`TimeBudget`);
            the checkpoint stays open, so `resume=True` continues the run where it stopped.
        plan: write the run's plan here before training (model, parameters, data, steps, a timed estimate of
            the duration; `qgen.train.plan.describe_plan`), on rank 0.
        **trainer_options: any other Trainer argument (optimizer, weight_decay, schedule, val_fraction,
            early_stopping_patience, ...), over the recipe's; another optimizer than the recipe's comes without
            the recipe's weight decay unless `weight_decay` is given too.

    Returns:
        the trained model (best validation weights), with its history in `model.history`.
    """
    outcomes = as_training_data(data)
    vectors = hasattr(data, "vectors")  # a VectorData: continuous points of R^dim
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, **trainer_options}
    recipe = default_recipe(model_name, outcomes.shape[0], None if vectors else outcomes.shape[1], vectors=vectors)
    settings, options = resolve_settings(recipe, given, model_options)
    if vectors:
        model = build(model_name, dim=outcomes.shape[1], seed=seed, **options)
    else:
        n_outcomes = _n_outcomes(data, outcomes)
        model = build(model_name, n_qubits=outcomes.shape[1], n_outcomes=n_outcomes, seed=seed, **options)
    if checkpoint is None and output is not None:
        checkpoint = Path(str(output) + ".ckpt")
    trainer, budget = budgeted_trainer(model, settings, seed, checkpoint, device, progress, callbacks, max_minutes)
    if plan is not None and trainer.is_main:
        from qgen.train.plan import describe_plan

        text = describe_plan(trainer, outcomes, model_name=model_name, options=options, source=recipe.source)
        if max_minutes is not None:
            text += f"\n  time budget    {max_minutes:g} min (--max-minutes): stops after the epoch that passes it"
        print(text, file=plan, flush=True)
    if budget is not None:
        budget.start()  # the plan's timing is not training time
    trainer.fit(outcomes, resume=resume)
    if budget is not None and budget.used and trainer.checkpoint is not None and trainer.is_main:
        _pause(trainer.checkpoint)
    if hasattr(data, "measurement_record"):
        # The model file then says how its strings were measured, so its samples form a data set of their own.
        trainer.model.measurement = data.measurement_record()
    if output is not None and trainer.is_main:
        save(trainer.model, output)
    return trainer.model


def budgeted_trainer(
    model: Any,
    settings: dict[str, Any],
    seed: int,
    checkpoint: Path | None,
    device: Any,
    progress: Any,
    callbacks: Any,
    max_minutes: float | None,
) -> tuple[Trainer, TimeBudget | None]:
    """The Trainer of `qgen train` (plain and conditional), with a TimeBudget callback when max_minutes is set."""
    callbacks = list(callbacks)
    budget = TimeBudget(max_minutes) if max_minutes is not None else None
    if budget is not None:
        callbacks.append(budget)
    trainer = Trainer(
        model, seed=seed, checkpoint=checkpoint, device=device, progress=progress, callbacks=callbacks, **settings
    )
    return trainer, budget


def _pause(checkpoint: Path) -> None:
    """Mark a run the time budget stopped as unfinished in its checkpoint, so that `resume` continues it.

    A callback's stop ends a run for good (like early stopping); a time budget only pauses it. The checkpoint
    of the last epoch is otherwise untouched, so the resumed run ends bit-identical to an uninterrupted one.
    """
    from qgen.train.checkpoint import read_checkpoint, write_checkpoint

    state = read_checkpoint(checkpoint)
    state["finished"], state["stop_reason"] = False, ""
    write_checkpoint(state, checkpoint)


def _n_outcomes(data: Any, outcomes: Tensor) -> int:
    # MeasurementData knows K from its POVM, even when some outcome never occurs in the data.
    declared = getattr(data, "n_outcomes", None)
    if declared is None:
        declared = getattr(getattr(data, "povm", None), "n_outcomes", None)
    if isinstance(declared, int) and not isinstance(declared, bool):
        return declared
    return max(2, int(outcomes.max()) + 1) if outcomes.numel() else 2
