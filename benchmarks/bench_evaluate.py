"""Time of `evaluate` (one table per distribution) against the old per-metric enumeration, and EmpiricalDistribution.

Rows, each with its reference measured in the same run:

1. exact metrics at N = --n-small (default 8) with pauli4: the old path (each of classical fidelity, KL, reverse
   KL and the quantum fidelity enumerates all K^N strings through per-string `log_prob` of the target and the
   model, as qgen did before the tables) against the new one (`evaluate`: the target's `probabilities()` once,
   the model's prefix-tree walk once (qgen.metrics.prefix_tree), every metric from those two tables); the
   numbers must agree;
2. the whole `evaluate` at N = --n-large (default 10) with pauli4 (goal of issue 13: <= 10 s; the old path
   took about 19 min here), and its parts;
3. EmpiricalDistribution of 10^6 strings: build, and 10^4 lookups, against the old implementation (rows sorted
   with np.unique(axis=0) at build, and every query re-sorted together with all distinct rows).

The model is a Transformer with the registry's default hyperparameters (what `qgen train` builds), untrained:
its speed does not depend on its weights. The target is the critical Ising chain's ground state by dense
diagonalisation (numpy), so no NetKet start-up is timed.

Usage:
    .venv/bin/python benchmarks/bench_evaluate.py [--threads 1] [--n-small 8] [--n-large 10] [--model transformer]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from qgen.metrics.distributions import EmpiricalDistribution, autoregressive_log_probabilities, log_prob64
from qgen.metrics.fidelity import project_to_physical, uhlmann_fidelity
from qgen.metrics.reconstruction import reconstruct_density_matrix
from qgen.models import build
from qgen.report.evaluation import evaluate
from qgen.states.dense import DenseState
from qgen.strings import strings_in_range

__all__ = ["main"]

_OLD_CHUNK = 1 << 16


def tfim_state(n: int, h: float = 1.0) -> DenseState:
    """Ground state of H = -sum Z_i Z_{i+1} - h sum X_i (open chain) by dense diagonalisation."""
    dim = 2**n
    diag = np.zeros(dim)
    bits = (np.arange(dim)[:, None] >> np.arange(n - 1, -1, -1)) & 1
    z = 1 - 2 * bits
    diag -= (z[:, :-1] * z[:, 1:]).sum(axis=1)
    ham = np.diag(diag)
    for i in range(n):
        flip = np.arange(dim) ^ (1 << (n - 1 - i))
        ham[np.arange(dim), flip] -= h
    vector = np.linalg.eigh(ham)[1][:, 0].astype(np.complex128)
    return DenseState(vector=vector, spec={"name": "tfim", "n_qubits": n, "h": h, "J": 1.0})


def old_exact_metrics(reference: Any, model: Any, target: DenseState, povm: Any) -> dict[str, float]:
    """The pre-table path: every metric enumerates all strings through log_prob of both distributions."""
    n, k = model.n_qubits, model.n_outcomes
    total = k**n

    def enumerate_sum(terms: Any) -> float:
        acc = 0.0
        for start in range(0, total, _OLD_CHUNK):
            x = strings_in_range(start, min(start + _OLD_CHUNK, total), k, n)
            acc += float(terms(log_prob64(reference, x), log_prob64(model, x)).sum())
        return acc

    def kl_terms(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
        return np.where(lp > -np.inf, np.exp(lp) * (lp - lq), 0.0)

    out = {
        "classical_fidelity": enumerate_sum(lambda lp, lq: np.exp(0.5 * (lp + lq))),
        "kl_divergence": enumerate_sum(kl_terms),
        "kl_divergence_reverse": enumerate_sum(lambda lp, lq: kl_terms(lq, lp)),
    }
    if n <= 8:
        chunks = [strings_in_range(s, min(s + _OLD_CHUNK, total), k, n) for s in range(0, total, _OLD_CHUNK)]
        probs = np.concatenate([np.exp(log_prob64(model, x)) for x in chunks])
        rho = project_to_physical(reconstruct_density_matrix(probs / probs.sum(), povm))
        out["quantum_fidelity"] = uhlmann_fidelity(rho, target)
    return out


class OldEmpirical:
    """The EmpiricalDistribution before issue 13: np.unique(axis=0) rows, every query re-sorted with them."""

    def __init__(self, outcomes: np.ndarray) -> None:
        self.n = len(outcomes)
        self.unique, self.counts = np.unique(outcomes, axis=0, return_counts=True)

    def log_prob(self, q: np.ndarray) -> np.ndarray:
        _, inverse = np.unique(np.concatenate([self.unique, q]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        counts = np.zeros(inverse.max() + 1)
        counts[inverse[: len(self.unique)]] = self.counts
        with np.errstate(divide="ignore"):
            return np.log(counts[inverse[len(self.unique) :]] / self.n)


class Seconds(float):
    """Wall-clock seconds, carrying the process CPU seconds too (the machine may be shared: CPU time is what
    the work cost, wall time what a user waited)."""

    cpu: float

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}} s wall ({self.cpu:{spec}} s CPU)"


def _timed(fn: Any) -> tuple[Any, Seconds]:
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    elapsed = Seconds(time.perf_counter() - start)
    elapsed.cpu = time.process_time() - cpu
    return out, elapsed


def _new_report(model: Any, target: DenseState, n_samples: int) -> dict[str, Any]:
    return evaluate(model, target, povm="pauli4", n_samples=n_samples, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-small", type=int, default=8)
    parser.add_argument("--n-large", type=int, default=10)
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--empirical-rows", type=int, default=10**6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import qutip  # noqa: F401  # both paths' quantum fidelity uses it: its import is not what is timed

    print(f"torch threads: {torch.get_num_threads()}, model: {args.model} (registry defaults), POVM: pauli4")

    # 1. exact metrics, old path against new, same N.
    n = args.n_small
    target = tfim_state(n)
    model = build(args.model, n_qubits=n, n_outcomes=4, seed=0).eval()
    reference = target.measured("pauli4")
    old, t_old = _timed(lambda: old_exact_metrics(reference, model, target, reference.povm))
    target = tfim_state(n)  # a fresh state: no table cached by the old path's measurement
    report, t_new = _timed(lambda: _new_report(model, target, args.n_samples))
    worst = max(abs(report[key]["value"] - value) for key, value in old.items())
    print(f"\nN = {n}, 4^{n} = {4**n} strings: exact classical fidelity, KL, reverse KL, quantum fidelity")
    print(f"  old per-metric enumeration (log_prob string by string): {t_old:.2f}")
    print(f"  new evaluate (whole report, {args.n_samples} model samples): {t_new:.2f}")
    print(f"  ratio old / new: {t_old / t_new:.1f}x wall, {t_old.cpu / t_new.cpu:.1f}x CPU")
    print(f"  largest difference of the four numbers: {worst:.2e}")

    # 2. the whole evaluate at the large N.
    n = args.n_large
    target = tfim_state(n)
    model = build(args.model, n_qubits=n, n_outcomes=4, seed=0).eval()
    _, t_walk = _timed(lambda: autoregressive_log_probabilities(model))
    _, t_table = _timed(lambda: target.measured("pauli4").probabilities())
    target = tfim_state(n)
    report, t_eval = _timed(lambda: _new_report(model, target, args.n_samples))
    print(f"\nN = {n}, 4^{n} = {4**n} strings: evaluate() with pauli4 (goal <= 10 s; old path about 19 min)")
    print(f"  evaluate: {t_eval:.2f}")
    print(f"  parts, timed alone: model prefix-tree walk {t_walk:.2f}, target table {t_table:.2f}")
    fidelity = report["classical_fidelity"]
    print(f"  classical fidelity {fidelity['value']:.5f} ({fidelity['method']})")

    # 3. EmpiricalDistribution of many strings.
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 4, size=(args.empirical_rows, 10))
    queries = rows[rng.integers(0, len(rows), size=10_000)] ^ (rng.random((10_000, 1)) < 0.5)
    old_emp, t_old_build = _timed(lambda: OldEmpirical(rows))
    old_lp, t_old_query = _timed(lambda: old_emp.log_prob(queries))
    emp, t_build = _timed(lambda: EmpiricalDistribution(rows, 4))
    new_lp, t_query = _timed(lambda: emp.log_prob(queries).numpy())
    assert np.array_equal(old_lp, new_lp)
    print(f"\nEmpiricalDistribution of {len(rows):.0e} strings (N = 10, K = 4), 10^4 lookups (half never seen)")
    print(f"  build:  old {t_old_build:.2f}   new {t_build:.3f}   ratio {t_old_build.cpu / t_build.cpu:.0f}x CPU")
    print(f"  lookup: old {t_old_query:.2f}   new {t_query:.4f}   ratio {t_old_query.cpu / t_query.cpu:.0f}x CPU")


if __name__ == "__main__":
    main()
