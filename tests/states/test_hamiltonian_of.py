"""hamiltonian_of: the Pauli sum a state spec names, and the reference energy it gives the 2-D Heisenberg lattice
through `qgen simulate`, `qgen evaluate` and `qgen validate`, as the Ising chain has.

The lattice's Pauli sum itself is checked against an independent Kronecker-product matrix in test_lattice2d.py;
here the energies a data file records are checked against dense diagonalisation of that sum and against DMRG.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from qgen.cli import main
from qgen.data import load
from qgen.states import hamiltonian_of, heisenberg2d, tfim_hamiltonian, xxz_hamiltonian
from qgen.states.hamiltonians import pauli_sum_matrix
from qgen.states.lattice2d import heisenberg2d_mps


def test_chains_and_states_without_a_hamiltonian():
    assert hamiltonian_of({"name": "tfim", "n_qubits": 4, "h": 0.5}) == tfim_hamiltonian(4, h=0.5)
    spec = {"name": "xxz", "n_qubits": 5, "delta": 0.3, "J": 2.0, "boundary": "periodic"}
    assert hamiltonian_of(spec) == xxz_hamiltonian(5, delta=0.3, J=2.0, boundary="periodic")
    for spec in (None, {}, {"name": "ghz", "n_qubits": 3}, {"name": "product", "n_qubits": 2, "states": "0"}):
        assert hamiltonian_of(spec) is None


def _simulate(path, n, *extra):
    argv = ["simulate", "--state", "heisenberg2d", "--n-qubits", str(n), "--samples", "4000", "--seed", "5"]
    assert main([*argv, *extra, "-o", str(path), "--quiet"]) == 0
    return load(path)


def test_simulate_records_the_exact_energy_at_3x3(tmp_path, monkeypatch):
    """3 x 3, dense (Lanczos) and DMRG targets: the recorded energy is the ground energy of the Pauli sum by dense
    diagonalisation (LAPACK eigh of the 512 x 512 matrix), to 1e-8; validate gives the energy its z-score.

    (validate runs here rather than at 4 x 4: its direct fidelity of a 16-qubit dense target costs minutes.)"""
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    ham = hamiltonian_of({"name": "heisenberg2d", "n_qubits": 9})
    e0 = float(np.linalg.eigvalsh(pauli_sum_matrix(ham, 9).toarray())[0])
    for representation in ("dense", "mps"):
        data = _simulate(tmp_path / f"{representation}.h5", 9, "--representation", representation)
        assert data.state == {"name": "heisenberg2d", "n_qubits": 9, "Lx": 3, "Ly": 3, "J": 1.0, "boundary": "open"}
        assert abs(float(data.reference["energy"]) - e0) < 1e-8
    rc = main(
        ["validate", str(tmp_path / "dense.h5"), "--target", "data", "--no-model", "--no-noise-fit"]
        + ["-o", str(tmp_path / "validation")]
    )
    assert rc in (0, 1, 3)
    validated = json.loads((tmp_path / "validation" / "validation.json").read_text())["observables"]["energy"]
    assert validated["exact"] == pytest.approx([e0], abs=1e-8) and validated["stderr"][0] > 0
    assert validated["z"][0] == pytest.approx((validated["estimate"][0] - e0) / validated["stderr"][0])


def test_simulate_then_evaluate_at_4x4(tmp_path, monkeypatch, capsys):
    """4 x 4 (the CLI's default dense target): the recorded energy is the DMRG energy within DMRG's tolerance, and
    evaluate reports it beside the data's estimate with its standard error, as it does for the Ising chain."""
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    data = _simulate(tmp_path / "h16.h5", 16)
    energy = float(data.reference["energy"])
    dmrg = heisenberg2d_mps(4, 4, cache=False)  # max_bond 200 < 2^8: an approximation, converged to dmrg["tol"]
    assert dmrg.dmrg["converged"] and abs(energy - dmrg.energy) < dmrg.dmrg["tol"]
    assert abs(energy - heisenberg2d(16).energy) < 1e-10  # the Lanczos state the data were drawn from

    tfim_file = tmp_path / "tfim.h5"
    assert (
        main(["simulate", "--state", "tfim", "--n-qubits", "4", "--samples", "500", "-o", str(tfim_file), "--quiet"])
        == 0
    )
    reports = {}
    for name, path in (("tfim", tfim_file), ("heisenberg2d", tmp_path / "h16.h5")):
        capsys.readouterr()
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "--model", str(path), "--data", str(path), "--json", str(out), "--quiet"]) == 0
        table = capsys.readouterr().out
        assert any(line.startswith("energy ") and "+-" in line for line in table.splitlines()), table
        reports[name] = json.loads(out.read_text())["observables"]["energy"]
    entry = reports["heisenberg2d"]
    assert entry.keys() == reports["tfim"].keys() and entry["model"].keys() == reports["tfim"]["model"].keys()
    assert entry["exact"]["value"] == pytest.approx(energy, abs=1e-12)
    assert entry["model"]["method"] == "mc-dual" and entry["model"]["n_samples"] == 4000
    # The raw data's dual-frame estimate is unbiased: within 4 of its standard errors of the exact energy.
    assert 0 < entry["model"]["stderr"] and abs(entry["model"]["value"] - energy) < 4 * entry["model"]["stderr"]
