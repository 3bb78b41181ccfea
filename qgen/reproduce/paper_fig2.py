"""paper-fig2: a Bell state under local depolarizing noise, reconstructed by an RNN and an RBM from tetra samples.

Following Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019): the Bell state (|00> + |11>)/sqrt 2
passes a depolarizing channel rho -> (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z) on each qubit and is measured
with the tetrahedral POVM. An RNN and a categorical RBM (the paper's two models) learn P(a); with the ideal
POVM's duals, rho_model = sum_a P_model(a) Q(a) is the *noisy* state, compared with the exact
rho_p = (E_p x E_p)(|Phi+><Phi+|) (dense linear algebra). Shown: the classical fidelity (exact enumeration of
the 16 outcome pairs) and the quantum fidelity (Uhlmann, squared, of the
physical projection of rho_model) after training, versus p; both versus the training epoch; and Re rho_model beside
Re rho_p for the strongest noise. The RBM's likelihood is unnormalized: its log Z is summed exactly over the hidden
layer (N = 2), so both models are evaluated exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run", "noisy_bell", "Normalized", "QUICK", "FULL", "MODELS"]

QUICK = {"noise": (0.0, 0.1, 0.2, 0.3), "n_samples": 5_000, "epochs": 15, "models": ("rnn", "rbm")}
FULL = {**QUICK, "noise": (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), "n_samples": 50_000, "epochs": 40}
#: Per model: constructor options and learning rate. The RBM takes the exact gradient (min(2^M, K^N) = 16
#: configurations here), so its curves show the model, not the Monte-Carlo noise of CD; lr 0.1 reached classical
#: fidelity 0.997 in 15 epochs where 0.01 stopped at 0.98 (measured, p = 0 and 0.3).
MODELS = {
    "rnn": {"options": {"cell": "gru", "n_layers": 1, "hidden_size": 32}, "lr": 1e-2},
    "rbm": {"options": {"n_hidden": 8, "gradient": "exact"}, "lr": 1e-1},
}


class Normalized:
    """A model with an unnormalized likelihood, divided by its exact partition function: log p = log_prob - log Z.

    For the categorical RBM on 2 qubits log Z is an exact sum, so the exact metrics (classical fidelity by
    enumeration, the quantum fidelity of rho = sum_a p(a) Q(a)) apply to it as to an exact model.
    """

    likelihood = "exact"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.n_qubits, self.n_outcomes = model.n_qubits, model.n_outcomes
        log_z = model.log_normalizer("exact")
        self.log_z = float(log_z.value)

    def log_prob(self, x: Any) -> Any:
        return self.model.log_prob(x).detach().double() - self.log_z

    def sample(self, n: int, *, generator: Any = None) -> Any:
        return self.model.sample(n, generator=generator)


def _normalized(model: Any) -> Any:
    return Normalized(model) if model.likelihood == "unnormalized" else model


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
        model = _normalized(model)
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
    names = list(plan["models"])
    bell = ghz(2)
    rows, curves, last = [], {name: {} for name in names}, {}
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

        row: dict[str, Any] = {"p": p}
        for name in names:
            model = train(
                name,
                data,
                seed=seed,
                epochs=plan["epochs"],
                batch_size=100,
                lr=MODELS[name]["lr"],
                model_options=MODELS[name]["options"],
                callbacks=[progress],
                progress=False,
                device="cpu",
                early_stopping_patience=None,
            ).eval()
            row[name] = _fidelities(model, measured, exact, data.ideal_povm)
            curves[name][str(p)] = {
                k: list(model.history[k]) for k in ("epoch", "classical_fidelity", "quantum_fidelity")
            }
            log(
                f"  p = {p:<5} {name}: classical {row[name]['classical_fidelity']:.4f}, "
                f"quantum {row[name]['quantum_fidelity']:.4f}"
            )
            last[name] = model
        row["exact_purity"] = float(np.trace(exact.density_matrix @ exact.density_matrix).real)
        rows.append(row)

    p, povm = plan["noise"][-1], data.ideal_povm
    rho = {}
    for name, model in last.items():
        with torch.no_grad():
            probs, _, _ = outcome_probabilities(_normalized(model), 2, 4, 0, torch.Generator().manual_seed(seed))
        rho[name] = reconstruct_density_matrix(np.asarray(probs) / np.sum(probs), povm)

    fig = Figure(figsize=(4 + 3.2 * (len(names) + 2), 3.8), layout="constrained")
    ax_p, ax_e, *ax_rho = fig.subplots(1, len(names) + 3, width_ratios=[1.3, 1.3] + [1] * (len(names) + 1))
    ps = [r["p"] for r in rows]
    for i, name in enumerate(names):
        style = "-" if i == 0 else "--"
        ax_p.plot(ps, [r[name]["classical_fidelity"] for r in rows], "o" + style, color="C0", label=f"{name} classical")
        ax_p.plot(ps, [r[name]["quantum_fidelity"] for r in rows], "s" + style, color="C1", label=f"{name} quantum")
        for j, (key, curve) in enumerate(curves[name].items()):
            ax_e.plot(curve["epoch"], curve["quantum_fidelity"], style, color=f"C{j}", label=f"{name}, p = {key}")
    ax_p.set_xlabel("depolarizing p")
    ax_p.set_ylabel("fidelity to the exact noisy state")
    ax_p.legend(fontsize=7)
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("quantum fidelity")
    ax_e.legend(fontsize=6, ncol=len(names))
    panels = [*((rho[name], name.upper()) for name in names), (exact.density_matrix, "exact")]
    for ax, (matrix, title) in zip(ax_rho, panels, strict=True):
        image = ax.imshow(matrix.real, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
        ax.set_title(f"Re rho, {title}, p = {p}", fontsize=9)
        ax.set_xticks(range(4), ["00", "01", "10", "11"])
        ax.set_yticks(range(4), ["00", "01", "10", "11"])
    fig.colorbar(image, ax=ax_rho, shrink=0.8)
    numbers = {
        "final": rows,
        "training": curves,
        "rho_model_real": {name: m.real.tolist() for name, m in rho.items()},
        "rho_model_imag": {name: m.imag.tolist() for name, m in rho.items()},
        "rho_exact_real": exact.density_matrix.real.tolist(),
        "rho_p": p,
    }
    settings = {**plan, "models": {name: MODELS[name] for name in names}, "povm": "tetra", "batch_size": 100}
    return fig, numbers, settings
