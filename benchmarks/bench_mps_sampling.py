"""MPS sampling throughput: qgen's samplers against a one-sample-at-a-time sampler, same run.

Run: .venv/bin/python benchmarks/bench_mps_sampling.py [--samples 300000] [--threads 2] [--large 1000]
    [--stream 10000000] [--chunk-scan 655 4096] [--block-scan 96 169 579] [--split]
    [--output benchmarks/results/mps_sampling.json]
The reference follows the original approach of Carrasquilla et al. (2019): one string at a time, a doubled
(chi x chi) left environment, and at each site the K outcome probabilities from precomputed right
environments that already carry the POVM. Each chain is measured in a fresh child process, so its peak
resident set size is its own. --stream runs `qgen simulate` for the 50-site chain into a temporary HDF5 file
and reports its time and the peak memory of that process. --split times, in CPU seconds of this process (so
other jobs on a busy machine inflate them less than wall time), the kernel's BLAS products l A_i alone against
the whole kernel and against MPSMeasurement.sample end to end: the products are the floor no rearrangement of
the passes after them can go below. --block-scan times the kernel's cache blocks in CPU seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qgen.measurement.mps import MPSMeasurement
from qgen.measurement.povm import POVM
from qgen.report.evaluation import write_json
from qgen.states.dmrg import tfim_mps
from qgen.states.mps import MPSState

__all__ = ["one_at_a_time", "main"]


def one_at_a_time(state: MPSState, povm: POVM, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sample n strings one by one: P(a_i | a_<i) = <PP, R_i[a_i]> / P(a_<i), PP the doubled environment.

    Contractions go pairwise (O(chi^3) per site), as a careful one-string implementation would do them.
    """
    tensors, m = state.tensors, povm.elements
    # R_i[a] (chi_l, chi_l): sites > i traced out with identities (= sum_a M_a), site i measured with M_a.
    right = [None] * state.n_qubits
    env = np.ones((1, 1))
    for i in range(state.n_qubits - 1, -1, -1):
        t = tensors[i]
        right[i] = np.einsum("ast,ltr,rq,msq->alm", m, t.conj(), env, t, optimize=True)
        env = np.einsum("lsr,rq,msq->lm", t.conj(), env, t, optimize=True)
    out = np.empty((n, state.n_qubits), dtype=np.int64)
    for k in range(n):
        pp = np.ones((1, 1), dtype=np.complex128)
        for i, t in enumerate(tensors):
            chi_l, _, chi_r = t.shape
            p = np.einsum("lm,alm->a", pp, right[i]).real
            a = rng.choice(len(p), p=p / p.sum())
            out[k, i] = a
            # pp'[r, q] = sum_{l m s t} pp[l, m] M_a[t, s] conj(t)[l, s, r] t[m, t, q], pairwise
            y = (pp.T @ t.conj().reshape(chi_l, -1)).reshape(chi_l, 2, chi_r)
            z = np.einsum("ts,msr->mtr", m[a], y)
            pp = z.reshape(2 * chi_l, chi_r).T @ t.reshape(2 * chi_l, chi_r)
            pp /= np.trace(pp).real
    return out


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def measure_chain(n_qubits: int, samples: int, reference_samples: int, threads: int, device: str) -> dict:
    """Throughput of each sampler on the TFIM chain of n_qubits (h = J = 1, open), tetra POVM."""
    torch.set_num_threads(threads)
    povm = POVM.named("tetra")
    state = tfim_mps(n_qubits, h=1.0)
    row = {"n_qubits": n_qubits, "chi": state.bond_dimension, "threads": threads, "device": device}
    samplers = ["kernel", "torch"] if device == "cpu" else ["torch"]
    for name in samplers:
        meas = MPSMeasurement(state, povm, device=device, sampler=name)
        gen = torch.Generator(device).manual_seed(0)
        meas.sample(min(samples, 2 * meas.chunk_size), generator=gen)  # warm-up (and JIT)
        n = samples if name == "kernel" else max(1000, samples // 5)
        row[f"{name}_samples_per_s"] = _rate(lambda k, m=meas, g=gen: m.sample(k, generator=g), n)
        row[f"{name}_chunk_size"] = meas.chunk_size
    rng = np.random.default_rng(0)
    row["one_at_a_time_samples_per_s"] = _rate(lambda k: one_at_a_time(state, povm, k, rng), reference_samples)
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def chunk_scan(sizes: list[int], samples: int, threads: int, repeats: int = 5) -> dict:
    """Kernel samples/s of the 50-site chain per chunk size, the sizes interleaved and repeated (medians)."""
    import statistics

    torch.set_num_threads(threads)
    meas = MPSMeasurement(tfim_mps(50, h=1.0), POVM.named("tetra"), sampler="kernel")
    meas.sample(1000, generator=torch.Generator().manual_seed(0))  # JIT
    rates: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(repeats):
        for size in sizes:
            meas.chunk_size = size
            gen = torch.Generator().manual_seed(0)
            rates[size].append(_rate(lambda k, m=meas, g=gen: m.sample(k, generator=g), samples))
    return {str(size): statistics.median(r) for size, r in rates.items()}


def block_scan(sizes: list[int], samples: int, repeats: int = 5) -> dict:
    """CPU microseconds per sample of the 50-site chain by kernel block size, one thread; the sizes interleaved
    and repeated (medians), MPSMeasurement.sample end to end."""
    import statistics

    torch.set_num_threads(1)
    meas = MPSMeasurement(tfim_mps(50, h=1.0), POVM.named("tetra"), sampler="kernel")
    meas.sample(1000, generator=torch.Generator().manual_seed(0))  # JIT
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(repeats):
        for size in sizes:
            meas._kernel.block = size
            gen = torch.Generator().manual_seed(0)
            start = time.process_time()
            meas.sample(samples, generator=gen)
            times[size].append((time.process_time() - start) / samples * 1e6)
    return {str(size): statistics.median(t) for size, t in times.items()}


def split(samples: int, repeats: int = 3) -> dict:
    """CPU microseconds per sample of the 50-site chain: the products l A_i alone, the whole kernel, and
    MPSMeasurement.sample end to end (the draw's key, chunks, the result tensor), one thread."""
    import numba

    from qgen.measurement import mps_kernels

    @numba.njit(nogil=True, boundscheck=False)
    def products_only(mats, offsets, chi, complex_mps, out, block):  # pragma: no cover - compiled
        """_sample_block's BLAS products y = A_i^T l alone: the same calls on the same shapes, block by block."""
        n, n_sites = out.shape
        width = 1
        for i in range(n_sites):
            width = max(width, chi[i])
        y_buf, l_a, l_b = np.empty(4 * width * block), np.empty(2 * width * block), np.empty(2 * width * block)
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
                    mat = mats[offsets[i] : offsets[i + 1]].reshape(2 * chi_r, chi_l)
                    half = 2 * chi_r * m
                    np.dot(mat, l[0], y[:half].reshape(2 * chi_r, m))
                    np.dot(mat, l[1], y[half:].reshape(2 * chi_r, m))
                # the next left vectors: the phi_0 rows of the product keep the shapes of the real passes
                l = (l_b if i % 2 == 0 else l_a)[: 2 * chi_r * m].reshape(2, chi_r, m)
                y4 = y.reshape(2, 2, chi_r, m)
                for c in range(2):  # loops, not a slice expression: no temporary array per site
                    for k in range(chi_r):
                        for j in range(m):
                            l[c, k, j] = 0.5 * y4[c, 0, k, j]
                chi_l = chi_r

    torch.set_num_threads(1)
    meas = MPSMeasurement(tfim_mps(50, h=1.0), POVM.named("tetra"), sampler="kernel")
    gen = torch.Generator().manual_seed(0)
    meas.sample(1000, generator=gen)  # builds the kernel, JIT
    k, n = meas._kernel, meas.chunk_size
    mps = (k._flat, k._offsets, k._chi_arr, k._complex)
    out = np.empty((n, k.n_qubits), dtype=np.int64)
    products_only(*mps, out, k.block)
    calls = max(1, samples // n)
    rows = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            products_only(*mps, out, k.block)
        products = time.process_time()
        for c in range(calls):
            mps_kernels._sample_block(*mps, k._wr, k._wi, k._parent, np.uint64(12345), c * n, out, k.block)
        kernel = time.process_time()
        # What a user's call costs: the key, the chunks, the thread-pool set-up, the result tensor.
        meas.sample(calls * n, generator=gen)
        end = time.process_time()
        rows.append([(b - a) / (calls * n) * 1e6 for a, b in [(start, products), (products, kernel), (kernel, end)]])
    products, whole, sample = np.median(np.array(rows), axis=0)
    return {
        "chunk": n,
        "block": k.block,
        "products_us_per_sample": products,
        "kernel_us_per_sample": whole,
        "sample_us_per_sample": sample,
    }


def stream(n_samples: int, threads: int) -> dict:
    """`qgen simulate` of the 50-site chain into a temporary file: wall time and the child's peak memory."""
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tfim50.h5"
        cmd = [sys.executable, "-m", "qgen", "simulate", "--state", "tfim", "--n-qubits", "50", "--povm", "tetra"]
        cmd += ["--samples", str(n_samples), "--seed", "1", "-o", str(path)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        wall = time.perf_counter() - start
        with h5py.File(path, "r") as f:
            shape = f["outcomes"].shape
        size = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "samples": n_samples,
        "rows_in_file": shape[0],
        "wall_s": wall,
        "samples_per_s": n_samples / wall,
        "file_mib": size / 2**20,
        "peak_rss_mib": peak,
        "command": " ".join(cmd[1:]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300_000, help="kernel samples at N = 50 (N = 1000: / 20)")
    parser.add_argument("--reference-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large", type=int, default=1000, help="N of the second chain (0: skip)")
    parser.add_argument("--stream", type=int, default=0, help="samples for the streaming run (0: skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk-scan", type=int, nargs="*", default=None, help="kernel chunk sizes to time")
    parser.add_argument("--block-scan", type=int, nargs="*", default=None, help="kernel block sizes to time")
    parser.add_argument("--split", action="store_true", help="CPU time of the products against the whole kernel")
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    result: dict = {"command": " ".join(["benchmarks/bench_mps_sampling.py"] + sys.argv[1:]), "chains": []}
    if args.stream:
        # First, so that RUSAGE_CHILDREN's maximum is this child's.
        result["stream"] = stream(args.stream, args.threads)
    if args.chunk_scan:
        result["chunk_scan"] = chunk_scan(args.chunk_scan, args.samples, args.threads)
        print(f"threads {args.threads}, N = 50, kernel samples/s by chunk size (median of 5):")
        for size, rate in result["chunk_scan"].items():
            print(f"{size:>8} {rate:10.0f}")
    if args.block_scan:
        result["block_scan"] = block_scan(args.block_scan, args.samples)
        print("threads 1, N = 50, CPU us per sample (MPSMeasurement.sample) by kernel block size (median of 5):")
        for size, us in result["block_scan"].items():
            print(f"{size:>8} {us:8.2f}")
    if args.split:
        result["split"] = sp = split(args.samples)
        print(
            f"threads 1, N = 50, chunk {sp['chunk']}, block {sp['block']}, CPU time per sample (median of 3): "
            f"products l A_i "
            f"{sp['products_us_per_sample']:.2f} us, whole kernel {sp['kernel_us_per_sample']:.2f} us "
            f"({1e6 / sp['kernel_us_per_sample']:,.0f} samples per CPU second; the products alone cap it at "
            f"{1e6 / sp['products_us_per_sample']:,.0f}), MPSMeasurement.sample {sp['sample_us_per_sample']:.2f} us "
            f"({1e6 / sp['sample_us_per_sample']:,.0f} samples per CPU second)"
        )
    ctx = multiprocessing.get_context("spawn")
    for n_qubits in [50] + ([args.large] if args.large else []):
        scale = max(1, n_qubits // 50)
        job = (n_qubits, args.samples // scale, max(5, args.reference_samples // scale), args.threads, args.device)
        with ctx.Pool(1) as pool:
            result["chains"].append(pool.apply(measure_chain, job))
    print(f"device {args.device}, threads {args.threads}, POVM tetra, TFIM h = J = 1 (open)")
    print(f"{'N':>6} {'chi':>4} {'kernel/s':>10} {'torch/s':>10} {'one-at-a-time/s':>16} {'ratio':>8} {'peak MiB':>9}")
    for r in result["chains"]:
        best = r.get("kernel_samples_per_s", r["torch_samples_per_s"])
        r["ratio_to_one_at_a_time"] = best / r["one_at_a_time_samples_per_s"]
        print(
            f"{r['n_qubits']:6d} {r['chi']:4d} {r.get('kernel_samples_per_s', float('nan')):10.0f} "
            f"{r['torch_samples_per_s']:10.0f} {r['one_at_a_time_samples_per_s']:16.2f} "
            f"{r['ratio_to_one_at_a_time']:8.0f} {r['peak_rss_mib']:9.0f}"
        )
    if "stream" in result:
        s = result["stream"]
        print(
            f"streaming {s['samples']:,} samples to HDF5: {s['wall_s']:.1f} s ({s['samples_per_s']:,.0f}/s), "
            f"{s['rows_in_file']:,} rows, {s['file_mib']:.0f} MiB on disk, peak RSS {s['peak_rss_mib']:.0f} MiB"
        )
    if args.output:
        write_json(result, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
