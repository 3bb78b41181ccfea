"""Exact statistics of a local POVM on a dense state: log P(a), P over all K^N strings, and sampling."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from qgen.errors import StateError
from qgen.measurement.base import Measurement
from qgen.measurement.noise import Channel
from qgen.measurement.povm import POVM
from qgen.seeding import as_generator, uniform
from qgen.strings import MAX_ENUMERATION, as_outcomes

if TYPE_CHECKING:
    from qgen.states.dense import DenseState

__all__ = ["DenseMeasurement"]

# Working memory one contraction chunk may use (bytes); chunks of samples are sized to stay below it.
_CHUNK_BYTES = 1 << 27
# Largest outcome space sampled by inverting the cumulative table of all K^N probabilities; larger spaces
# are sampled site by site from conditional probabilities.
_TABLE_SAMPLING_LIMIT = 1 << 22
# Peak memory of an exact enumeration of all K^N probabilities (bytes).
_ENUMERATION_BYTES = 1 << 31


def _sqrt_factors(elements: np.ndarray) -> np.ndarray:
    """A_a with M_a = A_a^dagger A_a, each (r, 2) with r the largest rank, zero rows padding lower ranks."""
    factors = []
    for m in elements:
        w, v = np.linalg.eigh(m)
        keep = w > 1e-14 * max(1.0, w.max())
        factors.append(np.sqrt(w[keep])[:, None] * v[:, keep].conj().T)
    r = max(f.shape[0] for f in factors)
    out = np.zeros((len(factors), r, 2), dtype=np.complex128)
    for a, f in enumerate(factors):
        out[a, : f.shape[0]] = f
    return out


class DenseMeasurement(Measurement):
    """Exact statistics of a local POVM on a dense state, contracted site by site, batched over strings.

    A pure state is contracted on the ket side with A_a (M_a = A_a^dagger A_a), so P(a) = ||(x_i A_{a_i}) psi||^2;
    a rank-1 POVM halves the tensor at every site. A mixed state is contracted as the vector of its entries
    against the transposed elements, P(a) = sum_ij (x M_{a_i})_{ji} rho_{ij}, a quarter per site.
    """

    def __init__(self, state: DenseState, povm: POVM | str, noise: Channel | None = None, device: Any = None):
        super().__init__(state, povm, noise, device)
        if state.vector is not None:
            self._pure = True
            self._tensor = torch.from_numpy(state.vector.copy()).to(self.device)
            self._factors = torch.from_numpy(_sqrt_factors(self.povm.elements)).to(self.device)
            self._dim = 2
            self._rank = self._factors.shape[1]
        else:
            self._use_density(state.density_matrix)
        self._table: torch.Tensor | None = None

    def _use_density(self, rho: np.ndarray) -> None:
        """Contract the density matrix instead of the vector (a mixed state, or a pure one under noise)."""
        n = self.n_qubits
        self._pure = False
        # Interleave ket and bra indices so site k carries the pair (i_k, j_k) as one index of size 4.
        order = [ax for k in range(n) for ax in (k, n + k)]
        pairs = np.ascontiguousarray(rho.reshape([2] * (2 * n)).transpose(order)).reshape(-1)
        self._tensor = torch.from_numpy(pairs).to(self.device)
        # Row w_a with w_a[2i + j] = M_a[j, i], so that w_a . rho_pair = Tr(M_a rho).
        w = np.transpose(self.povm.elements, (0, 2, 1)).reshape(self.n_outcomes, 1, 4)
        self._factors = torch.from_numpy(np.ascontiguousarray(w)).to(self.device)
        self._dim = 4
        self._rank = 1

    def _chunk(self) -> int:
        per_string = 16 * self._rank * self._dim ** max(self.n_qubits - 1, 0) * max(self._rank, 1)
        return max(1, _CHUNK_BYTES // per_string)

    def _contract(self, a: torch.Tensor) -> torch.Tensor:
        """P(a) for a batch (B, N) of strings, float64 (B,)."""
        b, n, d = a.shape[0], self.n_qubits, self._dim
        t = self._tensor.reshape(1, 1, d, -1).expand(b, 1, d, d ** (n - 1))
        for k in range(n):
            f = self._factors[a[:, k]]  # (B, r, d)
            t = torch.einsum("bsi,blir->blsr", f, t)
            rest = t.shape[-1]
            t = t.reshape(b, -1, d, rest // d) if k < n - 1 else t.reshape(b, -1)
        if self._pure:
            return (t.real**2 + t.imag**2).sum(dim=1)
        return t.real.sum(dim=1)

    def log_prob(self, outcomes: Any) -> torch.Tensor:
        a = as_outcomes(outcomes, self.n_qubits, self.n_outcomes, self.device)
        step = self._chunk()
        p = torch.cat([self._contract(a[i : i + step]) for i in range(0, len(a), step)]) if len(a) else a.new_zeros(0)
        return torch.log(p.to(torch.float64).clamp_min(0.0))

    def probabilities(self) -> torch.Tensor:
        """All K^N probabilities, by contracting the sites in order and branching on every outcome."""
        if self._table is not None:
            return self._table
        k, n, d, r = self.n_outcomes, self.n_qubits, self._dim, self._rank
        if k**n > MAX_ENUMERATION:
            raise StateError(f"{k}^{n} outcome strings are too many to enumerate; use log_prob on batches")
        if _branching_bytes(k * r, d, n) > _ENUMERATION_BYTES:
            # A noisy (rank-2) POVM doubles the ket branches per site; the density form stays at K^N.
            if self._pure and _branching_bytes(k, 4, n) <= _ENUMERATION_BYTES:
                dense = copy.copy(self)
                dense._use_density(self.state.density_matrix)
                self._table = dense.probabilities()
                return self._table
            raise StateError(f"enumerating {k}^{n} strings of this state needs too much memory")
        t = self._tensor.reshape(1, 1, d, -1)
        for site in range(n):
            t = torch.einsum("ksi,plir->pklsr", self._factors, t)
            p, rest = t.shape[0] * k, t.shape[-1]
            t = t.reshape(p, -1, d, rest // d) if site < n - 1 else t.reshape(p, -1)
        probs = (t.real**2 + t.imag**2).sum(dim=1) if self._pure else t.real.sum(dim=1)
        self._table = probs.clamp_min(0.0)
        return self._table

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        n = self._check_n(n)
        generator = as_generator(generator, self.device)
        if self.n_outcomes**self.n_qubits <= _TABLE_SAMPLING_LIMIT:
            return self._sample_table(n, generator)
        step = max(1, self._chunk() // (2 * self.n_outcomes))
        return torch.cat(
            [self._sample_sites(min(step, n - i), generator) for i in range(0, n, step)] or [self._empty()]
        )

    def _empty(self) -> torch.Tensor:
        return torch.zeros(0, self.n_qubits, dtype=torch.int64, device=self.device)

    def _sample_table(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        cdf = torch.cumsum(self.probabilities(), 0)
        idx = torch.searchsorted(cdf, uniform((n,), generator, self.device) * cdf[-1], right=True)
        idx = idx.clamp_max(len(cdf) - 1)
        powers = self.n_outcomes ** torch.arange(self.n_qubits - 1, -1, -1, device=self.device)
        return (idx.unsqueeze(1) // powers) % self.n_outcomes

    def _sample_sites(self, b: int, generator: torch.Generator | None) -> torch.Tensor:
        """Ancestral sampling: P(a_k | a_<k) from the partially contracted state, for b strings at once."""
        n, d, k = self.n_qubits, self._dim, self.n_outcomes
        t = self._tensor.reshape(1, 1, d, -1).expand(b, 1, d, d ** (n - 1))
        out = torch.empty(b, n, dtype=torch.int64, device=self.device)
        rows = torch.arange(b, device=self.device)
        for site in range(n):
            branches = torch.einsum("ksi,blir->bklsr", self._factors, t)  # (B, K, L, r, R)
            if self._pure:
                marg = (branches.real**2 + branches.imag**2).flatten(2).sum(-1)
            else:
                # Trace out the remaining sites: keep only pair indices with i = j at every later site.
                rest = branches.shape[-1]
                marg = branches.flatten(2, 3).reshape(b, k, -1, rest)[..., _diagonal_pairs(rest, self.device)]
                marg = marg.real.sum(dim=(-1, -2))
            marg = marg.clamp_min(0.0)
            cdf = torch.cumsum(marg, 1)
            u = uniform((b, 1), generator, self.device) * cdf[:, -1:]
            choice = torch.searchsorted(cdf, u, right=True).clamp_max(k - 1).squeeze(1)
            out[:, site] = choice
            chosen = branches[rows, choice]  # (B, L, r, R)
            # Renormalise each string's branch so long chains neither underflow nor overflow.
            scale = marg[rows, choice].clamp_min(1e-300)
            chosen = chosen / (scale.sqrt() if self._pure else scale).reshape(b, 1, 1, 1)
            rest = chosen.shape[-1]
            t = chosen.reshape(b, -1, d, rest // d) if site < n - 1 else chosen
        return out


def _branching_bytes(branches: int, dim: int, n: int) -> int:
    """Peak bytes of the site-by-site enumeration: max over sites s of branches^s dim^(N-s) complex numbers."""
    return 16 * max(branches**s * dim ** (n - s) for s in range(n + 1))


def _diagonal_pairs(size: int, device: torch.device) -> torch.Tensor:
    """Indices of a base-4 pair string (i_k j_k ...) of length log4(size) with i_k = j_k at every site."""
    m = round(np.log(size) / np.log(4)) if size > 1 else 0
    idx = torch.zeros(1, dtype=torch.int64, device=device)
    for _ in range(m):
        idx = (idx.unsqueeze(1) * 4 + torch.tensor([0, 3], device=device)).reshape(-1)
    return idx
