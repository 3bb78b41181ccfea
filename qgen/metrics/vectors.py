"""Metrics for models of continuous data: held-out NLL, KL to a known density on a grid, energy distance and MMD.

Every number is an `Estimate` whose `method` says which estimator produced it: a held-out NLL is "exact" or
"lower_bound" (then the NLL is an upper bound) as the model's likelihood is; unnormalized models are normalised
by their `log_normalizer`, whose method is recorded in `details`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qgen.errors import MetricError
from qgen.estimate import Estimate, sample_mean
from qgen.models.base import GenerativeModel, Vectors
from qgen.strings import positive_int

__all__ = ["heldout_nll", "kl_on_grid", "energy_distance", "mmd"]


def _vectors(x: Any, label: str, dim: int | None = None) -> Tensor:
    try:
        t = torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise MetricError(f"{label} must be a real array of shape (n, d), got {type(x).__name__}") from err
    if t.ndim == 1:
        t = t.unsqueeze(1)
    if t.ndim != 2 or (dim is not None and t.shape[1] != dim) or t.shape[0] < 2:
        raise MetricError(f"{label} must have shape (n >= 2, {dim or 'd'}), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise MetricError(f"{label} must be finite")
    return t


def heldout_nll(model: GenerativeModel, x: Any, *, generator: torch.Generator | int | None = None) -> Estimate:
    """The mean negative log-likelihood of held-out points, with its standard error over the points.

    Args:
        model: a model on vectors with likelihood "exact", "lower_bound" or "unnormalized".
        x: (n, dim) held-out points.
        generator: randomness of a sampled log-normalizer.

    Returns:
        Estimate with method "exact" (the NLL), "lower_bound" (the model's log_prob is a lower bound, so this is
        an upper bound on the NLL) or "unnormalized+<method of log Z>".
    """
    if not isinstance(model.support, Vectors):
        raise MetricError(f"heldout_nll takes a model of vectors, got one of {model.support}")
    if model.likelihood == "none":
        raise MetricError(f"{type(model).__name__} has no likelihood: compare samples (energy_distance, mmd)")
    points = _vectors(x, "x", model.support.dim)
    with torch.no_grad():
        values = -model.log_prob(points.to(model.dtype)).double().cpu().numpy()
    details: dict[str, Any] = {"likelihood": model.likelihood}
    method = model.likelihood
    if model.likelihood == "unnormalized":
        log_z = model.log_normalizer(generator=generator)
        values = values + log_z.value
        method = f"unnormalized+{log_z.method}"
        details["log_normalizer"] = log_z.to_dict()
    out = sample_mean(values, method, details)
    if model.likelihood == "unnormalized":  # log Z's error adds to every point alike
        out = Estimate(out.value, math.hypot(out.stderr, log_z.stderr), out.method, out.n_samples, details)
    return out


def kl_on_grid(
    log_p: Callable[[Tensor], Tensor],
    log_q: Callable[[Tensor], Tensor],
    bounds: Any,
    *,
    points: int | None = None,
) -> Estimate:
    """KL(p || q) = int p log(p / q) dx by the trapezoid rule on a grid over `bounds`, in 1-D or 2-D.

    Both densities are renormalised on the grid (so mass outside the box, or a model's missing log Z, does not
    bias the value); the error bar is the change from a grid of half the resolution.

    Args:
        log_p: (m, d) float64 -> (m,) log-density of the reference (e.g. `ToyDensity.log_prob`).
        log_q: the same for the model (e.g. `model.log_prob`, called under no_grad).
        bounds: ((lo, hi),) in 1-D or ((lo, hi), (lo, hi)) in 2-D.
        points: grid points per axis (default 4001 in 1-D, 401 in 2-D).

    Example:
        >>> from qgen.data.toy import gaussian_mixture_1d
        >>> p, q = gaussian_mixture_1d([0.0], [1.0]), gaussian_mixture_1d([1.0], [1.0])
        >>> round(kl_on_grid(p.log_prob, q.log_prob, ((-12, 12),)).value, 8)  # (mu_p - mu_q)^2 / 2
        0.5
    """
    box = np.asarray(bounds, dtype=np.float64)
    if box.ndim != 2 or box.shape[1] != 2 or box.shape[0] not in (1, 2) or not (box[:, 1] > box[:, 0]).all():
        raise MetricError(f"bounds must be ((lo, hi),) or ((lo, hi), (lo, hi)) with lo < hi, got {bounds!r}")
    d = box.shape[0]
    m = (4001 if d == 1 else 401) if points is None else positive_int(points, "points", minimum=5, error=MetricError)

    def integrate(n: int) -> float:
        axes = [torch.linspace(float(lo), float(hi), n, dtype=torch.float64) for lo, hi in box]
        grid = axes[0].unsqueeze(1) if d == 1 else torch.cartesian_prod(*axes)
        with torch.no_grad():
            lp = torch.as_tensor(log_p(grid)).double().reshape(-1)
            lq = torch.as_tensor(log_q(grid)).double().reshape(-1)

        def trapz(f: Tensor) -> Tensor:
            f = f.reshape((n,) * d)
            for axis in axes:
                f = torch.trapezoid(f, axis, dim=0)
            return f

        log_zp = float(torch.logsumexp(lp, 0))
        log_zq = float(torch.logsumexp(lq, 0))
        zp, zq = trapz((lp - log_zp).exp()), trapz((lq - log_zq).exp())
        p = (lp - log_zp).exp() / zp
        integrand = torch.where(p > 0, p * (lp - lq - log_zp + log_zq + torch.log(zq / zp)), torch.zeros_like(p))
        return float(trapz(integrand))

    fine, coarse = integrate(m), integrate((m + 1) // 2)
    return Estimate(fine, abs(fine - coarse), "quadrature", 0, {"bounds": box.tolist(), "points": m})


def _pairwise_mean(a: Tensor, b: Tensor, same: bool, kernel: Callable[[Tensor], Tensor]) -> Tensor:
    k = kernel(torch.cdist(a, b))
    if same:
        n = a.shape[0]
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))
    return k.mean()


def _two_sample(
    x: Any, y: Any, kernel: Callable[[Tensor], Tensor], sign: float, n_bootstrap: int, seed: int, method: str
) -> Estimate:
    a, b = _vectors(x, "x"), _vectors(y, "y")
    if a.shape[1] != b.shape[1]:
        raise MetricError(f"x and y must have the same dimension, got {a.shape[1]} and {b.shape[1]}")

    def statistic(p: Tensor, q: Tensor) -> float:
        cross = _pairwise_mean(p, q, False, kernel)
        return float(sign * (2 * cross - _pairwise_mean(p, p, True, kernel) - _pairwise_mean(q, q, True, kernel)))

    value = statistic(a, b)
    g = torch.Generator().manual_seed(seed)
    boots = []
    for _ in range(n_bootstrap):
        ia = torch.randint(a.shape[0], (a.shape[0],), generator=g)
        ib = torch.randint(b.shape[0], (b.shape[0],), generator=g)
        boots.append(statistic(a[ia], b[ib]))
    stderr = float(np.std(boots, ddof=1)) if n_bootstrap > 1 else math.nan
    details = {"n_x": a.shape[0], "n_y": b.shape[0], "n_bootstrap": n_bootstrap, "stderr": "bootstrap"}
    return Estimate(value, stderr, method, a.shape[0] + b.shape[0], details)


def energy_distance(x: Any, y: Any, *, n_bootstrap: int = 100, seed: int = 0) -> Estimate:
    """The (squared) energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Szekely and Rizzo, J. Stat. Plan. Inference
    143, 1249 (2013)), unbiased U-statistics, with a bootstrap standard error; 0 exactly when the laws agree.

    Example:
        >>> x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
        >>> round(energy_distance(x, x + 3, n_bootstrap=0).value, 1)
        5.4
    """
    return _two_sample(x, y, lambda r: r, 1.0, n_bootstrap, seed, "energy_distance")


def mmd(x: Any, y: Any, *, bandwidth: float | None = None, n_bootstrap: int = 100, seed: int = 0) -> Estimate:
    """The squared maximum mean discrepancy with a Gaussian kernel exp(-|r|^2 / (2 h^2)) (Gretton et al., JMLR 13,
    723 (2012), the unbiased estimator of eq. 3), with a bootstrap standard error.

    Args:
        bandwidth: h; default the median pairwise distance of the pooled samples (the median heuristic).
    """
    a, b = _vectors(x, "x"), _vectors(y, "y")
    if a.shape[1] != b.shape[1]:
        raise MetricError(f"x and y must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    if bandwidth is None:
        pooled = torch.cat([a, b])[:2000]
        bandwidth = float(torch.cdist(pooled, pooled).median())
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float) or not bandwidth > 0:
        raise MetricError(f"bandwidth must be a positive number, got {bandwidth!r}")
    h2 = 2.0 * bandwidth**2
    out = _two_sample(x, y, lambda r: torch.exp(-(r**2) / h2), -1.0, n_bootstrap, seed, "mmd")
    return Estimate(out.value, out.stderr, out.method, out.n_samples, {**(out.details or {}), "bandwidth": bandwidth})
