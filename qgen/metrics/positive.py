"""The state a model describes: its own `as_state()`, or the positive wavefunction psi = sqrt(p) of Z-basis shots.

A model of computational-basis shots learns p(sigma) = |psi(sigma)|^2 only: the shots do not see the phases.
When the target is known to have a positive wavefunction (the ground state of a stoquastic Hamiltonian, such as
the transverse-field Ising chain H = -J sum Z Z - h sum X), psi(sigma) = sqrt(p(sigma)) is the state itself, and
its off-diagonal observables (<X_i>, the energy) follow exactly from the model's probabilities of all 2^N
strings, where the dual-frame average over Z-basis samples cannot estimate them at all (Torlai et al., Nat. Phys.
14, 447 (2018); the same holds for any model with an exact likelihood, an RNN or a Transformer as much as an RBM).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qgen.errors import MetricError, QgenError
from qgen.estimate import Estimate
from qgen.measurement.povm import POVM
from qgen.metrics.distributions import likelihood_of, log_probability_table
from qgen.metrics.normalized import normalized

__all__ = [
    "positive_state",
    "model_state",
    "state_observables",
    "state_fidelity",
    "is_computational",
    "POSITIVE_METHOD",
    "MAX_POSITIVE_QUBITS",
]

#: The estimator name of every number computed from `positive_state`.
POSITIVE_METHOD = "positive-wavefunction, exact over 2^N"
#: Largest N whose 2^N amplitudes `positive_state` builds (16 MiB of complex128 at N = 20).
MAX_POSITIVE_QUBITS = 20
_COMPUTATIONAL = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], dtype=np.complex128)


def is_computational(povm: POVM | str | None) -> bool:
    """Whether a POVM is the Z-basis measurement {|0><0|, |1><1|} in that order (outcome 0 = |0>, Z = +1)."""
    if povm is None:
        return False
    elements = POVM.from_spec(povm).elements
    return elements.shape == _COMPUTATIONAL.shape and bool(np.allclose(elements, _COMPUTATIONAL, atol=1e-10))


def positive_state(model: Any, *, povm: POVM | str | None = None) -> Any:
    """The positive wavefunction psi(sigma) = sqrt(p(sigma)) of a model of Z-basis shots, as a DenseState.

    p comes from the model's probabilities of all 2^N strings (`log_probability_table`: the prefix-tree walk of an
    autoregressive model, chunked `log_prob` otherwise); an unnormalized model (an RBM) has its log Z subtracted
    first (`qgen.metrics.normalized`), and the vector is normalised to 1 in float64 either way.

    Args:
        model: anything with n_qubits, n_outcomes = 2 and an exact, unnormalized or empirical likelihood (a
            GenerativeModel, a Measurement, an EmpiricalDistribution of the shots themselves).
        povm: the POVM the model's strings were measured with; it must be the computational basis. Default: the
            model's `povm` attribute when it has one (Measurements, data), else the POVM recorded with the model
            (`model.measurement`), else assumed to be the computational basis.

    Returns:
        DenseState with the real, non-negative vector sqrt(p) (site 0 the most significant bit).

    Raises:
        MetricError: the outcomes are not Z-basis bits, N > MAX_POSITIVE_QUBITS, or the model has no likelihood
            to take the square root of.

    Example:
        >>> from qgen.states import tfim
        >>> from qgen.data.importers import computational_povm
        >>> exact = tfim(4, h=1.0)
        >>> psi = positive_state(exact.measured(computational_povm()))  # the exact Z-basis distribution
        >>> round(psi.fidelity(exact), 12), round(psi.expectation("XIII") - exact.expectation("XIII"), 12)
        (1.0, 0.0)
    """
    n, k = int(model.n_qubits), int(model.n_outcomes)
    if k != 2:
        raise MetricError(
            f"the positive wavefunction needs Z-basis shots (K = 2 outcomes per qubit), the model has K = {k}"
        )
    if n > MAX_POSITIVE_QUBITS:
        raise MetricError(
            f"the positive wavefunction is built over all 2^N strings for N <= {MAX_POSITIVE_QUBITS}, got N = {n}"
        )
    povm = povm if povm is not None else _recorded_povm(model)
    if povm is not None and not is_computational(povm):
        name = POVM.from_spec(povm).name
        raise MetricError(
            f"the positive wavefunction psi = sqrt(p) needs computational-basis shots ({{|0><0|, |1><1|}}); these "
            f"strings were measured with the POVM {name!r}"
        )
    kind = likelihood_of(model)
    if kind not in ("exact", "unnormalized", "empirical"):
        raise MetricError(
            f"the positive wavefunction needs the model's probabilities of all 2^N strings; "
            f"{type(model).__name__} has likelihood {kind!r}"
        )
    from qgen.states.dense import DenseState

    log_p = log_probability_table(normalized(model), n, 2)
    if not np.all(np.isfinite(log_p) | (log_p == -np.inf)):
        raise MetricError(f"{type(model).__name__} gave non-finite log-probabilities: no wavefunction")
    # sqrt(p) = exp(log p / 2), shifted by the largest log p so the biggest amplitude is 1 before normalising.
    amplitudes = np.exp(0.5 * (log_p - log_p.max()))
    return DenseState.normalized(amplitudes.astype(np.complex128))


def _recorded_povm(model: Any) -> POVM | None:
    """The POVM a model's strings were measured with, if it says: its `povm`, or its training data's record."""
    povm = getattr(model, "povm", None)
    if povm is not None:
        return POVM.from_spec(povm)
    record = getattr(model, "measurement", None)
    if isinstance(record, dict) and record.get("povm") is not None:
        import torch

        # A measurement_record stores the elements as a (K, 2, 2, 2) real view of the complex array.
        elements = torch.view_as_complex(torch.as_tensor(record["povm"]).contiguous()).numpy()
        return POVM(elements, name=record.get("povm_name") or "recorded", atol=1e-10)
    return None


def model_state(model: Any, *, positive: bool = False, povm: POVM | str | None = None) -> tuple[Any, str] | None:
    """The state a model describes and the name of the estimator of the numbers computed from it.

    Args:
        model: a model or distribution.
        positive: for a model without its own `as_state()`, take the positive wavefunction (`positive_state`).
        povm: the POVM of the model's strings, checked by `positive_state`.

    Returns:
        (State, method): the model's `as_state()` ("<name> as_state(), exact over 2^N", or 4^N for a density
        matrix) when it has one, else (`positive_state(model)`, POSITIVE_METHOD) when `positive`, else None.

    Raises:
        MetricError: the model's own state cannot be built (N too large) or `positive_state` refuses.
    """
    as_state = getattr(model, "as_state", None)
    if callable(as_state):
        try:
            state = as_state()
        except QgenError as exc:
            raise MetricError(f"{type(model).__name__}.as_state() is unavailable: {exc}") from None
        name = getattr(model, "name", type(model).__name__)
        space = "2^N" if getattr(state, "is_pure", False) else "4^N"
        return state, f"{name} as_state(), exact over {space}"
    if positive:
        return positive_state(model, povm=povm), POSITIVE_METHOD
    return None


def state_observables(state: Any, method: str, hamiltonian: dict[str, float] | None = None) -> dict[str, Estimate]:
    """The report's observables of a state, exactly: <X_i>, <Z_i>, <Z_i Z_j> and, given a Hamiltonian, <H>.

    Args:
        state: a State with `expectation` (a DenseState from `model_state`).
        method: the estimator name every Estimate carries.
        hamiltonian: a Pauli sum {string: coefficient} (the target's), or None.

    Returns:
        "magnetization_x", "magnetization_z" ((N,)), "correlation_zz" ((N, N), unit diagonal) and "energy" (scalar,
        only with a Hamiltonian), each an Estimate with stderr 0 (exact for this state).
    """
    n = int(state.n_qubits)

    def string(sites: dict[int, str]) -> str:
        return "".join(sites.get(i, "I") for i in range(n))

    out: dict[str, Estimate] = {}
    for letter in "XZ":
        values = np.array([state.expectation(string({i: letter})) for i in range(n)])
        out[f"magnetization_{letter.lower()}"] = Estimate(values, np.zeros(n), method)
    zz = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            zz[i, j] = zz[j, i] = state.expectation(string({i: "Z", j: "Z"}))
    out["correlation_zz"] = Estimate(zz, np.zeros((n, n)), method)
    if hamiltonian is not None:
        out["energy"] = Estimate(float(state.expectation(hamiltonian)), 0.0, method)
    return out


def _target_vector(target: Any) -> np.ndarray | None:
    """A pure target's state vector (dense, or an MPS contracted), None for a mixed target."""
    if not getattr(target, "is_pure", False):
        return None
    vector = getattr(target, "vector", None)
    if vector is None and hasattr(target, "to_dense"):
        vector = target.to_dense()
    if vector is None:
        raise MetricError(f"target {type(target).__name__} gives no state vector")
    return np.asarray(vector, dtype=np.complex128).reshape(-1)


def state_fidelity(state: Any, target: Any, method: str) -> Estimate:
    """The fidelity of a model's state with a target state, exactly (squared convention, F = |<psi|phi>|^2 for
    pure states).

    Pure model state: |<phi|psi>|^2 with a pure target, <psi|sigma|psi> with a mixed one (the target's density
    matrix). Mixed model state: <phi|rho|phi> for a pure target, the Uhlmann fidelity (`uhlmann_fidelity`)
    for a mixed one.

    Args:
        state: the model's DenseState (from `model_state`).
        target: the target State (dense, or an MPS small enough to contract to a vector).
        method: the estimator name the Estimate carries.
    """
    if state.n_qubits != target.n_qubits:
        raise MetricError(f"the model's state has {state.n_qubits} qubits but the target has {target.n_qubits}")
    try:
        phi = _target_vector(target)
        if state.is_pure:
            psi = state.vector
            if phi is not None:
                value = abs(np.vdot(phi, psi)) ** 2
            else:
                value = np.vdot(psi, np.asarray(target.density_matrix) @ psi).real
        elif phi is not None:
            value = np.vdot(phi, state.density_matrix @ phi).real
        else:
            from qgen.metrics.fidelity import uhlmann_fidelity

            value = uhlmann_fidelity(state.density_matrix, target)
    except QgenError as exc:
        raise MetricError(f"no exact fidelity with the target: {exc}") from None
    details = {"model_state": "pure" if state.is_pure else "mixed", "target": "pure" if phi is not None else "mixed"}
    return Estimate(float(value), 0.0, method, 0, details)
