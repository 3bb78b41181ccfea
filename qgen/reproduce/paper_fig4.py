"""paper-fig4: the 50-site critical Ising chain and the 8 x 8 Heisenberg antiferromagnet from tetra samples.

Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019) reconstruct the ground state of the open
transverse-field Ising chain at h = 1, N = 50, given as an MPS in their repository. That MPS is the ground state of
H = +sum Z Z + sum X; it is read with convention="paper", which maps it onto qgen's H = -sum Z Z - sum X by a local
unitary (qgen.states.mps_io). The same state from qgen's own DMRG (qgen.states.tfim, cached in data/) is the second
exact reference; their energies and overlap are reported, beside the free-fermion energy.

Samples are drawn from the paper's (converted) MPS, a GRU is trained on them, and the figure shows <Z_i Z_j>
averaged over i at fixed distance and the profile <X_i>: the model's estimate from its samples, the raw data's
estimate, both through the dual frame, and the exact values of both MPS. The paper's second system, the 8 x 8
square-lattice Heisenberg antiferromagnet (its DMRG ground state, its energy checked against a published value, and
<Z_0 Z_j> model versus exact versus data), is the figure's second row: qgen.reproduce.paper_fig4_heisenberg.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qgen.reproduce import paper_fig4_heisenberg as heisenberg

__all__ = ["run", "paper_mps_folder", "mps_overlap", "QUICK", "FULL"]

N_SITES = 50
#: Quick: 10^4 samples and a few epochs of the benchmarks' GRU 2 x 64 (about 2 minutes on 2 cores).
QUICK = {
    "n_samples": 10_000,
    "epochs": 5,
    "batch_size": 128,
    "lr": 3e-3,
    "model_options": {"cell": "gru", "n_layers": 2, "hidden_size": 64},
    "trainer_options": {},
    "model_samples": 10_000,
    "fidelity_samples": 2_000,
    "heisenberg": heisenberg.QUICK,
}
#: Full: the recipe that met every goal on 10^5 samples in benchmarks/README.md (F = 0.9921 +- 0.0011).
FULL = {
    "n_samples": 100_000,
    "epochs": 20,
    "batch_size": 128,
    "lr": 1e-3,
    "model_options": {"cell": "gru", "n_layers": 2, "hidden_size": 96},
    "trainer_options": {"optimizer": "adamw", "weight_decay": 0.1},
    "model_samples": 100_000,
    "fidelity_samples": 10_000,
    "heisenberg": heisenberg.FULL,
}


def paper_mps_folder() -> Path | None:
    """The folder of the paper's MPS text files: $QGEN_REFERENCE_DATA/povm_genmodel_tfim50, else the shared
    reference data beside the repository (../shared/reference-data), else None."""
    roots = [os.environ.get("QGEN_REFERENCE_DATA"), Path(__file__).resolve().parents[3] / "shared" / "reference-data"]
    for root in filter(None, roots):
        folder = Path(root) / "povm_genmodel_tfim50"
        if (folder / "index.txt").is_file():
            return folder
    return None


def mps_overlap(a: Any, b: Any) -> complex:
    """<a|b> of two MPSState of the same length, contracted site by site (O(N chi^3))."""
    env = np.ones((1, 1), dtype=np.complex128)
    for ta, tb in zip(a.tensors, b.tensors):
        env = np.einsum("ab,asc,bsd->cd", env, ta.conj(), tb, optimize=True)
    return complex(env[0, 0])


def _value_err(result: Any) -> tuple[np.ndarray, np.ndarray]:
    value, err = (result.value, result.stderr) if hasattr(result, "stderr") else result
    return np.asarray(value, dtype=np.float64), np.asarray(err, dtype=np.float64)


def _observables(outcomes: np.ndarray, povm: Any) -> dict[str, list]:
    from qgen.metrics.observables import correlation_matrix, magnetization
    from qgen.report.plots import correlation_by_distance

    corr, corr_err = _value_err(correlation_matrix(outcomes, povm, "Z"))
    r, mean, err = correlation_by_distance(corr, corr_err)
    mx, mx_err = _value_err(magnetization(outcomes, povm, "X"))
    return {
        "distance": r.tolist(),
        "zz": mean.tolist(),
        "zz_stderr": err.tolist(),
        "x": mx.tolist(),
        "x_stderr": mx_err.tolist(),
    }


def _exact(state: Any) -> dict[str, list]:
    from qgen.report.plots import correlation_by_distance
    from qgen.states.reference import reference_values

    ref = reference_values(state)
    _, mean, _ = correlation_by_distance(ref["correlation_zz"])
    return {"zz": mean.tolist(), "x": np.asarray(ref["magnetization_x"]).tolist(), "energy": float(ref["energy"])}


def run(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] = print, plan: dict[str, Any] | None = None
) -> tuple[Any, dict, dict]:
    """Simulate, train, and plot; returns (figure, numbers, settings)."""
    import torch
    from matplotlib.figure import Figure

    from qgen.data import simulate
    from qgen.metrics import classical_fidelity
    from qgen.states import mps_from_text, tfim, tfim_free_fermion_energy
    from qgen.train import train

    base = QUICK if quick else FULL
    plan = {**base, **(plan or {})}
    # The Heisenberg plan merges key by key, so an override of one of its entries keeps the others.
    plan["heisenberg"] = {**base["heisenberg"], **(plan.get("heisenberg") or {}), "quick": bool(quick)}
    spec = {"name": "tfim", "n_qubits": N_SITES, "h": 1.0, "J": 1.0, "boundary": "open"}
    dmrg = tfim(N_SITES, h=1.0, representation="mps")
    folder = paper_mps_folder()
    paper = mps_from_text(folder, convention="paper", spec=spec) if folder is not None else None
    source = paper if paper is not None else dmrg
    log(f"paper-fig4: target {'the paper MPS (converted)' if paper is not None else 'qgen DMRG (paper MPS absent)'}")
    data = simulate(source, "tetra", plan["n_samples"], seed=seed, reference=False)
    log(f"  simulated {plan['n_samples']:,} tetra samples; training a GRU for up to {plan['epochs']} epochs")
    model = train(
        "rnn",
        data,
        seed=seed,
        epochs=plan["epochs"],
        batch_size=plan["batch_size"],
        lr=plan["lr"],
        model_options=plan["model_options"],
        progress=False,
        device="cpu",
        **plan["trainer_options"],
    ).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        samples = model.sample(plan["model_samples"], generator=gen).numpy()
        fid = classical_fidelity(
            source.measured("tetra"), model, "mc", n_samples=plan["fidelity_samples"], generator=seed + 2
        )
    log(f"  classical fidelity {fid.value:.4f} +- {fid.stderr:.4f}")
    numbers: dict[str, Any] = {
        "model": _observables(samples, data.povm),
        "data": _observables(data.outcomes, data.povm),
        "exact_dmrg": _exact(dmrg),
        "classical_fidelity": fid.to_dict(),
        "free_fermion_energy": float(tfim_free_fermion_energy(N_SITES, h=1.0)),
        "epochs_run": len(model.history["epoch"]) if getattr(model, "history", None) else None,
    }
    if paper is not None:
        numbers["exact_paper"] = _exact(paper)
        numbers["paper_dmrg_overlap_squared"] = abs(mps_overlap(paper, dmrg)) ** 2

    numbers["heisenberg"], heisenberg_settings = heisenberg.run(plan["heisenberg"], seed=seed, log=log)

    fig = Figure(figsize=(12, 8.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    ax_c, ax_x = top.subplots(1, 2)
    for who, fmt in (("model", "o"), ("data", "s")):
        o = numbers[who]
        ax_c.errorbar(o["distance"], o["zz"], yerr=o["zz_stderr"], fmt=fmt, ms=3, capsize=2, label=who, alpha=0.8)
        ax_x.errorbar(np.arange(N_SITES), o["x"], yerr=o["x_stderr"], fmt=fmt, ms=3, capsize=2, label=who, alpha=0.8)
    r = numbers["model"]["distance"]
    for key, style, label in (("exact_paper", "-", "exact (paper MPS)"), ("exact_dmrg", "--", "exact (qgen DMRG)")):
        if key in numbers:
            ax_c.plot(r, numbers[key]["zz"], style, color="k", lw=1, label=label)
            ax_x.plot(np.arange(N_SITES), numbers[key]["x"], style, color="k", lw=1, label=label)
    ax_c.set_xlabel("distance |i - j|")
    ax_c.set_ylabel(r"$\langle Z_i Z_j \rangle$ (average over i)")
    ax_c.set_title(f"N = {N_SITES} critical Ising chain, {plan['n_samples']:,} tetra samples")
    ax_x.set_xlabel("site i")
    ax_x.set_ylabel(r"$\langle X_i \rangle$")
    ax_x.set_title(f"classical fidelity {fid.value:.4f} +- {fid.stderr:.4f}")
    ax_c.legend(fontsize=8)
    ax_x.legend(fontsize=8)
    heisenberg.draw(bottom, numbers["heisenberg"], heisenberg_settings)
    settings = {**plan, "model": "rnn", "povm": "tetra", "target": spec, "paper_mps": str(folder) if folder else None}
    settings["heisenberg"] = heisenberg_settings
    return fig, numbers, settings
