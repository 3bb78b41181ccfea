"""Where unnormalized and Markov-chain models meet the metrics: log Z subtracted, autocorrelation in the errors.

An RBM's `log_prob` is -F(a), exact up to log Z. The metrics evaluate it as log P = -F - log Z with log Z from
`log_normalizer()` (exact enumeration when the smaller layer is enumerable, annealed importance sampling
otherwise), and add log Z's uncertainty to the error bar of every number that depends on it. Samples drawn by a
Markov chain (`sampling == "mcmc"`) are correlated: a mean over them gets the autocorrelation-aware error of
`qgen.autocorrelation.mcmc_mean` instead of std / sqrt(n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.autocorrelation import mcmc_mean
from qgen.estimate import Estimate, sample_mean

__all__ = ["Normalized", "normalized", "mean_of_samples", "with_normalizer_error"]


class Normalized:
    """An unnormalized distribution with its log-normalizer subtracted: log P(a) = d.log_prob(a) - log Z.

    Args:
        d: the distribution (likelihood "unnormalized"), with `log_prob`, `sample`, `n_qubits`, `n_outcomes`.
        log_z: its log-normalizer as an Estimate (method "exact" or a sampled one such as "ais").

    Attributes:
        likelihood: "exact": the metrics treat log_prob as normalised; `log_z.stderr` is then added to their
            error bars by `with_normalizer_error`.
    """

    likelihood = "exact"

    def __init__(self, d: Any, log_z: Estimate) -> None:
        self.d, self.log_z = d, log_z
        self.n_qubits, self.n_outcomes = d.n_qubits, d.n_outcomes
        self.sampling = getattr(d, "sampling", "exact")

    @property
    def device(self) -> torch.device:
        dev = getattr(self.d, "device", None)
        return dev if isinstance(dev, torch.device) else torch.device("cpu")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.d.log_prob(x).double() - float(self.log_z.value)

    def sample(self, n: int, *, generator: Any = None) -> torch.Tensor:
        return self.d.sample(n, generator=generator)

    def __getattr__(self, name: str) -> Any:  # sampling_report and the like come from the wrapped model
        return getattr(self.__dict__["d"], name)


def normalized(d: Any, generator: torch.Generator | None = None) -> Any:
    """`d` itself, or `Normalized(d, d.log_normalizer())` when its likelihood is "unnormalized"."""
    if getattr(d, "likelihood", "exact") != "unnormalized":
        return d
    return Normalized(d, d.log_normalizer(method="auto", generator=generator))


def mean_of_samples(values: np.ndarray, source: Any, method: str, details: dict[str, Any]) -> Estimate:
    """The mean of per-sample values with an error bar that fits how the samples were drawn.

    Independent draws: std / sqrt(n). Markov-chain draws (`source.sampling == "mcmc"`): the integrated
    autocorrelation time widens the error; rows are read as `n_chains` interleaved chains when the source's
    `sampling_report` names them (row t * n_chains + c is chain c at time t), as one chain otherwise.
    """
    if getattr(source, "sampling", "exact") != "mcmc":
        return sample_mean(values, method, details)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n_chains = int((getattr(source, "sampling_report", None) or {}).get("n_chains", 1) or 1)
    if n_chains > 1 and values.size % n_chains == 0 and values.size // n_chains >= 4:
        chains = values.reshape(-1, n_chains).T
    else:
        chains = values[None, :]
    return mcmc_mean(chains, method=method, details=details)


def with_normalizer_error(est: Estimate, parts: list[tuple[Any, float]]) -> Estimate:
    """Add the log-normalizers' uncertainties to an estimate, to first order (delta method).

    Args:
        est: the estimate computed with log Z's point values.
        parts: (distribution, d estimate / d log Z) for each distribution that entered; only `Normalized` ones
            with a sampled log Z contribute.
    """
    extra = 0.0
    methods = {}
    for d, slope in parts:
        if isinstance(d, Normalized):
            methods[f"log_z_{len(methods)}"] = d.log_z.to_dict()
            extra += (slope * float(d.log_z.stderr)) ** 2
    if not methods:
        return est
    details = {**(est.details or {}), "log_normalizer": list(methods.values())}
    stderr = math.sqrt(float(est.stderr) ** 2 + extra)
    return Estimate(est.value, stderr, est.method, est.n_samples, details)
