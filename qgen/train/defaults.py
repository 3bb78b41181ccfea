"""Training with defaults chosen by the data's size: what `qgen train` runs, on top of qgen.train.Trainer."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from torch import Tensor

from qgen.errors import TrainingError
from qgen.models import GenerativeModel, build, save
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

#: From this many strings on, the recipe of the 10^5-string benchmark (TFIM-50) applies; below it, the one of the
#: GHZ scan (1,000-10,000 strings). The boundary is near the geometric mean of 10^4 and 10^5, where neither
#: benchmark measured.
LARGE_DATA = 30_000

_GHZ = (
    "benchmarks/bench_ghz_samples.py (GHZ, N = 10-80, 1,000-10,000 tetra and Pauli-4 strings: F >= 0.99 "
    "with 2-25 % of the paper's samples)"
)
_TFIM = "benchmarks/bench_tfim50.py (critical Ising chain, N = 50, 10^5 tetra strings)"

# The best measured recipe per (model, regime), with the benchmark row it comes from (benchmarks/README.md).
# "epochs" here is the cap the benchmark ran with; "steps" (small data) asks for about that many optimizer
# steps, as paper_fig3.epochs_for does, clamped to [min_epochs, epochs].
_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("rnn", "small"): {
        "model_options": {"cell": "gru", "n_layers": 2, "hidden_size": 64},
        "settings": {"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 128, "schedule": "cosine"},
        "patience": 6,
        "steps": 800,
        "min_epochs": 5,
        "epochs": 40,
        "source": f"{_GHZ}: GRU 2 x 64, Adam lr 3e-3, cosine, batch 128, about 800 steps in 5-40 epochs, patience 6",
    },
    ("transformer", "small"): {
        "model_options": {"d_model": 32, "n_heads": 4, "n_layers": 2},
        "settings": {"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 128, "schedule": "cosine"},
        "patience": 6,
        "steps": 800,
        "min_epochs": 5,
        "epochs": 40,
        "source": f"{_GHZ}: Transformer d_model 32, 4 heads, 2 layers, same training as the GRU",
    },
    ("rnn", "large"): {
        "model_options": {"cell": "gru", "n_layers": 2, "hidden_size": 96},
        "settings": {"lr": 2e-3, "optimizer": "adamw", "weight_decay": 0.1, "batch_size": 256, "schedule": "cosine"},
        "patience": 4,
        "epochs": 20,
        "source": f"{_TFIM}: GRU 2 x 96, AdamW weight decay 0.1, lr 2e-3, cosine over 20 epochs, batch 256, "
        "patience 4: F = 0.9921 +- 0.0011 (the paper's GRU 3 x 100 without weight decay overfits: 0.9845)",
    },
    ("pixelcnn", "large"): {
        "model_options": {"channels": 32},
        "settings": {"lr": 2e-3, "optimizer": "adamw", "weight_decay": 0.1, "batch_size": 256, "schedule": "cosine"},
        "patience": 6,
        "epochs": 24,
        "source": f"{_TFIM}: PixelCNN 32 channels, AdamW weight decay 0.1, lr 2e-3, cosine, batch 256, patience 6: "
        "F = 0.9878 +- 0.0015 (below 0.99)",
    },
    ("transformer", "large"): {
        "model_options": {"d_model": 64, "n_heads": 4, "n_layers": 2},
        "settings": {"lr": 2e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 256, "schedule": "cosine"},
        "patience": 4,
        "epochs": 22,
        "source": f"{_TFIM}: Transformer d_model 64, Adam lr 2e-3, cosine, batch 256: "
        "F = 0.9849 +- 0.0016 (below 0.99)",
    },
}
# Optimizer steps of a run when no benchmark covers the data size: the larger sets' epochs shrink to keep it.
_STEP_BUDGET = 20_000

_CONDITIONAL = (
    "benchmarks/bench_conditional.py (TFIM N = 10, one model on 5 fields in [0.5, 1.5] x 10^4 tetra strings, "
    "evaluated at 16 held-out fields)"
)
#: The model `qgen train --condition` fits when none is named: the conditional benchmark's best.
CONDITIONAL_MODEL = "transformer"
# The conditional recipe per model (`conditional_recipe`): the settings bench_conditional.py measured, all epochs
# run (no early stopping; the best validation epoch is kept), the epochs shrunk for larger data as for the others.
_CONDITIONAL_RECIPES: dict[str, dict[str, Any]] = {
    "transformer": {
        "model_options": {"d_model": 32, "n_heads": 4, "n_layers": 2},
        "settings": {"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 256, "schedule": "cosine"},
        "epochs": 20,
        "source": f"{_CONDITIONAL}: Transformer d_model 32, 4 heads, 2 layers, Adam lr 3e-3, cosine, batch 256, "
        "20 epochs: held-out F >= 0.992 over 3 seeds (40 epochs overfit past epoch 10-22 and left <X> off by 5-8 %)",
    },
    "rnn": {
        "model_options": {"cell": "gru", "n_layers": 3, "hidden_size": 64},
        "settings": {"lr": 3e-3, "optimizer": "adam", "weight_decay": 0.0, "batch_size": 256, "schedule": "cosine"},
        "epochs": 40,
        "source": f"{_CONDITIONAL}: GRU 3 x 64, same training as the Transformer: held-out F >= 0.9896 (below 0.99; "
        "the conditional Transformer is better)",
    },
}


@dataclass(frozen=True)
class Recipe:
    """What `train` uses when the caller does not say: Trainer settings, model hyperparameters, and their source.

    Attributes:
        settings: Trainer arguments (batch_size, epochs, early_stopping_patience, schedule; lr, optimizer and
            weight_decay where a benchmark chose them).
        model_options: hyperparameters for `qgen.models.build` (empty: the model's own defaults).
        source: the benchmark (and its result) the recipe comes from, or why none applies.
    """

    settings: dict[str, Any]
    model_options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _n_train(n_samples: int, val_fraction: float = 0.1) -> int:
    return max(1, n_samples - int(round(val_fraction * n_samples)))


def _generic_settings(n_samples: int) -> dict[str, Any]:
    # About 20k optimizer steps: small sets get small batches and many epochs (early stopping ends them), large
    # ones larger batches (up to 512) and fewer epochs. Rounding the number of epochs (not a floor of 20 epochs)
    # keeps large sets near the budget: a 20-epoch floor made 10^7 samples 351,580 steps.
    batch_size = int(min(512, max(32, 2 ** round(math.log2(max(n_samples, 1) / 200)))))
    steps_per_epoch = max(1, math.ceil(0.9 * n_samples / batch_size))
    epochs = int(min(500, max(1, round(_STEP_BUDGET / steps_per_epoch))))
    return {"batch_size": batch_size, "epochs": epochs, "early_stopping_patience": 10, "schedule": "plateau"}


def default_recipe(model: str | None, n_samples: int, n_qubits: int | None = None) -> Recipe:
    """The training recipe the benchmarks found best for this model and data size, else a generic one.

    Measured recipes (benchmarks/README.md; every number there is one seed on one data set):

    - fewer than `LARGE_DATA` (30,000) strings, GRU or Transformer: the GHZ sample-complexity scan
      (`bench_ghz_samples.py`, N = 10-80, 1,000-10,000 strings), where a GRU 2 x 64 (Transformer d_model 32)
      with Adam lr 3e-3, a cosine schedule, batch 128 and about 800 steps (5-40 epochs, patience 6) reached
      classical fidelity 0.99 with 2-25 % of the paper's samples;
    - 30,000 strings or more, GRU: the 50-site critical Ising chain from 10^5 strings (`bench_tfim50.py`),
      where a GRU 2 x 96 with AdamW weight decay 0.1, lr 2e-3, cosine over 20 epochs, batch 256 and patience 4
      reached F = 0.9921 +- 0.0011, and the paper's GRU 3 x 100 without weight decay overfitted (0.9845);
      above 10^5 strings the epochs shrink to keep about 20,000 steps (not measured);
    - 30,000 strings or more, PixelCNN (32 channels, AdamW 0.1) and Transformer (d_model 64, Adam): the best
      settings measured there, which stayed below F = 0.99 (0.9878 and 0.9849).

    Every other model and size gets the generic settings: about 20,000 Adam steps (lr 1e-3) with batches of
    32-512 by data size, a plateau schedule and patience 10 (the epochs rounded and clipped to [1, 500]). The
    recipe does not depend on N: the benchmarks measured N = 10-80 and found no need to change it.

    Args:
        model: the registered model name, or None for the generic settings.
        n_samples: the number of strings (or points) in the data set, validation rows included.
        n_qubits: N, only to say in `source` when it lies outside the measured range.

    Example:
        >>> recipe = default_recipe("rnn", 100_000, 50)
        >>> recipe.model_options["hidden_size"], recipe.settings["optimizer"], recipe.settings["weight_decay"]
        (96, 'adamw', 0.1)
        >>> default_recipe("rnn", 5_000).settings["epochs"]  # 36 batches of 128 per epoch: 800 steps need 23
        23
    """
    regime = "large" if n_samples >= LARGE_DATA else "small"
    entry = _RECIPES.get((str(model), regime))
    if entry is None:
        return Recipe(_generic_settings(n_samples), {}, f"generic: no benchmark measured {model!r} on {n_samples:,}")
    settings = dict(entry["settings"])
    per_epoch = max(1, math.ceil(_n_train(n_samples) / settings["batch_size"]))
    if "steps" in entry:
        epochs = min(entry["epochs"], max(entry["min_epochs"], math.ceil(entry["steps"] / per_epoch)))
    else:
        epochs = min(entry["epochs"], max(1, round(_STEP_BUDGET / per_epoch)))
    settings.update(epochs=int(epochs), early_stopping_patience=entry["patience"])
    source = entry["source"]
    if n_qubits is not None and not 10 <= n_qubits <= 80:
        source += f"; N = {n_qubits} lies outside the measured N = 10-80"
    return Recipe(settings, dict(entry["model_options"]), source)


def conditional_recipe(model: str | None, n_rows: int, n_qubits: int | None = None) -> Recipe:
    """The recipe of a conditional model (`qgen train --condition`) on `n_rows` strings of all conditions together.

    From `bench_conditional.py` (TFIM N = 10, 5 fields x 10^4 tetra strings): a Transformer with d_model 32,
    4 heads and 2 layers, Adam lr 3e-3 with a cosine schedule, batch 256, 20 epochs without early stopping
    (the best validation epoch is kept: with 20 it is the last, annealed one) reached held-out classical
    fidelity >= 0.992 and <X> within 0.4-1.7 % over three seeds (40 epochs: <X> off by up to 7.5 %); the
    conditional GRU (3 x 64) with the same training stayed below 0.99. Larger data keep about 20,000 steps
    (fewer epochs, not measured). A model without a conditional benchmark gets `default_recipe`'s.

    Example:
        >>> recipe = conditional_recipe("transformer", 50_000, 10)
        >>> recipe.model_options["d_model"], recipe.settings["epochs"], recipe.settings["early_stopping_patience"]
        (32, 20, None)
        >>> conditional_recipe("transformer", 2_000_000).settings["epochs"]  # 7,032 batches per epoch
        3
    """
    entry = _CONDITIONAL_RECIPES.get(str(model))
    if entry is None:
        base = default_recipe(model, n_rows, n_qubits)
        return Recipe(base.settings, base.model_options, f"{base.source} (no conditional benchmark for {model!r})")
    settings = dict(entry["settings"])
    per_epoch = max(1, math.ceil(_n_train(n_rows) / settings["batch_size"]))
    settings.update(epochs=int(min(entry["epochs"], max(1, round(_STEP_BUDGET / per_epoch)))))
    settings.update(early_stopping_patience=None)
    source = entry["source"]
    if n_qubits is not None and n_qubits != 10:
        source += f"; measured at N = 10, here N = {n_qubits}"
    return Recipe(settings, dict(entry["model_options"]), source)


def default_settings(n_samples: int, n_qubits: int | None = None, model: str | None = None) -> dict[str, Any]:
    """Trainer settings chosen by data size (and model): `default_recipe(model, n_samples, n_qubits).settings`.

    Without a model: batch size, epochs, patience and schedule for a budget of about 20,000 optimizer steps
    (the epochs are the budget over the steps of one epoch, 90 % of the data training, rounded and clipped to
    [1, 500]; so the run is within 4/3 of 20,000 steps whenever that gives fewer than 500 epochs).

    Example:
        >>> default_settings(10_000_000)  # 17,579 batches of 512 in one epoch
        {'batch_size': 512, 'epochs': 1, 'early_stopping_patience': 10, 'schedule': 'plateau'}
        >>> default_settings(1_000)["epochs"], default_settings(100_000)["epochs"]
        (500, 114)
        >>> default_settings(100_000, 50, "rnn")["weight_decay"]
        0.1
    """
    return default_recipe(model, n_samples, n_qubits).settings


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
    recipe = default_recipe(model_name, outcomes.shape[0], None if vectors else outcomes.shape[1])
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
