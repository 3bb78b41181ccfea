"""Integrated autocorrelation times and MCMC error bars against the AR(1) process, whose tau is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from qgen.autocorrelation import autocorrelation, integrated_time, mcmc_mean
from qgen.errors import MetricError


def ar1(phi: float, n_chains: int, n_steps: int, seed: int) -> np.ndarray:
    """x_t = phi x_{t-1} + e_t, started in equilibrium (x_0 ~ N(0, 1 / (1 - phi^2))): rho(t) = phi^t."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n_chains, n_steps))
    noise[:, 0] /= np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], noise, axis=1)


@pytest.mark.parametrize("phi", [0.5, 0.8, 0.95])
def test_ar1_integrated_time_matches_closed_form(phi: float) -> None:
    """tau = 1 + 2 sum_t phi^t = (1 + phi) / (1 - phi); 32 chains of 20,000 steps pin it to 5 %."""
    tau, reliable = integrated_time(ar1(phi, 32, 20_000, seed=int(100 * phi)))
    exact = (1 + phi) / (1 - phi)
    assert reliable
    assert abs(tau / exact - 1) < 0.05, (tau, exact)


def test_ar1_autocorrelation_function_is_phi_to_the_t() -> None:
    rho = autocorrelation(ar1(0.7, 16, 50_000, seed=1))
    np.testing.assert_allclose(rho[:6], 0.7 ** np.arange(6), atol=0.01)


def test_independent_samples_have_tau_one() -> None:
    tau, reliable = integrated_time(np.random.default_rng(3).normal(size=(8, 10_000)))
    assert reliable and abs(tau - 1) < 0.05


def test_mcmc_mean_stderr_is_honest_on_ar1_chains() -> None:
    """Over 300 replicas the spread of the means matches the reported error (naive std / sqrt(n) is 4.4x low)."""
    phi = 0.9
    estimates = [mcmc_mean(ar1(phi, 4, 4000, seed=1000 + s)) for s in range(300)]
    means = np.array([e.value for e in estimates])
    stderr = np.sqrt(np.mean([e.stderr**2 for e in estimates]))
    # the std of 300 normal draws is within 10 % of sigma with probability > 0.99
    assert abs(means.std(ddof=1) / stderr - 1) < 0.12
    e = estimates[0]
    assert e.method == "mcmc" and e.n_samples == 16_000 and e.details["n_chains"] == 4
    assert abs(e.details["n_effective"] - 16_000 / e.details["tau"]) < 1e-9
    naive = np.sqrt(np.mean([np.var(ar1(phi, 4, 4000, seed=1000 + s), ddof=1) / 16_000 for s in range(20)]))
    assert stderr / naive > 3.5


def test_constant_chain_has_no_correlation_and_zero_error() -> None:
    assert integrated_time(np.ones(100))[0] == 1.0
    est = mcmc_mean(np.full((2, 50), 3.0), details={"observable": "Z"})
    assert est.value == 3.0 and est.stderr == 0.0 and est.details["observable"] == "Z"


def test_bad_chains_are_refused() -> None:
    with pytest.raises(MetricError, match=r"shape \(n_steps,\) or \(n_chains, n_steps\)"):
        integrated_time(np.zeros((2, 2, 10)))
    with pytest.raises(MetricError, match="finite"):
        mcmc_mean([1.0, np.nan, 2.0])
    with pytest.raises(MetricError, match="at least 2 steps"):
        autocorrelation([[1.0], [2.0]])
    with pytest.raises(MetricError, match="c must be"):
        integrated_time(np.zeros(10), c=0)
