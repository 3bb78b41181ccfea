"""Small fully connected networks shared by the generic backends (GAN, VAE, diffusion, EBM)."""

from __future__ import annotations

from collections.abc import Sequence

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


def mlp(
    n_in: int,
    n_out: int,
    hidden: int | Sequence[int],
    n_layers: int | None = None,
    activation: type[nn.Module] = nn.SiLU,
) -> nn.Sequential:
    """A multilayer perceptron: `n_layers` hidden layers of width `hidden`, or one layer per width of a sequence.

    n_layers = 0 (or an empty sequence) is one linear map. Layers sit at even indices of the Sequential, so
    state_dict keys are "0.weight", "2.weight", ... whichever form built it.

    Example:
        >>> net = mlp(3, 2, hidden=8, n_layers=2)
        >>> [type(m).__name__ for m in net]
        ['Linear', 'SiLU', 'Linear', 'SiLU', 'Linear']
        >>> [m.out_features for m in mlp(3, 1, hidden=(16, 8)) if isinstance(m, nn.Linear)]
        [16, 8, 1]
    """
    if isinstance(hidden, int):
        if n_layers is None:
            raise ModelError("mlp: give n_layers with an integer hidden width")
        n_layers = positive_int(n_layers, "n_layers", minimum=0, error=ModelError)
        widths = [positive_int(hidden, "hidden_size", error=ModelError)] * n_layers
    else:
        if n_layers is not None:
            raise ModelError("mlp: a sequence of hidden widths sets the number of layers itself; omit n_layers")
        widths = [positive_int(h, "hidden", error=ModelError) for h in hidden]
    layers: list[nn.Module] = []
    for width_in, width_out in zip((n_in, *widths), widths):
        layers += [nn.Linear(width_in, width_out), activation()]
    layers.append(nn.Linear(widths[-1] if widths else n_in, n_out))
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
