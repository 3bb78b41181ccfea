"""Small fully connected networks shared by the generic backends (GAN, VAE, diffusion)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.strings import positive_int

__all__ = ["mlp", "Standardize", "check_nonnegative"]


def check_nonnegative(value: object, label: str) -> float:
    """`value` as a float if it is a finite real >= 0, else a ModelError naming `label`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ModelError(f"{label} must be a finite number >= 0, got {value!r}")
    return float(value)


def mlp(n_in: int, n_out: int, hidden: int, n_layers: int, activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """A multilayer perceptron: `n_layers` hidden layers of width `hidden`; n_layers = 0 is one linear map.

    Example:
        >>> net = mlp(3, 2, hidden=8, n_layers=2)
        >>> [type(m).__name__ for m in net]
        ['Linear', 'SiLU', 'Linear', 'SiLU', 'Linear']
    """
    n_layers = positive_int(n_layers, "n_layers", minimum=0, error=ModelError)
    hidden = positive_int(hidden, "hidden_size", error=ModelError)
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), activation()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class Standardize(nn.Module):
    """An affine map to zero mean and unit variance per coordinate, fitted once to the training data.

    Networks see standardized vectors (their initialisation and a diffusion's noise scale assume unit
    scale); the buffers travel with the model's state_dict, so a loaded model maps back exactly.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit(self, x: Tensor) -> None:
        """Set shift and scale to the mean and standard deviation of x (n, dim); a constant column keeps scale 1."""
        std = x.std(0) if x.shape[0] > 1 else torch.ones_like(self.scale)
        self.shift.copy_(x.mean(0))
        self.scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.shift) / self.scale

    def inverse(self, y: Tensor) -> Tensor:
        return y * self.scale + self.shift

    def log_det(self) -> Tensor:
        """log |d standardized / d x|, added to a density of standardized vectors to get the density of x."""
        return -torch.log(self.scale).sum()
