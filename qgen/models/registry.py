"""The model registry: every model family by name, so `build`, `load`, the CLI and the contract tests find it."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import torch

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Vectors

__all__ = ["MODELS", "register", "build", "from_config", "model_class", "options"]

# Name -> class, or "module:Class" imported on first use so heavy or optional models cost nothing to list.
MODELS: dict[str, type[GenerativeModel] | str] = {
    "rnn": "qgen.models.rnn:RNN",
    "pixelcnn": "qgen.models.pixelcnn:PixelCNN",
    "transformer": "qgen.models.transformer:Transformer",
    "mixture": "qgen.backends.mixture:Mixture",
    "mixture-kl": "qgen.backends.mixture_kl:BinnedKLGaussians",
    "kde": "qgen.backends.kde:KDE",
    "flow": "qgen.backends.flow:Flow",
    "ebm": "qgen.backends.ebm:EBM",
    "gan": "qgen.backends.gan:GAN",
    "wgan-gp": "qgen.backends.gan:WGANGP",
    "vae": "qgen.backends.vae:VAE",
    "diffusion": "qgen.backends.diffusion:Diffusion",
    "gb-rbm": "qgen.backends.ebm:GaussianBinaryRBM",
    "rbm": "qgen.models.rbm.categorical:CategoricalRBM",
    "rbm-positive": "qgen.models.rbm.wavefunction:PositiveRBM",
    "rbm-complex": "qgen.models.rbm.wavefunction:ComplexRBM",
    "rbm-density": "qgen.models.rbm.density:DensityRBM",
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
    """The class registered under `name` (imported on first use)."""
    try:
        entry = MODELS[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown model {name!r}: expected one of {sorted(MODELS)}") from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        MODELS[name] = entry
    return entry


def options(name: str) -> dict[str, Any]:
    """The hyperparameters of model `name` with their defaults (what `qgen train --list-options` prints).

    Example:
        >>> options("rnn")["hidden_size"]
        100
    """
    cls = model_class(name)
    skip = {"self", "n_qubits", "n_outcomes", "support"}
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = None if p.default is p.empty else p.default
    return out


def build(
    name: str,
    *,
    n_qubits: int | None = None,
    n_outcomes: int | None = None,
    dim: int | None = None,
    seed: int | None = None,
    **hyperparameters: Any,
) -> GenerativeModel:
    """A freshly initialised model by name, on strings (n_qubits, n_outcomes) or on vectors (dim).

    A model class on strings is constructed as `cls(n_qubits, n_outcomes, **hyperparameters)`, on vectors as
    `cls(Vectors(dim), **hyperparameters)`.

    Args:
        name: "rnn", "pixelcnn", "transformer", or any name given to `register`.
        n_qubits: N, the string length.
        n_outcomes: K, the number of symbols per site (the POVM's number of elements).
        dim: the dimension of the vectors, for a model of continuous data (instead of n_qubits, n_outcomes).
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
    if dim is not None:
        if n_qubits is not None or n_outcomes is not None:
            raise ModelError("give either dim (vectors) or n_qubits and n_outcomes (strings), not both")
        if "vectors" not in cls.supports:
            raise ModelError(f"model {name!r} models {' and '.join(cls.supports)}, not vectors")
        args: tuple[Any, ...] = (Vectors(dim),)
    else:
        if n_qubits is None or n_outcomes is None:
            raise ModelError(f"build({name!r}) needs n_qubits and n_outcomes (strings) or dim (vectors)")
        if "strings" not in cls.supports:
            raise ModelError(f"model {name!r} models {' and '.join(cls.supports)}, not strings")
        args = (n_qubits, n_outcomes)
    unknown = set(hyperparameters) - set(options(name))
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    if unknown and not takes_any:
        raise ModelError(
            f"model {name!r} has no option {', '.join(sorted(unknown))}; its options are {sorted(options(name))}"
        )
    try:
        if seed is None:
            return cls(*args, **hyperparameters)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(*args, **hyperparameters)
    except TypeError as err:
        raise ModelError(f"cannot build model {name!r} with hyperparameters {hyperparameters}: {err}") from err


def from_config(config: dict[str, Any]) -> GenerativeModel:
    """The model a `config` dict describes (weights freshly initialised)."""
    config = dict(config)
    name = config.pop("name", None)
    if "dim" in config:
        return build(name, **config)
    try:
        n_qubits, n_outcomes = config.pop("n_qubits"), config.pop("n_outcomes")
    except KeyError as err:
        raise ModelError(f"model config lacks {err.args[0]!r}: {config}") from None
    return build(name, n_qubits=n_qubits, n_outcomes=n_outcomes, **config)
