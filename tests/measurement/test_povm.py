"""POVM algebra: named POVMs against their published numbers, validation, duals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgen import POVM, POVMError
from qgen.measurement.povm import NAMED_POVMS, PAULI


def test_pauli4_inverse_overlap_and_z_coefficients():
    p = POVM.named("pauli4")
    expected = [[14, -4, -4, -1], [-4, 14, -4, -1], [-4, -4, 14, -1], [-1, -1, -1, 2]]
    np.testing.assert_allclose(np.linalg.inv(p.overlap), expected, atol=1e-12)
    np.testing.assert_allclose(p.coefficients("Z"), [5, -1, -1, -1], atol=1e-12)
    # Element order: 1/3|0><0|, 1/3|+><+|, 1/3|+i><+i|, rest.
    np.testing.assert_allclose(p.elements[0], np.diag([1 / 3, 0]), atol=1e-15)
    np.testing.assert_allclose(p.elements[1], np.full((2, 2), 1 / 6), atol=1e-15)
    np.testing.assert_allclose(p.elements[2], [[1 / 6, -1j / 6], [1j / 6, 1 / 6]], atol=1e-15)


def test_tetra_is_sic_with_first_vector_up():
    p = POVM.named("tetra")
    np.testing.assert_allclose(np.linalg.inv(p.overlap), 6 * np.eye(4) - 1, atol=1e-12)
    np.testing.assert_allclose(p.elements[0], np.diag([0.5, 0.0]), atol=1e-15)


@pytest.mark.parametrize("name", NAMED_POVMS)
def test_named_povms_are_valid_and_dual(name):
    p = POVM.named(name)
    np.testing.assert_allclose(p.elements.sum(0), np.eye(2), atol=1e-14)
    # Dual frame reproduces every operator in the span: X = sum_a Tr(X M_a) Q_a.
    letters = "IXZ" if name == "trine" else "IXYZ"
    for letter in letters:
        op = PAULI[letter]
        traces = np.einsum("aij,ji->a", p.elements, op)
        np.testing.assert_allclose(np.einsum("a,aij->ij", traces, p.duals), op, atol=1e-12)
    assert p.is_informationally_complete == (name != "trine")
    assert p.real_states_only == (name == "trine")


def test_trine_misses_y():
    p = POVM.named("trine")
    traces = np.einsum("aij,ji->a", p.elements, PAULI["Y"])
    np.testing.assert_allclose(traces, 0, atol=1e-15)
    assert p.rank == 3


@pytest.mark.parametrize(
    "elements, message",
    [
        (np.stack([np.diag([1, 0]), np.diag([0, 1.1])]), "sum to the identity"),
        (
            np.stack([np.array([[0.5, 0.1], [0.0, 0.5]]), np.array([[0.5, -0.1], [0.0, 0.5]])]),
            "element 0 is not Hermitian",
        ),
        (np.stack([np.diag([1.2, 0.5]), np.diag([-0.2, 0.5])]), "element 1 is not positive"),
        (np.ones((3, 3, 3)), "shape"),
        (np.stack([np.diag([np.nan, 0]), np.diag([0, 1])]), "NaN"),
    ],
)
def test_invalid_povms_raise_naming_the_failure(elements, message):
    with pytest.raises(POVMError, match=message):
        POVM(elements)


def test_unknown_name():
    with pytest.raises(POVMError, match="unknown POVM name 'sic'"):
        POVM.named("sic")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["pauli4", "tetra", "pauli6"]))
def test_coefficients_reproduce_single_qubit_expectations(seed, name):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    rho = a @ a.conj().T
    rho /= np.trace(rho)
    o = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    o = o + o.conj().T
    p = POVM.named(name)
    assert abs(p.probabilities(rho) @ p.coefficients(o) - np.trace(o @ rho).real) < 1e-12
