"""Training with defaults chosen by the data's size: what `qgen train` runs, on top of qgen.train.Trainer."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from qgen.models import GenerativeModel, build, save
from qgen.train.trainer import Callback, Trainer, as_training_data

__all__ = ["train", "default_settings"]


def default_settings(n_samples: int) -> dict[str, Any]:
    """Batch size, epochs and patience chosen by data size: a budget of about 20k optimizer steps.

    Small data sets get small batches and many epochs (early stopping ends them); large ones get larger
    batches (up to 512) and fewer epochs, since each epoch is already many steps. The number of epochs is
    the budget divided by the steps of one epoch (90% of the data train), rounded to the nearest integer and
    clipped to [1, 500]; so the run is within a factor 4/3 of 20,000 steps whenever that gives fewer than
    500 epochs, up to n_samples = 1.1 * 10^7 (where one epoch of 512-sample batches is 20,000 steps). The
    plateau schedule and early stopping act per epoch, so the largest sets run without them.

    Example:
        >>> default_settings(10_000_000)  # 17,579 batches of 512 in one epoch
        {'batch_size': 512, 'epochs': 1, 'early_stopping_patience': 10, 'schedule': 'plateau'}
        >>> default_settings(1_000)["epochs"], default_settings(100_000)["epochs"]
        (500, 114)
    """
    batch_size = int(min(512, max(32, 2 ** round(math.log2(max(n_samples, 1) / 200)))))
    steps_per_epoch = max(1, math.ceil(0.9 * n_samples / batch_size))
    # Rounding (not a floor of 20 epochs, nor a ceiling) keeps large sets near the budget: a 20-epoch
    # floor made 10^7 samples 351,580 steps.
    epochs = int(min(500, max(1, round(20_000 / steps_per_epoch))))
    return {"batch_size": batch_size, "epochs": epochs, "early_stopping_patience": 10, "schedule": "plateau"}


def train(
    model_name: str,
    data: Any,
    *,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float = 1e-3,
    output: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    device: Any = "auto",
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    model_options: dict[str, Any] | None = None,
    **trainer_options: Any,
) -> GenerativeModel:
    """Build a model for the data and train it with defaults chosen by data size: what `qgen train` runs.

    Args:
        model_name: "rnn", "pixelcnn", "transformer" (or any registered model).
        data: (n, N) outcomes (tensor or array) or MeasurementData; K is taken from `data.povm` when present,
            else from the largest outcome. A VectorData (continuous points) builds the model on Vectors(dim).
        seed: seeds the weight initialisation, the split, the shuffles and dropout.
        epochs, batch_size: override the data-size defaults of `default_settings`.
        lr: learning rate.
        output: write the trained model here with `qgen.models.save` (rank 0 only).
        checkpoint: per-epoch checkpoint; defaults to `output` + ".ckpt" when output is given.
        resume: continue from the checkpoint when it exists.
        device: "auto", "cpu", "cuda", ...
        progress: tqdm progress bar.
        callbacks: per-epoch callbacks, as for Trainer.
        model_options: hyperparameters for `qgen.models.build`.
        **trainer_options: any other Trainer argument (schedule, val_fraction, ...).

    Returns:
        the trained model (best validation weights), with its history in `model.history`.
    """
    outcomes = as_training_data(data)
    settings = default_settings(outcomes.shape[0])
    if epochs is not None:
        settings["epochs"] = epochs
    if batch_size is not None:
        settings["batch_size"] = batch_size
    settings.update(trainer_options)
    if hasattr(data, "vectors"):  # a VectorData: continuous points of R^dim
        model = build(model_name, dim=outcomes.shape[1], seed=seed, **(model_options or {}))
    else:
        n_outcomes = _n_outcomes(data, outcomes)
        model = build(model_name, n_qubits=outcomes.shape[1], n_outcomes=n_outcomes, seed=seed, **(model_options or {}))
    if checkpoint is None and output is not None:
        checkpoint = Path(str(output) + ".ckpt")
    trainer = Trainer(
        model,
        lr=lr,
        seed=seed,
        checkpoint=checkpoint,
        device=device,
        progress=progress,
        callbacks=callbacks,
        **settings,
    )
    trainer.fit(outcomes, resume=resume)
    if hasattr(data, "measurement_record"):
        # The model file then says how its strings were measured, so its samples form a data set of their own.
        trainer.model.measurement = data.measurement_record()
    if output is not None and trainer.is_main:
        save(trainer.model, output)
    return trainer.model


def _n_outcomes(data: Any, outcomes: Tensor) -> int:
    # MeasurementData knows K from its POVM, even when some outcome never occurs in the data.
    declared = getattr(data, "n_outcomes", None)
    if declared is None:
        declared = getattr(getattr(data, "povm", None), "n_outcomes", None)
    if isinstance(declared, int) and not isinstance(declared, bool):
        return declared
    return max(2, int(outcomes.max()) + 1) if outcomes.numel() else 2
