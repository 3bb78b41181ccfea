"""Pauli-basis shots as amplitudes: <s_b| psi> summed over the 2^m computational strings a rotated shot touches."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from qgen.errors import ModelError

__all__ = ["BASIS_ROWS", "split_outcomes", "rotated_log_amplitude", "MAX_ROTATED"]

# Most non-Z sites a shot may have: its amplitude sums 2^m terms.
MAX_ROTATED = 16

_R = 1 / math.sqrt(2)
#: BASIS_ROWS[b, s, sigma] = <s_b|sigma>, b = 0 (Z), 1 (X), 2 (Y); bit s = 0 is the +1 eigenstate (|0>, |+>,
#: |+i>), as in the pauli6 POVM (outcome 2 b + s) and QuCumber's data files.
BASIS_ROWS = torch.tensor(
    [
        [[1, 0], [0, 1]],
        [[_R, _R], [_R, -_R]],
        [[_R, -1j * _R], [_R, 1j * _R]],
    ],
    dtype=torch.complex128,
)


def split_outcomes(outcomes: Tensor) -> tuple[Tensor, Tensor]:
    """pauli6 outcome codes a = 2 b + s -> (bases b in {0: Z, 1: X, 2: Y}, bits s), both (n, N) int64."""
    return outcomes // 2, outcomes % 2


def _complex_logsumexp(z: Tensor, dim: int) -> Tensor:
    top = z.real.amax(dim, keepdim=True).detach()
    return (top + torch.log(torch.exp(z - top).sum(dim, keepdim=True))).squeeze(dim)


def rotated_log_amplitude(log_psi, outcomes: Tensor, max_rotated: int = MAX_ROTATED) -> Tensor:
    """log <s_b|psi> for Pauli-basis shots, log psi given on computational strings.

    <s_b|psi> = sum_sigma prod_i <s_i|_{b_i} |sigma_i> psi(sigma), where sigma agrees with s on the Z sites and
    runs over all 2^m values on the m rotated (X or Y) sites. Shots are grouped by their basis setting.

    References:
        G. Torlai et al., "Neural-network quantum state tomography", Nat. Phys. 14, 447 (2018), Methods
        (the rotated-basis likelihood and its gradient).

    Args:
        log_psi: callable (k, N) int64 strings -> (k,) complex log-amplitudes (unnormalised).
        outcomes: (n, N) int64 pauli6 codes 2 b + s.
        max_rotated: refuse shots with more rotated sites than this.

    Returns:
        (n,) complex log-amplitudes, differentiable through `log_psi`.

    Raises:
        ModelError: a shot with more than `max_rotated` X or Y sites.
    """
    bases, bits = split_outcomes(outcomes)
    n, n_sites = bases.shape
    rotated = bases != 0
    most = int(rotated.sum(1).max()) if n else 0
    if most > max_rotated:
        raise ModelError(
            f"a shot measures {most} qubits in the X or Y basis; its amplitude sums 2^{most} terms, over the limit "
            f"of 2^{max_rotated} (max_rotated)"
        )
    rows = BASIS_ROWS.to(outcomes.device)
    settings, group = torch.unique(bases, dim=0, return_inverse=True)
    out: Tensor | None = None
    for g, setting in enumerate(settings):
        shots = (group == g).nonzero().squeeze(1)
        sites = (setting != 0).nonzero().squeeze(1)
        m = sites.numel()
        s = bits[shots]  # (k, N)
        # every assignment tau of the rotated sites: (2^m, m)
        tau = (
            torch.arange(2**m, device=outcomes.device).unsqueeze(1) >> torch.arange(m - 1, -1, -1, device=s.device)
        ) & 1
        sigma = s.unsqueeze(1).repeat(1, 2**m, 1)  # (k, 2^m, N)
        sigma[:, :, sites] = tau.unsqueeze(0).expand(len(shots), -1, -1)
        # prod_i <s_i|_{b_i}|tau_i> over the rotated sites: (k, 2^m)
        coef = rows[setting[sites].unsqueeze(0).unsqueeze(0), s[:, sites].unsqueeze(1), tau.unsqueeze(0)].prod(-1)
        log_terms = log_psi(sigma.reshape(-1, n_sites)).reshape(len(shots), 2**m) + torch.log(coef.to(torch.complex128))
        amp = _complex_logsumexp(log_terms, 1)
        if out is None:
            out = torch.zeros(n, dtype=amp.dtype, device=amp.device)
        out = out.index_put((shots,), amp)
    return out if out is not None else torch.zeros(0, dtype=torch.complex128, device=outcomes.device)
