"""How well can five trained fields determine <X> at the fields between them? Limits of issue 15's <X> goal.

Issue 15 asks a conditional model trained at five fields h in [0.5, 1.5] (10^4 tetra strings each) for the mean
transverse magnetisation <X> = (1/N) sum_i <X_i> within 1 % of exact at every held-out field, at N = 10 and 50.
A model sees strings at the trained fields only, so two numbers bound what any learner can promise there:

1. The data's own noise at the trained fields: the standard error of the dual-frame estimate of <X> from
   10^4 strings, exact (no sampling): Var = (1/N^2) [sum_i E[c(a_i)^2] + sum_{i != j} <X_i X_j>] - <X>^2 per
   string, with c(b) = Tr(X Q_b) the tetrahedral dual, E[c(a_i)^2] = sum_b Tr(rho_i M_b) c(b)^2 and the
   correlators from free fermions (`qgen.states.free_fermions`). For a minimal informationally complete POVM
   (the tetrahedron) the outcome frequencies are in one-to-one correspondence with the state, so with no
   prior on the state this is the smallest variance of an unbiased estimate of <X> from these strings.
2. How far the curve <X>(h) between trained fields is from what the trained fields' exact values imply: the
   largest relative error at the held-out fields of linear, cubic-spline and monotone (PCHIP) interpolation
   through the five exact, noise-free values. A learner that knows nothing of the Hamiltonian has to interpolate
   somehow; where every smooth interpolant of exact values misses by more than 1 %, meeting 1 % depends on
   the learner's prior happening to match the physics, not on the data. The same is done for every layout of
   five fields with 0.5 and 1.5 among them and the other three on the 0.05 lattice (969 layouts), keeping for
   each its best interpolant: the smallest worst-case error any layout allows.
3. Identifiability: a field knob miscalibrated by a smooth g(h) with g = h at the five trained fields gives
   exactly the same training data, yet the state at a held-out h is that of g(h). So no learner can be within
   1 % at h for both the true and the miscalibrated chain once they differ by 2 %: for each held-out h the
   script prints delta(h) = 0.02 <X> / |d<X>/dh|, the miscalibration that does that, its smallest value, and
   the classical fidelity between the two states there (how little the fidelity goals notice it).
4. Both together: the probability, over data sets, that an interpolating learner meets 1 % at every held-out
   field, when its values at the trained fields carry exactly the data's noise (Gaussian, the exact standard
   errors of 1.; 20,000 draws). This is what a learner that reproduces its data's <X> and interpolates
   smoothly can expect; a model of the strings does not know <X>(h) better than its data unless its prior does.

No model is trained; everything is exact (free fermions for the open chain, J = 1; one fidelity sampled from an
MPS). Reproduce (under a minute, DMRG of one 50-site chain included):

    .venv/bin/python benchmarks/bench_conditional_limits.py

writes benchmarks/results/conditional_limits.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator

RESULTS = Path(__file__).resolve().parent / "results"
#: The training layouts the conditional benchmarks measured (bench_conditional.py, bench_conditional50.py).
LAYOUTS = {
    "even": [0.5, 0.75, 1.0, 1.25, 1.5],
    "around": [0.5, 0.85, 0.95, 1.05, 1.5],
    "critical": [0.5, 0.8, 0.95, 1.1, 1.5],
}
#: Held-out grids of the two benchmarks: 21 points (N = 10) and steps of 0.1 (N = 50).
GRIDS = {10: np.round(np.linspace(0.5, 1.5, 21), 10), 50: np.round(np.arange(0.5, 1.5 + 1e-9, 0.1), 10)}


def data_stderr(n_qubits: int, h: float, n_strings: int) -> tuple[float, float]:
    """(<X>, standard error of its dual-frame estimate from n_strings tetra strings), both exact."""
    from qgen.measurement.povm import POVM
    from qgen.pauli import PAULI
    from qgen.states.free_fermions import tfim_free_fermion_correlators

    povm = POVM.named("tetra")
    c = np.asarray(povm.coefficients("X").real)
    trace = np.array([np.trace(m).real for m in povm.elements])
    trace_x = np.array([np.trace(PAULI["X"] @ m).real for m in povm.elements])
    corr = tfim_free_fermion_correlators(n_qubits, h=h)
    x, xx = corr["X"], corr["XX"]
    # E[c(a_i)^2] with p_i(b) = Tr(rho_i M_b) = (Tr M_b + <X_i> Tr(X M_b)) / 2 (<Y_i> = <Z_i> = 0).
    second = np.array([np.sum((trace + xi * trace_x) / 2 * c * c) for xi in x])
    off = xx.sum() - np.trace(xx)
    mean = float(x.mean())
    var = (second.sum() + off) / n_qubits**2 - mean**2
    return mean, float(np.sqrt(var / n_strings))


def _worst_errors(t: np.ndarray, xt: np.ndarray, held: np.ndarray, exact: np.ndarray) -> dict:
    """Each interpolant's largest relative error at the held-out fields: {kind: (error, at h)}."""
    out = {}
    for kind, f in (
        ("linear", lambda g: np.interp(g, t, xt)),
        ("cubic", CubicSpline(t, xt)),
        ("pchip", PchipInterpolator(t, xt)),
    ):
        rel = (f(held) - exact) / exact
        i = int(np.argmax(np.abs(rel)))
        out[kind] = (float(rel[i]), float(held[i]))
    return out


def classical_fidelity_shift(n_qubits: int, h: float, delta: float) -> tuple[float, float]:
    """Classical fidelity of the tetra outcome distributions of the chain at h and at h + delta: exact (all 4^N
    probabilities) up to N = 10, else over 20,000 exact samples of the first (MPS targets by DMRG)."""
    import torch

    from qgen.metrics import classical_fidelity
    from qgen.states.library import from_spec

    rep = "dense" if n_qubits <= 10 else "mps"
    a, b = (from_spec({"name": "tfim", "n_qubits": n_qubits, "h": x}, representation=rep).measured("tetra")
            for x in (h, h + delta))  # fmt: skip
    if rep == "dense":
        p, q = a.probabilities().double().numpy(), b.probabilities().double().numpy()
        return float(np.sum(np.sqrt(p * q))), 0.0
    f = classical_fidelity(a, b, "mc", n_samples=20_000, generator=torch.Generator().manual_seed(0), sampler="p")
    return float(f.value), float(f.stderr)


def _interpolants(t: np.ndarray, values: np.ndarray, held: np.ndarray) -> dict[str, np.ndarray]:
    """Linear, cubic-spline and PCHIP interpolation of values (draws, T) at held: each (draws, H)."""
    return {
        "linear": np.stack([np.interp(held, t, v) for v in values]),
        "cubic": CubicSpline(t, values, axis=1)(held),
        "pchip": PchipInterpolator(t, values, axis=1)(held),
    }


def success_probability(n_qubits: int, trained: list[float], grid: np.ndarray, n_strings: int, draws: int) -> dict:
    """P(every held-out field within 1 %) for interpolants through the trained fields' noisy <X> (exact
    standard errors of `n_strings` strings), over `draws` Gaussian draws (seed 0)."""
    from qgen.states.free_fermions import tfim_free_fermion_correlators

    t = np.array(trained)
    mean_err = np.array([data_stderr(n_qubits, h, n_strings) for h in t])
    held = grid[~np.isin(grid, t)]
    exact = np.array([tfim_free_fermion_correlators(n_qubits, h=h)["X"].mean() for h in held])
    noisy = mean_err[:, 0] + np.random.default_rng(0).standard_normal((draws, len(t))) * mean_err[:, 1]
    return {
        kind: float(np.mean(np.all(np.abs(guess / exact - 1) <= 0.01, axis=1)))
        for kind, guess in _interpolants(t, noisy, held).items()
    }


def best_layout(n_qubits: int, grid: np.ndarray) -> dict:
    """Over every five-field layout {0.5, a, b, c, 1.5} with a < b < c on the 0.05 lattice: the smallest worst-case
    held-out error of the best of the three interpolants of exact values."""
    from qgen.states.free_fermions import tfim_free_fermion_correlators

    lattice = np.round(np.arange(0.5, 1.5 + 1e-9, 0.05), 10)
    x = {float(h): float(tfim_free_fermion_correlators(n_qubits, h=h)["X"].mean()) for h in lattice}
    best: dict = {"max_relative_error": np.inf}
    for inner in itertools.combinations(lattice[1:-1], 3):
        t = np.array([0.5, *inner, 1.5])
        held = grid[~np.isin(grid, t)]
        worst = _worst_errors(t, np.array([x[float(h)] for h in t]), held, np.array([x[float(h)] for h in held]))
        kind = min(worst, key=lambda k: abs(worst[k][0]))
        if abs(worst[kind][0]) < best["max_relative_error"]:
            best = {"max_relative_error": abs(worst[kind][0]), "trained": t.tolist(), "interpolant": kind}
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strings", type=int, default=10_000, help="strings per trained field")
    parser.add_argument("--draws", type=int, default=20_000, help="simulated data sets for the probabilities")
    parser.add_argument("--out", default=str(RESULTS / "conditional_limits.json"))
    args = parser.parse_args()
    from qgen.states.free_fermions import tfim_free_fermion_correlators

    record: dict = {"command": " ".join(["python", *sys.argv]), "strings": args.strings, "cases": []}
    for n, grid in GRIDS.items():
        print(f"N = {n}: data's <X> and its standard error from {args.strings:,} tetra strings, exact")
        for h in sorted({h for layout in LAYOUTS.values() for h in layout}):
            mean, err = data_stderr(n, h, args.strings)
            print(f"  h {h:.2f}  <X> {mean:.4f}  stderr {err:.4f} ({100 * err / mean:.2f} % of <X>)")
            record["cases"].append({"n_qubits": n, "h": h, "x": mean, "x_data_stderr": err})
        exact = np.array([tfim_free_fermion_correlators(n, h=h)["X"].mean() for h in grid])
        for name, fields in LAYOUTS.items():
            t = np.array(fields)
            xt = np.array([tfim_free_fermion_correlators(n, h=h)["X"].mean() for h in t])
            held = ~np.isin(grid, t)
            row: dict = {"n_qubits": n, "layout": name, "trained": fields}
            parts = []
            for kind, (rel, at) in _worst_errors(t, xt, grid[held], exact[held]).items():
                row[kind] = {"max_relative_error": rel, "at": at}
                parts.append(f"{kind} {100 * rel:+.2f} % at {at:.2f}")
            best = min(abs(row[k]["max_relative_error"]) for k in ("linear", "cubic", "pchip"))
            row["best_max_relative_error"] = best
            print(
                f"  layout {name:<8} {fields}: worst held-out error of interpolating exact values: {', '.join(parts)}"
            )
            record["cases"].append(row)
        held_all = grid[(grid > 0.5) & (grid < 1.5)]  # the interior of the grid: held out unless trained there
        step = 1e-4
        slope = np.array(
            [
                (
                    tfim_free_fermion_correlators(n, h=h + step)["X"].mean()
                    - tfim_free_fermion_correlators(n, h=h - step)["X"].mean()
                )
                / (2 * step)
                for h in held_all
            ]
        )
        x_held = np.array([tfim_free_fermion_correlators(n, h=h)["X"].mean() for h in held_all])
        delta = 0.02 * x_held / np.abs(slope)
        i = int(np.argmin(delta))
        print(
            f"  a smooth field miscalibration, invisible where trained, that moves <X> by 2 % at a field not trained: "
            f"{delta[i]:.4f} at h {held_all[i]:.2f} ({100 * delta[i] / held_all[i]:.1f} % of h); "
            f"largest over the grid {delta.max():.4f} at h {held_all[int(np.argmax(delta))]:.2f}"
        )
        shift = classical_fidelity_shift(n, float(held_all[i]), float(delta[i]))
        print(
            f"  classical fidelity between the true and the miscalibrated state there: {shift[0]:.6f}"
            + (f" +- {shift[1]:.6f}" if shift[1] else " (exact)")
        )
        record["cases"].append(
            {
                "n_qubits": n,
                "miscalibration_for_2_percent": dict(zip(map(float, held_all), map(float, delta))),
                "fidelity_true_vs_miscalibrated": {"h": float(held_all[i]), "value": shift[0], "stderr": shift[1]},
            }
        )
        best = best_layout(n, grid)
        print(
            f"  best of all 969 layouts: {100 * best['max_relative_error']:.2f} % ({best['interpolant']} through "
            f"{best['trained']})"
        )
        record["cases"].append({"n_qubits": n, "layout": "best of all", **best})
        layouts = {**LAYOUTS, "best of all": best["trained"]}
        for name, fields in layouts.items():
            chance = success_probability(n, fields, grid, args.strings, args.draws)
            print(
                f"  layout {name:<11}: P(all held-out <X> within 1 %) of an interpolating learner with the data's "
                f"noise: " + ", ".join(f"{k} {v:.3f}" for k, v in chance.items())
            )
            record["cases"].append({"n_qubits": n, "layout": name, "trained": fields, "success_probability": chance})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from qgen.files import atomic_write

    with atomic_write(out) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
