"""Quantum fidelity of a reconstruction: Uhlmann fidelity of the reconstructed rho, or its dual-frame estimate.

Small N: rho = sum_a P(a) Q(a) from the model's probabilities of all K^N strings (`reconstruct_density_matrix`),
optionally projected onto the physical states, then F = (Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2 with the target
sigma. Larger N, pure target: F = <psi|rho|psi> = E_{a~q}[<psi|Q(a)|psi>] with Q(a) = Q_{a_0} x ... x Q_{a_N-1},
averaged over the model's samples ("mc-dual").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError
from qgen.estimate import Estimate, sample_mean
from qgen.measurement.povm import POVM
from qgen.metrics.distributions import as_generator, draw, likelihood_of, outcome_probabilities

__all__ = ["quantum_fidelity", "project_to_physical", "uhlmann_fidelity", "dual_overlaps", "MAX_EXACT_QUBITS"]

#: Largest N for which the density matrix is reconstructed ("exact" method).
MAX_EXACT_QUBITS = 8
_N_BOOTSTRAP = 50
# Working memory of one batch of dense dual contractions (bytes).
_CHUNK_BYTES = 1 << 27


def project_to_physical(rho: np.ndarray) -> np.ndarray:
    """The closest density matrix (unit trace, positive) to a Hermitian matrix in the 2-norm.

    Algorithm of Smolin, Gambetta, Smith, PRL 108, 070502 (2012): normalise the trace to 1, then, from the
    most negative eigenvalue up, zero each eigenvalue that would stay negative and spread its weight evenly over
    the ones still kept.

    Args:
        rho: (d, d) matrix; its Hermitian part is used.

    Returns:
        (d, d) complex128 density matrix with the eigenvectors of rho.
    """
    r = np.asarray(rho, dtype=np.complex128)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise MetricError(f"rho must be a square matrix, got shape {r.shape}")
    r = (r + r.conj().T) / 2
    trace = float(np.trace(r).real)
    if not trace > 0:
        raise MetricError(f"cannot project a matrix of trace {trace:.3g} onto the density matrices")
    mu, vecs = np.linalg.eigh(r / trace)
    mu = mu[::-1].copy()  # descending, as in the paper
    lam = np.zeros_like(mu)
    acc, i = 0.0, len(mu)
    while i > 0 and mu[i - 1] + acc / i < 0:
        acc += mu[i - 1]
        i -= 1
    lam[:i] = mu[:i] + acc / i
    vecs = vecs[:, ::-1]
    return (vecs * lam) @ vecs.conj().T


def _target_qobj(target: Any) -> Any:
    import qutip

    if isinstance(target, qutip.Qobj):
        return target
    if hasattr(target, "to_qutip"):
        return target.to_qutip()
    n = target.n_qubits
    if hasattr(target, "to_dense"):
        v = np.asarray(target.to_dense(), dtype=np.complex128).reshape(-1, 1)
        return qutip.Qobj(v, dims=[[2] * n, [1] * n])
    raise MetricError(f"target {type(target).__name__} has neither to_qutip nor to_dense: no density matrix")


def uhlmann_fidelity(rho: np.ndarray, target: Any) -> float:
    """F = (Tr sqrt(sqrt(sigma) rho sqrt(sigma)))^2 in [0, 1], the squared convention (Jozsa 1994).

    For a pure target F = <psi|rho|psi>, computed directly: exact to rounding, and linear in rho, so an
    unprojected rho gives the unbiased linear estimate (which may leave [0, 1]). For a mixed target F comes
    from qutip.fidelity, which returns the square root of F (Nielsen and Chuang's convention) and is squared
    here; qutip takes the target's square root and sums the square roots of the eigenvalues of
    sqrt(sigma) rho sqrt(sigma), dropping negative ones, so the result is accurate to about sqrt(machine
    epsilon) ~ 1e-8 only, and for an unprojected rho it is not a fidelity in the strict sense.

    Args:
        rho: (2^N, 2^N) matrix.
        target: a State (DenseState, MPSState up to its dense limit) or a qutip Qobj.
    """
    import qutip

    sigma = _target_qobj(target)
    r = np.asarray(rho, dtype=np.complex128)
    if r.shape != (sigma.shape[0], sigma.shape[0]):
        raise MetricError(f"rho has shape {r.shape} but the target has dimension {sigma.shape[0]}")
    if sigma.isket:
        psi = sigma.full().reshape(-1)
        return float(np.vdot(psi, r @ psi).real)
    dims = sigma.dims[0]
    return float(qutip.fidelity(sigma, qutip.Qobj((r + r.conj().T) / 2, dims=[dims, dims])) ** 2)


def dual_overlaps(target: Any, povm: POVM, outcomes: np.ndarray) -> np.ndarray:
    """<psi|Q(a)|psi> for every string a, real float64 (n,), for a pure dense or MPS target.

    Args:
        target: a pure state with a `vector` (DenseState) or MPS `tensors` (chi_l, 2, chi_r) (MPSState).
        povm: the POVM whose duals Q_a are used.
        outcomes: (n, N) int64 strings.
    """
    duals = povm.duals
    if getattr(target, "vector", None) is not None:
        psi = np.asarray(target.vector, dtype=np.complex128)
        n_sites = outcomes.shape[1]
        rows = max(1, _CHUNK_BYTES // (16 * psi.size))
        out = []
        for s in range(0, len(outcomes), rows):
            a = outcomes[s : s + rows]
            phi = np.broadcast_to(psi, (len(a), psi.size))
            for i in range(n_sites):
                # Apply Q_{a_i} on site i of every row: site i is axis 2 of (rows, 2^i, 2, 2^(N-i-1)).
                phi = np.einsum("bxy,blyr->blxr", duals[a[:, i]], phi.reshape(len(a), 2**i, 2, -1))
            out.append(np.einsum("d,bd->b", psi.conj(), phi.reshape(len(a), -1)).real)
        return np.concatenate(out)
    if getattr(target, "tensors", None) is not None:
        env = np.ones((len(outcomes), 1, 1), dtype=np.complex128)
        for i, t in enumerate(target.tensors):
            # Doubled environment (bra, ket) carried through site i with Q_{a_i} between bra and ket.
            q = duals[outcomes[:, i]]
            env = np.einsum("bmn,msr,bst,ntu->bru", env, t.conj(), q, t, optimize=True)
        return env[:, 0, 0].real
    raise MetricError(
        f"the Monte-Carlo dual-frame fidelity needs a pure target with a state vector or MPS tensors; "
        f"{type(target).__name__} has neither"
    )


def quantum_fidelity(
    model: Any,
    target: Any,
    *,
    povm: POVM | str | None = None,
    project: bool = True,
    method: str = "auto",
    n_samples: int = 10_000,
    generator: torch.Generator | int | None = None,
) -> Estimate:
    """Fidelity between the state a model (or a Measurement, or data) describes and a target state.

    Args:
        model: anything with log_prob/sample/n_qubits/n_outcomes (a model, a Measurement, an
            EmpiricalDistribution).
        target: the target State (or qutip Qobj for "exact").
        povm: the POVM whose duals turn probabilities into rho; default `model.povm` (Measurements and data
            carry it). Pass the POVM as applied to reconstruct the noiseless state, the ideal one for the noisy.
        project: "exact" only: project rho onto the physical states (Smolin et al. 2012) before the fidelity.
        method: "exact" (N <= MAX_EXACT_QUBITS: reconstruct rho from the probabilities of all K^N strings, exact
            for a model with an exact likelihood, frequencies of its samples otherwise, then the Uhlmann fidelity
            of `uhlmann_fidelity`, squared convention); "mc-dual" (pure target: the mean of <psi|Q(a)|psi> over
            n_samples samples of the model, an unbiased estimate of <psi|rho|psi> for the unprojected rho, for any
            N; its per-sample variance grows exponentially with N and is reported in `details`); "auto" picks
            "exact" for N <= MAX_EXACT_QUBITS, else "mc-dual".
        n_samples: samples for "mc-dual", and for a model without an exact likelihood in "exact".
        generator: torch.Generator or integer seed.

    Returns:
        Estimate of F in [0, 1] (up to noise). method is "exact" (stderr 0), "empirical" (rho from sample
        frequencies, bootstrap stderr, biased low by the projection) or "mc-dual" (stderr std / sqrt(n)).
    """
    n_qubits, n_outcomes = int(model.n_qubits), int(model.n_outcomes)
    if getattr(target, "n_qubits", n_qubits) != n_qubits:
        raise MetricError(f"the model has {n_qubits} qubits but the target has {target.n_qubits}")
    povm = POVM.from_spec(povm if povm is not None else getattr(model, "povm", None) or _no_povm(model))
    if povm.n_outcomes != n_outcomes:
        raise MetricError(f"the POVM has {povm.n_outcomes} outcomes but the model has {n_outcomes}")
    if method == "auto":
        method = "exact" if n_qubits <= MAX_EXACT_QUBITS else "mc-dual"
    gen = as_generator(generator)
    if method == "mc-dual":
        if not getattr(target, "is_pure", False):
            raise MetricError("method 'mc-dual' needs a pure target state")
        samples = draw(model, n_samples, gen).numpy()
        overlaps = dual_overlaps(target, povm, samples)
        details = {"per_sample_variance": float(overlaps.var(ddof=1)) if len(overlaps) > 1 else math.nan}
        return sample_mean(overlaps, "mc-dual", details)
    if method != "exact":
        raise MetricError(f"method must be 'auto', 'exact' or 'mc-dual', got {method!r}")
    if n_qubits > MAX_EXACT_QUBITS:
        raise MetricError(f"method 'exact' reconstructs rho for N <= {MAX_EXACT_QUBITS}, got N = {n_qubits}")
    probs, codes, n_used = outcome_probabilities(model, n_qubits, n_outcomes, n_samples, gen)

    def fidelity_of(p: np.ndarray) -> float:
        from qgen.metrics.reconstruction import reconstruct_density_matrix

        rho = reconstruct_density_matrix(p / p.sum(), povm)
        return uhlmann_fidelity(project_to_physical(rho) if project else rho, target)

    value = fidelity_of(probs)
    details = {"projected": bool(project), "likelihood": likelihood_of(model)}
    if codes is None:
        return Estimate(value, 0.0, "exact", 0, details)
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    total = n_outcomes**n_qubits
    reps = [fidelity_of(np.bincount(rng.choice(codes, len(codes)), minlength=total) * 1.0) for _ in range(_N_BOOTSTRAP)]
    details["bootstrap"] = _N_BOOTSTRAP
    return Estimate(value, float(np.std(reps, ddof=1)), "empirical", n_used, details)


def _no_povm(model: Any) -> POVM:
    raise MetricError(f"{type(model).__name__} carries no POVM: pass povm= to say which duals reconstruct rho")
