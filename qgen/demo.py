"""`qgen demo`: the main job on its built-in default, end to end, on a laptop in a few minutes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["run_demo", "DEMO_DEFAULTS"]

# The default job: the critical Ising chain of QuCumber's tutorial size, measured with the tetrahedral POVM.
DEMO_DEFAULTS = {"n_qubits": 10, "h": 1.0, "povm": "tetra", "samples": 20_000, "seed": 1234}
QUICK = {"n_qubits": 4, "h": 1.0, "povm": "tetra", "samples": 2_000, "seed": 1234}


def _row(name: str, value: float, stderr: float, exact: float) -> str:
    return f"{name:<24} {value:>11.5f} {stderr:>9.5f} {exact:>11.5f} {(value - exact) / max(stderr, 1e-300):>8.2f}"


def run_demo(output: Path, *, quick: bool = False) -> dict[str, Any]:
    """Simulate the Ising chain, estimate its observables from the raw data, and write a summary.

    Writes `output/data.h5` and `output/summary.json` and prints a table of estimates against exact values.
    """
    from qgen.data import save
    from qgen.observables import correlation_matrix, expectation, magnetization
    from qgen.simulate import simulate
    from qgen.states import tfim, tfim_hamiltonian

    cfg = QUICK if quick else DEMO_DEFAULTS
    output.mkdir(parents=True, exist_ok=True)
    n = cfg["n_qubits"]
    print(f"qgen demo: ground state of the {n}-site Ising chain at h = {cfg['h']} (exact, NetKet Lanczos)")
    state = tfim(n, h=cfg["h"])
    print(f"measuring {cfg['samples']} times with the {cfg['povm']} POVM (seed {cfg['seed']})")
    data = simulate(state, cfg["povm"], cfg["samples"], seed=cfg["seed"])
    save(data, output / "data.h5")

    povm = data.ideal_povm
    ham = tfim_hamiltonian(n, h=cfg["h"])
    energy = expectation(data.outcomes, povm, ham)
    mx, mx_err = magnetization(data.outcomes, povm, "X")
    zz, zz_err = correlation_matrix(data.outcomes, povm, "Z")
    mid = n // 2
    rows = {
        "energy": (energy[0], energy[1], state.expectation(ham)),
        f"<X_{mid}>": (mx[mid], mx_err[mid], state.expectation(_pauli(n, {mid: "X"}))),
        f"<Z_{mid - 1} Z_{mid}>": (
            zz[mid - 1, mid],
            zz_err[mid - 1, mid],
            state.expectation(_pauli(n, {mid - 1: "Z", mid: "Z"})),
        ),
        f"<Z_0 Z_{n - 1}>": (zz[0, n - 1], zz_err[0, n - 1], state.expectation(_pauli(n, {0: "Z", n - 1: "Z"}))),
    }
    print()
    print(f"{'estimate from raw data':<24} {'value':>11} {'stderr':>9} {'exact':>11} {'z':>8}")
    for name, (v, e, x) in rows.items():
        print(_row(name, float(v), float(e), float(x)))
    summary = {
        "config": cfg,
        "raw_data": {k: {"value": float(v), "stderr": float(e), "exact": float(x)} for k, (v, e, x) in rows.items()},
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {output / 'data.h5'} and {output / 'summary.json'}")
    return summary


def _pauli(n: int, letters: dict[int, str]) -> str:
    return "".join(letters.get(i, "I") for i in range(n))
