"""Exact outcome distribution of an MPS under a local POVM: batched log P(a) and batched ancestral sampling.

Both walk the chain left to right with the samples as the batch dimension. The MPS is right-canonical, so
the right environment of every bond is the identity and the conditional P(a_i | a_<i) needs only the left
environment of the prefix.

Sampling refines each POVM element into rank-1 pieces, M_a = sum_r |w_ar><w_ar| (eigen-decomposition; one
piece for a projector, two for a noisy element). Sampling the refined outcome (a, r) and reporting a gives
exactly P(a), and conditioning on a rank-1 piece keeps the left environment a vector: O(chi^2 d) per site
and sample. log_prob carries the same vector for rank-1 POVMs and a (chi, chi) density environment for
elements of higher rank (noise), O(chi^3 d) per site. The running environment is renormalised at every
site and the log-norms accumulate, so N = 1000 neither underflows nor overflows.

Complex vectors are held as pairs of real ones (the real-stacked form): for a real MPS, the one product per
site that dominates the cost, l @ A, is then a single real matrix product over 2n rows, half the work of the
complex product.

References:
    A. J. Ferris and G. Vidal, PRB 85, 165146 (2012) (perfect sampling of tensor networks);
    Carrasquilla et al., Nat. Mach. Intell. 1, 155 (2019), Methods (POVM sampling of an MPS).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from qgen.errors import StateError
from qgen.measurement.base import Measurement
from qgen.measurement.noise import Channel
from qgen.measurement.povm import POVM
from qgen.strings import as_outcomes, positive_int

if TYPE_CHECKING:
    from qgen.measurement.mps_kernels import KernelSampler
    from qgen.states.mps import MPSState

__all__ = ["MPSMeasurement", "refine_povm"]

# Float64 numbers one sampling chunk may hold in flight (32 MiB), which bounds memory for any n. The CPU
# kernel's chunks are the unit of its threads: about 1 MiB of uniforms and outcomes (655 samples at N = 50), so
# that two threads share a draw of a few thousand samples; inside a chunk the kernel walks blocks of samples
# sized for the L2 cache (qgen.measurement.mps_kernels; `benchmarks/bench_mps_sampling.py --block-scan`).
_CHUNK_FLOATS = 1 << 22
_KERNEL_CHUNK_FLOATS = 1 << 17
# Working memory of one log_prob chunk (bytes): the whole batch in one tensor took 8.7 GB and 26 s for 10^6
# noisy strings at N = 10 (issue 13), most of it in page faults.
_LOG_PROB_CHUNK_BYTES = 1 << 22


def _chunks(n: int, step: int) -> list[tuple[int, int]]:
    """(first, size) of each chunk of at most `step` samples that covers samples 0 .. n - 1 in order."""
    return [(first, min(step, n - first)) for first in range(0, n, step)]


def refine_povm(elements: np.ndarray, rtol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Rank-1 pieces of every POVM element: M_a = sum_{r: parent[r] = a} |w_r><w_r|.

    Args:
        elements: (K, 2, 2) Hermitian positive operators.

    Returns:
        vectors (R, 2) complex128 and parent (R,) int64, grouped by element in increasing order.
    """
    vectors, parent = [], []
    for a, m in enumerate(elements):
        lam, u = np.linalg.eigh(m)
        for k in np.flatnonzero(lam > rtol * max(lam.max(), 1e-300)):
            vectors.append(np.sqrt(lam[k]) * u[:, k])
            parent.append(a)
    return np.array(vectors, dtype=np.complex128), np.array(parent, dtype=np.int64)


def _bra_matrix(vectors: np.ndarray) -> np.ndarray:
    """The real (R, 2, 4) map from the real-stacked phi = (Re phi_0, Re phi_1, Im phi_0, Im phi_1) to the
    real-stacked <w_r|phi> = sum_s conj(w_rs) phi_s."""
    wr, wi = vectors.real, vectors.imag
    return np.stack([np.concatenate([wr, wi], 1), np.concatenate([-wi, wr], 1)], axis=1)


class MPSMeasurement(Measurement):
    """Exact P(a) of a right-canonical MPSState under a local (possibly noisy) POVM.

    Args:
        state: the MPSState measured.
        povm: a POVM or a POVM name.
        noise: a local channel applied before the measurement (folded into the POVM), or None.
        device: torch device for every contraction (None: CPU; "cuda"; "auto").
        chunk_size: samples per internal batch of `sample` (None: about 1 MiB of uniforms and outcomes on the
            CPU kernel, 32 MiB of work space on the torch path).
        sampler: "auto" (the CPU kernel of qgen.measurement.mps_kernels on the CPU, the torch path
            elsewhere), "kernel" (CPU only) or "torch". Both give the same bits for the same generator.
    """

    def __init__(
        self,
        state: MPSState,
        povm: POVM | str,
        noise: Channel | None = None,
        device: Any = None,
        *,
        chunk_size: int | None = None,
        sampler: str = "auto",
    ) -> None:
        super().__init__(state, povm, noise, device)
        if sampler not in ("auto", "kernel", "torch"):
            raise StateError(f"sampler must be 'auto', 'kernel' or 'torch', got {sampler!r}")
        if sampler == "kernel" and self.device.type != "cpu":
            raise StateError(f"sampler='kernel' runs on the CPU only, got device {self.device}")
        self.sampler = sampler
        self._kernel: KernelSampler | None = None
        dev = self.device
        self._real = state.is_real
        self._mats = []
        for t in state.tensors:
            m = t.reshape(t.shape[0], -1)
            if not self._real:
                m = np.concatenate([m.real, m.imag], axis=1)
            self._mats.append(torch.from_numpy(np.ascontiguousarray(m, dtype=np.float64)).to(dev))
        self._chi = [t.shape[2] for t in state.tensors]
        vectors, parent = refine_povm(self.povm.elements)
        self._pieces = vectors
        self._parent = torch.from_numpy(parent).to(dev)
        self._bra = torch.from_numpy(_bra_matrix(vectors)).to(dev)  # (R, 2, 4)
        # C_r = P_r^T P_r flattened, so that |P_r x|^2 = <C_r, x x^T>: shape (16, R).
        self._gram_weights = torch.einsum("rcj,rck->jkr", self._bra, self._bra).reshape(16, -1).contiguous()
        self.rank_one = len(parent) == self.n_outcomes
        self._elements = torch.from_numpy(self.povm.elements.copy()).to(dev)
        # (K, 4, 4): the complex 2 x 2 elements as real maps of (Re, Im) x (t or s): [[Re M, -Im M], [Im M, Re M]]
        re, im = self._elements.real, self._elements.imag
        self._elements_real = torch.cat([torch.cat([re, -im], 2), torch.cat([im, re], 2)], 1).contiguous()
        self._complex_tensors: list[torch.Tensor] | None = None
        chi = max(self._chi + [t.shape[0] for t in state.tensors])
        if self._use_kernel():
            # as many samples as the earlier uniforms-and-outcomes chunks of about 1 MiB held (the unit of threads)
            auto = _KERNEL_CHUNK_FLOATS // (4 * self.n_qubits)
        else:
            auto = _CHUNK_FLOATS // (chi * (6 + 2 * len(parent)) + self.n_qubits)
        if chunk_size is not None:
            auto = positive_int(chunk_size, "chunk_size", error=StateError)
        self.chunk_size = auto if chunk_size is not None else max(256, auto)
        # Work space of one log_prob chunk (bytes), counted per distinct prefix (_chunk_bounds).
        self.log_prob_chunk_bytes = _LOG_PROB_CHUNK_BYTES

    # ---- shared contraction -------------------------------------------------------------------------

    def _phi(self, l: torch.Tensor, site: int) -> torch.Tensor:
        """l (n, 2, chi_l) real-stacked left vectors -> phi = l A_site, real-stacked (n, 4, chi_r)."""
        n = l.shape[0]
        y = l.reshape(2 * n, -1) @ self._mats[site]
        chi = self._chi[site]
        if self._real:
            return y.reshape(n, 4, chi)
        # Rows (n, c_l) times columns (c_A, s, k): Re = Re l Re A - Im l Im A, Im = Re l Im A + Im l Re A.
        y = y.reshape(n, 2, 2, 2, chi)
        return torch.stack([y[:, 0, 0] - y[:, 1, 1], y[:, 0, 1] + y[:, 1, 0]], dim=1).reshape(n, 4, chi)

    def _start(self, n: int) -> torch.Tensor:
        l = torch.zeros(n, 2, 1, dtype=torch.float64, device=self.device)
        l[:, 0] = 1.0
        return l

    # ---- exact probabilities ------------------------------------------------------------------------

    def log_prob(self, outcomes: Any) -> torch.Tensor:
        """Exact log P(a), float64, shape (n,), for outcomes (n, N) integers in [0, K).

        Strings of probability zero give -inf. The strings are sorted, so that neighbours share prefixes, and
        walked in chunks along their prefix tree: each distinct prefix of a chunk is contracted once (10^6
        strings at N = 10 have at most 4^5 distinct prefixes at the middle bond, where chi is largest). A
        chunk's work space is bounded by log_prob_chunk_bytes whatever the strings.
        """
        a = as_outcomes(outcomes, self.n_qubits, self.n_outcomes, self.device)
        out = torch.empty(a.shape[0], dtype=torch.float64, device=self.device)
        order = torch.argsort(self._prefix_keys(a))
        a = a[order]
        bounds = self._chunk_bounds(a)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            out[order[start:stop]] = self._log_prob_tree(a[start:stop])
        return out

    def _site_bytes(self) -> torch.Tensor:
        """Work space per distinct prefix at each site (bytes, float64 (N,)): the environment and the
        temporaries of one step (_vector_step, _density_step*)."""
        chi_l = np.array([t.shape[0] for t in self.state.tensors], dtype=np.float64)
        chi_r = np.array(self._chi, dtype=np.float64)
        if self.rank_one:
            size = 8 * (2 * chi_l + 16 * chi_r)
        else:
            size = 16 * (chi_l**2 + 6 * chi_l * chi_r + 2 * chi_r**2)
        return torch.from_numpy(size).to(self.device)

    def _chunk_bounds(self, a: torch.Tensor) -> list[int]:
        """Cut sorted strings into chunks whose prefix-tree walk stays within log_prob_chunk_bytes.

        A string that first differs from its predecessor at site d adds one environment at every site >= d, so
        charging it the largest per-site work space from d on bounds every site's memory by the chunk's sum.
        Repeated strings and shared prefixes cost nothing, so a chunk of a real data set holds many strings.
        """
        n, n_sites = a.shape
        if n == 0:
            return [0]
        depth = torch.full((n,), n_sites, dtype=torch.int64, device=self.device)
        for i in range(n_sites - 1, -1, -1):
            depth[1:] = torch.where(a[1:, i] != a[:-1, i], i, depth[1:])
        depth[0] = 0
        # largest work space at any site >= d, for d = 0..N (nothing for a repeated string, d = N)
        tail = torch.cat([self._site_bytes().flip(0).cummax(0).values.flip(0), torch.zeros(1, device=self.device)])
        cost = tail[depth].cumsum(0)
        budget = float(self.log_prob_chunk_bytes)
        bounds, start = [0], 0
        while start < n:
            before = float(cost[start - 1]) if start else 0.0
            stop = int(torch.searchsorted(cost, torch.tensor([before + budget], dtype=cost.dtype, device=self.device)))
            start = max(stop, start + 1)
            bounds.append(min(start, n))
        return bounds

    def _prefix_keys(self, a: torch.Tensor) -> torch.Tensor:
        """Lexicographic keys of the longest prefix whose K^m strings fit an int64 (all of a for K^N < 2^62).

        The order only decides how much the chunks share, never the result, so a key of a prefix suffices.
        """
        key = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
        span = 1
        for i in range(self.n_qubits):
            if span * self.n_outcomes >= 1 << 62:
                break
            key = key * self.n_outcomes + a[:, i]
            span *= self.n_outcomes
        return key

    def _log_prob_tree(self, a: torch.Tensor) -> torch.Tensor:
        """log P of sorted strings a (c, N): one environment per distinct prefix, site by site."""
        if self.rank_one:
            step, env = self._vector_step, self._start(1)
        elif self._real:
            step, env = self._density_step_real, torch.zeros(1, 2, 1, 1, dtype=torch.float64, device=self.device)
            env[:, 0] = 1.0
        else:
            step, env = self._density_step, torch.ones(1, 1, 1, dtype=torch.complex128, device=self.device)
            if self._complex_tensors is None:
                self._complex_tensors = [t.to(torch.complex128) for t in self.state.torch_tensors(self.device)]
        c = a.shape[0]
        # new[j]: string j starts a prefix its predecessor does not share; group[j]: the index of its prefix.
        new = torch.zeros(c, dtype=torch.bool, device=self.device)
        new[0] = True
        group = torch.zeros(c, dtype=torch.int64, device=self.device)
        logp = torch.zeros(1, dtype=torch.float64, device=self.device)
        distinct = False
        for i in range(self.n_qubits):
            if distinct:
                # Every string has its own prefix from here on: no bookkeeping, no gathers.
                env, increment = step(env, a[:, i], i)
                logp = logp + increment
                continue
            new[1:] |= a[1:, i] != a[:-1, i]
            heads = new.nonzero().squeeze(1)
            parent = group[heads]
            group = new.cumsum(0) - 1
            env, increment = step(env[parent], a[heads, i], i)
            logp = logp[parent] + increment
            distinct = len(heads) == c
        return logp[group]

    def _vector_step(self, l: torch.Tensor, a: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rank-1 POVM: refined piece r is outcome r itself (refine_povm keeps the element order)."""
        x = self._phi(l, i)  # (n, 4, chi)
        bra = self._bra[a]  # (n, 2, 4)
        # The (2 x 4) map per string, elementwise: a batched product of such small matrices is mostly overhead.
        z = sum(bra[:, :, j, None] * x[:, None, j] for j in range(4))  # (n, 2, chi)
        p = z.square().sum((1, 2))
        return z / torch.where(p > 0, p, 1.0).sqrt()[:, None, None], torch.log(p)

    @staticmethod
    def _normalise(d_env: torch.Tensor, tr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # A marginal that rounds to zero or below is a string of probability zero.
        positive = tr > 0
        increment = torch.where(positive, torch.log(tr.clamp_min(1e-300)), -math.inf)
        return d_env / torch.where(positive, tr, 1.0).reshape(-1, *[1] * (d_env.dim() - 1)), increment

    def _density_step(self, d_env: torch.Tensor, a: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """D[j, j'] = l_j conj(l_j') generalised to mixtures; D' = sum_st M_a[t, s] A_s^T D conj(A_t), contracted
        as two matrix products over the whole chunk (strings folded into the rows) around an elementwise step."""
        ket = self._complex_tensors[i]
        n = d_env.shape[0]
        chi_l, _, chi_r = ket.shape
        # f[n, j', s, k] = sum_j D[j, j'] A[j, s, k]
        f = (d_env.transpose(1, 2).reshape(n * chi_l, chi_l) @ ket.reshape(chi_l, -1)).reshape(n, chi_l, 2, chi_r)
        m = self._elements[a]  # (n, t, s)
        # g[n, j', t, k] = sum_s M[t, s] f[n, j', s, k]
        g = m[:, None, :, 0, None] * f[:, :, None, 0] + m[:, None, :, 1, None] * f[:, :, None, 1]
        # D'[n, k, k'] = sum_{j', t} g[n, j', t, k] conj(A)[j', t, k']
        rows = g.permute(0, 3, 1, 2).reshape(n * chi_r, 2 * chi_l)
        d_env = (rows @ ket.conj().reshape(chi_l * 2, chi_r)).reshape(n, chi_r, chi_r)
        return self._normalise(d_env, d_env.diagonal(dim1=1, dim2=2).sum(-1).real)

    def _density_step_real(self, d_env: torch.Tensor, a: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """_density_step for a real MPS, with D held as (n, 2, chi, chi) real (Re D, Im D): both products become
        real products over twice the rows, half the arithmetic of complex ones."""
        mat = self._mats[i]  # (chi_l, 2 chi_r): A_s side by side, real
        n, _, chi_l, _ = d_env.shape
        chi_r = self._chi[i]
        # f[n, c, j', s, k] = sum_j D_c[j, j'] A[j, s, k], c = Re, Im
        f = (d_env.transpose(2, 3).reshape(n * 2 * chi_l, chi_l) @ mat).reshape(n, 2, chi_l, 2, chi_r)
        # g[n, c, t, j', k] = sum_{c', s} M4[c, t; c', s] f[n, c', s, j', k], M4 the real form of the complex M_a
        f = f.permute(0, 1, 3, 2, 4).reshape(n, 4, chi_l * chi_r)
        g = torch.bmm(self._elements_real[a], f).reshape(n, 2, 2, chi_l, chi_r)
        # D'_c[k, k'] = sum_{j', t} g[n, c, j', t, k] A[j', t, k']
        rows = g.permute(0, 1, 4, 3, 2).reshape(n * 2 * chi_r, 2 * chi_l)
        d_env = (rows @ mat.reshape(chi_l * 2, chi_r)).reshape(n, 2, chi_r, chi_r)
        return self._normalise(d_env, d_env[:, 0].diagonal(dim1=1, dim2=2).sum(-1))

    # ---- sampling -----------------------------------------------------------------------------------

    def _stream_key(self, generator: torch.Generator | None) -> int:
        """The key of one draw's uniforms (qgen.measurement.mps_kernels.counter_uniforms): one 63-bit integer
        from the generator, so the same generator state gives the same draw."""
        dev = generator.device if generator is not None else self.device
        return int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=dev, dtype=torch.int64))

    def _uniforms(self, key: int, first: int, n: int) -> torch.Tensor:
        """(n, N) uniforms of samples first .. first + n - 1 of the draw with this key, on this device: the
        numbers the CPU kernel computes in place, so the torch path gives its bits."""
        from qgen.measurement.mps_kernels import counter_uniforms  # numba: imported when first needed

        return torch.from_numpy(counter_uniforms(key, first, n, self.n_qubits)).to(self.device)

    def _sample_chunk(self, u: torch.Tensor) -> torch.Tensor:
        """The torch path (any device): samples (n, N) for uniforms u (n, N)."""
        u = u.to(self.device)
        n = u.shape[0]
        out = torch.empty(n, self.n_qubits, dtype=torch.int64, device=self.device)
        rows = torch.arange(n, device=self.device)
        last = self._bra.shape[0] - 1
        l = self._start(n)
        for i in range(self.n_qubits):
            x = self._phi(l, i)  # (n, 4, chi): real-stacked phi_s = (l A_i)[s]
            # P(a_i, r | a_<i) = |<w_r|phi>|^2 = sum_jk C_r[j, k] (x x^T)[j, k]: the 4 x 4 Gram matrix is cheaper
            # than the R amplitudes, and sums to 1 over r because |l| = 1 and the pieces resolve the identity.
            p = torch.bmm(x, x.transpose(1, 2)).reshape(n, 16) @ self._gram_weights
            cdf = p.cumsum(1)
            r = (cdf <= u[:, i : i + 1] * cdf[:, -1:]).sum(1).clamp_max(last)
            out[:, i] = self._parent[r]
            # The next left vector <w_r|phi>, renormalised: fold 1/sqrt(p) into the (n, 2, 4) map, not into l.
            l = torch.bmm(self._bra[r] * p[rows, r].clamp_min(1e-300).rsqrt()[:, None, None], x)
        return out

    def _use_kernel(self) -> bool:
        return self.sampler == "kernel" or (self.sampler == "auto" and self.device.type == "cpu")

    def iter_samples(
        self, n: int, *, chunk_size: int | None = None, generator: torch.Generator | None = None
    ) -> Iterator[torch.Tensor]:
        """Exact samples in chunks of at most `chunk_size` rows (int64, (m, N) each), for streaming writers.

        On the CPU the chunks run on torch.get_num_threads() threads (qgen.measurement.mps_kernels), at most that
        many in flight. The chunks of iter_samples(n) concatenated equal sample(n) under the same generator
        state, for any chunk size and thread count.
        """
        n = self._check_n(n)
        step = self.chunk_size if chunk_size is None else positive_int(chunk_size, "chunk_size", error=StateError)
        chunks = _chunks(n, step)
        if not chunks:
            return
        key = self._stream_key(generator)
        if not self._use_kernel():
            for first, size in chunks:
                yield self._sample_chunk(self._uniforms(key, first, size))
            return
        for chunk in self._sampler().sample_chunks(key, chunks, workers=torch.get_num_threads()):
            yield torch.from_numpy(chunk)

    def _sampler(self) -> KernelSampler:
        """The compiled CPU sampler of this measurement, built once."""
        if self._kernel is None:
            from qgen.measurement.mps_kernels import KernelSampler  # numba: imported when first needed

            mats = [m.numpy() for m in self._mats]
            self._kernel = KernelSampler(mats, self._chi, self._pieces, self._parent.cpu().numpy())
        return self._kernel

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact samples, int64 (n, N); the same generator state gives the same bits.

        Work space is bounded by sampling in chunks of `chunk_size`; only the (n, N) result grows with n. The
        bits do not depend on the chunk size or on the number of threads.
        """
        n = self._check_n(n)
        if self._use_kernel() and n > 0:
            # The kernel writes each chunk into its rows of the one result: no per-chunk arrays, no final copy.
            key = self._stream_key(generator)
            result = torch.empty(n, self.n_qubits, dtype=torch.int64)
            rows = result.numpy()
            chunks = _chunks(n, self.chunk_size)
            outs = (rows[first : first + size] for first, size in chunks)
            for _ in self._sampler().sample_chunks(key, chunks, workers=torch.get_num_threads(), outs=outs):
                pass
            return result
        chunks = list(self.iter_samples(n, generator=generator))
        if not chunks:
            return torch.zeros(0, self.n_qubits, dtype=torch.int64, device=self.device)
        return torch.cat(chunks)
