"""tfim-phase: MPS targets against the free-fermion solution, data and model observables, with tiny settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qgen.reproduce import reproduce, tfim_phase

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_observables_are_the_site_average_and_the_half_chain_correlator():
    ops = tfim_phase.observables(6)
    assert ops["zz_half"] == {"ZIIZII": 1.0}
    assert sorted(ops["x_mean"]) == sorted("I" * i + "X" + "I" * (5 - i) for i in range(6))
    assert sum(ops["x_mean"].values()) == pytest.approx(1.0)


@pytest.mark.slow  # DMRG for two fields (quimb import), two trainings: about 15 s
def test_tfim_phase_tiny(tmp_path):
    plan = {"n_qubits": 6, "fields": (0.5, 1.5), "n_samples": 2000, "epochs": 1, "n_eval": 2000}
    reproduce("tfim-phase", tmp_path, plan=plan, log=lambda line: None)
    saved = json.loads((tmp_path / "tfim-phase.json").read_text())
    assert (tmp_path / "tfim-phase.png").stat().st_size > 10_000
    rows = saved["numbers"]["fields"]
    assert [r["h"] for r in rows] == [0.5, 1.5]
    for r in rows:
        # DMRG's MPS against the free-fermion solution (independent). Observables err to first order in the
        # state's error, about the square root of the energy's: measured 8e-8 at N = 6, h = 1.5
        for key in ("x_mean", "zz_half"):
            assert r["mps"][key] == pytest.approx(r["exact"][key], abs=1e-6)
            # the raw data are unbiased: within 4.5 standard errors of the exact value
            z = (r["data"][key]["value"] - r["exact"][key]) / r["data"][key]["stderr"]
            assert abs(z) < 4.5
        f = r["classical_fidelity"]
        assert f["method"] == "mc" and 0 < f["value"] <= 1 + 4 * f["stderr"]
    # physics: <X> grows with h, the half-chain correlation falls
    assert rows[0]["exact"]["x_mean"] < rows[1]["exact"]["x_mean"]
    assert rows[0]["exact"]["zz_half"] > rows[1]["exact"]["zz_half"]
    assert np.isfinite([r["model"]["x_mean"]["value"] for r in rows]).all()
