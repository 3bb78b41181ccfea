"""Training checkpoints: the file a Trainer writes atomically after every epoch and reads back to resume."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from qgen.errors import ModelError, TrainingError
from qgen.models.base import GenerativeModel
from qgen.models.io import atomic_torch_save
from qgen.models.registry import from_config

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "data_fingerprint",
    "write_checkpoint",
    "read_checkpoint",
    "check_checkpoint",
    "model_from_checkpoint",
    "refuse_changed_settings",
    "trainer_state",
    "restore_trainer",
]

# qgen.models.load reads the model out of a checkpoint too, and knows this name.
CHECKPOINT_FORMAT = "qgen.checkpoint"
CHECKPOINT_VERSION = 1


def data_fingerprint(outcomes: Tensor) -> str:
    """A hash of the data, so a resume on different data fails instead of silently mixing runs.

    The tensor's raw buffer is hashed in place (no converted copy: 8x the data in memory before), with its
    shape and dtype. Integer data with values in [0, 256), such as outcome strings, are hashed as uint8, so the
    same strings held as uint8 or int64 give the same fingerprint; float data (vectors) are hashed as they are.

    Example:
        >>> a = torch.tensor([[0, 3], [1, 2]])
        >>> data_fingerprint(a) == data_fingerprint(a.to(torch.uint8)) != data_fingerprint(a.T)
        True
    """
    x = outcomes.detach().cpu()
    if not (x.is_floating_point() or x.is_complex()) and x.dtype != torch.uint8 and x.numel():
        if int(x.min()) >= 0 and int(x.max()) < 256:
            x = x.to(torch.uint8)
    x = x.contiguous()
    digest = hashlib.sha1(x.reshape(-1).view(torch.uint8).numpy())
    digest.update(f"{tuple(x.shape)} {x.dtype}".encode())
    return digest.hexdigest()


def write_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a checkpoint through a temporary file and a rename: a crash, even SIGKILL, never leaves half a file."""
    atomic_torch_save(state, path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The state stored in a checkpoint file, on the CPU, checked to be a qgen training checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TrainingError(f"{path}: unreadable checkpoint ({err})") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a qgen training checkpoint")
    return state


def check_checkpoint(state: dict[str, Any], model_config: dict[str, Any]) -> None:
    """Refuse a state that is not a training checkpoint, or one of another model than `model_config`."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"not a qgen training checkpoint (format={state.get('format')!r})")
    if state["model_config"] != model_config:
        raise TrainingError(f"checkpoint is for model {state['model_config']}, not {model_config}")


def model_from_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> GenerativeModel:
    """A freshly initialised model of the configuration a checkpoint (read from `path`) was trained with."""
    try:
        return from_config(state["model_config"])
    except ModelError as err:
        raise TrainingError(f"{path}: checkpoint does not rebuild its model: {err}") from err


def refuse_changed_settings(saved: dict[str, Any], now: dict[str, Any], may_change: tuple[str, ...]) -> None:
    """Refuse to continue a run whose settings differ from the checkpoint's, naming each difference."""
    changed = {k: (saved.get(k), v) for k, v in now.items() if k not in may_change and saved.get(k) != v}
    if changed:
        listing = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise TrainingError(
            f"cannot resume with other settings ({listing}); resume with the checkpoint's settings, or start a "
            "new run (another checkpoint path)"
        )


def trainer_state(trainer: Any) -> dict[str, Any]:
    """A Trainer's checkpoint: model parameters and buffers, every group's optimizer and schedule, progress."""
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_config": trainer.model.config,
        "model_state": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "optimizer_states": {g: o.state_dict() for g, o in trainer.optimizers.items()},
        "scheduler_states": {g: s.state_dict() for g, s in trainer.schedulers.items() if s is not None},
        "settings": trainer.settings,
        "epoch": trainer.epoch,
        "step_count": trainer.step_count,
        "history": trainer.history,
        "best_value": trainer.best_value,
        "best_state": trainer.best_state,
        "bad_epochs": trainer.bad_epochs,
        "finished": trainer.finished,
        "stop_reason": trainer.stop_reason,
        "data_fingerprint": getattr(trainer, "_data_fingerprint", None),
    }


def restore_trainer(trainer: Any, state: dict[str, Any]) -> None:
    """Put a checkpoint's state (from `trainer_state`, already checked) back into a Trainer."""
    trainer.model.load_state_dict(state["model_state"])
    for g, o in trainer.optimizers.items():
        o.load_state_dict(state["optimizer_states"][g])
    for g, s in trainer.schedulers.items():
        if s is not None and g in state["scheduler_states"]:
            s.load_state_dict(state["scheduler_states"][g])
    trainer.epoch, trainer.step_count = state["epoch"], state["step_count"]
    trainer.history = {k: list(v) for k, v in state["history"].items()}
    trainer.best_value, trainer.bad_epochs = state["best_value"], state["bad_epochs"]
    trainer.best_state, trainer.finished = state["best_state"], state["finished"]
    trainer.stop_reason = state.get("stop_reason", "")
    trainer._resumed_fingerprint = state["data_fingerprint"]
