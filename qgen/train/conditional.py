"""Training a conditional model on data sets that carry conditions: what `qgen train --condition` runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgen.errors import TrainingError
from qgen.models.base import GenerativeModel
from qgen.models.io import save
from qgen.models.registry import build
from qgen.train.defaults import default_settings
from qgen.train.trainer import Trainer

__all__ = ["train_conditional"]


def train_conditional(
    model_name: str,
    data: Any,
    *,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float = 1e-3,
    output: str | os.PathLike | None = None,
    resume: bool = False,
    device: Any = "auto",
    progress: bool = True,
    model_options: dict[str, Any] | None = None,
    **trainer_options: Any,
) -> GenerativeModel:
    """Build a conditional model on the data's conditions and train it with the data-size defaults.

    The rows the Trainer sees are the outcomes followed by each row's condition index
    (qgen.models.conditional); the defaults (`default_settings`) are those of the total number of rows.

    Args:
        model_name: "rnn", "pixelcnn" or "transformer".
        data: a MeasurementData with `conditions` (a scan, or `qgen.data.scan.combine` of several sets).
        output: write the trained model here (and its checkpoint beside it, OUTPUT.ckpt).
        model_options: further hyperparameters (n_conditions and condition_names come from the data).
        Other arguments as for `qgen.train.defaults.train`.

    Returns:
        the trained conditional model, its `measurement` the data's record.
    """
    if getattr(data, "conditions", None) is None:
        raise TrainingError("a conditional model needs data with a condition column (a scan, or combined data sets)")
    options = dict(model_options or {})
    options.update(n_conditions=len(data.condition_names), condition_names=list(data.condition_names))
    model = build(model_name, n_qubits=data.n_qubits, n_outcomes=data.n_outcomes, seed=seed, **options)
    rows = model.condition_rows(data)
    settings = default_settings(len(rows))
    settings.update({k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v is not None})
    settings.update(trainer_options)
    checkpoint = Path(str(output) + ".ckpt") if output is not None else None
    trainer = Trainer(model, lr=lr, seed=seed, checkpoint=checkpoint, device=device, progress=progress, **settings)
    trainer.fit(rows, resume=resume)
    trainer.model.measurement = data.measurement_record()
    if output is not None and trainer.is_main:
        save(trainer.model, output)
    return trainer.model
