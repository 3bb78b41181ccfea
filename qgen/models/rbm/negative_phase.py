"""Negative phases of the wavefunction and density RBMs: exact by enumeration, or persistent block-Gibbs chains."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.rbm.energy import RBMEnergy

__all__ = [
    "NEGATIVE_PHASES",
    "EXACT_LIMIT",
    "resolve_negative_phase",
    "check_chain_options",
    "joint_energy",
    "initial_chains",
    "chains_from_data",
]

NEGATIVE_PHASES = ("auto", "exact", "sampled")
# Most configurations an exact negative phase sums over at every update: 2^20, the limit N <= 20 of before.
EXACT_LIMIT = 2**20


def resolve_negative_phase(choice: Any, configurations: int, what: str) -> str:
    """ "exact" or "sampled" for `choice` ("auto": exact when `configurations` <= EXACT_LIMIT).

    Args:
        choice: "auto", "exact" or "sampled".
        configurations: how many terms the exact normaliser sums.
        what: the normaliser in words, for the error message.

    Raises:
        ModelError: an unknown choice, or "exact" over the limit.

    Example:
        >>> resolve_negative_phase("auto", 2**6, "log Z"), resolve_negative_phase("auto", 2**24, "log Z")
        ('exact', 'sampled')
    """
    if choice not in NEGATIVE_PHASES:
        raise ModelError(f"negative_phase must be one of {NEGATIVE_PHASES}, got {choice!r}")
    if choice == "auto":
        return "exact" if configurations <= EXACT_LIMIT else "sampled"
    if choice == "exact" and configurations > EXACT_LIMIT:
        raise ModelError(
            f"negative_phase='exact' sums {what} over {configurations:.3g} configurations at every update, over the "
            f"limit of {EXACT_LIMIT} (2^20); use 'sampled' or 'auto'"
        )
    return choice


def check_chain_options(k: Any, n_chains: Any) -> None:
    """Gibbs sweeps per update and persistent chains: integers >= 1."""
    for label, value in (("k", k), ("n_chains", n_chains)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{label} must be an integer >= 1, got {value!r}")


def joint_energy(weights: list[Tensor], visible_bias: Tensor, hidden_biases: list[Tensor]) -> RBMEnergy:
    """A detached binary RBM whose hidden layer is the union of several hidden layers over the same visibles.

    The diagonal of the purified density matrix, rho(sigma, sigma) = exp(-F_lambda(sigma) + sum_k softplus(d_k +
    U_k.sigma)) (Torlai & Melko 2018, eq. 3 at sigma = sigma'), is the marginal of an RBM whose hidden units are
    the amplitude RBM's hidden units and the auxiliary units together, so its Gibbs chain and its AIS are those
    of that RBM. Its constructor's initial weights (overwritten at once) are drawn inside `fork_rng`, so the global
    RNG is left as it was.

    Args:
        weights: (N, 2, M_i) one-hot weights of each hidden layer.
        visible_bias: (N, 2).
        hidden_biases: (M_i,) biases, in the order of `weights`.
    """
    weight = torch.cat([w.detach() for w in weights], -1)
    with torch.random.fork_rng(devices=[]):
        energy = RBMEnergy(weight.shape[0], 2, weight.shape[2], 0.0)
    energy = energy.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        energy.weight.copy_(weight)
        energy.visible_bias.copy_(visible_bias.detach())
        energy.hidden_bias.copy_(torch.cat([c.detach() for c in hidden_biases]))
    energy.requires_grad_(False)
    return energy


def initial_chains(n_chains: int, n_qubits: int) -> Tensor:
    """(n_chains, N) uniform random bits (the global RNG, like the initial weights); `prepare` re-draws them."""
    return torch.randint(0, 2, (n_chains, n_qubits))


def chains_from_data(outcomes: Tensor, n_chains: int, generator: torch.Generator) -> Tensor:
    """(n_chains, N) bits of data rows drawn with replacement: the measured bits of (n, N) pauli6 codes 2 b + s.

    On Z sites they are computational strings the data saw; on rotated sites a fair start. PCD chains started
    at the data need fewer sweeps to reach the model's distribution than uniform ones (Tieleman 2008).
    """
    rows = torch.randint(0, outcomes.shape[0], (n_chains,), generator=generator, device=generator.device)
    return outcomes[rows.to(outcomes.device)] % 2
