"""Can an Aitchison-Aitken KDE reach classical fidelity 0.99 on GHZ N = 6 (tetra)? F versus n, every lambda.

The KDE of m training strings is q(a) = (1/m) sum_b c(b) prod_j k(a_j, b_j) with c the counts of the distinct
strings and k the site kernel (1 - lambda on the diagonal, lambda / (K - 1) off it), i.e. the count tensor
contracted with the K x K kernel on each of the N axes: exact over all K^N strings at any m, in O(N K^(N+1)).
The same numbers as `qgen.backends.kde.KDE` (checked here against the class to 1e-12 at the first n).

For each data size n (`simulate(ghz(6), "tetra", n, seed)`, 10 % held out as the Trainer does), printed:

- F of the raw frequencies of the training strings (exact, by enumeration);
- F of the KDE with lambda from leave-one-out likelihood cross-validation (the class's "cv"/"auto" rule; here on
  a 400-point grid instead of the class's 40, so at least as good);
- F of the KDE with the *oracle* lambda, the one that maximises F against the truth itself (a 400-point grid):
  an upper bound on what any rule choosing one lambda from the data can reach;
- both over `--seeds` data sets (mean and spread), and the n at which each first reaches 0.99.

Reproduce (one thread, about a minute):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_kde_strings.py
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch

from qgen.backends.kde import KDE
from qgen.data.simulation import simulate
from qgen.files import atomic_write
from qgen.states import ghz
from qgen.strings import all_outcomes
from qgen.train.data import split

RESULTS = Path(__file__).resolve().parent / "results" / "kde_strings.json"


def counts_tensor(x: torch.Tensor, n_sites: int, k: int) -> torch.Tensor:
    """The (K,) * N tensor of counts of each string among the rows of x (n, N)."""
    index = torch.zeros(x.shape[0], dtype=torch.long)
    for j in range(n_sites):
        index = index * k + x[:, j].long()
    return torch.bincount(index, minlength=k**n_sites).double().reshape((k,) * n_sites)


def smooth(counts: torch.Tensor, lam: float) -> torch.Tensor:
    """q(a) for every string (flattened, lexicographic): counts contracted with the site kernel on each axis."""
    k = counts.shape[0]
    kernel = torch.full((k, k), lam / (k - 1), dtype=torch.float64)
    kernel.fill_diagonal_(1 - lam)
    q = counts
    for axis in range(counts.dim()):
        q = torch.tensordot(kernel, q.movedim(axis, 0), dims=1).movedim(0, axis)
    return (q / counts.sum()).flatten()


def loo_score(counts: torch.Tensor, lam: float) -> float:
    """Leave-one-out log-likelihood sum_i log (1/(m-1)) sum_{j != i} k(x_i, x_j), from the counts."""
    m, n_sites = float(counts.sum()), counts.dim()
    q = smooth(counts, lam) * m  # sum_j k(a, x_j) for every string a
    c = counts.flatten()
    seen = c > 0
    own = (1 - lam) ** n_sites
    return float((c[seen] * torch.log((q[seen] - own).clamp_min(1e-300) / (m - 1))).sum())


def fidelity(p: torch.Tensor, q: torch.Tensor) -> float:
    return float(torch.sqrt(p * q).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000, 20_000, 30_000, 40_000, 50_000, 100_000, 200_000]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}")
    print("command:", shlex.join(["OMP_NUM_THREADS=1", ".venv/bin/python", *sys.argv]), flush=True)
    start = time.process_time()
    state = ghz(6)
    target = state.measured("tetra")
    n_sites, k = 6, 4
    strings = all_outcomes(k, n_sites)
    p = target.log_prob(strings).double().exp()
    grid = torch.linspace(0, (k - 1) / k, args.grid + 1, dtype=torch.float64)[1:].tolist()
    f_grid = {}
    rows = []
    for n in args.sizes:
        per_seed = []
        for seed in range(args.seeds):
            data = torch.as_tensor(simulate(state, "tetra", n, seed=seed, reference=False).outcomes).long()
            train, _ = split(data, 0.1, seed)
            counts = counts_tensor(train, n_sites, k)
            lam_cv = max(grid, key=lambda lam: loo_score(counts, lam))
            f_all = [fidelity(p, smooth(counts, lam)) for lam in grid]
            best = max(range(len(grid)), key=f_all.__getitem__)
            if n == args.sizes[0] and seed == 0:
                # The counts formula is the class's estimator: same q on every string for the same lambda.
                kde = KDE(n_sites, k, bandwidth=lam_cv).double()
                kde.prepare(train, torch.Generator().manual_seed(0))
                q_class = kde.log_prob(strings).double().exp()
                assert torch.allclose(q_class, smooth(counts, lam_cv), rtol=1e-10, atol=0)
            if seed == 0:
                f_grid[n] = f_all
            per_seed.append(
                {
                    "seed": seed,
                    "n_train": len(train),
                    "F_frequencies": fidelity(p, counts.flatten() / counts.sum()),
                    "lambda_cv": lam_cv,
                    "F_cv": fidelity(p, smooth(counts, lam_cv)),
                    "lambda_oracle": grid[best],
                    "F_oracle": f_all[best],
                }
            )
        row = {"n": n, "seeds": per_seed}
        for key in ("F_frequencies", "F_cv", "F_oracle"):
            values = torch.tensor([s[key] for s in per_seed])
            row[key] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
        rows.append(row)
        print(
            f"n = {n:>7,}: F frequencies {row['F_frequencies']['mean']:.4f}  KDE (cv lambda "
            f"{per_seed[0]['lambda_cv']:.3f}) {row['F_cv']['mean']:.4f} [{row['F_cv']['min']:.4f}, "
            f"{row['F_cv']['max']:.4f}]  KDE (oracle lambda {per_seed[0]['lambda_oracle']:.3f}) "
            f"{row['F_oracle']['mean']:.4f} [{row['F_oracle']['min']:.4f}, {row['F_oracle']['max']:.4f}]",
            flush=True,
        )
    first = {
        key: next((r["n"] for r in rows if r[key]["min"] >= 0.99), None)
        for key in ("F_frequencies", "F_cv", "F_oracle")
    }
    print("smallest n with F >= 0.99 on every seed:", first)
    out = {"sizes": rows, "first_n_at_0.99": first, "lambda_grid": grid, "F_vs_lambda_seed0": f_grid}
    out["cpu_seconds"] = round(time.process_time() - start, 1)
    RESULTS.parent.mkdir(exist_ok=True)
    with atomic_write(RESULTS) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1))
    print(f"total: {out['cpu_seconds']} CPU s; {math.nan if not rows else len(rows)} sizes -> {RESULTS}")


if __name__ == "__main__":
    main()
