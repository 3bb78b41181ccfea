"""Parallel tempering for an RBM: replicas at inverse temperatures 1 = beta_0 > ... > beta_min, neighbour swaps."""

from __future__ import annotations

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.rbm.energy import RBMEnergy, Share, bernoulli, categorical, uniform

__all__ = ["inverse_temperatures", "tempered_log_weight", "tempering_sweep"]


def inverse_temperatures(n_temperatures: int, beta_min: float) -> Tensor:
    """(T,) float64 betas from 1 down to `beta_min`, geometrically spaced (1 when T = 1).

    A geometric ladder keeps the ratio of neighbouring temperatures fixed, the usual choice when the energy
    variance changes little along the ladder (Earl & Deem, Phys. Chem. Chem. Phys. 7, 3910 (2005), sec. 4).
    """
    if isinstance(n_temperatures, bool) or not isinstance(n_temperatures, int) or n_temperatures < 1:
        raise ModelError(f"n_temperatures must be an integer >= 1, got {n_temperatures!r}")
    if not (isinstance(beta_min, (int, float)) and 0.0 < beta_min < 1.0):
        raise ModelError(f"beta_min must lie in (0, 1), got {beta_min!r}")
    if n_temperatures == 1:
        return torch.ones(1, dtype=torch.float64)
    return torch.tensor(beta_min, dtype=torch.float64) ** torch.linspace(0, 1, n_temperatures, dtype=torch.float64)


def tempered_log_weight(visible: Tensor, field: Tensor, beta: Tensor) -> Tensor:
    """log p*_beta(v) = beta b.v + sum_j softplus(beta (c_j + W_j.v)): the marginal of exp(-beta E(v, h)).

    Args:
        visible: (...,) b.v of each replica.
        field: (..., M) hidden fields c + W v.
        beta: inverse temperatures broadcastable to `visible`.
    """
    return beta * visible + torch.nn.functional.softplus(beta.unsqueeze(-1) * field).sum(-1)


def _swap(energy: RBMEnergy, v: Tensor, betas: Tensor, parity: int, u: Tensor) -> tuple[Tensor, Tensor]:
    """Metropolis swaps of the replica pairs (t, t + 1), t = parity, parity + 2, ...; returns v and the accepts."""
    n_temps, n_chains, n_sites = v.shape
    pairs = torch.arange(parity, n_temps - 1, 2, device=v.device)
    if len(pairs) == 0:
        return v, torch.zeros(0, n_chains, dtype=torch.bool, device=v.device)
    flat = v.reshape(-1, n_sites)
    visible = energy.visible_term(flat).reshape(n_temps, n_chains)
    field = energy.hidden_field(flat).reshape(n_temps, n_chains, -1)
    lo, hi = pairs, pairs + 1
    b_lo, b_hi = betas[lo].unsqueeze(1), betas[hi].unsqueeze(1)
    # p_lo(v_hi) p_hi(v_lo) / (p_lo(v_lo) p_hi(v_hi)): the swap's Metropolis ratio
    log_ratio = (
        tempered_log_weight(visible[hi], field[hi], b_lo)
        + tempered_log_weight(visible[lo], field[lo], b_hi)
        - tempered_log_weight(visible[lo], field[lo], b_lo)
        - tempered_log_weight(visible[hi], field[hi], b_hi)
    )
    accept = torch.log(u[lo]) < log_ratio  # (pairs, C)
    out = v.clone()
    out[lo] = torch.where(accept.unsqueeze(-1), v[hi], v[lo])
    out[hi] = torch.where(accept.unsqueeze(-1), v[lo], v[hi])
    return out, accept


def tempering_sweep(
    energy: RBMEnergy,
    replicas: Tensor,
    betas: Tensor,
    generator: torch.Generator | None,
    share: Share | None = None,
) -> tuple[Tensor, Tensor]:
    """One parallel-tempering sweep: a block-Gibbs sweep of every replica at its own beta, then swaps.

    Replica t samples p_t(v, h) ~ exp(-beta_t E(v, h)); after the Gibbs sweep, neighbouring replicas exchange
    states with the Metropolis probability min(1, p_t(v_t+1) p_t+1(v_t) / (p_t(v_t) p_t+1(v_t+1))) on the
    marginals (`tempered_log_weight`), first the pairs (0, 1), (2, 3), ..., then (1, 2), (3, 4), ... Each move
    leaves the product of the replicas' distributions invariant, so replica 0 (beta = 1) samples the RBM.

    References:
        R. H. Swendsen and J.-S. Wang, Phys. Rev. Lett. 57, 2607 (1986); G. Desjardins, A. Courville, Y. Bengio,
        P. Vincent, O. Delalleau, "Tempered Markov chain Monte Carlo for training of restricted Boltzmann
        machines", AISTATS (2010).

    Args:
        energy: the RBM.
        replicas: (T, C, N) int64 states, replica t at betas[t].
        betas: (T,) inverse temperatures, betas[0] = 1.
        generator: the randomness.
        share: the chains (axis 1) this rank advances (see `Share`); None: all.

    Returns:
        (replicas, accepted): the new states and the (T - 1,) number of accepted swaps of each pair.
    """
    n_temps, n_chains, n_sites = replicas.shape
    with torch.no_grad():
        b = betas.to(device=replicas.device, dtype=energy.weight.dtype)
        flat = replicas.reshape(-1, n_sites)
        p_hidden = torch.sigmoid(b.repeat_interleave(n_chains).unsqueeze(1) * energy.hidden_field(flat))
        h = bernoulli(p_hidden.reshape(n_temps, n_chains, -1), generator, share, axis=1)
        logits = b.reshape(-1, 1, 1, 1) * energy.visible_logits(h.reshape(n_temps * n_chains, -1)).reshape(
            n_temps, n_chains, n_sites, -1
        )
        v = categorical(logits, generator, share, axis=1)
        u = uniform((2, max(n_temps - 1, 1), n_chains), generator, v.device, b.dtype, share, axis=2)
        accepted = torch.zeros(max(n_temps - 1, 0), dtype=torch.int64, device=v.device)
        for parity in (0, 1):
            v, accept = _swap(energy, v, b, parity, u[parity])
            accepted[parity::2] += accept.sum(1)
    return v, accepted
