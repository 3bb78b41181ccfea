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
from qgen.strings import MAX_ENUMERATION, as_outcomes, enumeration_size, strings_at

if TYPE_CHECKING:
    from qgen.measurement.mps import MPSMeasurement
    from qgen.states.dense import DenseState

__all__ = ["DenseMeasurement"]

# Working memory of one log_prob chunk (bytes): 4 MiB stays in the cache; 64-128 MiB temporaries spent most of
# their time in page faults (issue 13: about 6x slower).
_CHUNK_BYTES = 1 << 22
# Largest table of shared prefixes (bytes): the contraction of the first sites with every combination of
# rank-1 pieces, computed once and shared by all strings.
_PREFIX_BYTES = 1 << 24
# Largest outcome space sampled by inverting the cumulative table of all K^N probabilities (a memory policy:
# 2^22 strings, a 32 MiB float64 table, a sixteenth of the one enumeration limit); larger spaces are sampled
# through the state's exact MPS (pure states) or site by site (mixed states).
_TABLE_SAMPLING_LIMIT = MAX_ENUMERATION // 16
# Working memory of one chunk of the mixed-state site-by-site sampler (bytes).
_SAMPLING_BYTES = 1 << 27
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


def _pieces(factors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero rows of padded factors (K, r, d): rows (P, d), each element's first row (K,), its row count (K,)."""
    counts = (np.abs(factors).sum(-1) > 0).sum(1)
    rows = np.concatenate([f[:c] for f, c in zip(factors, counts)])
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return rows, first, counts


class DenseMeasurement(Measurement):
    """Exact statistics of a local POVM on a dense state, contracted site by site, batched over strings.

    A pure state is contracted on the ket side with A_a (M_a = A_a^dagger A_a), so P(a) = ||(x_i A_{a_i}) psi||^2
    = sum over the rank-1 pieces <w| of the elements of |(x_i <w_i|) psi|^2: a rank-1 element halves the tensor,
    a rank-2 one keeps both of its pieces as branches (no padding of rank-1 elements to rank 2). A mixed state
    is contracted as the vector of its entries against the transposed elements, P(a) = sum_ij (x M_{a_i})_{ji}
    rho_{ij}, a quarter per site. The first sites are contracted once with every combination of pieces (a table
    shared by all strings); the rest runs in chunks of strings that fit in the cache.

    Sampling inverts the cumulative table of all K^N probabilities where that has at most 2^22 entries; beyond,
    a pure state is sampled through its exact MPS (MPSState.from_dense: singular values below 1e-14 of the
    largest dropped, a change of the distribution far below any statistical resolution) and a mixed state site
    by site from its conditional probabilities.
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
        self._prefix: torch.Tensor | None = None
        self._mps: MPSMeasurement | None = None

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
        self._prefix = None

    # ---- exact probabilities --------------------------------------------------------------------------

    def _setup_contraction(self) -> None:
        """Pieces, prefix length and the shared prefix table for log_prob (built on first use)."""
        rows, first, counts = _pieces(self._factors.cpu().numpy())
        dev = self.device
        self._rows = torch.from_numpy(rows).to(dev)  # (P, d)
        self._first = torch.from_numpy(first).to(dev)
        self._counts = torch.from_numpy(counts).to(dev)
        n, d, p = self.n_qubits, self._dim, len(rows)
        # Share the first s sites while the table of P^s partial contractions stays small; every site shared
        # removes the largest remaining step (d^(N-s) numbers per branch) from every string.
        s = 0
        while s < n - 1 and 16 * p ** (s + 1) * d ** (n - s - 1) <= _PREFIX_BYTES:
            s += 1
        table = self._tensor.reshape(1, -1)
        for _ in range(s):
            table = torch.einsum("pi,bir->bpr", self._rows, table.reshape(table.shape[0], d, -1))
            table = table.reshape(-1, table.shape[-1])
        self._prefix_sites, self._prefix = s, table
        # Bytes per string at the widest site after the prefix: r^k branches of d^(N-k) numbers, three copies.
        r = int(counts.max())
        # Equal ranks: the padded factors (K, r, d) have no zero rows and serve as they are.
        self._uniform = r if int(counts.min()) == r else 0
        self._per_string = 48 * max(r**k * d ** (n - k) for k in range(s, n + 1))

    def _expand(self, element: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The pieces of each branch's element: (source branch or None, piece) per new branch.

        None stands for "one new branch per branch, in order" (every element there has rank 1).
        """
        counts = self._counts[element]
        piece = self._first[element]
        if int(counts.max()) == 1:
            return None, piece
        src = torch.repeat_interleave(torch.arange(len(element), device=self.device), counts)
        start = torch.cumsum(counts, 0) - counts
        offset = torch.arange(len(src), device=self.device) - start[src]
        return src, piece[src] + offset

    def _contract(self, a: torch.Tensor) -> torch.Tensor:
        """P(a) for a batch (B, N) of strings, float64 (B,).

        A string's branches are the combinations of the rank-1 pieces of its elements; with equal ranks
        (every ideal rank-1 POVM, every POVM under full-rank noise) they are contiguous blocks of equal size and
        need no index bookkeeping, with mixed ranks (pauli4's rank-2 fourth element) they carry their string.
        """
        b, n, d = a.shape[0], self.n_qubits, self._dim
        n_rows, c = len(self._rows), self._uniform
        owner = torch.arange(b, device=self.device)
        row = torch.zeros(b, dtype=torch.int64, device=self.device)
        for k in range(self._prefix_sites):  # index arithmetic only: the contractions are in the table
            if c:
                offsets = self._first[a[:, k]][:, None] + torch.arange(c, device=self.device)
                row = (row.reshape(b, -1, 1) * n_rows + offsets[:, None, :]).reshape(-1)
                continue
            src, piece = self._expand(a[owner, k])
            if src is not None:
                owner, row = owner[src], row[src]
            row = row * n_rows + piece
        t = self._prefix[row]  # (branches, d^(N-s))
        for k in range(self._prefix_sites, n):
            t = t.reshape(t.shape[0], d, -1)
            if c:
                w = self._factors[a[:, k]]  # (B, c, d)
                if c == 1:
                    t = sum(w[:, 0, i, None] * t[:, i] for i in range(d))
                    continue
                # w against t (B, m, d, R): the new branches (c, m) of a string may come in any order (they are
                # summed), so one batched matrix product per chunk.
                t = t.reshape(b, -1, d, t.shape[-1])
                t = torch.einsum("bci,bmir->bcmr", w, t).reshape(-1, t.shape[-1])
                continue
            src, piece = self._expand(a[owner, k])
            if src is not None:
                owner, t = owner[src], t.index_select(0, src)
            # Elementwise, not einsum: late sites have many branches of a few numbers, where a batched matrix
            # product spends its time on per-batch overhead.
            w = self._rows[piece]
            t = sum(w[:, i, None] * t[:, i] for i in range(d))
        # t is (branches, 1): a pure state sums |amplitude|^2 over a string's branches, a mixed one Re Tr.
        t = t.reshape(-1)
        terms = t.real**2 + t.imag**2 if self._pure else t.real
        if c:
            return terms.reshape(b, -1).sum(1)
        return torch.zeros(b, dtype=torch.float64, device=self.device).index_add_(0, owner, terms)

    def log_prob(self, outcomes: Any) -> torch.Tensor:
        a = as_outcomes(outcomes, self.n_qubits, self.n_outcomes, self.device)
        if self._prefix is None:
            self._setup_contraction()
        step = max(1, _CHUNK_BYTES // self._per_string)
        p = torch.cat([self._contract(a[i : i + step]) for i in range(0, len(a), step)]) if len(a) else a.new_zeros(0)
        return torch.log(p.to(torch.float64).clamp_min(0.0))

    def probabilities(self) -> torch.Tensor:
        """All K^N probabilities, by contracting the sites in order and branching on every outcome."""
        if self._table is not None:
            return self._table
        k, n, d, r = self.n_outcomes, self.n_qubits, self._dim, self._rank
        enumeration_size(k, n, error=StateError)
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
        """n exact samples, int64 (n, N); the same generator state gives the same bits.

        Up to 2^22 outcome strings: one uniform per sample against the cumulative table. Beyond, a pure state
        is sampled through its exact MPS (the first m rows of sample(n) are then sample(m)), a mixed state site
        by site across the batch.
        """
        n = self._check_n(n)
        generator = as_generator(generator, self.device)
        if self.n_outcomes**self.n_qubits <= _TABLE_SAMPLING_LIMIT:
            return self._sample_table(n, generator)
        if self.state.vector is not None:
            return self.as_mps().sample(n, generator=generator)
        per_string = 16 * self._dim ** max(self.n_qubits - 1, 0) * 2 * self.n_outcomes
        step = max(1, _SAMPLING_BYTES // per_string)
        return torch.cat(
            [self._sample_sites(min(step, n - i), generator) for i in range(0, n, step)] or [self._empty()]
        )

    def as_mps(self) -> MPSMeasurement:
        """The same measurement of the state's exact MPS (pure states only), built once.

        MPSState.from_dense keeps every singular value above 1e-14 of the largest, so the MPS is the state to
        rounding: with at most 2^(N/2) values dropped per bond, the trace distance between the two states, which
        bounds the total-variation distance between their outcome distributions, is below about 1e-12.
        """
        if self.state.vector is None:
            raise StateError("as_mps needs a pure state; this DenseState holds a density matrix")
        if self._mps is None:
            from qgen.measurement.mps import MPSMeasurement
            from qgen.states.mps import MPSState

            mps = MPSState.from_dense(self.state.vector)
            self._mps = MPSMeasurement(mps, self.ideal_povm, self.noise, device=self.device)
        return self._mps

    def _empty(self) -> torch.Tensor:
        return torch.zeros(0, self.n_qubits, dtype=torch.int64, device=self.device)

    def _sample_table(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        cdf = torch.cumsum(self.probabilities(), 0)
        idx = torch.searchsorted(cdf, uniform((n,), generator, self.device) * cdf[-1], right=True)
        return strings_at(idx.clamp_max(len(cdf) - 1), self.n_outcomes, self.n_qubits)

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
