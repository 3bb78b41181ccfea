"""Bad physics input is refused with a StateError naming the argument: NaN/inf parameters, matrices as vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qgen.errors import StateError
from qgen.states import DenseState, from_spec, tfim, tfim_free_fermion_energy, tfim_hamiltonian, xxz, xxz_hamiltonian
from qgen.states.dmrg import tfim_mps, xxz_mps
from qgen.states.hamiltonians import check_parameter, tfim_ground_state


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, True, "field", 1j])
def test_check_parameter_refuses_non_finite_and_non_numbers(value) -> None:
    # True is refused too: a flag where a field belongs would silently mean h = 1.
    with pytest.raises(StateError, match="h must be a finite real number"):
        check_parameter(value, "h")
    assert check_parameter(np.float32(0.25), "h") == 0.25 and check_parameter(-2, "J") == -2.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_hamiltonians_and_ground_states_refuse_non_finite_parameters(bad: float) -> None:
    calls = [
        (lambda: tfim(4, h=bad), "h"),
        (lambda: tfim(4, J=bad), "J"),
        (lambda: xxz(4, delta=bad), "delta"),
        (lambda: xxz(4, J=bad), "J"),
        (lambda: tfim_hamiltonian(4, h=bad), "h"),
        (lambda: xxz_hamiltonian(4, delta=bad), "delta"),
        (lambda: tfim_ground_state(4, h=bad), "h"),
        (lambda: tfim_mps(4, h=bad, cache=False), "h"),
        (lambda: xxz_mps(4, J=bad, cache=False), "J"),
        (lambda: tfim_free_fermion_energy(4, h=bad), "h"),
        (lambda: from_spec({"name": "tfim", "n_qubits": 4, "h": bad}), "h"),
    ]
    for call, name in calls:
        with pytest.raises(StateError, match=f"{name} must be a finite real number"):
            call()


def test_xxz_checks_its_boundary_up_front() -> None:
    with pytest.raises(StateError, match="boundary"):
        xxz(4, boundary="twisted")


def test_a_matrix_is_not_a_state_vector() -> None:
    # I/2 on two qubits has 16 entries of norm 1 once flattened: reshape(-1) read it as a 4-qubit vector.
    with pytest.raises(StateError, match="1-D"):
        DenseState(vector=np.eye(4) / 2)
    with pytest.raises(StateError, match="1-D"):
        DenseState.normalized(np.ones((2, 2)))
    with pytest.raises(StateError, match="1-D"):
        DenseState(vector=np.ones((1, 4)) / 2)
    # A (2^N, 1) column is a ket (qutip's and numpy's shape) and is accepted.
    col = DenseState(vector=np.array([[1.0], [0.0]]))
    assert col.n_qubits == 1 and col.expectation("Z") == 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_amplitudes_and_density_matrices(bad: float) -> None:
    with pytest.raises(StateError, match="NaN or infinite"):
        DenseState(vector=[bad, 0.0])
    with pytest.raises(StateError, match="NaN or infinite"):
        DenseState.normalized([1.0, bad])
    rho = np.eye(2) / 2
    rho[0, 1] = rho[1, 0] = bad
    # Every comparison with NaN is False, so the Hermiticity, trace and positivity checks alone accept it.
    with pytest.raises(StateError, match="NaN or infinite"):
        DenseState(density_matrix=rho)


@pytest.mark.parametrize("bad", [0, 2.0, True, "4"])
def test_qubit_counts_go_through_the_one_positive_integer_check(bad) -> None:
    from qgen.states import ghz, graph
    from qgen.states.exact_mps import ghz_mps
    from qgen.states.free_fermions import tfim_free_fermion_energy as energy

    # Each constructor names n_qubits and its minimum (2 for a chain); a float is refused, never truncated.
    calls = [
        (lambda: ghz(bad), 1),
        (lambda: graph(bad), 1),
        (lambda: ghz_mps(bad), 1),
        (lambda: energy(bad, h=1.0), 1),
        (lambda: tfim(bad), 2),
        (lambda: tfim_hamiltonian(bad), 2),
        (lambda: tfim_mps(bad), 2),
    ]
    for call, minimum in calls:
        with pytest.raises(StateError, match=rf"n_qubits.* must be an integer >= {minimum}, got {bad!r}"):
            call()
    assert ghz(np.int64(3)).n_qubits == 3 and type(ghz(np.int64(3)).n_qubits) is int
