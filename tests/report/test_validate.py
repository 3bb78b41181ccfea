"""qgen validate: the direct fidelity estimate, its coverage, the verdict, the noise fit, observables, the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qgen.cli import main
from qgen.data import save, simulate
from qgen.errors import MetricError, StateError
from qgen.measurement.noise import amplitude_damping, depolarizing
from qgen.report.validate import (
    channel_fidelity,
    decide,
    direct_fidelity,
    fit_depolarizing,
    observable_zscores,
    validate,
)
from qgen.report.validate_io import load_data, load_target
from qgen.states import DenseState, MPSState, ghz
from qgen.strings import all_outcomes
from tests.helpers import random_vector, tfim_vector


def _noisy_rho(vector: np.ndarray, kraus: np.ndarray) -> np.ndarray:
    """Dense reference: the channel applied to |psi><psi| one qubit at a time (independent of qgen's MPS path)."""
    n = int(np.log2(len(vector)))
    rho = np.outer(vector, vector.conj())
    for site in range(n):
        left, right = 2**site, 2 ** (n - site - 1)
        ops = [np.kron(np.kron(np.eye(left), k), np.eye(right)) for k in kraus]
        rho = sum(op @ rho @ op.conj().T for op in ops)
    return rho


@pytest.mark.parametrize("channel", [depolarizing(0.1), depolarizing(0.6), amplitude_damping(0.3)])
def test_channel_fidelity_matches_dense_reference(channel):
    rng = np.random.default_rng(7)
    psi = random_vector(4, rng)
    exact = float(np.vdot(psi, _noisy_rho(psi, channel.kraus) @ psi).real)
    assert channel_fidelity(DenseState(vector=psi), channel) == pytest.approx(exact, abs=1e-12)
    assert channel_fidelity(MPSState.from_dense(psi), channel) == pytest.approx(exact, abs=1e-12)


def test_channel_fidelity_closed_form_for_ghz():
    # Depolarizing multiplies each non-identity Pauli by lam = 1 - 4p/3. GHZ_N has <P> = +-1 on 2^N strings:
    # the 2^(N-1) Z-type strings of even weight and 2^(N-1) X/Y strings of full weight N, so
    # F = 2^-N sum_P <P>^2 lam^|P| = 2^-N [sum_{even w} C(N, w) lam^w + 2^(N-1) lam^N].
    n, p = 5, 0.08
    lam = 1 - 4 * p / 3
    even = sum(math.comb(n, w) * lam**w for w in range(0, n + 1, 2))
    closed = (even + 2 ** (n - 1) * lam**n) / 2**n
    assert channel_fidelity(ghz(n), depolarizing(p)) == pytest.approx(closed, abs=1e-13)


def test_direct_estimator_is_unbiased_by_enumeration():
    # E_{a~P}[<psi|Q(a)|psi>] summed over all K^N strings equals the exact fidelity of the noisy state.
    state, noise = ghz(3), depolarizing(0.07)
    m = state.measured("tetra", noise)
    strings = all_outcomes(4, 3).numpy()
    from qgen.metrics.fidelity import dual_overlaps

    x = dual_overlaps(state, m.ideal_povm, strings)
    expected = float(np.sum(m.probabilities().numpy() * x))
    assert expected == pytest.approx(channel_fidelity(state, noise), abs=1e-12)


def test_direct_fidelity_mps_and_dense_agree():
    data = simulate(ghz(4), "pauli4", 500, seed=2)
    dense = direct_fidelity(data.outcomes, ghz(4), data.povm)
    mps = direct_fidelity(data.outcomes, ghz(4, representation="mps"), data.povm)
    assert mps.value == pytest.approx(dense.value, abs=1e-12)
    assert mps.stderr == pytest.approx(dense.stderr, abs=1e-12)
    assert dense.method == "direct-dual" and dense.n_samples == 500


def test_direct_interval_covers_at_nominal_rate():
    # 200 independent data sets of 400 shots; the two-sided 95 % interval (1.96 sigma) should cover the exact
    # fidelity in 190 of them on average (binomial sd 3.1): accept 181..200 (3 sd below the mean).
    state, noise = ghz(3), depolarizing(0.05)
    exact = channel_fidelity(state, noise)
    m = state.measured("tetra", noise)
    import torch

    covered = lower_ok = 0
    trials = 200
    for seed in range(trials):
        outcomes = m.sample(400, generator=torch.Generator().manual_seed(seed)).numpy()
        est = direct_fidelity(outcomes, state, m.ideal_povm)
        covered += abs(est.value - exact) <= 1.96 * est.stderr
        lower_ok += est.value - 1.645 * est.stderr <= exact
    assert covered >= 181, f"two-sided 95% interval covered {covered}/{trials}"
    assert lower_ok >= 181, f"one-sided 95% lower bound held {lower_ok}/{trials}"


def test_direct_fidelity_needs_pure_target_and_ic_povm():
    data = simulate(ghz(2), "tetra", 100, seed=0)
    rho = DenseState(density_matrix=np.eye(4) / 4)
    with pytest.raises(MetricError, match="pure target"):
        direct_fidelity(data.outcomes, rho, data.povm)
    trine = simulate(ghz(2), "trine", 100, seed=0)
    with pytest.raises(MetricError, match="informationally complete"):
        direct_fidelity(trine.outcomes, ghz(2), trine.povm)


def test_decide_cases_and_shots():
    assert decide(0.95, 0.01, 1000, 0.9, 0.95)["verdict"] == "PASS"
    assert decide(0.85, 0.01, 1000, 0.9, 0.95)["verdict"] == "FAIL"
    d = decide(0.91, 0.01, 1000, 0.9, 0.95)
    assert d["verdict"] == "INCONCLUSIVE"
    # n (z sigma / gap)^2 with z = 1.6448536...: 1000 * (1.6448536 * 0.01 / 0.01)^2 = 2705.5 -> 2706
    assert d["shots_to_decide"] == 2706 and d["further_shots"] == 1706
    assert d["lower_bound"] == pytest.approx(0.91 - 0.016448536, abs=1e-8)
    assert decide(0.9, 0.01, 1000, 0.9, 0.95)["further_shots"] == math.inf
    with pytest.raises(MetricError, match="confidence"):
        decide(0.9, 0.01, 10, 0.9, 1.5)


@pytest.mark.parametrize("p_true", [0.0, 0.1])
def test_fit_depolarizing_recovers_p(p_true):
    state = ghz(3)
    data = simulate(state, "tetra", 20_000, noise=depolarizing(p_true) if p_true else None, seed=11)
    fit = fit_depolarizing(data.outcomes, state, data.ideal_povm)
    low, high = fit["interval"]
    assert low <= p_true <= high
    assert high - low < 0.05  # 20k shots of 3 qubits pin p to a few hundredths
    if p_true == 0.0:
        assert low == 0.0
    # the curve's maximum is at the reported p (golden-section refinement never does worse than the grid)
    assert fit["log_likelihood"] >= max(fit["curve"]["log_likelihood"]) - 1e-9
    fi = fit["implied_fidelity"]
    assert fi["value"] == pytest.approx(channel_fidelity(state, depolarizing(fit["p"])), abs=1e-12)


def test_observable_zscores_clean_and_noisy():
    # the ground state by dense diagonalisation (tests.helpers), with the spec that names its Hamiltonian
    spec = {"name": "tfim", "n_qubits": 4, "h": 1.0, "J": 1.0, "boundary": "open"}
    state = DenseState(vector=tfim_vector(4, 1.0), spec=spec)
    clean = simulate(state, "tetra", 20_000, seed=4)
    z = observable_zscores(clean.outcomes, state, clean.ideal_povm)
    assert set(z) == {"magnetization_x", "magnetization_z", "correlation_zz", "energy", "summary"}
    entry = z["magnetization_x"]
    manual = (entry["estimate"][0] - state.expectation("XIII")) / entry["stderr"][0]
    assert entry["z"][0] == pytest.approx(manual, rel=1e-12)
    assert z["summary"]["n"] == 4 + 4 + 6 + 1
    assert z["summary"]["max_abs_z"] < 4.5
    noisy = simulate(state, "tetra", 20_000, noise=depolarizing(0.2), seed=4)
    zn = observable_zscores(noisy.outcomes, state, noisy.ideal_povm)
    assert zn["summary"]["chi2_per_entry"] > 20 * max(z["summary"]["chi2_per_entry"], 1.0)


def test_validate_clean_passes_noisy_fails():
    state = ghz(3)
    clean = simulate(state, "tetra", 8_000, seed=5)
    report = validate(clean, state, threshold=0.8, model=None)
    assert report["verdict"]["verdict"] == "PASS" and report["exit_code"] == 0
    assert report["shots_needed"]["shots"][0] > report["shots_needed"]["shots"][-1]
    # p = 0.2: exact fidelity 0.5914 (closed form above), well under the threshold
    noise = depolarizing(0.2)
    assert channel_fidelity(state, noise) < 0.6
    noisy = simulate(state, "tetra", 8_000, noise=noise, seed=6)
    report = validate(noisy, state, threshold=0.8, model=None)
    assert report["verdict"]["verdict"] == "FAIL" and report["exit_code"] == 1
    low, high = report["noise_fit"]["interval"]
    assert low <= 0.2 <= high


def test_validate_inconclusive_reports_further_shots():
    state = ghz(3)
    data = simulate(state, "tetra", 300, noise=depolarizing(0.05), seed=8)
    report = validate(data, state, threshold=channel_fidelity(state, depolarizing(0.05)), model=None, fit_noise=False)
    v = report["verdict"]
    assert v["verdict"] == "INCONCLUSIVE" and report["exit_code"] == 3
    assert v["further_shots"] == v["shots_to_decide"] - 300 > 0


def test_model_based_bootstrap_bookkeeping():
    state = ghz(2)
    data = simulate(state, "tetra", 300, seed=9)
    opts = {"epochs": 1, "batch_size": 100, "model_options": {"hidden_size": 4, "n_layers": 1}}
    report = validate(data, state, threshold=0.8, n_refits=2, fit_noise=False, train_options=opts)
    mb = report["model_based"]
    assert mb["n_refits"] == 2 and len(mb["fit_seconds"]) == 3 and mb["model_options"]["hidden_size"] == 4
    for key in ("classical_fidelity", "quantum_fidelity"):
        refits = mb[key]["refits"]
        assert len(refits) == 2 and mb[key]["stderr"] == pytest.approx(np.std(refits, ddof=1), rel=1e-12)
        assert 0.0 <= mb[key]["value"] <= 1.0 + 1e-9


@pytest.mark.slow
def test_model_based_fidelity_with_bootstrap():
    state = ghz(2)
    data = simulate(state, "tetra", 2_000, seed=9)
    opts = {"epochs": 10, "batch_size": 200, "lr": 2e-2, "model_options": {"hidden_size": 16, "n_layers": 1}}
    report = validate(data, state, threshold=0.8, n_refits=2, fit_noise=False, train_options=opts)
    mb = report["model_based"]
    assert mb["n_refits"] == 2 and len(mb["fit_seconds"]) == 3
    assert len(mb["classical_fidelity"]["refits"]) == 2 and mb["classical_fidelity"]["stderr"] is not None
    # 2000 shots of a 2-qubit GHZ state: the fitted outcome distribution is close to the exact one
    assert mb["classical_fidelity"]["value"] > 0.98
    assert 0.0 <= mb["quantum_fidelity"]["value"] <= 1.0 + 1e-9


def test_load_target_forms(tmp_path, reference_dir):
    data = simulate(ghz(3), "tetra", 10, seed=0)
    assert load_target("ghz", data).spec == {"name": "ghz", "n_qubits": 3}
    assert load_target("product:state=+", data).spec["states"] == ["+", "+", "+"]
    assert load_target("data", data).spec == {"name": "ghz", "n_qubits": 3}
    assert load_target('{"name": "w", "n_qubits": 3}', data).spec["name"] == "w"
    v = np.zeros(8)
    v[[0, 7]] = 1
    (tmp_path / "psi.txt").write_text("\n".join(f"{x} 0" for x in v))
    assert load_target(str(tmp_path / "psi.txt"), data).fidelity(ghz(3)) == pytest.approx(1.0, abs=1e-12)
    folder = reference_dir / "povm_genmodel_tfim50"
    paper = load_target(f"paper:{folder}", None)
    assert paper.n_qubits == 50 and paper.expectation("X" + "I" * 49) > 0  # qgen's sign: <X> > 0
    with pytest.raises(StateError, match="sign convention"):
        load_target(str(folder), None)
    with pytest.raises(StateError, match="cannot read target"):
        load_target("no-such-thing", data)


def test_load_data_needs_povm_for_tables(tmp_path):
    (tmp_path / "t.txt").write_text("0 1\n2 3\n")
    with pytest.raises(Exception, match="--povm"):
        load_data(tmp_path / "t.txt")
    assert load_data(tmp_path / "t.txt", povm="tetra").n_samples == 2


def test_cli_validate_exit_codes(tmp_path, capsys):
    state = ghz(3)
    save(simulate(state, "tetra", 8_000, seed=1), tmp_path / "clean.h5")
    save(simulate(state, "tetra", 8_000, noise=depolarizing(0.2), seed=2), tmp_path / "noisy.h5")
    out = tmp_path / "report"
    args = ["--target", "data", "--threshold", "0.8", "--no-model"]
    assert main(["validate", str(tmp_path / "clean.h5"), *args, "-o", str(out)]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert report["verdict"]["verdict"] == "PASS" and report["command"].startswith("qgen")
    assert (out / "validation.png").stat().st_size > 10_000
    assert main(["validate", str(tmp_path / "noisy.h5"), *args, "--no-noise-fit"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "missing.h5"), *args]) == 2
    assert main(["validate", str(tmp_path / "clean.h5"), "--target", "ghz:bad", "--no-model"]) == 2
