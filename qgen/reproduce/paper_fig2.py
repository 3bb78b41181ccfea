"""paper-fig2: a Bell state under local depolarizing noise, reconstructed by an RNN from tetrahedral-POVM samples.

Following Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019): the Bell state (|00> + |11>)/sqrt 2
passes a depolarizing channel rho -> (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z) on each qubit and is measured
with the tetrahedral POVM. The RNN learns P(a); with the ideal POVM's duals, rho_model = sum_a P_model(a) Q(a) is
the *noisy* state, compared with the exact rho_p = (E_p x E_p)(|Phi+><Phi+|) (dense linear algebra). Shown: the
classical fidelity (exact enumeration of the 16 outcome pairs) and the quantum fidelity (Uhlmann, squared, of the
physical projection of rho_model) after training, versus p; both versus the training epoch; and Re rho_model beside
Re rho_p for the strongest noise. The categorical RBM's curves come when that model is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run", "noisy_bell", "QUICK", "FULL"]

QUICK = {"noise": (0.0, 0.1, 0.2, 0.3), "n_samples": 5_000, "epochs": 15}
FULL = {"noise": (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), "n_samples": 50_000, "epochs": 40}
MODEL = {"cell": "gru", "n_layers": 1, "hidden_size": 32}


def noisy_bell(p: float) -> np.ndarray:
    """(E_p x E_p)(|Phi+><Phi+|) as a 4 x 4 matrix, applying the Kraus operators of each qubit's channel."""
    from qgen.measurement.noise import depolarizing

    phi = np.array([1, 0, 0, 1], dtype=np.complex128) / np.sqrt(2)
    rho = np.outer(phi, phi.conj())
    kraus = depolarizing(p).kraus
    for site in range(2):
        ops = [np.kron(k, np.eye(2)) if site == 0 else np.kron(np.eye(2), k) for k in kraus]
        rho = sum(op @ rho @ op.conj().T for op in ops)
    return rho


def _fidelities(model: Any, measured: Any, exact_state: Any, povm: Any) -> dict[str, float]:
    import torch

    from qgen.metrics import classical_fidelity, quantum_fidelity

    with torch.no_grad():
        return {
            "classical_fidelity": classical_fidelity(measured, model, "exact").value,
            "quantum_fidelity": quantum_fidelity(model, exact_state, povm=povm, method="exact").value,
        }


def run(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] = print, plan: dict[str, Any] | None = None
) -> tuple[Any, dict, dict]:
    """Train one RNN per noise strength; returns (figure, numbers, settings)."""
    import torch
    from matplotlib.figure import Figure

    from qgen.data import simulate
    from qgen.measurement.noise import depolarizing
    from qgen.metrics.distributions import outcome_probabilities
    from qgen.metrics.reconstruction import reconstruct_density_matrix
    from qgen.states import DenseState, ghz
    from qgen.train import train

    plan = {**(QUICK if quick else FULL), **(plan or {})}
    bell = ghz(2)
    rows, curves, last = [], {}, None
    for p in plan["noise"]:
        noise = depolarizing(p) if p > 0 else None
        data = simulate(bell, "tetra", plan["n_samples"], noise=noise, seed=seed + int(1000 * p))
        exact = DenseState(density_matrix=noisy_bell(p))
        measured = bell.measured(data.ideal_povm, noise)

        def progress(
            trainer: Any, epoch: int, measured: Any = measured, exact: Any = exact, povm: Any = data.ideal_povm
        ):
            trainer.model.eval()
            out = _fidelities(trainer.model, measured, exact, povm)
            trainer.model.train()
            return out

        model = train(
            "rnn",
            data,
            seed=seed,
            epochs=plan["epochs"],
            batch_size=100,
            lr=1e-2,
            model_options=MODEL,
            callbacks=[progress],
            progress=False,
            device="cpu",
            early_stopping_patience=None,
        ).eval()
        final = _fidelities(model, measured, exact, data.ideal_povm)
        rows.append(
            {"p": p, **final, "exact_purity": float(np.trace(exact.density_matrix @ exact.density_matrix).real)}
        )
        curves[str(p)] = {k: list(model.history[k]) for k in ("epoch", "classical_fidelity", "quantum_fidelity")}
        log(f"  p = {p:<5} classical {final['classical_fidelity']:.4f}, quantum {final['quantum_fidelity']:.4f}")
        last = (p, model, exact, data.ideal_povm)

    p, model, exact, povm = last
    with torch.no_grad():
        probs, _, _ = outcome_probabilities(model, 2, 4, 0, torch.Generator().manual_seed(seed))
    rho_model = reconstruct_density_matrix(np.asarray(probs) / np.sum(probs), povm)

    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax_p, ax_e, ax_m, ax_x = fig.subplots(1, 4)
    ps = [r["p"] for r in rows]
    ax_p.plot(ps, [r["classical_fidelity"] for r in rows], "o-", label="classical")
    ax_p.plot(ps, [r["quantum_fidelity"] for r in rows], "s-", label="quantum")
    ax_p.set_xlabel("depolarizing p")
    ax_p.set_ylabel("fidelity to the exact noisy state")
    ax_p.legend()
    for key, curve in curves.items():
        ax_e.plot(curve["epoch"], curve["quantum_fidelity"], label=f"p = {key}")
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("quantum fidelity")
    ax_e.legend(fontsize=7)
    for ax, rho, title in ((ax_m, rho_model, "RNN"), (ax_x, exact.density_matrix, "exact")):
        image = ax.imshow(rho.real, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
        ax.set_title(f"Re rho, {title}, p = {p}")
        ax.set_xticks(range(4), ["00", "01", "10", "11"])
        ax.set_yticks(range(4), ["00", "01", "10", "11"])
    fig.colorbar(image, ax=[ax_m, ax_x], shrink=0.8)
    numbers = {
        "final": rows,
        "training": curves,
        "rho_model_real": rho_model.real.tolist(),
        "rho_model_imag": rho_model.imag.tolist(),
        "rho_exact_real": exact.density_matrix.real.tolist(),
        "rho_p": p,
    }
    settings = {**plan, "model": "rnn", "model_options": MODEL, "povm": "tetra", "batch_size": 100, "lr": 1e-2}
    return fig, numbers, settings
