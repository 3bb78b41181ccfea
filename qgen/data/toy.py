"""Toy continuous data with known densities: seed 000's 100 points and the usual 2-D benchmark sets.

Each set is a `ToyDensity`: it samples (from a seed or a torch.Generator) and, where the density has a closed form
or a converged quadrature, gives the exact log-density, so a model of it can be scored against the truth (held-out
NLL, KL by numerical integration over `bounds`, sample distances).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qgen.errors import DataFormatError, QgenError
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = [
    "ToyDensity",
    "TOY_DENSITIES",
    "toy_density",
    "toy_data",
    "seed000_points",
    "seed000_density",
    "gaussian_mixture_1d",
    "two_moons",
    "rings",
    "eight_gaussians",
    "checkerboard",
    "SEED000_FILE",
]

#: the shipped copy of seed 000's data_samples (one number per line, '#' comments)
SEED000_FILE = Path(__file__).resolve().parents[2] / "data" / "seed000_two_gaussians.txt"

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class ToyDensity:
    """A distribution on R^dim that can be sampled and, where `log_prob` is not None, evaluated exactly.

    Attributes:
        name: what the set is called in `TOY_DENSITIES`.
        dim: the dimension of a point.
        bounds: (dim, 2) box [lo, hi] per axis holding all but a negligible part (< 1e-6) of the mass: where
            numerical integration (KL, normalisation checks) runs.
        sampler: (n, generator) -> (n, dim) float64 tensor.
        log_density: (n, dim) float64 tensor -> (n,) exact log-density, or None where there is none.
        parameters: the set's parameters, for records.
    """

    name: str
    dim: int
    bounds: tuple[tuple[float, float], ...]
    sampler: Callable[[int, torch.Generator], Tensor]
    log_density: Callable[[Tensor], Tensor] | None
    parameters: dict[str, Any]

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n independent points, (n, dim) float64, from a seed or generator (None: the global RNG)."""
        return self.sampler(positive_int(n, "n", minimum=0), as_generator(generator))

    def log_prob(self, x: Any) -> Tensor:
        """The exact log-density at each row of x: (n, dim) -> (n,) float64 (-inf outside the support)."""
        if self.log_density is None:
            raise QgenError(f"toy set {self.name!r} has no exact density")
        t = torch.as_tensor(x, dtype=torch.float64)
        if t.ndim == 1 and self.dim == 1:
            t = t.unsqueeze(1)
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise QgenError(f"x must have shape (n, {self.dim}) for toy set {self.name!r}, got {tuple(t.shape)}")
        return self.log_density(t)


def _normal_log_pdf(x: Tensor, mean: Tensor | float, std: Tensor | float) -> Tensor:
    std = torch.as_tensor(std, dtype=torch.float64)
    return -0.5 * ((x - mean) / std) ** 2 - torch.log(std) - 0.5 * _LOG_2PI


def gaussian_mixture_1d(means: Any, stds: Any, weights: Any = None, *, name: str = "gaussians-1d") -> ToyDensity:
    """A 1-D Gaussian mixture sum_k w_k N(mu_k, sigma_k^2) (equal weights by default).

    Example:
        >>> d = gaussian_mixture_1d([0.0], [1.0])
        >>> round(float(d.log_prob([[0.0]])[0]), 6) == round(-0.5 * math.log(2 * math.pi), 6)
        True
    """
    mu = torch.as_tensor(means, dtype=torch.float64).reshape(-1)
    sd = torch.as_tensor(stds, dtype=torch.float64).reshape(-1)
    w = torch.full_like(mu, 1.0 / mu.numel()) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if mu.numel() == 0 or sd.shape != mu.shape or w.shape != mu.shape:
        raise QgenError(
            f"means, stds and weights need one entry per component, got {mu.numel()}, {sd.numel()}, {w.numel()}"
        )
    if bool((sd <= 0).any()) or bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-12:
        raise QgenError("stds must be > 0 and weights >= 0 summing to 1")

    def sampler(n: int, g: torch.Generator) -> Tensor:
        k = torch.multinomial(w, n, replacement=True, generator=g) if n else torch.zeros(0, dtype=torch.long)
        return (mu[k] + sd[k] * torch.randn(n, generator=g, dtype=torch.float64)).unsqueeze(1)

    def log_density(x: Tensor) -> Tensor:
        return torch.logsumexp(_normal_log_pdf(x, mu, sd) + torch.log(w), dim=1)

    lo, hi = float((mu - 8 * sd).min()), float((mu + 8 * sd).max())
    params = {"means": mu.tolist(), "stds": sd.tolist(), "weights": w.tolist()}
    return ToyDensity(name, 1, ((lo, hi),), sampler, log_density, params)


def seed000_points() -> np.ndarray:
    """Seed 000's 100 training points (float64, shape (100,)), read from the shipped file `SEED000_FILE`.

    Example:
        >>> x = seed000_points()
        >>> x.shape, float(x[0])
        ((100,), -0.361078109)
    """
    try:
        x = np.loadtxt(SEED000_FILE, dtype=np.float64, comments="#")
    except (OSError, ValueError) as err:
        raise DataFormatError(f"{SEED000_FILE}: cannot read seed 000's points: {err}") from None
    if x.shape != (100,) or not np.isfinite(x).all():
        raise DataFormatError(f"{SEED000_FILE}: expected 100 finite numbers, found shape {x.shape}")
    return x


def seed000_density() -> ToyDensity:
    """The density seed 000 drew its points from: 0.5 N(-0.4, 0.3^2) + 0.5 N(0.6, 0.15^2) (the tutorial's
    "correct parameters")."""
    return gaussian_mixture_1d([-0.4, 0.6], [0.3, 0.15], name="seed000")


def two_moons(noise: float = 0.1) -> ToyDensity:
    """Two interleaved half circles (scikit-learn's make_moons layout) blurred by isotropic Gaussian noise.

    The density is (1/2) sum_moons (1/pi) int_0^pi N(x; c(t), noise^2 I) dt, computed by 256-point
    Gauss-Legendre quadrature over t (converged to ~1e-12 relative for noise >= 0.05).
    """
    _positive(noise, "noise")
    nodes, weights = np.polynomial.legendre.leggauss(256)
    t = torch.as_tensor((nodes + 1) * math.pi / 2, dtype=torch.float64)
    logw = torch.as_tensor(np.log(weights / 2), dtype=torch.float64)  # (1/pi) dt -> weights / 2 on [-1, 1]
    centers = torch.cat(
        [torch.stack([torch.cos(t), torch.sin(t)], 1), torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)]
    )
    logw = torch.cat([logw, logw]) - math.log(2.0)

    def sampler(n: int, g: torch.Generator) -> Tensor:
        s = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
        lower = torch.rand(n, generator=g, dtype=torch.float64) < 0.5
        c = torch.where(
            lower.unsqueeze(1),
            torch.stack([1 - torch.cos(s), 0.5 - torch.sin(s)], 1),
            torch.stack([torch.cos(s), torch.sin(s)], 1),
        )
        return c + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def log_density(x: Tensor) -> Tensor:
        d2 = torch.cdist(x, centers) ** 2
        return torch.logsumexp(logw - 0.5 * d2 / noise**2, dim=1) - 2 * math.log(noise) - _LOG_2PI

    pad = 8 * noise
    return ToyDensity("moons", 2, ((-1 - pad, 2 + pad), (-0.5 - pad, 1 + pad)), sampler, log_density, {"noise": noise})


def rings(radii: tuple[float, ...] = (1.0, 2.0, 3.0), noise: float = 0.1) -> ToyDensity:
    """Concentric rings: a ring k chosen uniformly, radius r = |N(radii[k], noise^2)|, angle uniform.

    Exact density in polar coordinates: p(x) = (1/K) sum_k [phi(r; r_k, s) + phi(-r; r_k, s)] / (2 pi r), r = |x|.
    """
    _positive(noise, "noise")
    rk = torch.as_tensor(radii, dtype=torch.float64).reshape(-1)
    if rk.numel() == 0 or bool((rk <= 0).any()):
        raise QgenError(f"radii must be positive numbers, got {radii!r}")

    def sampler(n: int, g: torch.Generator) -> Tensor:
        k = torch.randint(rk.numel(), (n,), generator=g)
        r = (rk[k] + noise * torch.randn(n, generator=g, dtype=torch.float64)).abs()
        theta = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)

    def log_density(x: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        radial = torch.logaddexp(_normal_log_pdf(r, rk, noise), _normal_log_pdf(-r, rk, noise))
        return torch.logsumexp(radial, dim=1) - math.log(rk.numel()) - torch.log(2 * math.pi * r[:, 0])

    edge = float(rk.max()) + 8 * noise
    params = {"radii": rk.tolist(), "noise": noise}
    return ToyDensity("rings", 2, ((-edge, edge), (-edge, edge)), sampler, log_density, params)


def eight_gaussians(radius: float = 2.0, scale: float = 0.2) -> ToyDensity:
    """Eight equal isotropic Gaussians (std `scale`) centred on a circle of `radius` at angles 2 pi k / 8."""
    _positive(radius, "radius")
    _positive(scale, "scale")
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)

    def sampler(n: int, g: torch.Generator) -> Tensor:
        k = torch.randint(8, (n,), generator=g)
        return centers[k] + scale * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def log_density(x: Tensor) -> Tensor:
        d2 = torch.cdist(x, centers) ** 2
        return torch.logsumexp(-0.5 * d2 / scale**2, dim=1) - math.log(8) - 2 * math.log(scale) - _LOG_2PI

    edge = radius + 8 * scale
    params = {"radius": radius, "scale": scale}
    return ToyDensity("8gaussians", 2, ((-edge, edge), (-edge, edge)), sampler, log_density, params)


def checkerboard(cells: int = 4, size: float = 4.0) -> ToyDensity:
    """Uniform on the dark squares of a cells x cells board covering [-size/2, size/2]^2 (cell (i, j) dark when
    i + j is even): density 2 / size^2 on the dark half (cells even), 0 elsewhere."""
    if positive_int(cells, "cells", minimum=2) % 2:
        raise QgenError(f"cells must be an even integer >= 2, got {cells!r}")
    _positive(size, "size")
    width = size / cells
    dark = torch.tensor([(i, j) for i in range(cells) for j in range(cells) if (i + j) % 2 == 0], dtype=torch.float64)
    log_height = math.log(2.0 / size**2)

    def sampler(n: int, g: torch.Generator) -> Tensor:
        k = torch.randint(dark.shape[0], (n,), generator=g)
        return (dark[k] + torch.rand(n, 2, generator=g, dtype=torch.float64)) * width - size / 2

    def log_density(x: Tensor) -> Tensor:
        cell = torch.floor((x + size / 2) / width)
        inside = ((cell >= 0) & (cell < cells)).all(1) & ((cell.sum(1) % 2) == 0)
        return torch.where(inside, log_height, -math.inf)

    params = {"cells": cells, "size": size}
    return ToyDensity("checkerboard", 2, ((-size / 2, size / 2),) * 2, sampler, log_density, params)


def _positive(value: Any, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise QgenError(f"{label} must be a positive number, got {value!r}")


#: name -> constructor of each toy density (keyword options as in the constructor)
TOY_DENSITIES: dict[str, Callable[..., ToyDensity]] = {
    "seed000": seed000_density,
    "moons": two_moons,
    "rings": rings,
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
}


def toy_density(name: str, **options: Any) -> ToyDensity:
    """The toy density called `name` (a key of TOY_DENSITIES), built with `options`.

    Example:
        >>> toy_density("8gaussians").sample(3, generator=0).shape
        torch.Size([3, 2])
    """
    try:
        make = TOY_DENSITIES[name]
    except (KeyError, TypeError):
        raise QgenError(f"unknown toy set {name!r}: expected one of {sorted(TOY_DENSITIES)}") from None
    return make(**options)


def toy_data(name: str, n: int, *, seed: int | torch.Generator | None = 0, **options: Any) -> Tensor:
    """n points of the toy set `name` as an (n, dim) float64 tensor, seeded (the same seed gives the same bits).

    Example:
        >>> torch.equal(toy_data("moons", 5, seed=1), toy_data("moons", 5, seed=1))
        True
    """
    return toy_density(name, **options).sample(n, generator=seed)
