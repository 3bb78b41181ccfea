"""MPS log-probabilities: MPSMeasurement.log_prob against the old whole-batch contraction, same run.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mps_logprob.py [--samples 1000000] [--n-qubits 10]
    [--noise 0.1] [--povm pauli4] [--threads 1] [--repeats 1] [--output benchmarks/results/mps_logprob.json]

The strings are exact samples of the measurement itself (seed 0), so they have the distribution a data set
has. The reference is the algorithm MPSMeasurement.log_prob had before issue 13 (kept here only): every
string of the batch at once, one (chi, chi) complex density environment per string under noise (one real
vector per string without), contracted with einsum and batched products. Each path runs in a fresh child
process, so the peak resident set size it reports is its own (imports and the strings included: the
"baseline" column is the same process just before the call). The results of the two paths are compared
string by string (they must agree to 1e-10 in log P).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import time

import numpy as np
import torch

from qgen.measurement.mps import MPSMeasurement
from qgen.measurement.noise import depolarizing
from qgen.report.evaluation import write_json
from qgen.states.dmrg import tfim_mps

__all__ = ["old_log_prob", "main"]


def old_log_prob(meas: MPSMeasurement, a: torch.Tensor) -> torch.Tensor:
    """log P(a) the way MPSMeasurement did before issue 13: the whole batch in one set of tensors."""
    n = a.shape[0]
    logp = torch.zeros(n, dtype=torch.float64)
    if meas.rank_one:
        l = torch.zeros(n, 2, 1, dtype=torch.float64)
        l[:, 0] = 1.0
        for i in range(meas.n_qubits):
            z = torch.bmm(meas._bra[a[:, i]], meas._phi(l, i))  # (n, 2, chi)
            p = z.square().sum((1, 2))
            logp += torch.log(p)
            l = z / torch.where(p > 0, p, 1.0).sqrt()[:, None, None]
        return logp
    elements = torch.from_numpy(meas.povm.elements.copy())
    d_env = torch.ones(n, 1, 1, dtype=torch.complex128)
    for i, t in enumerate(meas.state.torch_tensors(None)):
        ket = t.to(torch.complex128)
        chi_l, _, chi_r = ket.shape
        f = (d_env.transpose(1, 2) @ ket.reshape(chi_l, -1)).reshape(n, chi_l, 2, chi_r)
        g = torch.einsum("nts,njsk->nkjt", elements[a[:, i]], f).reshape(n, chi_r, chi_l * 2)
        d_env = g @ ket.conj().reshape(chi_l * 2, chi_r)
        tr = d_env.diagonal(dim1=1, dim2=2).sum(-1).real
        positive = tr > 0
        logp += torch.where(positive, torch.log(tr.clamp_min(1e-300)), -math.inf)
        d_env = d_env / torch.where(positive, tr, 1.0)[:, None, None]
    return logp


def _measurement(n_qubits: int, povm: str, noise: float) -> MPSMeasurement:
    return MPSMeasurement(tfim_mps(n_qubits, h=1.0), povm, depolarizing(noise) if noise > 0 else None)


def run_path(path: str, n_qubits: int, povm: str, noise: float, samples: int, threads: int, repeats: int) -> dict:
    """In a child process: sample the strings (seed 0), then time one path; its log P and peak memory."""
    torch.set_num_threads(threads)
    meas = _measurement(n_qubits, povm, noise)
    a = meas.sample(samples, generator=torch.Generator().manual_seed(0))
    fn = (lambda x: old_log_prob(meas, x)) if path == "old" else meas.log_prob
    fn(a[:1000])  # warm-up: first-call allocations and library set-up stay out of the timing
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logp = fn(a)
        times.append(time.perf_counter() - start)
    return {
        "path": path,
        "seconds": min(times),
        "all_seconds": times,
        "strings_per_s": samples / min(times),
        "baseline_rss_mib": baseline,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "log_prob": logp.numpy(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--n-qubits", type=int, default=10)
    parser.add_argument("--povm", default="pauli4")
    parser.add_argument("--noise", type=float, default=0.1, help="depolarizing p on every qubit (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="timings per path (the minimum is reported)")
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")
    job = (args.n_qubits, args.povm, args.noise, args.samples, args.threads, args.repeats)
    rows = []
    for path in ("old", "new"):
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(run_path, (path, *job)))
    old, new = rows
    finite = np.isfinite(old["log_prob"])
    agree = bool(np.array_equal(finite, np.isfinite(new["log_prob"])))
    max_diff = float(np.abs(old["log_prob"][finite] - new["log_prob"][finite]).max())
    meas = _measurement(args.n_qubits, args.povm, args.noise)
    print(
        f"threads {args.threads}, N = {args.n_qubits}, chi {meas.state.bond_dimension}, {args.povm}, "
        f"depolarizing p = {args.noise} ({'rank-1 vector' if meas.rank_one else 'density'} path), "
        f"{args.samples:,} exact samples as the strings"
    )
    print(f"{'path':>5} {'seconds':>9} {'strings/s':>11} {'baseline MiB':>13} {'peak MiB':>9}")
    for r in rows:
        print(
            f"{r['path']:>5} {r['seconds']:9.2f} {r['strings_per_s']:11.0f} {r['baseline_rss_mib']:13.0f} "
            f"{r['peak_rss_mib']:9.0f}"
        )
    ratio = old["seconds"] / new["seconds"]
    print(f"ratio old / new: {ratio:.2f}x; max |log P difference| {max_diff:.1e}; same -inf pattern: {agree}")
    if args.output:
        result = {
            "command": " ".join(["benchmarks/bench_mps_logprob.py"] + sys.argv[1:]),
            "threads": args.threads,
            "n_qubits": args.n_qubits,
            "chi": meas.state.bond_dimension,
            "povm": args.povm,
            "noise": args.noise,
            "samples": args.samples,
            "paths": [{k: v for k, v in r.items() if k != "log_prob"} for r in rows],
            "ratio_old_over_new": ratio,
            "max_abs_log_prob_difference": max_diff,
        }
        write_json(result, args.output)
    return 0 if agree and max_diff < 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
