"""CPU sampling of an MPS under a local POVM: one BLAS product and three vectorised numba passes per site.

The batched torch sampler of qgen.measurement.mps spends most of its CPU time outside the one matrix product
that does the real work: in tiny batched (4 x chi) products and in passes over memory between them. Here the
product phi = l A_i of a whole chunk of samples is a BLAS call, and everything after it (the 2 x 2
conditional density matrix of each sample, the probabilities of the rank-1 pieces, the draw, and the next
left vector) is hand-written numba code.

Layout: the samples are the innermost (contiguous) axis of every array. The left vectors of a chunk of n
samples are L (2, chi_l, n) (real and imaginary part, bond index, sample) and the product writes
Y (2, 2, chi_r, n) (Re/Im, physical index s, bond index k, sample). So every loop over the bond index k has
an inner loop over samples that reads whole rows: LLVM vectorises it (8 samples per AVX-512 instruction),
where a loop over k of length chi = 22 with one sample at a time stayed scalar. Per site:

1. Y = A_i^T L: for a real MPS two BLAS products (2 chi_r, chi_l) @ (chi_l, n), one per part of L; for a
   complex one a single real product of the stacked [[Re A^T, -Im A^T], [Im A^T, Re A^T]] (4 chi_r, 2 chi_l)
   with L viewed as (2 chi_l, n). The products are the floor of the cost (about 60 % of it at chi = 22).
2. One pass over Y accumulates rho_{ss'} = sum_k phi_s[k] conj(phi_s'[k]) for all samples at once.
3. Per sample (vectorised over samples as well): P(r | a_<i) = <w_r| rho |w_r> for the rank-1 POVM pieces
   M_a = sum_{r in a} |w_r><w_r|, r drawn by inverting the cumulative sum with the sample's uniform u_i.
4. A second pass over Y writes l <- <w_r|phi> / sqrt(P(r | a_<i)) in the layout the next product reads.

Uniforms are computed where they are used, from a counter: sample j of a draw at site i gets
u = splitmix64(key + (j N + i + 1) gamma) / 2^64 (`counter_uniforms`), the key drawn once per draw from the
caller's torch.Generator. No array of uniforms is made, filled or read, and a sample's numbers depend only on
its index in the draw. SplitMix64 is the generator of Steele, Lea and Flood, "Fast splittable pseudorandom
number generators", OOPSLA 2014 (Java's SplittableRandom; it passes TestU01's BigCrush there), here used as
a counter-based generator (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): position
j N + i of the stream whose state starts at the key.

Chunks of samples run on a pool of threads (BLAS pinned to one thread each, so the pool does not
oversubscribe the cores); every sample's uniforms come from its own counters, and the arithmetic of a sample
does not depend on its neighbours, so the bits do not depend on the chunking or the number of threads.

References:
    A. J. Ferris and G. Vidal, PRB 85, 165146 (2012) (perfect sampling of tensor networks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from qgen.errors import StateError
from qgen.strings import positive_int

__all__ = ["KernelSampler", "counter_uniforms"]

# cache: compiled code is kept on disk so a new process does not pay the JIT (about 2 s) again.
_JIT = {"nogil": True, "cache": True, "fastmath": {"contract", "reassoc"}, "boundscheck": False}

# Work space of one block of samples (floats): 256 KiB, 169 samples at chi = 22. On the 50-site chain blocks of
# 96-192 samples took 4.2 us per sample of CPU time against 5.1 us at 579 and 7.6 us at 1024, whose products no
# longer stay in L2 (sample_chunk, one thread, best of 7 under a load average of 18;
# `benchmarks/bench_mps_sampling.py --block-scan` times the same end to end, where the load blurs it more).
# Larger bonds want no smaller blocks: the products' BLAS calls lose more to short rows than the passes gain
# from the cache (60 random sites, one thread: chi = 41 real 19.3 / 17.4 us per sample at 94 / 188 samples,
# complex 45.2 / 38.5; chi = 64 real 48.3 / 42.1 at 61 / 122), hence at least 128 samples.
_BLOCK_FLOATS = 1 << 15
_MIN_BLOCK = 128

# SplitMix64's increment (the odd integer nearest 2^64 / golden ratio) and its two finaliser multipliers.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

# Rows of the per-block scratch array (13, n): per-sample values of one site, each a contiguous row.
_RHO00, _RHO11, _RHO01R, _RHO01I, _TOTAL, _TARGET, _ACC, _CHOSEN, _C0R, _C0I, _C1R, _C1I, _PICKED = range(13)


@numba.njit(**_JIT)
def _uniform(key, counter):  # pragma: no cover - compiled
    """The counter-th number of the SplitMix64 stream whose state starts at key, as a double in [0, 1)."""
    z = key + (counter + np.uint64(1)) * _GAMMA  # uint64 throughout: wraps modulo 2^64 as the generator needs
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * 1.1102230246251565e-16  # the top 53 bits times 2^-53


@numba.njit(**_JIT)
def _fill_uniforms(key, first, out):  # pragma: no cover - compiled
    n, n_sites = out.shape
    stride = np.uint64(n_sites)
    for j in range(n):
        base = np.uint64(first + j) * stride
        for i in range(n_sites):
            out[j, i] = _uniform(key, base + np.uint64(i))


def counter_uniforms(key: int, first: int, n: int, n_sites: int) -> np.ndarray:
    """The uniforms (n, n_sites) the kernel uses for samples first .. first + n - 1 of the draw with this key:
    u[j, i] = SplitMix64 number (first + j) n_sites + i of the stream of `key`. The torch path samples from
    these, so both paths give the same bits.

    Example:
        >>> u = counter_uniforms(7, 0, 3, 4)
        >>> u.shape, bool(((u >= 0) & (u < 1)).all()), bool((counter_uniforms(7, 1, 2, 4) == u[1:]).all())
        ((3, 4), True, True)
    """
    out = np.empty((n, n_sites))
    _fill_uniforms(np.uint64(key), first, out)
    return out


@numba.njit(**_JIT)
def _piece_weights(wr, wi):  # pragma: no cover - compiled
    """(4, R): <w|rho|w> = |w0|^2 rho00 + |w1|^2 rho11 + 2 Re(conj(w0) w1 rho01), as weights of
    (rho00, rho11, Re rho01, Im rho01) per piece."""
    n_pieces = wr.shape[0]
    c = np.empty((4, n_pieces))
    for r in range(n_pieces):
        c[0, r] = wr[r, 0] * wr[r, 0] + wi[r, 0] * wi[r, 0]
        c[1, r] = wr[r, 1] * wr[r, 1] + wi[r, 1] * wi[r, 1]
        c[2, r] = 2.0 * (wr[r, 0] * wr[r, 1] + wi[r, 0] * wi[r, 1])
        c[3, r] = -2.0 * (wr[r, 0] * wi[r, 1] - wi[r, 0] * wr[r, 1])
    return c


@numba.njit(**_JIT)
def _density(y, scr):  # pragma: no cover - compiled
    """rho of every sample from y (2, 2, chi, n) = (Re/Im, s, k, sample) into the first four rows of scr.

    Each rho entry is summed over k in increasing order, as one sample at a time would: the same bits."""
    chi = y.shape[2]
    n = y.shape[3]
    rho00, rho11, rho01r, rho01i = scr[_RHO00], scr[_RHO11], scr[_RHO01R], scr[_RHO01I]
    for j in range(n):
        rho00[j] = 0.0
        rho11[j] = 0.0
        rho01r[j] = 0.0
        rho01i[j] = 0.0
    for k in range(chi):
        # whole rows, indexed by the loop variable alone: the form LLVM's loop vectoriser needs
        re0, im0, re1, im1 = y[0, 0, k], y[1, 0, k], y[0, 1, k], y[1, 1, k]
        for j in range(n):
            a0, b0, a1, b1 = re0[j], im0[j], re1[j], im1[j]
            rho00[j] += a0 * a0 + b0 * b0
            rho11[j] += a1 * a1 + b1 * b1
            rho01r[j] += a0 * a1 + b0 * b1
            rho01i[j] += b0 * a1 - a0 * b1


@numba.njit(**_JIT)
def _draw(weights, wr, wi, parent, u, out, scr, prob):  # pragma: no cover - compiled
    """Draw each sample's rank-1 piece from its rho (scr rows 0-3) and uniform u (n,); write the reported
    outcome to out (n,) and the coefficients conj(w_r) / sqrt(P(r | a_<i)) of the next left vector to scr.

    Every loop runs over the samples innermost, so each vectorises; per sample the arithmetic is that of a
    scalar draw: probabilities clipped at 0, target u * total, and the first piece whose cumulative sum
    exceeds the target (the last if none does), counted without a branch."""
    n = u.shape[0]
    n_pieces = wr.shape[0]
    rho00, rho11, rho01r, rho01i = scr[_RHO00], scr[_RHO11], scr[_RHO01R], scr[_RHO01I]
    total, target, acc, chosen = scr[_TOTAL], scr[_TARGET], scr[_ACC], scr[_CHOSEN]
    c0r, c0i, c1r, c1i, picked = scr[_C0R], scr[_C0I], scr[_C1R], scr[_C1I], scr[_PICKED]
    for j in range(n):
        total[j] = 0.0
    for r in range(n_pieces):
        pr = prob[r]
        e00, e11, e01r, e01i = weights[0, r], weights[1, r], weights[2, r], weights[3, r]
        for j in range(n):
            p = max(e00 * rho00[j] + e11 * rho11[j] + e01r * rho01r[j] + e01i * rho01i[j], 0.0)
            pr[j] = p
            total[j] += p
    for j in range(n):
        target[j] = u[j] * total[j]
        acc[j] = 0.0
        chosen[j] = 0.0
    # The cumulative sums rise with r, so those at or below the target are a prefix: counting them finds the
    # piece without a data-dependent exit (a float count, so that the loop stays in one vector type).
    for r in range(n_pieces - 1):
        pr = prob[r]
        for j in range(n):
            acc[j] += pr[j]
            chosen[j] += 1.0 if acc[j] <= target[j] else 0.0
    # Gather the chosen piece's probability and <w_r| by selects over the few pieces, not by indexed loads.
    for r in range(n_pieces):
        pr = prob[r]
        w0r, w0i, w1r, w1i = wr[r, 0], -wi[r, 0], wr[r, 1], -wi[r, 1]
        fr = float(r)
        for j in range(n):
            hit = chosen[j] == fr
            picked[j] = pr[j] if hit else picked[j]
            c0r[j] = w0r if hit else c0r[j]
            c0i[j] = w0i if hit else c0i[j]
            c1r[j] = w1r if hit else c1r[j]
            c1i[j] = w1i if hit else c1i[j]
    for j in range(n):
        scale = 1.0 / math.sqrt(max(picked[j], 1e-300))
        c0r[j] *= scale
        c0i[j] *= scale
        c1r[j] *= scale
        c1i[j] *= scale
    for j in range(n):
        out[j] = parent[int(chosen[j])]


@numba.njit(**_JIT)
def _next_left(y, scr, l_next):  # pragma: no cover - compiled
    """l_next (2, chi, n) = <w_r|phi> / sqrt(P) = c0 phi_0 + c1 phi_1 (complex), from y (2, 2, chi, n)."""
    chi = y.shape[2]
    n = y.shape[3]
    c0r, c0i, c1r, c1i = scr[_C0R], scr[_C0I], scr[_C1R], scr[_C1I]
    for k in range(chi):
        re0, im0, re1, im1 = y[0, 0, k], y[1, 0, k], y[0, 1, k], y[1, 1, k]
        out_re, out_im = l_next[0, k], l_next[1, k]
        for j in range(n):
            a0, b0, a1, b1 = re0[j], im0[j], re1[j], im1[j]
            out_re[j] = c0r[j] * a0 - c0i[j] * b0 + c1r[j] * a1 - c1i[j] * b1
            out_im[j] = c0r[j] * b0 + c0i[j] * a0 + c1r[j] * b1 + c1i[j] * a1


@numba.njit(**_JIT)
def _sample_block(mats, offsets, chi, complex_mps, wr, wi, parent, key, first, out, block):  # pragma: no cover
    """All sites for one chunk of samples in one compiled call, `block` samples at a time.

    mats holds the site matrices back to back (offsets[i]: start of site i): A_i^T (2 chi_r, chi_l) for a real
    MPS, the stacked (4 chi_r, 2 chi_l) for a complex one. out is (n, N), sample-major as the caller holds it,
    for samples first .. first + n - 1 of the draw with this key: a site's uniforms are computed into a
    contiguous row per block (`_uniform`), and its outcomes scattered from one, so no transposed copy is made.
    A block's work space (about 8 max(chi) floats per sample) is meant to stay in the L2 cache between the
    product and the passes that read it."""
    n, n_sites = out.shape
    stride = np.uint64(n_sites)
    width = 1
    for i in range(n_sites):
        width = max(width, chi[i])
    weights = _piece_weights(wr, wi)
    y_buf = np.empty(4 * width * block)
    l_a = np.empty(2 * width * block)
    l_b = np.empty(2 * width * block)
    scr = np.empty((13, block))
    prob = np.empty((wr.shape[0], block))
    u_row = np.empty(block)
    out_row = np.empty(block, dtype=out.dtype)
    for start in range(0, n, block):
        m = min(block, n - start)
        l = l_a[: 2 * m].reshape(2, 1, m)
        l[0, 0, :] = 1.0
        l[1, 0, :] = 0.0
        chi_l = 1
        for i in range(n_sites):
            chi_r = chi[i]
            y = y_buf[: 4 * chi_r * m]
            if complex_mps:
                mat = mats[offsets[i] : offsets[i + 1]].reshape(4 * chi_r, 2 * chi_l)
                np.dot(mat, l.reshape(2 * chi_l, m), y.reshape(4 * chi_r, m))
            else:
                # A real A_i maps the real and imaginary parts of l separately: two products of half the rows.
                mat = mats[offsets[i] : offsets[i + 1]].reshape(2 * chi_r, chi_l)
                half = 2 * chi_r * m
                np.dot(mat, l[0], y[:half].reshape(2 * chi_r, m))
                np.dot(mat, l[1], y[half:].reshape(2 * chi_r, m))
            y4 = y.reshape(2, 2, chi_r, m)
            _density(y4, scr)
            # the block's uniforms and outcomes as contiguous rows: the vectorised draw reads whole rows
            base = np.uint64(first + start) * stride + np.uint64(i)
            for j in range(m):
                u_row[j] = _uniform(key, base + np.uint64(j) * stride)
            _draw(weights, wr, wi, parent, u_row[:m], out_row[:m], scr, prob)
            for j in range(m):
                out[start + j, i] = out_row[j]
            l = (l_b if i % 2 == 0 else l_a)[: 2 * chi_r * m].reshape(2, chi_r, m)
            _next_left(y4, scr, l)
            chi_l = chi_r


def _site_matrix(mat: np.ndarray, chi_r: int, complex_mps: bool) -> np.ndarray:
    """MPSMeasurement's (chi_l, 2 chi_r) real or (chi_l, 4 chi_r) [Re A | Im A] site matrix in the layout of
    _sample_block: A^T (2 chi_r, chi_l), or [[Re A^T, -Im A^T], [Im A^T, Re A^T]] (4 chi_r, 2 chi_l), whose rows
    give (Re phi, Im phi) from the stacked (Re l, Im l)."""
    if not complex_mps:
        return np.ascontiguousarray(mat.T)
    re, im = mat[:, : 2 * chi_r].T, mat[:, 2 * chi_r :].T
    return np.ascontiguousarray(np.block([[re, -im], [im, re]]))


class KernelSampler:
    """Exact ancestral sampler of a right-canonical, unit-norm MPS on the CPU.

    Args:
        mats: per site, the tensor (chi_l, 2, chi_r) as a float64 (chi_l, 2 chi_r) matrix for a real MPS, or
            (chi_l, 4 chi_r) with the real parts' columns first for a complex one (MPSMeasurement's layout).
        chi: the right bond dimension of every site.
        pieces: (R, 2) complex rank-1 POVM pieces |w_r> (qgen.measurement.mps.refine_povm).
        parent: (R,) the POVM outcome each piece reports.
        block: samples that go through the sites together (None: about 256 KiB of work space, so that a
            block stays in the L2 cache between the product and the passes that read it).
    """

    def __init__(
        self,
        mats: list[np.ndarray],
        chi: list[int],
        pieces: np.ndarray,
        parent: np.ndarray,
        *,
        block: int | None = None,
    ) -> None:
        self._chi = list(chi)
        self._complex = mats[0].shape[1] // self._chi[0] == 4
        self._wr = np.ascontiguousarray(pieces.real, dtype=np.float64)
        self._wi = np.ascontiguousarray(pieces.imag, dtype=np.float64)
        self._parent = np.ascontiguousarray(parent, dtype=np.int64)
        self.n_qubits = len(mats)
        site = [_site_matrix(np.asarray(m, dtype=np.float64), c, self._complex) for m, c in zip(mats, self._chi)]
        self._flat = np.concatenate([m.reshape(-1) for m in site])
        self._offsets = np.concatenate([[0], np.cumsum([m.size for m in site])]).astype(np.int64)
        self._chi_arr = np.asarray(self._chi, dtype=np.int64)
        # Floats per sample in a block: the product (4 chi), two left vectors (2 chi each), the scratch rows.
        per_sample = 8 * max(self._chi) + 13 + len(self._parent)
        auto = max(_MIN_BLOCK, _BLOCK_FLOATS // per_sample)
        self.block = auto if block is None else positive_int(block, "block", error=StateError)

    def sample_chunk(self, key: int, first: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Samples first .. first + n - 1 of the draw with this key, (n, N) int64; written into `out` (a
        C-contiguous int64 (n, N) array, e.g. a slice of the caller's result) when given."""
        shape = (positive_int(n, "n", minimum=0, error=StateError), self.n_qubits)
        if out is None:
            out = np.empty(shape, dtype=np.int64)
        elif out.shape != shape or out.dtype != np.int64 or not out.flags.c_contiguous:
            raise StateError(f"out must be a C-contiguous int64 array of shape {shape}")
        mps = (self._flat, self._offsets, self._chi_arr, self._complex)
        _sample_block(*mps, self._wr, self._wi, self._parent, np.uint64(key), int(first), out, self.block)
        return out

    def sample_chunks(
        self,
        key: int,
        chunks: Iterable[tuple[int, int]],
        workers: int,
        outs: Iterable[np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """Samples of the draw with this key for each (first, n) chunk, in order, on `workers` threads; at most
        `workers` chunks are in flight, so memory stays bounded for any total. With `outs` (an iterable of
        arrays aligned with the chunks, as sample_chunk's `out`), each chunk is written there."""
        from threadpoolctl import threadpool_limits

        pairs = zip(chunks, outs) if outs is not None else ((c, None) for c in chunks)
        with threadpool_limits(limits=1, user_api="blas"):
            if workers <= 1:
                for (first, n), out in pairs:
                    yield self.sample_chunk(key, first, n, out)
                return
            with ThreadPoolExecutor(max_workers=workers) as pool:
                pending = []
                for (first, n), out in pairs:
                    pending.append(pool.submit(self.sample_chunk, key, first, n, out))
                    if len(pending) >= workers:
                        yield pending.pop(0).result()
                for future in pending:
                    yield future.result()
