"""Pauli-basis shots as amplitudes: <s_b| psi> summed over the 2^m computational strings a rotated shot touches."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from qgen.errors import ModelError

__all__ = [
    "BASIS_ROWS",
    "split_outcomes",
    "rotated_strings",
    "rotated_log_amplitude",
    "complex_logsumexp",
    "MAX_ROTATED",
    "sample_pauli6",
]

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


def complex_logsumexp(z: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """log sum exp(z) over `dim` for complex z, shifted by the largest real part (detached) for stability."""
    top = z.real.amax(dim, keepdim=True).detach()
    return (top + torch.log(torch.exp(z - top).sum(dim, keepdim=True))).squeeze(dim)


def rotated_strings(outcomes: Tensor, max_rotated: int = MAX_ROTATED) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """The computational strings each Pauli-basis shot touches, grouped by their number m of rotated sites.

    A shot s in setting b has <s_b| = sum_sigma prod_i <s_i|_{b_i}|sigma_i> <sigma|, where sigma agrees with s on
    the Z sites and runs over all 2^m values on the m rotated (X or Y) sites.

    Args:
        outcomes: (n, N) int64 pauli6 codes 2 b + s.
        max_rotated: refuse shots with more rotated sites than this.

    Yields:
        (shots, sigma, log_coef) per m: the (k,) row indices of its shots, their (k, 2^m, N) strings and the
        (k, 2^m) complex128 log prod_i <s_i|_{b_i}|sigma_i>.

    Raises:
        ModelError: a shot with more than `max_rotated` X or Y sites.
    """
    bases, bits = split_outcomes(outcomes)
    n = bases.shape[0]
    most = int((bases != 0).sum(1).max()) if n else 0
    if most > max_rotated:
        raise ModelError(
            f"a shot measures {most} qubits in the X or Y basis; its amplitude sums 2^{most} terms, over the limit "
            f"of 2^{max_rotated} (max_rotated)"
        )
    rows = BASIS_ROWS.to(outcomes.device)
    rotated = bases != 0
    count = rotated.sum(1)
    for m in torch.unique(count).tolist():
        shots = (count == m).nonzero().squeeze(1)
        k = len(shots)
        s, b = bits[shots], bases[shots]  # (k, N)
        # the rotated sites of each shot, in order: a stable sort puts them first
        sites = torch.sort((~rotated[shots]).to(torch.int8), dim=1, stable=True).indices[:, :m]  # (k, m)
        # every assignment tau of the rotated sites: (2^m, m)
        tau = (torch.arange(2**m, device=s.device).unsqueeze(1) >> torch.arange(m - 1, -1, -1, device=s.device)) & 1
        sigma = s.unsqueeze(1).repeat(1, 2**m, 1)  # (k, 2^m, N)
        sigma.scatter_(2, sites.unsqueeze(1).expand(-1, 2**m, -1), tau.unsqueeze(0).expand(k, -1, -1))
        # prod_i <s_i|_{b_i}|tau_i> over the rotated sites: (k, 2^m)
        on_sites = (b.gather(1, sites).unsqueeze(1), s.gather(1, sites).unsqueeze(1), tau.unsqueeze(0))
        coef = rows[on_sites].prod(-1)
        yield shots, sigma, torch.log(coef.to(torch.complex128))


def rotated_log_amplitude(log_psi, outcomes: Tensor, max_rotated: int = MAX_ROTATED) -> Tensor:
    """log <s_b|psi> for Pauli-basis shots, log psi given on computational strings (see `rotated_strings`).

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
    n, n_sites = outcomes.shape
    out: Tensor | None = None
    for shots, sigma, log_coef in rotated_strings(outcomes, max_rotated):
        log_terms = log_psi(sigma.reshape(-1, n_sites)).reshape(sigma.shape[:2]) + log_coef
        amp = complex_logsumexp(log_terms, 1)
        if out is None:
            out = torch.zeros(n, dtype=amp.dtype, device=amp.device)
        out = out.index_put((shots,), amp)
    return out if out is not None else torch.zeros(0, dtype=torch.complex128, device=outcomes.device)


def sample_pauli6(
    n: int,
    n_qubits: int,
    setting_probabilities: Callable[[list[int]], Tensor],
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """n exact pauli6 codes of a state: each qubit's basis uniform, then the bits of that setting.

    Draws every setting and one uniform per shot first, then inverts each distinct setting's cumulative
    distribution once for all its shots.

    Args:
        n: number of shots.
        n_qubits: N.
        setting_probabilities: setting (N basis codes, 0 = Z, 1 = X, 2 = Y) -> (2^N,) unnormalised
            probabilities of the bit strings in that setting (site 0 the most significant bit).
        generator: the randomness (its device draws the numbers).
        device: where the codes go.

    Returns:
        (n, N) int64 pauli6 codes 2 b + s.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ModelError(f"the number of samples must be an integer >= 0, got {n!r}")
    dev = generator.device if generator is not None else device
    bases = torch.randint(0, 3, (n, n_qubits), generator=generator, device=dev).to(device)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=dev).to(device)
    powers = 2 ** torch.arange(n_qubits - 1, -1, -1, device=device)
    bits = torch.zeros(n, n_qubits, dtype=torch.int64, device=device)
    settings, group = torch.unique(bases, dim=0, return_inverse=True)
    for index, setting in enumerate(settings):
        cdf = torch.cumsum(setting_probabilities(setting.tolist()), 0)
        shots = (group == index).nonzero().squeeze(1)
        idx = torch.searchsorted(cdf, u[shots] * cdf[-1]).clamp_max(cdf.numel() - 1)
        bits[shots] = (idx.unsqueeze(1) // powers) % 2
    return 2 * bases + bits
