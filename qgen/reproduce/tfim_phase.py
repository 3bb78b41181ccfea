"""tfim-phase: the Ising chain across its transition, reconstructed from tetrahedral-POVM data at each field h.

Beyond the paper (which shows the critical point only): for each h the ground state of H = -sum Z_i Z_{i+1} -
h sum X_i (open chain) is found by DMRG as an MPS, measured with the tetrahedral POVM, and an RNN (GRU) is
trained on the outcomes. Shown versus h: the site-averaged <X> = (1/N) sum_i <X_i> and the long-range correlation
<Z_0 Z_{N/2}>, model (from its samples through the dual frame) versus raw data versus exact, and the classical
fidelity of the model to the MPS target (Monte-Carlo over model samples, estimator of Carrasquilla et al. 2019).
"Exact" is the free-fermion solution (Pfeuty, Ann. Phys. 57, 79 (1970); qgen.states.free_fermions),
independent of the DMRG; the MPS target's own values are recorded beside it, so the JSON also shows how well
DMRG converged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["run", "QUICK", "FULL", "MODEL"]

FULL = {
    "n_qubits": 50,
    "fields": (0.2, 0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0),
    "n_samples": 50_000,
    "epochs": 15,
    "n_eval": 20_000,
}
QUICK = {**FULL, "n_qubits": 10, "fields": (0.5, 1.0, 1.5), "n_samples": 5_000, "epochs": 8, "n_eval": 5_000}
MODEL = {"cell": "gru", "n_layers": 2, "hidden_size": 64}


def observables(n_qubits: int) -> dict[str, dict[str, float]]:
    """The two observables of the figure as Pauli sums: <X> = (1/N) sum_i X_i and Z_0 Z_{N/2}.

    Example:
        >>> observables(4)["zz_half"]
        {'ZIZI': 1.0}
    """
    n = n_qubits
    x = {"I" * i + "X" + "I" * (n - i - 1): 1.0 / n for i in range(n)}
    zz = "Z" + "I" * (n // 2 - 1) + "Z" + "I" * (n - n // 2 - 1)
    return {"x_mean": x, "zz_half": {zz: 1.0}}


def run(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] = print, plan: dict[str, Any] | None = None
) -> tuple[Any, dict, dict]:
    """One target, data set and RNN per field h; returns (figure, numbers, settings)."""
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    from qgen.data import simulate
    from qgen.metrics import classical_fidelity
    from qgen.metrics.observables import expectation
    from qgen.states import tfim
    from qgen.states.free_fermions import tfim_free_fermion_correlators
    from qgen.train import train

    plan = {**(QUICK if quick else FULL), **(plan or {})}
    n = plan["n_qubits"]
    ops = observables(n)
    rows = []
    for i, h in enumerate(plan["fields"]):
        target = tfim(n, h=float(h), representation="mps")
        data = simulate(target, "tetra", plan["n_samples"], seed=seed + i)
        model = train(
            "rnn",
            data,
            seed=seed,
            epochs=plan["epochs"],
            progress=False,
            device="cpu",
            model_options=MODEL,
            early_stopping_patience=None,
        ).eval()
        generator = torch.Generator().manual_seed(seed + 1000 + i)
        with torch.no_grad():
            samples = model.sample(plan["n_eval"], generator=generator)
            fidelity = classical_fidelity(
                target.measured(data.povm), model, "mc", n_samples=plan["n_eval"], generator=generator
            )
        free = tfim_free_fermion_correlators(n, h=float(h))
        exact = {"x_mean": float(free["X"].mean()), "zz_half": float(free["ZZ"][0, n // 2])}
        row: dict[str, Any] = {"h": float(h), "classical_fidelity": fidelity.to_dict(), "exact": exact}
        row["mps"] = {k: float(np.real(target.expectation(op))) for k, op in ops.items()}
        for source, outcomes in (("model", samples), ("data", data.outcomes)):
            row[source] = {k: expectation(outcomes, data.povm, op).to_dict() for k, op in ops.items()}
        rows.append(row)
        log(
            f"  h = {h:<4} F = {fidelity.value:.4f} +- {fidelity.stderr:.4f}; <X> model "
            f"{row['model']['x_mean']['value']:.4f}, exact {exact['x_mean']:.4f}; <Z_0 Z_N/2> model "
            f"{row['model']['zz_half']['value']:.4f}, exact {exact['zz_half']:.4f}"
        )

    fields = [r["h"] for r in rows]
    fine = np.linspace(min(fields), max(fields), 60)
    curves = [tfim_free_fermion_correlators(n, h=float(h)) for h in fine]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax_x, ax_z, ax_f = fig.subplots(1, 3)
    for ax, key, label, exact_curve in (
        (ax_x, "x_mean", "<X> (site average)", [c["X"].mean() for c in curves]),
        (ax_z, "zz_half", f"<Z_0 Z_{n // 2}>", [c["ZZ"][0, n // 2] for c in curves]),
    ):
        ax.plot(fine, exact_curve, "k-", lw=1, label="exact (free fermions)")
        for source, marker, shift in (("model", "o", -0.01), ("data", "s", 0.01)):
            ax.errorbar(
                np.array(fields) + shift * (max(fields) - min(fields)),
                [r[source][key]["value"] for r in rows],
                yerr=[r[source][key]["stderr"] for r in rows],
                fmt=marker,
                ms=4,
                capsize=2,
                label="RNN" if source == "model" else "raw data",
            )
        ax.set_xlabel("field h")
        ax.set_ylabel(label)
        ax.axvline(1.0, color="0.7", ls=":")
        ax.legend(fontsize=8)
    ax_f.errorbar(
        fields,
        [r["classical_fidelity"]["value"] for r in rows],
        yerr=[r["classical_fidelity"]["stderr"] for r in rows],
        fmt="o-",
        capsize=2,
    )
    ax_f.axvline(1.0, color="0.7", ls=":")
    ax_f.set_xlabel("field h")
    ax_f.set_ylabel("classical fidelity (mc)")
    fig.suptitle(f"Ising chain, N = {n}, {plan['n_samples']} tetra samples per field, GRU 2 x 64", fontsize=10)
    numbers = {"n_qubits": n, "fields": rows}
    settings = {**plan, "model": "rnn", "model_options": MODEL, "povm": "tetra", "representation": "mps"}
    return fig, numbers, settings
