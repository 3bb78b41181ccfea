"""Quantum fidelity of an unnormalised wavefunction or density matrix with a pure target by Monte Carlo, any N."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.estimate import Estimate

__all__ = [
    "COMPUTATIONAL_BASIS",
    "target_log_amplitudes",
    "target_bits",
    "monte_carlo_fidelity",
    "sampled_fidelity",
    "sampled_mixed_fidelity",
]

#: the projective Z measurement (outcome 0 = |0>), through which a target's sampler draws computational strings
COMPUTATIONAL_BASIS = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], dtype=np.complex128)


def target_log_amplitudes(target: Any, sigma: Tensor) -> Tensor:
    """(n,) complex128 log <sigma|phi> of (n, N) bit strings for a pure DenseState or MPSState target.

    Raises:
        ModelError: a mixed target, or one that gives neither a state vector nor MPS tensors.
    """
    if not getattr(target, "is_pure", False):
        raise ModelError(f"the Monte Carlo fidelity needs a pure target, got {type(target).__name__} (mixed)")
    sigma = sigma.cpu()
    vector = getattr(target, "vector", None)
    if vector is not None:
        powers = 2 ** torch.arange(sigma.shape[1] - 1, -1, -1)
        amplitudes = torch.as_tensor(np.asarray(vector, dtype=np.complex128))[(sigma * powers).sum(1)]
        return torch.log(amplitudes)
    tensors = getattr(target, "tensors", None)
    if tensors is None:
        raise ModelError(f"target {type(target).__name__} gives neither a state vector nor MPS tensors")
    # <sigma|phi> = A_0[sigma_0] A_1[sigma_1] ... A_{N-1}[sigma_{N-1}], contracted left to right for the batch
    env = torch.ones(sigma.shape[0], 1, dtype=torch.complex128)
    scale = torch.zeros(sigma.shape[0], dtype=torch.float64)
    for site, t in enumerate(tensors):
        a = torch.as_tensor(np.asarray(t, dtype=np.complex128))[:, sigma[:, site], :].permute(1, 0, 2)
        env = torch.bmm(env.unsqueeze(1), a).squeeze(1)
        # rescale as we go: a product of N site factors under- or overflows for long chains
        norm = env.abs().amax(1).clamp_min(1e-300)
        env, scale = env / norm.unsqueeze(1), scale + torch.log(norm)
    return torch.log(env[:, 0]) + scale


def target_bits(target: Any, n: int, generator: torch.Generator) -> Tensor:
    """(n, N) computational-basis strings drawn exactly from |<sigma|phi>|^2 by the target's own sampler."""
    from qgen.measurement.povm import POVM

    return target.measured(POVM(COMPUTATIONAL_BASIS, name="z")).sample(n, generator=generator).to(torch.int64)


def monte_carlo_fidelity(
    log_psi: Tensor, log_phi_at_psi: Tensor, log_psi_at_phi: Tensor, log_phi: Tensor, method: str
) -> Estimate:
    """F = |<phi|psi>|^2 / (<psi|psi><phi|phi>) from samples of both states, neither normalised.

    With sigma ~ |psi|^2 / <psi|psi> and tau ~ |phi|^2 / <phi|phi>,
    E_sigma[phi(sigma) / psi(sigma)] = <psi|phi> / <psi|psi> and E_tau[psi(tau) / phi(tau)] = <phi|psi> / <phi|phi>,
    so their product is F: no partition function is needed, and strings where phi vanishes never enter the
    second mean (psi of an RBM vanishes nowhere). The error bar is the delta method's over the two independent
    means, F = Re(A B): var F = var(Re(B a_i)) / n_psi + var(Re(A b_j)) / n_phi; the samples must be independent
    (chains thinned by twice their autocorrelation time, or exact draws). The first mean only sees model samples
    where phi does not vanish: for a sparse target (GHZ) few or none may, and the error bar is then too small
    (details count them).

    Args:
        log_psi: (n_psi,) complex log psi at the samples of |psi|^2.
        log_phi_at_psi: (n_psi,) complex log phi at the same strings (-inf where phi vanishes).
        log_psi_at_phi: (n_phi,) complex log psi at the samples of |phi|^2.
        log_phi: (n_phi,) complex log phi at those strings.
        method: the estimator's name for the Estimate.

    Returns:
        Estimate(F, stderr, method, n_psi + n_phi, details with both sample sizes).
    """
    n_psi, n_phi = len(log_psi), len(log_phi)
    if n_psi < 2 or n_phi < 2:
        raise ModelError(f"the Monte Carlo fidelity needs at least 2 samples of each state, got {n_psi} and {n_phi}")
    # a common shift c of log psi scales A by exp(c) and B by exp(-c): the product is unchanged, the numbers tame
    shift = float(torch.median(log_psi.real.double()))
    ratio_a = torch.exp(log_phi_at_psi.to(torch.complex128) - (log_psi.to(torch.complex128) - shift)).numpy()
    ratio_b = torch.exp((log_psi_at_phi.to(torch.complex128) - shift) - log_phi.to(torch.complex128)).numpy()
    a, b = complex(ratio_a.mean()), complex(ratio_b.mean())
    value = (a * b).real
    var = np.var((b * ratio_a).real, ddof=1) / n_psi + np.var((a * ratio_b).real, ddof=1) / n_phi
    details = {
        "n_model_samples": n_psi,
        "n_target_samples": n_phi,
        "imaginary_part": (a * b).imag,
        # a sparse target (GHZ) that no model sample hits gives 0 +- 0: read the error bar with this count
        "model_samples_on_target_support": int(np.count_nonzero(ratio_a)),
    }
    if not math.isfinite(value):
        raise ModelError("the Monte Carlo fidelity overflowed: the model and the target hardly overlap")
    return Estimate(value, float(math.sqrt(var)), method, n_psi + n_phi, details)


def sampled_fidelity(
    log_psi: Callable[[Tensor], Tensor],
    psi_bits: Tensor,
    target: Any,
    n_samples: int,
    generator: torch.Generator,
    details: dict[str, Any] | None = None,
) -> Estimate:
    """`monte_carlo_fidelity` of a wavefunction given as a function, from its samples and n exact target draws.

    Args:
        log_psi: (k, N) int64 bit strings -> (k,) complex log psi (unnormalised).
        psi_bits: (n, N) independent samples of |psi|^2.
        target: a pure DenseState or MPSState of N qubits.
        n_samples: draws of the target's |phi|^2.
        generator: the randomness of the target's draws.
        details: more details for the Estimate (the model sampler's report).
    """
    n_qubits = psi_bits.shape[1]
    if getattr(target, "n_qubits", None) != n_qubits:
        raise ModelError(f"the target has {getattr(target, 'n_qubits', None)} qubits, the model {n_qubits}")
    tau = target_bits(target, n_samples, generator).to(psi_bits.device)
    with torch.no_grad():
        values = [log_psi(psi_bits).cpu(), target_log_amplitudes(target, psi_bits)]
        values += [log_psi(tau).cpu(), target_log_amplitudes(target, tau)]
    estimate = monte_carlo_fidelity(*values, method="mc")
    sampler = "the model's |psi|^2 and the target's |phi|^2 (the two-sided overlap estimator)"
    merged = {"sampler": sampler, **(estimate.details or {}), **(details or {})}
    return Estimate(estimate.value, estimate.stderr, "mc", estimate.n_samples, merged)


def sampled_mixed_fidelity(
    log_density: Callable[[Tensor, Tensor], Tensor],
    log_diagonal: Callable[[Tensor], Tensor],
    rho_bits: Tensor,
    target: Any,
    n_samples: int,
    generator: torch.Generator,
    details: dict[str, Any] | None = None,
) -> Estimate:
    """F = <phi|rho|phi> / Tr rho of an unnormalised density matrix and a normalised pure target, by Monte Carlo.

    With tau, tau' ~ |phi|^2 independent and sigma ~ rho(sigma, sigma) / Tr rho,
    E_{tau, tau'}[rho(tau, tau') / (phi(tau) phi(tau')^*)] = <phi|rho|phi> and
    E_sigma[|phi(sigma)|^2 / rho(sigma, sigma)] = 1 / Tr rho (rho's diagonal vanishes nowhere), so their product is
    F; the error bar is the delta method's over the two independent means. The second mean only sees model
    samples where phi does not vanish: for a sparse target (GHZ) few or none may, and the error bar is then too
    small (details count them).

    Args:
        log_density: two (k, N) batches of bit strings -> (k,) complex log rho(sigma, sigma').
        log_diagonal: (k, N) bit strings -> (k,) real log rho(sigma, sigma).
        rho_bits: (n, N) independent samples of the diagonal.
        target: a pure DenseState or MPSState of N qubits (normalised).
        n_samples: pairs of target draws.
        generator: the randomness of the target's draws.
        details: more details for the Estimate.
    """
    n_qubits = rho_bits.shape[1]
    if getattr(target, "n_qubits", None) != n_qubits:
        raise ModelError(f"the target has {getattr(target, 'n_qubits', None)} qubits, the model {n_qubits}")
    tau = target_bits(target, 2 * n_samples, generator).to(rho_bits.device)
    left, right = tau[:n_samples], tau[n_samples:]
    with torch.no_grad():
        log_rho = log_density(left, right).cpu().to(torch.complex128)
        log_diag = log_diagonal(rho_bits).cpu().double()
    log_phi_left, log_phi_right = target_log_amplitudes(target, left), target_log_amplitudes(target, right)
    # a common shift c of log rho scales the first mean by exp(-c) and the second by exp(c): F is unchanged
    shift = float(torch.median(log_diag))
    terms_a = torch.exp(log_rho - shift - log_phi_left - log_phi_right.conj()).real.numpy()
    terms_b = torch.exp(2 * target_log_amplitudes(target, rho_bits).real - (log_diag - shift)).numpy()
    a, b = float(terms_a.mean()), float(terms_b.mean())
    if not math.isfinite(a * b):
        raise ModelError("the Monte Carlo fidelity overflowed: the model and the target hardly overlap")
    stderr = math.sqrt(b**2 * np.var(terms_a, ddof=1) / n_samples + a**2 * np.var(terms_b, ddof=1) / len(terms_b))
    sampler = "pairs of the target's |phi|^2 and the model's diagonal rho(sigma, sigma)"
    merged = {
        "sampler": sampler,
        "n_target_pairs": n_samples,
        "n_model_samples": len(terms_b),
        # a sparse target (GHZ) that no model sample hits gives 0 +- 0: read the error bar with this count
        "model_samples_on_target_support": int(np.count_nonzero(terms_b)),
        **(details or {}),
    }
    return Estimate(a * b, stderr, "mc", 2 * n_samples + len(terms_b), merged)
