"""Wavefunction RBMs: a positive psi from computational-basis shots, a complex psi from Pauli-basis shots."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.estimate import Estimate
from qgen.models.base import GenerativeModel, Step, Update
from qgen.models.rbm.ais import ais_log_partition
from qgen.models.rbm.bases import BASIS_ROWS, MAX_ROTATED, rotated_log_amplitude, sample_pauli6
from qgen.models.rbm.categorical import CategoricalRBM
from qgen.models.rbm.energy import ENUMERATION_LIMIT, RBMEnergy, uniform
from qgen.models.rbm.gibbs import sample_chains
from qgen.models.rbm.negative_phase import (
    EXACT_LIMIT,
    chains_from_data,
    check_chain_options,
    initial_chains,
    resolve_negative_phase,
)
from qgen.models.rbm.overlap import sampled_fidelity
from qgen.seeding import as_generator
from qgen.strings import all_outcomes

__all__ = ["PositiveRBM", "ComplexRBM", "MAX_DENSE_QUBITS"]

# Largest N whose state vector `as_state` builds (and the complex RBM's `sample` and exact `fidelity` use).
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
    Z-basis data alone, which is right for the ground states of stoquastic Hamiltonians. Beyond 20 qubits,
    `fidelity` estimates the overlap with a target by Monte Carlo.

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

    def log_psi(self, sigma: Tensor) -> Tensor:
        """(n,) complex log psi(sigma) = -F(sigma) / 2 + 0 i, up to -log Z / 2 (no validation)."""
        real = -0.5 * self.rbm.free_energy(sigma)
        return torch.complex(real, torch.zeros_like(real))

    def sample_bits(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n strings from |psi|^2 = p: `sample` (block Gibbs, burn-in and thinning in `sampling_report`)."""
        return self.sample(n, generator=generator)

    def fidelity(
        self,
        target: Any,
        *,
        method: str = "auto",
        n_samples: int = 4096,
        generator: torch.Generator | int | None = None,
    ) -> Estimate:
        """The quantum fidelity with a pure target: exact for N <= 20, else Monte Carlo (see `ComplexRBM.fidelity`)."""
        return _fidelity(self, target, method, n_samples, generator)

    def as_state(self):
        """The normalised state vector as a `qgen.states.DenseState` (N <= 20)."""
        _check_dense(self.n_qubits, "use fidelity() for a Monte Carlo overlap")
        with torch.no_grad():
            return _dense_state(self.log_amplitude(all_outcomes(2, self.n_qubits, self.device)))


def _check_dense(n_qubits: int, instead: str = "") -> None:
    if n_qubits > MAX_DENSE_QUBITS:
        hint = f"; {instead}" if instead else ""
        raise ModelError(f"a dense state of {n_qubits} qubits exceeds the limit of {MAX_DENSE_QUBITS}{hint}")


def _fidelity(model: Any, target: Any, method: str, n_samples: int, generator: Any) -> Estimate:
    """`fidelity` of a wavefunction RBM (`log_psi`, `sample_bits`, `as_state`): exact or by Monte Carlo."""
    if method not in ("auto", "exact", "mc"):
        raise ModelError(f"method must be 'auto', 'exact' or 'mc', got {method!r}")
    if method == "exact" or (method == "auto" and model.n_qubits <= MAX_DENSE_QUBITS):
        from qgen.states.dense import DenseState

        vector = getattr(target, "vector", None)
        dense = DenseState(vector=target.to_dense() if vector is None else vector)
        return Estimate(model.as_state().fidelity(dense), 0.0, "exact", 0, {"configurations": 2**model.n_qubits})
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ModelError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    g = as_generator(generator, model.device)
    bits = model.sample_bits(n_samples, generator=g)
    return sampled_fidelity(model.log_psi, bits, target, n_samples, g, {"gibbs": dict(model.sampling_report)})


class ComplexRBM(GenerativeModel):
    """A complex wavefunction psi(sigma) = exp(-F_lambda(sigma) / 2 - i F_mu(sigma) / 2) from Pauli-basis shots.

    An amplitude RBM (lambda) and a phase RBM (mu) over N bits. The data are pauli6 outcome codes a = 2 b + s
    (basis b = Z, X, Y of each qubit, bit s), as `qgen.data.import_qucumber` makes them. A shot's likelihood is
    |<s_b|psi>|^2, the amplitude summed over the 2^m strings the m rotated sites connect (`bases`); the basis
    choice itself is not modelled, so shots may come from any fixed set of settings (QuCumber's `qubits_*` has
    5 of the 9). `log_prob(a)` = log |<s_b|psi>|^2 - N log 3 is the probability of the pauli6 POVM (settings drawn
    uniformly) once log Z of the amplitude RBM (`log_normalizer`) is subtracted.

    Training minimises -mean log |<s_b|psi>|^2 + log Z. Only the amplitude RBM enters log Z (the phase needs no
    normalisation), and grad log Z = E_{sigma ~ |psi|^2}[-grad F_lambda(sigma)]: the negative phase. It is exact
    by enumerating the amplitude RBM's smaller layer while that has at most 2^20 configurations, and otherwise
    sampled by `n_chains` persistent block-Gibbs chains of the amplitude RBM, `k` sweeps per update (a buffer,
    so checkpoints and bit-exact resume carry them); `negative_phase` forces either, and the config records
    the choice. `sample` and `as_state` build the dense state (N <= 20); beyond, `sample_bits` draws
    computational strings by Gibbs and `fidelity` estimates the overlap with a target by Monte Carlo.

    References:
        G. Torlai et al., Nat. Phys. 14, 447 (2018), Methods; M. Beach et al., "QuCumber: wavefunction
        reconstruction with neural networks", SciPost Phys. 7, 009 (2019), sec. 3 (ComplexWaveFunction);
        T. Tieleman, ICML (2008) (persistent chains).

    Args:
        n_qubits: N (at most 20 for `sample` and `as_state`).
        n_outcomes: must be 6 (the pauli6 codes).
        n_hidden: hidden units of the amplitude RBM.
        n_hidden_phase: hidden units of the phase RBM (default n_hidden).
        init_scale: standard deviation of the initial weights of both RBMs.
        max_rotated: the most X or Y sites a shot may have (its amplitude sums 2^m terms).
        negative_phase: "auto" (exact when min(2^N, 2^n_hidden) <= 2^20, else sampled), "exact" or "sampled".
        k: Gibbs sweeps of the chains per update (sampled negative phase).
        n_chains: persistent chains (sampled negative phase) and parallel chains of `sample_bits`.

    Example:
        >>> model = ComplexRBM(2, n_hidden=2)
        >>> x = model.sample(4, generator=0)
        >>> x.shape, bool(((x >= 0) & (x < 6)).all()), model.hyperparameters["negative_phase"]
        (torch.Size([4, 2]), True, 'exact')
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
        negative_phase: Literal["auto", "exact", "sampled"] = "auto",
        k: int = 1,
        n_chains: int = 256,
    ) -> None:
        if n_outcomes != 6:
            raise ModelError(
                f"a complex wavefunction RBM models pauli6 codes: n_outcomes must be 6, got {n_outcomes!r}"
            )
        super().__init__(n_qubits, 6)
        if isinstance(max_rotated, bool) or not isinstance(max_rotated, int) or max_rotated < 0:
            raise ModelError(f"max_rotated must be an integer >= 0, got {max_rotated!r}")
        check_chain_options(k, n_chains)
        n_hidden_phase = n_hidden if n_hidden_phase is None else n_hidden_phase
        self.amplitude = RBMEnergy(n_qubits, 2, n_hidden, init_scale)
        self.phase = RBMEnergy(n_qubits, 2, n_hidden_phase, init_scale)
        size = self.amplitude.enumeration_size(self.amplitude.smaller_layer())
        self.hyperparameters = {
            "n_hidden": n_hidden,
            "n_hidden_phase": n_hidden_phase,
            "init_scale": init_scale,
            "max_rotated": max_rotated,
            "negative_phase": resolve_negative_phase(negative_phase, size, "log Z of the amplitude RBM"),
            "k": k,
            "n_chains": n_chains,
        }
        if self.hyperparameters["negative_phase"] == "sampled":
            # Persistent chains of the amplitude RBM: a buffer, so checkpoints and bit-exact resume carry them
            # (only here: an exact model's state, and so its model files, are those it had before chains existed).
            self.register_buffer("chains", initial_chains(n_chains, n_qubits))
        # The exact NLL is monitored where log Z is enumerable; beyond, no validation number is cheap.
        self.monitor = "nll" if size <= EXACT_LIMIT else None  # type: ignore[misc]
        #: burn-in, thinning and autocorrelation time of the last `sample_bits` call
        self.sampling_report: dict[str, Any] = {}

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
        """log Z of the amplitude RBM in float64: exact by enumerating its smaller layer, or by AIS.

        Args:
            method: "auto" (exact when the smaller layer has at most 2^22 configurations, else AIS), "exact" or
                "ais" (`qgen.models.rbm.ais.ais_log_partition`, with its error bar).
            generator: the randomness of AIS.
        """
        if method not in ("auto", "exact", "ais"):
            raise ModelError(f"method must be 'auto', 'exact' or 'ais' for {type(self).__name__}, got {method!r}")
        energy = copy.deepcopy(self.amplitude).double()
        layer = energy.smaller_layer()
        size = energy.enumeration_size(layer)
        if method == "exact" or (method == "auto" and size <= ENUMERATION_LIMIT):
            with torch.no_grad():
                value = float(energy.log_partition(layer))
            return Estimate(value, 0.0, "exact", 0, {"layer": layer, "configurations": size})
        return ais_log_partition(energy, generator=as_generator(generator, self.device))

    def state_vector(self) -> Tensor:
        """(2^N,) complex128 normalised psi, site 0 the most significant bit (N <= 20)."""
        _check_dense(self.n_qubits, "use fidelity() for a Monte Carlo overlap and sample_bits() for samples")
        with torch.no_grad():
            log_psi = self.log_psi(all_outcomes(2, self.n_qubits, self.device)).to(torch.complex128)
            psi = torch.exp(log_psi - log_psi.real.max())
            return psi / torch.linalg.vector_norm(psi)

    def as_state(self):
        """The normalised state as a `qgen.states.DenseState` (N <= 20)."""
        from qgen.states.dense import DenseState

        return DenseState(vector=self.state_vector().cpu().numpy())

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n pauli6 codes: each qubit's basis uniform, then the bits from |<s_b|psi>|^2 of that setting (exact).

        Needs the dense state (N <= 20): a rotated setting's distribution is not an RBM's to run Gibbs on.
        """
        psi = self.state_vector().reshape([2] * self.n_qubits) if n else None
        rows = BASIS_ROWS.to(self.device)

        def probabilities(setting: list[int]) -> Tensor:
            rotated = psi
            for site, b in enumerate(setting):
                rotated = torch.tensordot(rows[b], rotated, dims=([1], [site])).movedim(0, site)
            return rotated.abs().reshape(-1) ** 2

        return sample_pauli6(n, self.n_qubits, probabilities, as_generator(generator, self.device), self.device)

    def sample_bits(
        self,
        n: int,
        *,
        generator: torch.Generator | int | None = None,
        burn_in: int | None = None,
        thinning: int | None = None,
    ) -> Tensor:
        """n computational-basis strings from |psi|^2 by block Gibbs of the amplitude RBM, any N.

        `n_chains` chains from uniform bits; burn-in and thinning from the chains' autocorrelation time unless
        given (`qgen.models.rbm.gibbs.sample_chains`); `sampling_report` records them.
        """
        g = as_generator(generator, self.device)
        init = (uniform((self.hyperparameters["n_chains"], self.n_qubits), g, self.device, torch.float64) < 0.5).long()
        samples, self.sampling_report = sample_chains(self.amplitude, init, n, g, burn_in=burn_in, thinning=thinning)
        return samples

    def fidelity(
        self,
        target: Any,
        *,
        method: str = "auto",
        n_samples: int = 4096,
        generator: torch.Generator | int | None = None,
    ) -> Estimate:
        """The quantum fidelity |<phi|psi>|^2 with a pure target (DenseState or MPSState).

        Args:
            target: the pure target state of N qubits.
            method: "auto" (exact for N <= 20, else Monte Carlo), "exact" (the dense state) or "mc": `n_samples`
                Gibbs samples of |psi|^2 (`sample_bits`) and as many exact draws of the target
                (`qgen.models.rbm.overlap.monte_carlo_fidelity`, with its standard error).
            n_samples: samples of each state for "mc".
            generator: the randomness of "mc".
        """
        return _fidelity(self, target, method, n_samples, generator)

    # ---- training ------------------------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """The persistent chains (sampled negative phase) start at the measured bits of random training rows."""
        if self.hyperparameters["negative_phase"] != "sampled":
            return
        with torch.no_grad():
            self.chains.copy_(chains_from_data(train, self.chains.shape[0], generator))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        data_term = -2 * self.rotated_log_psi(x).real.mean()
        if self.hyperparameters["negative_phase"] == "exact":
            nll = data_term + self.amplitude.log_partition()
            yield Update("model", loss=nll, log={"nll": nll.detach()})
            return
        # Every rank draws the same numbers (the step's generator), so its chains and this term are the same
        # on every rank: the weighted average over ranks of the loss is the one-process loss.
        with torch.no_grad():
            self.chains.copy_(self.amplitude.gibbs(self.chains, self.hyperparameters["k"], step.generator))
        # the surrogate's gradient is the chains' mean of -grad F_lambda, an estimate of grad log Z
        loss = data_term - self.amplitude.free_energy(self.chains).mean()
        yield Update("model", loss=loss, log={"free_energy_gap": loss.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """nll: the mean -log |<s_b|psi>|^2 of normalised psi (per-setting likelihood), where log Z is enumerable."""
        if self.monitor != "nll":
            return {}
        with torch.no_grad():
            return {"nll": -2 * self.rotated_log_psi(x).real.mean() + self.amplitude.log_partition()}

    def extra_repr(self) -> str:
        h = self.hyperparameters
        return f"n_qubits={self.n_qubits}, n_hidden={h['n_hidden']}, negative_phase={h['negative_phase']!r}"
