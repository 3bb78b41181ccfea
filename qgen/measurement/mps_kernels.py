"""CPU sampling of an MPS under a local POVM: one BLAS product and one fused numba pass per site.

The batched torch sampler of qgen.states.mps_measurement spends two thirds of its CPU time outside the one
matrix product that does the real work: in tiny batched (4 x chi) products and in passes over memory
between them. Here the product phi = l A_i of all samples stays a BLAS call (numpy's), and everything after
it (the 2 x 2 conditional density matrix of each sample, the probabilities of the rank-1 pieces, the draw,
and the next left vector) is one hand-written loop, compiled by numba, that reads phi once and writes l once.
No library fuses these steps. Chunks of samples run on a pool of threads (BLAS pinned to one thread each, so
the pool does not oversubscribe the cores); every sample reads only its own row of uniforms, so the bits do
not depend on the chunking or the number of threads.

For site i and one sample with unit left vector l (real-stacked: rows Re l, Im l):
phi_s = (l A_i)[:, s, :], rho_{ss'} = sum_k phi_s[k] conj(phi_s'[k]), P(r | a_<i) = <w_r| rho |w_r> for the
rank-1 POVM pieces M_a = sum_{r in a} |w_r><w_r|, r drawn by inverting the cumulative sum with the sample's
uniform u_i, and l <- <w_r|phi> / sqrt(P(r | a_<i)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["KernelSampler"]

# cache: compiled code is kept on disk so a new process does not pay the JIT (about 2 s) again.
_JIT = {"nogil": True, "cache": True, "fastmath": {"contract", "reassoc"}, "boundscheck": False}


@numba.njit(inline="always", **_JIT)
def _phi(y, j, k, complex_mps):  # pragma: no cover - compiled
    """(Re phi_0, Im phi_0, Re phi_1, Im phi_1) at bond index k of sample j."""
    if complex_mps:
        return (
            y[0, j, 0, k] - y[1, j, 2, k],
            y[0, j, 2, k] + y[1, j, 0, k],
            y[0, j, 1, k] - y[1, j, 3, k],
            y[0, j, 3, k] + y[1, j, 1, k],
        )
    return y[0, j, 0, k], y[1, j, 0, k], y[0, j, 1, k], y[1, j, 1, k]


@numba.njit(**_JIT)
def _site_step(y, wr, wi, parent, u, site, out, l_next):  # pragma: no cover - compiled
    """y (2, n, C, chi): l A_i with rows (Re l, Im l) and columns (s, k) for a real MPS (C = 2) or
    (Re/Im A, s, k) for a complex one (C = 4). Writes out[:, site] and l_next (2, n, chi)."""
    n = y.shape[1]
    chi = y.shape[3]
    complex_mps = y.shape[2] == 4
    n_pieces = wr.shape[0]
    probs = np.empty(n_pieces)
    for j in range(n):
        rho00 = 0.0
        rho11 = 0.0
        rho01r = 0.0
        rho01i = 0.0
        for k in range(chi):
            a0, b0, a1, b1 = _phi(y, j, k, complex_mps)
            rho00 += a0 * a0 + b0 * b0
            rho11 += a1 * a1 + b1 * b1
            rho01r += a0 * a1 + b0 * b1
            rho01i += b0 * a1 - a0 * b1
        total = 0.0
        for r in range(n_pieces):
            w0r = wr[r, 0]
            w0i = wi[r, 0]
            w1r = wr[r, 1]
            w1i = wi[r, 1]
            # <w|rho|w> = |w0|^2 rho00 + |w1|^2 rho11 + 2 Re(conj(w0) w1 rho01)
            xr = w0r * w1r + w0i * w1i
            xi = w0r * w1i - w0i * w1r
            p = (w0r * w0r + w0i * w0i) * rho00 + (w1r * w1r + w1i * w1i) * rho11 + 2.0 * (xr * rho01r - xi * rho01i)
            p = max(p, 0.0)
            probs[r] = p
            total += p
        target = u[j, site] * total
        chosen = n_pieces - 1
        acc = 0.0
        for r in range(n_pieces):
            acc += probs[r]
            if acc > target:
                chosen = r
                break
        out[j, site] = parent[chosen]
        scale = 1.0 / math.sqrt(max(probs[chosen], 1e-300))
        # <w|phi> = conj(w0) phi_0 + conj(w1) phi_1, scaled to unit norm
        c0r = wr[chosen, 0] * scale
        c0i = -wi[chosen, 0] * scale
        c1r = wr[chosen, 1] * scale
        c1i = -wi[chosen, 1] * scale
        for k in range(chi):
            a0, b0, a1, b1 = _phi(y, j, k, complex_mps)
            l_next[0, j, k] = c0r * a0 - c0i * b0 + c1r * a1 - c1i * b1
            l_next[1, j, k] = c0r * b0 + c0i * a0 + c1r * b1 + c1i * a1


class KernelSampler:
    """Exact ancestral sampler of a right-canonical, unit-norm MPS on the CPU.

    Args:
        mats: per site, the tensor (chi_l, 2, chi_r) as a float64 (chi_l, 2 chi_r) matrix for a real MPS, or
            (chi_l, 4 chi_r) with the real parts' columns first for a complex one (MPSMeasurement's layout).
        chi: the right bond dimension of every site.
        pieces: (R, 2) complex rank-1 POVM pieces |w_r> (qgen.states.mps_measurement.refine_povm).
        parent: (R,) the POVM outcome each piece reports.
    """

    def __init__(self, mats: list[np.ndarray], chi: list[int], pieces: np.ndarray, parent: np.ndarray) -> None:
        self._mats = [np.ascontiguousarray(m, dtype=np.float64) for m in mats]
        self._chi = list(chi)
        self._cols = self._mats[0].shape[1] // self._chi[0]
        self._wr = np.ascontiguousarray(pieces.real, dtype=np.float64)
        self._wi = np.ascontiguousarray(pieces.imag, dtype=np.float64)
        self._parent = np.ascontiguousarray(parent, dtype=np.int64)
        self.n_qubits = len(mats)

    def sample_chunk(self, uniforms: np.ndarray) -> np.ndarray:
        """Samples (n, N) int64, one per row of uniforms (n, N) float64 in [0, 1)."""
        u = np.ascontiguousarray(uniforms, dtype=np.float64)
        n = u.shape[0]
        out = np.empty((n, self.n_qubits), dtype=np.int64)
        width = max(self._chi)
        cols = self._cols
        y_buf = np.empty(2 * n * cols * width)
        l_bufs = (np.empty(2 * n * width), np.empty(2 * n * width))
        l = np.zeros((2, n, 1))
        l[0] = 1.0
        for i, mat in enumerate(self._mats):
            chi = self._chi[i]
            y = y_buf[: 2 * n * cols * chi].reshape(2 * n, cols * chi)
            np.matmul(l.reshape(2 * n, -1), mat, out=y)
            l = l_bufs[i % 2][: 2 * n * chi].reshape(2, n, chi)
            _site_step(y.reshape(2, n, cols, chi), self._wr, self._wi, self._parent, u, i, out, l)
        return out

    def sample_chunks(self, uniform_chunks: Iterable[np.ndarray], workers: int) -> Iterator[np.ndarray]:
        """Samples for each (n_c, N) array of uniforms that the iterable yields, in order, on `workers`
        threads; at most `workers` chunks are in flight, so memory stays bounded for any total."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            if workers <= 1:
                for u in uniform_chunks:
                    yield self.sample_chunk(u)
                return
            with ThreadPoolExecutor(max_workers=workers) as pool:
                pending = []
                for u in uniform_chunks:
                    pending.append(pool.submit(self.sample_chunk, u))
                    if len(pending) >= workers:
                        yield pending.pop(0).result()
                for future in pending:
                    yield future.result()
