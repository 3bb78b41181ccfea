"""Error bars of a model's observables: the dual frame against conditional means, on the same model samples.

`qgen evaluate` estimates an autoregressive model's magnetizations, <Z_i Z_j> and energy from its own samples.
The dual-frame average (`qgen.metrics.observables`) uses Tr(P Q_{a_i}) of each sampled outcome; the
conditional-mean estimator (`qgen.metrics.conditional_mean`, now used by `evaluate` for autoregressive
models) replaces the last site of each term by sum_b q(b | a_<i) Tr(P Q_b), the model's exact conditional mean.
Both are unbiased for the model's values. This script trains a GRU on a TFIM chain (open, h = 1, tetra, 10^4
strings; a few CPU minutes), draws n model samples once, and prints for each observable both estimates, their
standard errors and the ratio, plus the time of each estimator. Reference (the dual frame) measured in the same
run on the same strings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conditional_mean.py --threads 1

writes benchmarks/results/conditional_mean.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    from qgen.data.simulation import simulate
    from qgen.files import atomic_write
    from qgen.measurement.povm import POVM
    from qgen.metrics import conditional_mean as cm
    from qgen.metrics import correlation_matrix, expectation, magnetization
    from qgen.models import build
    from qgen.states.hamiltonians import hamiltonian_of
    from qgen.states.library import from_spec
    from qgen.train.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-qubits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-samples", type=int, default=10_000, help="model samples shared by both estimators")
    parser.add_argument("--out", default=str(RESULTS / "conditional_mean.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, python {platform.python_version()}, torch {torch.__version__}")
    spec = {"name": "tfim", "n_qubits": args.n_qubits, "h": 1.0}
    target = from_spec(spec)
    data = simulate(target, "tetra", 10_000, seed=0, reference=False)
    model = build("rnn", n_qubits=args.n_qubits, n_outcomes=4, hidden_size=32, n_layers=2, seed=0)
    start = time.process_time()
    Trainer(model, epochs=args.epochs, lr=3e-3, schedule="cosine", progress=False, seed=0).fit(data.outcomes)
    print(f"GRU 2 x 32, {args.epochs} epochs on 10^4 strings: {time.process_time() - start:.0f} CPU s")
    model.eval()
    povm = POVM.named("tetra")
    samples = model.sample(args.n_samples, generator=1)
    energy = hamiltonian_of(spec)
    n = args.n_qubits
    cases = {
        "<X_i>": (
            lambda: magnetization(samples, povm, "X"),
            lambda: cm.conditional_magnetization(model, samples, povm, "X"),
        ),
        "<Z_i>": (
            lambda: magnetization(samples, povm, "Z"),
            lambda: cm.conditional_magnetization(model, samples, povm, "Z"),
        ),
        "<Z_i Z_j>": (
            lambda: correlation_matrix(samples, povm, "Z"),
            lambda: cm.conditional_correlation_matrix(model, samples, povm, "Z"),
        ),
        "energy": (
            lambda: expectation(samples, povm, energy),
            lambda: cm.conditional_mean_expectation(model, povm, energy, samples=samples),
        ),
    }
    record: dict = {"command": " ".join(["python", *sys.argv]), "threads": torch.get_num_threads(), "cases": {}}
    off = ~np.eye(n, dtype=bool)
    for name, (dual_fn, cond_fn) in cases.items():
        t0 = time.process_time()
        dual = dual_fn()
        t1 = time.process_time()
        cond = cond_fn()
        t2 = time.process_time()
        pick = (lambda a: np.asarray(a)[off]) if name == "<Z_i Z_j>" else (lambda a: np.atleast_1d(a))
        d_err, c_err = pick(dual.stderr), pick(cond.stderr)
        gap = np.abs(pick(dual.value) - pick(cond.value)) / np.sqrt(d_err**2 + c_err**2)
        ratio = float(np.median(d_err / c_err))
        print(
            f"{name:<10} median stderr: dual {np.median(d_err):.5f}, conditional {np.median(c_err):.5f} "
            f"(ratio {ratio:.1f}); largest |difference| / combined stderr {gap.max():.2f}; "
            f"CPU s: dual {t1 - t0:.3f}, conditional {t2 - t1:.3f}"
        )
        record["cases"][name] = {
            "median_stderr_dual": float(np.median(d_err)),
            "median_stderr_conditional": float(np.median(c_err)),
            "median_ratio": ratio,
            "max_difference_in_combined_stderr": float(gap.max()),
            "cpu_s_dual": t1 - t0,
            "cpu_s_conditional": t2 - t1,
        }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
