"""Reconstructors: the GenerativeModel interface, the autoregressive models, and build/save/load by name."""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from qgen.errors import ModelError
from qgen.models.base import AutoregressiveModel, GenerativeModel, as_generator
from qgen.models.pixelcnn import PixelCNN
from qgen.models.rnn import RNN
from qgen.models.transformer import Transformer

__all__ = [
    "GenerativeModel",
    "AutoregressiveModel",
    "RNN",
    "PixelCNN",
    "Transformer",
    "MODELS",
    "register",
    "build",
    "save",
    "load",
    "as_generator",
]

MODEL_FORMAT = "qgen.model"
MODEL_FORMAT_VERSION = 1

# Name -> class, or "module:Class" imported on first use so heavy or optional models cost nothing to list.
MODELS: dict[str, type[GenerativeModel] | str] = {
    "rnn": RNN,
    "pixelcnn": PixelCNN,
    "transformer": Transformer,
}


def register(name: str, model: type[GenerativeModel] | str) -> None:
    """Make a model class known to `build` and `load` under `name`.

    Args:
        name: the key in `build(name, ...)` and in saved configs.
        model: a GenerativeModel subclass, or "package.module:Class" to import lazily.
    """
    if not isinstance(name, str) or not name:
        raise ModelError(f"model name must be a non-empty string, got {name!r}")
    MODELS[name] = model


def _model_class(name: str) -> type[GenerativeModel]:
    try:
        entry = MODELS[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown model {name!r}: expected one of {sorted(MODELS)}") from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        MODELS[name] = entry
    return entry


def build(
    name: str, *, n_qubits: int, n_outcomes: int, seed: int | None = None, **hyperparameters: Any
) -> GenerativeModel:
    """A freshly initialised model by name.

    Args:
        name: "rnn", "pixelcnn", "transformer", or any name given to `register`.
        n_qubits: N, the string length.
        n_outcomes: K, the number of symbols per site (the POVM's number of elements).
        seed: seeds the weight initialisation (without touching the global RNG); None draws from the global
            torch RNG.
        **hyperparameters: passed to the model's constructor (e.g. cell="lstm", hidden_size=50).

    Returns:
        the model, on the CPU in float32.

    Example:
        >>> model = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, seed=0)
        >>> model.config["hidden_size"]
        8
    """
    cls = _model_class(name)
    try:
        if seed is None:
            return cls(n_qubits, n_outcomes, **hyperparameters)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(n_qubits, n_outcomes, **hyperparameters)
    except TypeError as err:
        raise ModelError(f"cannot build model {name!r} with hyperparameters {hyperparameters}: {err}") from err


def from_config(config: dict[str, Any]) -> GenerativeModel:
    """The model a `config` dict describes (weights freshly initialised)."""
    config = dict(config)
    name = config.pop("name", None)
    try:
        n_qubits, n_outcomes = config.pop("n_qubits"), config.pop("n_outcomes")
    except KeyError as err:
        raise ModelError(f"model config lacks {err.args[0]!r}: {config}") from None
    return build(name, n_qubits=n_qubits, n_outcomes=n_outcomes, **config)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
