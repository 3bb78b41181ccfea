"""The model registry: every model family by name, so `build`, `load`, the CLI and the contract tests find it."""

from __future__ import annotations

import importlib
from typing import Any

import torch

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel

__all__ = ["MODELS", "register", "build", "from_config", "model_class"]

# Name -> class, or "module:Class" imported on first use so heavy or optional models cost nothing to list.
MODELS: dict[str, type[GenerativeModel] | str] = {
    "rnn": "qgen.models.rnn:RNN",
    "pixelcnn": "qgen.models.pixelcnn:PixelCNN",
    "transformer": "qgen.models.transformer:Transformer",
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


def model_class(name: str) -> type[GenerativeModel]:
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
    cls = model_class(name)
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
