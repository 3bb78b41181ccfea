"""Model files: a model's config, weights, training history and measurement record in one torch file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from qgen.errors import ModelError
from qgen.files import atomic_write
from qgen.models.base import GenerativeModel
from qgen.models.registry import from_config

__all__ = ["save", "load", "atomic_torch_save", "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "qgen.model"
MODEL_FORMAT_VERSION = 1


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def save(model: GenerativeModel, path: str | os.PathLike, *, history: dict[str, list[float]] | None = None) -> None:
    """Write a model file: config, weights and training history, atomically.

    Args:
        model: the model to save.
        path: the file to write (conventionally .pt).
        history: learning curves to store; defaults to `model.history` (what the Trainer attached).
    """
    if not isinstance(model, GenerativeModel):
        raise ModelError(f"can only save a GenerativeModel, got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "config": model.config,
        "state_dict": state,
        "history": dict(model.history if history is None else history),
        "measurement": dict(model.measurement),
    }
    atomic_torch_save(payload, path)


def load(path: str | os.PathLike, map_location: Any = None) -> GenerativeModel:
    """Rebuild a model from a file written by `save` (or a Trainer checkpoint).

    Args:
        path: the model file.
        map_location: where to put the weights (as in torch.load); None keeps the CPU.

    Returns:
        the model in eval mode, with `history` restored.

    Raises:
        ModelError: the file is missing, not a qgen model, or its weights do not fit its config.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:
        raise ModelError(f"{path}: not a readable torch file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") not in (MODEL_FORMAT, "qgen.checkpoint"):
        raise ModelError(
            f"{path}: not a qgen model file (format={payload.get('format') if isinstance(payload, dict) else None!r})"
        )
    if payload["format"] == "qgen.checkpoint":
        config, state, history = payload["model_config"], payload["model_state"], payload["history"]
    else:
        if payload.get("format_version", 0) > MODEL_FORMAT_VERSION:
            raise ModelError(f"{path}: format_version {payload['format_version']} is newer than this qgen reads")
        config, state, history = payload["config"], payload["state_dict"], payload.get("history", {})
    model = from_config(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelError(f"{path}: weights do not match the config {config}: {err}") from err
    if map_location is not None:
        model.to(map_location)
    model.history = dict(history)
    model.measurement = dict(payload.get("measurement", {}))
    return model.eval()
