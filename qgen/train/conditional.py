"""Training a conditional model on data sets that carry conditions: what `qgen train --condition` runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from qgen.errors import TrainingError
from qgen.models.base import GenerativeModel
from qgen.models.io import save
from qgen.models.registry import build
from qgen.train.defaults import _pause, budgeted_trainer, conditional_recipe, resolve_settings
from qgen.train.recipes import conditional_model
from qgen.train.trainer import Callback

__all__ = ["train_conditional", "describe_conditions"]


def describe_conditions(data: Any) -> str:
    """The conditions of a data set in one line, for the plan: each name with its distinct values.

    Example:
        >>> from types import SimpleNamespace
        >>> describe_conditions(SimpleNamespace(condition_names=["h"], conditions=np.array([[0.5], [1.0], [1.5]])))
        'h: 3 values in [0.5, 1.5] (0.5, 1, 1.5)'
    """
    parts = []
    for j, name in enumerate(data.condition_names):
        values = np.unique(np.asarray(data.conditions)[:, j])
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
        parts.append(f"{name}: {len(values)} values in [{values.min():g}, {values.max():g}] ({shown})")
    return "; ".join(parts)


def train_conditional(
    model_name: str | None,
    data: Any,
    *,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    output: str | os.PathLike | None = None,
    resume: bool = False,
    device: Any = "auto",
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    model_options: dict[str, Any] | None = None,
    max_minutes: float | None = None,
    plan: TextIO | None = None,
    **trainer_options: Any,
) -> GenerativeModel:
    """Build a conditional model on the data's conditions and train it with the conditional recipe.

    The rows the Trainer sees are the outcomes followed by each row's condition index
    (qgen.models.conditional). Whatever the caller leaves out comes from `conditional_recipe(model_name,
    n_rows, N)` (bench_conditional.py's measured settings), as `qgen.train.train` takes the plain recipe.

    Args:
        model_name: "transformer", "rnn" or "pixelcnn" (None: `conditional_model(N)`, the benchmarks' best for
            the data's N).
        data: a MeasurementData with `conditions` (a scan, or `qgen.data.scan.combine` of several sets).
        output: write the trained model here (and its checkpoint beside it, OUTPUT.ckpt).
        model_options: hyperparameters over the recipe's (n_conditions and condition_names come from the data).
        max_minutes: pause after the first epoch that ends past this many minutes (`resume` continues).
        plan: write the run's plan here before training (`qgen.train.plan.describe_plan`), on rank 0.
        **trainer_options: any other Trainer argument (optimizer, weight_decay, schedule, val_fraction,
            early_stopping_patience, ...), over the recipe's. Other arguments as for `qgen.train.train`.

    Returns:
        the trained conditional model, its `measurement` the data's record.
    """
    if getattr(data, "conditions", None) is None:
        raise TrainingError("a conditional model needs data with a condition column (a scan, or combined data sets)")
    model_name = model_name or conditional_model(int(data.n_qubits))
    recipe = conditional_recipe(model_name, int(data.n_samples), int(data.n_qubits))
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, **trainer_options}
    settings, options = resolve_settings(recipe, given, model_options)
    options.update(n_conditions=len(data.condition_names), condition_names=list(data.condition_names))
    model = build(model_name, n_qubits=data.n_qubits, n_outcomes=data.n_outcomes, seed=seed, **options)
    rows = model.condition_rows(data)
    checkpoint = Path(str(output) + ".ckpt") if output is not None else None
    trainer, budget = budgeted_trainer(model, settings, seed, checkpoint, device, progress, callbacks, max_minutes)
    if plan is not None and trainer.is_main:
        from qgen.train.plan import describe_plan

        shown = {k: v for k, v in options.items() if k not in ("n_conditions", "condition_names")}
        text = describe_plan(
            trainer,
            rows,
            model_name=model_name,
            options=shown,
            source=recipe.source,
            conditions=describe_conditions(data),
        )
        if max_minutes is not None:
            text += f"\n  time budget    {max_minutes:g} min (--max-minutes): stops after the epoch that passes it"
        print(text, file=plan, flush=True)
    if budget is not None:
        budget.start()  # the plan's timing is not training time
    trainer.fit(rows, resume=resume)
    if budget is not None and budget.used and trainer.checkpoint is not None and trainer.is_main:
        _pause(trainer.checkpoint)
    trainer.model.measurement = data.measurement_record()
    if output is not None and trainer.is_main:
        save(trainer.model, output)
    return trainer.model
