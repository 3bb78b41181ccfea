"""Noise folded into the POVM equals the channel applied to rho (qutip) and then measured."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import qutip

from qgen import NoiseError
from qgen import noise as qn
from qgen.measurement.povm import POVM
from qgen.states import DenseState
from tests.helpers import random_density_matrix

SX, SY, SZ, ID = qutip.sigmax(), qutip.sigmay(), qutip.sigmaz(), qutip.qeye(2)


def qutip_kraus(name: str, p: float) -> list:
    """Independent Kraus operators written with qutip's own Pauli matrices."""
    if name == "depolarizing":
        return [np.sqrt(1 - p) * ID] + [np.sqrt(p / 3) * s for s in (SX, SY, SZ)]
    if name == "dephasing":
        return [np.sqrt(1 - p) * ID, np.sqrt(p) * SZ]
    if name == "readout_flip":
        return [np.sqrt(1 - p) * ID, np.sqrt(p) * SX]
    if name == "amplitude_damping":
        return [qutip.Qobj([[1, 0], [0, np.sqrt(1 - p)]]), qutip.Qobj([[0, np.sqrt(p)], [0, 0]])]
    raise AssertionError(name)


def noisy_probabilities_qutip(rho: np.ndarray, n: int, channels: list[tuple[str, float]], povm: POVM):
    """Apply the local channels to rho with qutip superoperators, then measure by brute-force Kronecker."""
    dims = [[2] * n, [2] * n]
    r = qutip.Qobj(rho, dims=dims)
    for name, p in channels:
        s = qutip.kraus_to_super(qutip_kraus(name, p))
        r = qutip.vector_to_operator(qutip.super_tensor(*([s] * n)) * qutip.operator_to_vector(r))
    m = r.full()
    out = []
    for a in itertools.product(range(povm.n_outcomes), repeat=n):
        op = povm.elements[a[0]]
        for x in a[1:]:
            op = np.kron(op, povm.elements[x])
        out.append(np.trace(op @ m).real)
    return np.array(out)


CASES = [
    [("depolarizing", 0.1)],
    [("dephasing", 0.3)],
    [("amplitude_damping", 0.25)],
    [("readout_flip", 0.05)],
    [("amplitude_damping", 0.2), ("depolarizing", 0.05), ("dephasing", 0.1)],
]


@pytest.mark.parametrize("channels", CASES, ids=lambda c: "+".join(x[0] for x in c))
@pytest.mark.parametrize("povm", ["pauli4", "tetra", "pauli6"])
def test_folded_noise_matches_channel_on_rho(channels, povm):
    rng = np.random.default_rng(7)
    n = 2
    rho = random_density_matrix(n, rng)
    noise = qn.compose(getattr(qn, name)(p) for name, p in channels)
    m = DenseState(density_matrix=rho).measured(povm, noise)
    expected = noisy_probabilities_qutip(rho, n, channels, POVM.named(povm))
    np.testing.assert_allclose(m.probabilities().numpy(), expected, atol=1e-13)


def test_full_depolarizing_gives_maximally_mixed_outcomes():
    m = DenseState(vector=[1, 0, 0, 0]).measured("tetra", qn.depolarizing(0.75))
    np.testing.assert_allclose(m.probabilities().numpy(), 1 / 16, atol=1e-14)


@pytest.mark.parametrize("fn", [qn.depolarizing, qn.dephasing, qn.amplitude_damping, qn.readout_flip])
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "x"])
def test_out_of_range_parameters_raise(fn, bad):
    with pytest.raises(NoiseError, match=r"must be"):
        fn(bad)


def test_parse_and_spec_round_trip():
    ch = qn.parse(["depolarizing:0.05", "amplitude_damping:0.1"])
    assert ch.spec == [{"name": "depolarizing", "p": 0.05}, {"name": "amplitude_damping", "gamma": 0.1}]
    again = qn.from_spec(ch.spec)
    np.testing.assert_allclose(again.adjoint(np.eye(2)), np.eye(2), atol=1e-14)
    rho = np.array([[0.7, 0.2 - 0.1j], [0.2 + 0.1j, 0.3]])
    np.testing.assert_allclose(again.apply(rho), ch.apply(rho), atol=1e-15)
    with pytest.raises(NoiseError, match="NAME:VALUE"):
        qn.parse("depolarising:0.1")
    with pytest.raises(NoiseError, match="unknown noise record"):
        qn.from_spec([{"name": "bitflip", "p": 0.1}])
