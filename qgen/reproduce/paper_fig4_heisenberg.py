"""paper-fig4, second system: the 8 x 8 square-lattice Heisenberg antiferromagnet, DMRG target, tetra samples, GRU.

Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019) reconstruct, beside the Ising chain, the
ground state of the 2-D Heisenberg antiferromagnet on an 8 x 8 square lattice. Their repository (POVM_GENMODEL,
data/training_data_2D_Heisenberg_model) holds that state as a 64-site MPS from ITensor's DMRG with bond dimension
200, the tensors' sparsity showing total S^z conservation; its text file of tensors is not part of qgen's
reference data, so qgen computes the state itself: quimb's DMRG2 along the snake path of qgen.states.lattice2d,
open boundaries, bond dimension up to 200 in the full run (the paper's). Choices made here, the paper's own text
not being at hand: open boundaries (a snake MPS of the open lattice, as the repository's bond dimensions 2, 4, ...,
128, 200 suggest), the tetrahedral POVM of the rest of the figure, 10^5 samples, the GRU with qgen's default
recipe for that data size (qgen.train.default_recipe), and <Z_0 Z_j> from the corner site 0 as the correlations
shown, with the energy per site.

The reference: a snake MPS at bond dimension 200 is an approximation of the 8 x 8 ground state, so the run checks
it against quantum Monte Carlo of the same open lattice (qgen.states.sse: stochastic series expansion, exact up
to its statistical error at beta = 64 / J, far beyond the inverse finite-size gap): the energy per site and the
corner correlations <Z_0 Z_j> = 4 <S^z_0 S^z_j>, each with its error bar. The same code reproduces Sandvik's
published QMC energy of the periodic 8 x 8 lattice, -0.673487(4) (tests/states/test_sse.py; A. W. Sandvik, PRB
56, 11678 (1997)), and for the open 8 x 8 lattice it gives -0.61904(14) at 5 x 10^4 sweeps, in agreement with
-0.619040, the QMC value finite-PEPS benchmarks quote (W.-Y. Liu et al., arXiv:1611.09467).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["QUICK", "FULL", "run", "corner_correlations", "draw"]

#: Quick: bond dimension 32, 10^4 samples and 10 epochs (700 steps) of the small-data recipe's GRU 2 x 64.
QUICK: dict[str, Any] = {
    "Lx": 8,
    "Ly": 8,
    "boundary": "open",
    "max_bond": 32,
    "max_sweeps": 8,  # at chi 32 E/N settles to 1e-4 within 8 sweeps but keeps moving by more than tol
    "n_samples": 10_000,
    "epochs": 10,
    "batch_size": 128,
    "lr": 3e-3,
    "model_options": {"cell": "gru", "n_layers": 2, "hidden_size": 64},
    "model_samples": 10_000,
    "qmc": {"beta": 64.0, "sweeps": 10_000},
}
#: Full: the paper's bond dimension 200 and 10^5 samples; epochs, learning rate and model from the default recipe.
FULL: dict[str, Any] = {
    "Lx": 8,
    "Ly": 8,
    "boundary": "open",
    "max_bond": 200,
    "max_sweeps": 12,
    "n_samples": 100_000,
    "epochs": None,
    "batch_size": None,
    "lr": None,
    "model_options": None,
    "model_samples": 100_000,
    "qmc": {"beta": 64.0, "sweeps": 100_000},
}


def corner_correlations(state: Any, letter: str = "Z") -> np.ndarray:
    """Exact <P_0 P_j> for every site j of an MPSState (1 at j = 0), one transfer-matrix sweep from site 0."""
    env = state.apply_local(state.left_environments()[0], 0, letter)
    row = [1.0]
    for j in range(1, state.n_qubits):
        row.append(float(np.trace(state.apply_local(env, j, letter)).real))
        env = state.apply_local(env, j, "I")
    return np.array(row)


def _estimates(outcomes: np.ndarray, povm: Any, hamiltonian: dict[str, float], n_sites: int) -> dict[str, Any]:
    from qgen.metrics.observables import correlation_matrix, expectation
    from qgen.states.lattice2d import energy_per_site_ss

    corr = correlation_matrix(outcomes, povm, "Z")
    energy = expectation(outcomes, povm, hamiltonian)
    return {
        "zz_corner": np.asarray(corr.value)[0].tolist(),
        "zz_corner_stderr": np.asarray(corr.stderr)[0].tolist(),
        "energy": float(energy.value),
        "energy_stderr": float(energy.stderr),
        "energy_per_site_ss": energy_per_site_ss(energy.value, n_sites),
        "energy_per_site_ss_stderr": energy_per_site_ss(energy.stderr, n_sites),
    }


def _dmrg_record(state: Any) -> dict[str, Any]:
    from qgen.states.lattice2d import energy_per_site_ss

    return {
        **{k: v for k, v in state.dmrg.items() if k != "energy"},
        "energy": float(state.energy),
        "energy_per_site_ss": energy_per_site_ss(state.energy, state.n_qubits),
        "bond_dimension": int(state.bond_dimension),
    }


def qmc_check(Lx: int, Ly: int, boundary: str, beta: float, sweeps: int, seed: int = 0) -> dict[str, Any]:
    """The lattice's energy per site (S.S units) and corner <Z_0 Z_j> by SSE quantum Monte Carlo, with errors."""
    from qgen.states.lattice2d import square_bonds
    from qgen.states.sse import sse_heisenberg

    r = sse_heisenberg(square_bonds(Lx, Ly, boundary), Lx * Ly, beta=beta, sweeps=sweeps, seed=seed)
    return {
        "method": "stochastic series expansion QMC (qgen.states.sse), deterministic operator loops",
        "beta": r.beta,
        "sweeps": r.sweeps,
        "energy_per_site_ss": r.energy_per_site,
        "energy_per_site_ss_stderr": r.energy_stderr,
        "zz_corner": (4 * r.szsz).tolist(),
        "zz_corner_stderr": (4 * r.szsz_stderr).tolist(),
    }


def _compare(dmrg: dict[str, Any], exact_zz: np.ndarray, qmc: dict[str, Any]) -> dict[str, Any]:
    """DMRG minus QMC: the energy difference in stderr and relative terms, the correlations' largest |z|."""
    diff = dmrg["energy_per_site_ss"] - qmc["energy_per_site_ss"]
    zz, err = np.array(qmc["zz_corner"][1:]), np.array(qmc["zz_corner_stderr"][1:])
    return {
        "energy_difference": diff,
        "energy_difference_z": diff / qmc["energy_per_site_ss_stderr"],
        "energy_relative_difference": diff / abs(qmc["energy_per_site_ss"]),
        "zz_corner_max_abs_difference": float(np.abs(exact_zz[1:] - zz).max()),
        "zz_corner_max_abs_z": float((np.abs(exact_zz[1:] - zz) / np.maximum(err, 1e-12)).max()),
    }


def run(plan: dict[str, Any], seed: int = 0, log: Callable[[str], None] = print) -> tuple[dict, dict]:
    """DMRG, simulate, train, estimate; returns (numbers, settings) for the figure's Heisenberg panels."""
    import torch

    from qgen.data import simulate
    from qgen.states.lattice2d import heisenberg2d_hamiltonian, heisenberg2d_mps, snake_coordinates
    from qgen.train import train

    lx, ly, boundary = plan["Lx"], plan["Ly"], plan["boundary"]
    n = lx * ly
    state = heisenberg2d_mps(
        lx, ly, boundary=boundary, max_bond=plan["max_bond"], max_sweeps=plan["max_sweeps"], strict=False
    )
    dmrg = _dmrg_record(state)
    log(
        f"paper-fig4: {lx} x {ly} Heisenberg ({boundary}) by DMRG, chi {dmrg['bond_dimension']}, "
        f"E/N = {dmrg['energy_per_site_ss']:.6f} J (S.S units){' (cached)' if dmrg.get('cached') else ''}"
    )
    data = simulate(state, "tetra", plan["n_samples"], seed=seed, reference=False)
    given = {k: plan[k] for k in ("epochs", "batch_size", "lr") if plan.get(k) is not None}
    log(f"  simulated {plan['n_samples']:,} tetra samples; training a GRU ({given or 'default recipe'})")
    model = train(
        "rnn", data, seed=seed, model_options=plan.get("model_options"), progress=False, device="cpu", **given
    ).eval()
    with torch.no_grad():
        samples = model.sample(plan["model_samples"], generator=torch.Generator().manual_seed(seed + 1)).numpy()
    ham = heisenberg2d_hamiltonian(lx, ly, boundary=boundary)
    numbers: dict[str, Any] = {
        "lattice": {"Lx": lx, "Ly": ly, "boundary": boundary, "coordinates": snake_coordinates(lx, ly).tolist()},
        "dmrg": dmrg,
        "exact": {"zz_corner": corner_correlations(state).tolist()},
        "model": _estimates(samples, data.povm, ham, n),
        "data": _estimates(data.outcomes, data.povm, ham, n),
        "epochs_run": len(model.history["epoch"]) if getattr(model, "history", None) else None,
    }
    m = numbers["model"]
    log(f"  model E/N = {m['energy_per_site_ss']:.4f} +- {m['energy_per_site_ss_stderr']:.4f} (S.S units)")
    if plan.get("qmc"):
        qmc = qmc_check(lx, ly, boundary, seed=seed, **plan["qmc"])
        numbers["qmc"] = qmc
        numbers["dmrg_vs_qmc"] = cmp = _compare(dmrg, np.array(numbers["exact"]["zz_corner"]), qmc)
        log(
            f"  QMC (SSE, beta {qmc['beta']:g}, {qmc['sweeps']:,} sweeps): E/N = {qmc['energy_per_site_ss']:.5f} +- "
            f"{qmc['energy_per_site_ss_stderr']:.5f}; DMRG minus QMC {cmp['energy_difference']:+.5f} "
            f"({cmp['energy_relative_difference']:+.2%}), <Z_0 Z_j> max |z| {cmp['zz_corner_max_abs_z']:.1f}"
        )
    settings = {**plan, "model": "rnn", "povm": "tetra", "target": state.spec, "convention": "H = J sum (XX+YY+ZZ)"}
    return numbers, settings


def draw(fig: Any, numbers: dict[str, Any], settings: dict[str, Any]) -> None:
    """Three panels on `fig` (a Figure or SubFigure): <Z_0 Z_j> versus distance, exact and model on the lattice."""
    lat = numbers["lattice"]
    xy = np.array(lat["coordinates"])
    dist = np.abs(xy - xy[0]).sum(axis=1)
    ax_c, ax_e, ax_m = fig.subplots(1, 3, width_ratios=[1.6, 1, 1])
    for who, fmt, shift in (("model", "o", -0.1), ("data", "s", 0.1)):
        o = numbers[who]
        ax_c.errorbar(
            dist[1:] + shift,
            o["zz_corner"][1:],
            yerr=o["zz_corner_stderr"][1:],
            fmt=fmt,
            ms=3,
            capsize=2,
            alpha=0.7,
            label=f"{who}: E/N = {o['energy_per_site_ss']:.4f} +- {o['energy_per_site_ss_stderr']:.4f}",
        )
    exact = np.array(numbers["exact"]["zz_corner"])
    dm = numbers["dmrg"]
    ax_c.plot(
        dist[1:],
        exact[1:],
        "x",
        color="k",
        label=f"target (DMRG chi {dm['bond_dimension']}): E/N = {dm['energy_per_site_ss']:.5f}",
    )
    if "qmc" in numbers:
        q = numbers["qmc"]
        ax_c.errorbar(
            dist[1:] + 0.2,
            q["zz_corner"][1:],
            yerr=q["zz_corner_stderr"][1:],
            fmt="+",
            color="C3",
            ms=4,
            label=f"QMC (SSE): E/N = {q['energy_per_site_ss']:.5f} +- {q['energy_per_site_ss_stderr']:.5f}",
        )
    ax_c.axhline(0, color="0.7", lw=0.5)
    ax_c.set_xlabel("lattice distance |x - x_0| + |y - y_0| from the corner")
    ax_c.set_ylabel(r"$\langle Z_0 Z_j \rangle$")
    quick = "\nquick run: small bond dimension, few samples, short training" if settings.get("quick") else ""
    ax_c.set_title(
        f"{lat['Lx']} x {lat['Ly']} Heisenberg AF ({lat['boundary']}), {settings['n_samples']:,} tetra samples{quick}",
        fontsize=9,
    )
    ax_c.legend(fontsize=7)
    grid_exact, grid_model = np.full((lat["Ly"], lat["Lx"]), np.nan), np.full((lat["Ly"], lat["Lx"]), np.nan)
    grid_exact[xy[:, 1], xy[:, 0]] = exact
    grid_model[xy[:, 1], xy[:, 0]] = numbers["model"]["zz_corner"]
    scale = max(np.abs(exact[1:]).max(), 1e-3)
    for ax, grid, label in ((ax_e, grid_exact, "DMRG target"), (ax_m, grid_model, "model")):
        grid[0, 0] = np.nan  # <Z_0 Z_0> = 1 would swamp the colour scale
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-scale, vmax=scale, origin="lower")
        ax.set_title(rf"{label} $\langle Z_0 Z_j \rangle$ on the lattice", fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_xticks(range(lat["Lx"]))
        ax.set_yticks(range(lat["Ly"]))
    fig.colorbar(image, ax=[ax_e, ax_m], shrink=0.8)
