"""Wavefunction RBMs: a positive psi from computational-basis shots, a complex psi from Pauli-basis shots."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar, Literal

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.estimate import Estimate
from qgen.models.base import GenerativeModel, Step, Update
from qgen.models.rbm.bases import BASIS_ROWS, MAX_ROTATED, rotated_log_amplitude, sample_pauli6
from qgen.models.rbm.categorical import CategoricalRBM
from qgen.models.rbm.energy import ENUMERATION_LIMIT, RBMEnergy
from qgen.seeding import as_generator
from qgen.strings import all_outcomes

__all__ = ["PositiveRBM", "ComplexRBM", "MAX_DENSE_QUBITS"]

# Largest N whose state vector `as_state` builds (and the complex RBM enumerates to normalise and sample).
MAX_DENSE_QUBITS = 20


def _dense_state(log_psi: Tensor):
    from qgen.states.dense import DenseState

    log_psi = log_psi.detach().to(torch.complex128).cpu()
    psi = torch.exp(log_psi - log_psi.real.max()).numpy()
    return DenseState.normalized(psi)


class PositiveRBM(CategoricalRBM):
    """A positive wavefunction psi(sigma) = exp(-F(sigma) / 2) / sqrt(Z) learnt from computational-basis shots.

    The categorical RBM on two symbols per site: |psi|^2 is the RBM's distribution, so training is the same
    (exact gradient by enumeration when 2^N or 2^M is at most 2^22, PCD otherwise). What the positivity adds is
    `as_state()`: the state itself, whose off-diagonal observables (<X_i>, the TFIM energy) follow from
    Z-basis data alone, which is right for the ground states of stoquastic Hamiltonians.

    References:
        G. Torlai, G. Mazzola, J. Carrasquilla, M. Troyer, R. Melko, G. Carleo, "Neural-network quantum state
        tomography", Nat. Phys. 14, 447 (2018).

    Args:
        n_qubits: N.
        n_outcomes: must be 2 (bit 0 is |0>, the +1 eigenstate of Z).
        n_hidden: M, hidden units.
        gradient: "exact", "pcd" or "cd"; None picks "exact" where enumerable, else "pcd".
        **options: as for `CategoricalRBM` (k, n_chains, init_scale, burn_in, thinning, n_temperatures, beta_min).

    Example:
        >>> model = PositiveRBM(3, n_hidden=2)  # weights ~ 0.01, biases 0: nearly |+++>
        >>> round(model.as_state().expectation("XII"), 2)
        1.0
    """

    name = "rbm-positive"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int = 2,
        *,
        n_hidden: int = 16,
        gradient: Literal["pcd", "cd", "exact"] | None = None,
        k: int = 1,
        n_chains: int = 256,
        init_scale: float = 0.01,
        burn_in: int | None = None,
        thinning: int | None = None,
        n_temperatures: int = 1,
        beta_min: float = 0.1,
    ) -> None:
        if n_outcomes != 2:
            raise ModelError(f"a positive wavefunction RBM models bits: n_outcomes must be 2, got {n_outcomes!r}")
        if gradient is None:
            sizes = (2**n_qubits, 2**n_hidden) if isinstance(n_hidden, int) else (math.inf,)
            gradient = "exact" if min(sizes) <= ENUMERATION_LIMIT else "pcd"
        super().__init__(
            n_qubits,
            2,
            n_hidden=n_hidden,
            gradient=gradient,
            k=k,
            n_chains=n_chains,
            init_scale=init_scale,
            burn_in=burn_in,
            thinning=thinning,
            n_temperatures=n_temperatures,
            beta_min=beta_min,
        )

    def log_amplitude(self, x: Tensor) -> Tensor:
        """(n,) log psi(sigma) up to -log Z / 2: -F(sigma) / 2."""
        return -0.5 * self.free_energy(x)

    def as_state(self):
        """The normalised state vector as a `qgen.states.DenseState` (N <= 20)."""
        _check_dense(self.n_qubits)
        with torch.no_grad():
            return _dense_state(self.log_amplitude(all_outcomes(2, self.n_qubits, self.device)))


def _check_dense(n_qubits: int) -> None:
    if n_qubits > MAX_DENSE_QUBITS:
        raise ModelError(f"a dense state of {n_qubits} qubits exceeds the limit of {MAX_DENSE_QUBITS}")


class ComplexRBM(GenerativeModel):
    """A complex wavefunction psi(sigma) = exp(-F_lambda(sigma) / 2 - i F_mu(sigma) / 2) from Pauli-basis shots.

    An amplitude RBM (lambda) and a phase RBM (mu) over N bits. The data are pauli6 outcome codes a = 2 b + s
    (basis b = Z, X, Y of each qubit, bit s), as `qgen.data.import_qucumber` makes them. A shot's likelihood is
    |<s_b|psi>|^2, the amplitude summed over the 2^m strings the m rotated sites connect (`bases`); the basis
    choice itself is not modelled, so shots may come from any fixed set of settings (QuCumber's `qubits_*` has
    5 of the 9). `log_prob(a)` = log |<s_b|psi>|^2 - N log 3 is the probability of the pauli6 POVM (settings drawn
    uniformly) once log Z of the amplitude RBM (`log_normalizer`) is subtracted.

    Training minimises -mean log |<s_b|psi>|^2 + log Z with log Z by exact enumeration (N <= 20), so the gradient
    of both RBMs is exact; samples are exact too (the dense rotated state of each drawn setting).

    References:
        G. Torlai et al., Nat. Phys. 14, 447 (2018), Methods; M. Beach et al., "QuCumber: wavefunction
        reconstruction with neural networks", SciPost Phys. 7, 009 (2019), sec. 3 (ComplexWaveFunction).

    Args:
        n_qubits: N (at most 20).
        n_outcomes: must be 6 (the pauli6 codes).
        n_hidden: hidden units of the amplitude RBM.
        n_hidden_phase: hidden units of the phase RBM (default n_hidden).
        init_scale: standard deviation of the initial weights of both RBMs.
        max_rotated: the most X or Y sites a shot may have (its amplitude sums 2^m terms).

    Example:
        >>> model = ComplexRBM(2, n_hidden=2)
        >>> x = model.sample(4, generator=0)
        >>> x.shape, bool(((x >= 0) & (x < 6)).all())
        (torch.Size([4, 2]), True)
    """

    name = "rbm-complex"
    likelihood: ClassVar[Literal["unnormalized"]] = "unnormalized"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "nll"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int = 6,
        *,
        n_hidden: int = 16,
        n_hidden_phase: int | None = None,
        init_scale: float = 0.1,
        max_rotated: int = MAX_ROTATED,
    ) -> None:
        if n_outcomes != 6:
            raise ModelError(
                f"a complex wavefunction RBM models pauli6 codes: n_outcomes must be 6, got {n_outcomes!r}"
            )
        super().__init__(n_qubits, 6)
        _check_dense(n_qubits)
        if isinstance(max_rotated, bool) or not isinstance(max_rotated, int) or max_rotated < 0:
            raise ModelError(f"max_rotated must be an integer >= 0, got {max_rotated!r}")
        n_hidden_phase = n_hidden if n_hidden_phase is None else n_hidden_phase
        self.hyperparameters = {
            "n_hidden": n_hidden,
            "n_hidden_phase": n_hidden_phase,
            "init_scale": init_scale,
            "max_rotated": max_rotated,
        }
        self.amplitude = RBMEnergy(n_qubits, 2, n_hidden, init_scale)
        self.phase = RBMEnergy(n_qubits, 2, n_hidden_phase, init_scale)

    def log_psi(self, sigma: Tensor) -> Tensor:
        """(n,) complex log psi(sigma) of (n, N) bit strings, up to -log Z / 2."""
        real = -0.5 * self.amplitude.free_energy(sigma)
        return torch.complex(real, -0.5 * self.phase.free_energy(sigma))

    def rotated_log_psi(self, x: Tensor) -> Tensor:
        """(n,) complex log <s_b|psi> of (n, N) pauli6 codes (validated here), up to -log Z / 2."""
        return rotated_log_amplitude(self.log_psi, self.check_outcomes(x), self.hyperparameters["max_rotated"])

    def log_prob(self, x: Tensor) -> Tensor:
        """log |<s_b|psi>|^2 - N log 3: the pauli6 log-probability up to log Z (`log_normalizer`)."""
        return 2 * self.rotated_log_psi(x).real - self.n_qubits * math.log(3.0)

    def log_normalizer(self, method: str = "auto", generator: torch.Generator | int | None = None) -> Estimate:
        """log Z of the amplitude RBM, exact (float64, by enumerating its smaller layer)."""
        if method not in ("auto", "exact"):
            raise ModelError(f"method must be 'auto' or 'exact' for {type(self).__name__}, got {method!r}")
        import copy

        with torch.no_grad():
            value = float(copy.deepcopy(self.amplitude).double().log_partition())
        return Estimate(value, 0.0, "exact", 0, {"layer": self.amplitude.smaller_layer()})

    def state_vector(self) -> Tensor:
        """(2^N,) complex128 normalised psi, site 0 the most significant bit."""
        with torch.no_grad():
            log_psi = self.log_psi(all_outcomes(2, self.n_qubits, self.device)).to(torch.complex128)
            psi = torch.exp(log_psi - log_psi.real.max())
            return psi / torch.linalg.vector_norm(psi)

    def as_state(self):
        """The normalised state as a `qgen.states.DenseState`."""
        from qgen.states.dense import DenseState

        return DenseState(vector=self.state_vector().cpu().numpy())

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n pauli6 codes: each qubit's basis uniform, then the bits from |<s_b|psi>|^2 of that setting (exact)."""
        psi = self.state_vector().reshape([2] * self.n_qubits) if n else None
        rows = BASIS_ROWS.to(self.device)

        def probabilities(setting: list[int]) -> Tensor:
            rotated = psi
            for site, b in enumerate(setting):
                rotated = torch.tensordot(rows[b], rotated, dims=([1], [site])).movedim(0, site)
            return rotated.abs().reshape(-1) ** 2

        return sample_pauli6(n, self.n_qubits, probabilities, as_generator(generator, self.device), self.device)

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        nll = -2 * self.rotated_log_psi(x).real.mean() + self.amplitude.log_partition()
        yield Update("model", loss=nll, log={"nll": nll.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """nll: the mean -log |<s_b|psi>|^2 of normalised psi (the per-setting likelihood, basis choice aside)."""
        with torch.no_grad():
            return {"nll": -2 * self.rotated_log_psi(x).real.mean() + self.amplitude.log_partition()}
