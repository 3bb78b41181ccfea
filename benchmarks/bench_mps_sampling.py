"""MPS sampling throughput: qgen's batched sampler against a one-sample-at-a-time sampler, same run.

Run: .venv/bin/python benchmarks/bench_mps_sampling.py [--samples 200000] [--threads 2] [--large 1000]
The reference follows the original approach of Carrasquilla et al. (2019): one string at a time, a doubled
(chi x chi) left environment, and at each site the K outcome probabilities from precomputed right
environments that already carry the POVM. Peak memory is the process's peak resident set size.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from qgen.povm import POVM
from qgen.states.dmrg import tfim_mps
from qgen.states.mps import MPSState

__all__ = ["one_at_a_time", "main"]


def one_at_a_time(state: MPSState, povm: POVM, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sample n strings one by one: P(a_i | a_<i) = <PP, R_i[a_i]> / P(a_<i), PP the doubled environment."""
    tensors, m = state.tensors, povm.elements
    # R_i[a] (chi_l, chi_l): sites > i traced out with identities (= sum_a M_a), site i measured with M_a.
    right = [None] * state.n_qubits
    env = np.ones((1, 1))
    for i in range(state.n_qubits - 1, -1, -1):
        t = tensors[i]
        right[i] = np.einsum("ast,ltr,rq,msq->alm", m, t.conj(), env, t)
        env = np.einsum("lsr,rq,msq->lm", t.conj(), env, t)
    out = np.empty((n, state.n_qubits), dtype=np.int64)
    for k in range(n):
        pp = np.ones((1, 1), dtype=np.complex128)
        for i, t in enumerate(tensors):
            p = np.einsum("lm,alm->a", pp, right[i]).real
            a = rng.choice(len(p), p=p / p.sum())
            out[k, i] = a
            pp = np.einsum("lm,ts,lsr,mtq->rq", pp, m[a], t.conj(), t)
            pp /= np.trace(pp).real
    return out


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--reference-samples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large", type=int, default=1000, help="N of the second chain (0: skip)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    povm = POVM.named("tetra")
    rows = []
    for n_qubits in [50] + ([args.large] if args.large else []):
        state = tfim_mps(n_qubits, h=1.0)
        meas = state.measured(povm, device=args.device)
        gen = torch.Generator(args.device).manual_seed(0)
        meas.sample(1000, generator=gen)  # warm-up
        batched = _rate(lambda n, m=meas, g=gen: m.sample(n, generator=g), args.samples // (n_qubits // 50))
        rng = np.random.default_rng(0)
        n_ref = max(10, args.reference_samples // (n_qubits // 50))
        ref = _rate(lambda n, s=state, r=rng: one_at_a_time(s, povm, n, r), n_ref)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append((n_qubits, state.bond_dimension, batched, ref, peak))
    print(f"device {args.device}, torch threads {args.threads}, POVM tetra, TFIM h = 1 (open)")
    print(f"{'N':>6} {'chi':>4} {'batched samples/s':>18} {'one-at-a-time/s':>16} {'ratio':>8} {'peak RSS MiB':>13}")
    for n_qubits, chi, batched, ref, peak in rows:
        print(f"{n_qubits:6d} {chi:4d} {batched:18.0f} {ref:16.1f} {batched / ref:8.0f} {peak:13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
