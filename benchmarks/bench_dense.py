"""Dense targets at N = 10-16: sampling and log_prob against the MPS path and the old padded contraction, same run.

Run: .venv/bin/python benchmarks/bench_dense.py [--n-qubits 12 14 16] [--samples 100000] [--threads 1]
    [--output benchmarks/results/dense.json]
The state is the open critical Ising chain (h = J = 1) as a dense vector (Lanczos) and as a DMRG MPS. Sampling:
DenseMeasurement.sample (beyond 4^11 strings: through the exact MPS of the vector) against MPSMeasurement of the
DMRG MPS, and against the old site-by-site dense sampler on a few samples. log_prob: DenseMeasurement (4 MiB
chunks, shared prefix table, no padding) against the old contraction (rank-1 elements padded to rank 2, 128 MiB
chunks), both on the same random strings, pauli4 with and without depolarizing noise; their agreement is printed.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from qgen.measurement.dense import DenseMeasurement, _sqrt_factors
from qgen.measurement.noise import depolarizing
from qgen.report.evaluation import write_json
from qgen.states.dmrg import tfim_mps
from qgen.states.library import tfim

__all__ = ["padded_log_prob", "main"]


def padded_log_prob(m: DenseMeasurement, a: torch.Tensor, chunk_bytes: int = 1 << 27) -> torch.Tensor:
    """The contraction DenseMeasurement used before issue 13 (pure states): every element padded to the largest
    rank, the whole chunk's tensor expanded per string, chunks of 128 MiB."""
    n, d = m.n_qubits, 2
    psi = torch.from_numpy(m.state.vector)
    factors = torch.from_numpy(_sqrt_factors(m.povm.elements))
    r = factors.shape[1]
    step = max(1, chunk_bytes // (16 * r * d ** max(n - 1, 0) * r))
    out = []
    for i in range(0, len(a), step):
        x = a[i : i + step]
        b = x.shape[0]
        t = psi.reshape(1, 1, d, -1).expand(b, 1, d, d ** (n - 1))
        for k in range(n):
            t = torch.einsum("bsi,blir->blsr", factors[x[:, k]], t)
            rest = t.shape[-1]
            t = t.reshape(b, -1, d, rest // d) if k < n - 1 else t.reshape(b, -1)
        out.append((t.real**2 + t.imag**2).sum(1))
    return torch.log(torch.cat(out))


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(n_qubits: int, samples: int, strings: int) -> dict:
    row: dict = {"n_qubits": n_qubits}
    dense, t_state = _timed(lambda: tfim(n_qubits))
    mps = tfim_mps(n_qubits, h=1.0)
    row["ground_state_s"] = t_state
    md, mm = dense.measured("pauli4"), mps.measured("pauli4")
    md.sample(100, generator=torch.Generator().manual_seed(0))  # builds the table or the MPS, and the JIT
    mm.sample(100, generator=torch.Generator().manual_seed(0))
    _, t = _timed(lambda: md.sample(samples, generator=torch.Generator().manual_seed(1)))
    row["dense_samples_per_s"] = samples / t
    _, t = _timed(lambda: mm.sample(samples, generator=torch.Generator().manual_seed(1)))
    row["mps_samples_per_s"] = samples / t
    row["dense_over_mps"] = row["dense_samples_per_s"] / row["mps_samples_per_s"]
    few = 50 if n_qubits <= 14 else 10
    _, t = _timed(lambda: md._sample_sites(few, torch.Generator().manual_seed(1)))
    row["old_site_sampler_samples_per_s"] = few / t
    row["sampling_speedup"] = row["dense_samples_per_s"] / row["old_site_sampler_samples_per_s"]
    for label, noise in (("ideal", None), ("noisy", depolarizing(0.1))):
        m = dense.measured("pauli4", noise)
        a = torch.randint(0, 4, (strings, n_qubits), generator=torch.Generator().manual_seed(2))
        new, t_new = _timed(lambda m=m, a=a: m.log_prob(a))
        old, t_old = _timed(lambda m=m, a=a: padded_log_prob(m, a))
        p_new, p_old = new.exp(), old.exp()
        row[f"log_prob_{label}_per_s"] = strings / t_new
        row[f"log_prob_{label}_padded_per_s"] = strings / t_old
        row[f"log_prob_{label}_speedup"] = t_old / t_new
        row[f"log_prob_{label}_max_rel_diff"] = float(((p_new - p_old).abs() / p_old.abs().max()).max())
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qubits", type=int, nargs="+", default=[10, 12, 14, 16])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--strings", type=int, default=2000, help="strings per log_prob timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {"command": " ".join(["benchmarks/bench_dense.py"] + sys.argv[1:]), "threads": args.threads, "rows": []}
    print(f"threads {args.threads}, TFIM h = J = 1 (open), pauli4; noisy = depolarizing(0.1)")
    print(
        f"{'N':>3} {'dense/s':>9} {'MPS/s':>9} {'dense/MPS':>9} {'old/s':>7} {'x old':>7} "
        f"{'lp/s':>8} {'x pad':>6} {'lp noisy/s':>10} {'x pad':>6} {'max rel diff':>12}"
    )
    for n in args.n_qubits:
        r = measure(n, args.samples, args.strings)
        result["rows"].append(r)
        diff = max(r["log_prob_ideal_max_rel_diff"], r["log_prob_noisy_max_rel_diff"])
        print(
            f"{n:3d} {r['dense_samples_per_s']:9.0f} {r['mps_samples_per_s']:9.0f} {r['dense_over_mps']:9.2f} "
            f"{r['old_site_sampler_samples_per_s']:7.1f} {r['sampling_speedup']:7.0f} {r['log_prob_ideal_per_s']:8.0f} "
            f"{r['log_prob_ideal_speedup']:6.1f} {r['log_prob_noisy_per_s']:10.0f} {r['log_prob_noisy_speedup']:6.1f} "
            f"{diff:12.1e}",
            flush=True,
        )
    if args.output:
        write_json(result, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
