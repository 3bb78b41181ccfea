"""The density-matrix RBM: a mixed state by latent-space purification, learnt from Pauli-basis shots."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.estimate import Estimate
from qgen.models.base import GenerativeModel, Step, Update
from qgen.models.rbm.ais import ais_log_partition
from qgen.models.rbm.bases import BASIS_ROWS, MAX_ROTATED, complex_logsumexp, rotated_strings, sample_pauli6
from qgen.models.rbm.energy import RBMEnergy, uniform
from qgen.models.rbm.gibbs import sample_chains
from qgen.models.rbm.negative_phase import (
    chains_from_data,
    check_chain_options,
    initial_chains,
    joint_energy,
    resolve_negative_phase,
)
from qgen.models.rbm.overlap import sampled_mixed_fidelity
from qgen.seeding import as_generator
from qgen.strings import all_outcomes

__all__ = ["DensityRBM", "MAX_DENSITY_QUBITS", "MAX_TRAINING_QUBITS"]

# Largest N whose 4^N density matrix `as_state` and `sample` build (16 MiB of complex128 at N = 10).
MAX_DENSITY_QUBITS = 10
# Largest N whose 2^N diagonal the exact log Tr rho (and so the exact gradient) enumerates; beyond, sampled.
MAX_TRAINING_QUBITS = 20
# Strings per chunk of the trace enumeration.
_CHUNK = 2**14


def complex_softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)) for complex z, shifted by max(Re z, 0) so neither exponential overflows."""
    shift = z.real.clamp_min(0.0)
    return shift + torch.log(torch.exp(-shift) + torch.exp(z - shift))


class DensityRBM(GenerativeModel):
    """A density matrix rho = Tr_a |psi><psi| of N qubits, psi an RBM over qubits and auxiliary units, from Pauli shots.

    The purified state psi(sigma, a) = sqrt(p_lambda(sigma, a)) exp(i log p_mu(sigma, a) / 2) has amplitude and
    phase RBMs with N visible, `n_hidden` hidden and `n_aux` auxiliary units; summing out the hidden and the
    auxiliary units gives (Torlai & Melko 2018, eq. 3)

        rho(sigma, sigma') = exp[Gamma+_lambda + i Gamma-_mu + Pi],
        Gamma+-_theta = -(F_theta(sigma) +- F_theta(sigma')) / 2   (F: free energy of RBM theta's hidden part),
        Pi = sum_k log(1 + exp(d_k + U_lambda,k.(sigma + sigma') / 2 + i U_mu,k.(sigma - sigma') / 2)),

    a Gram matrix over the auxiliary states, so positive by construction; it is normalised by Tr rho. The data
    are pauli6 codes a = 2 b + s as `qgen.data.import_qucumber` makes them: a shot's likelihood is
    <s_b|rho|s_b> / Tr rho, summing rho over the 4^m pairs of strings the m rotated sites connect (the basis choice
    itself is not modelled). `log_prob(a)` = log <s_b|rho|s_b> - N log 3 is the pauli6 probability up to
    log Tr rho (`log_normalizer`).

    Training minimises -mean log <s_b|rho|s_b> + log Tr rho. The negative phase, grad log Tr rho =
    E_{sigma ~ rho(sigma, sigma) / Tr rho}[grad log rho(sigma, sigma)] (Torlai & Melko 2018, eq. 4), is exact by
    enumerating the 2^N diagonal while N <= 20, and otherwise sampled, as the paper does, by `n_chains`
    persistent block-Gibbs chains of the diagonal: it is the marginal of one RBM whose hidden layer is the
    amplitude RBM's hidden units and the auxiliary units together (`negative_phase.joint_energy`), `k` sweeps per
    update, the chains a buffer (checkpoints and bit-exact resume carry them). `negative_phase` forces either
    and the config records the choice. `sample` and `as_state` build the dense rho (N <= 10); beyond,
    `fidelity` estimates <phi|rho|phi> / Tr rho with a pure target by Monte Carlo.

    References:
        G. Torlai and R. G. Melko, "Latent space purification via neural density operators", Phys. Rev. Lett.
        120, 240503 (2018), eqs. 2-4; M. Beach et al., SciPost Phys. 7, 009 (2019) (QuCumber's DensityMatrix).

    Args:
        n_qubits: N (at most 10 to sample or build the state).
        n_outcomes: must be 6 (the pauli6 codes).
        n_hidden: hidden units of the amplitude and of the phase RBM.
        n_aux: auxiliary (purifying) units; rho has rank at most 2^n_aux.
        init_scale: standard deviation of the initial weights.
        max_rotated: the most X or Y sites a shot may have (its probability sums 4^m terms).
        negative_phase: "auto" (exact for N <= 20, else sampled), "exact" or "sampled".
        k: Gibbs sweeps of the chains per update (sampled negative phase).
        n_chains: persistent chains of the diagonal (sampled negative phase).

    Example:
        >>> model = DensityRBM(2, n_hidden=2, n_aux=2)
        >>> rho = model.as_state().density_matrix
        >>> rho.shape, round(float(rho.trace().real), 12)
        ((4, 4), 1.0)
    """

    name = "rbm-density"
    likelihood: ClassVar[Literal["unnormalized"]] = "unnormalized"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "nll"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int = 6,
        *,
        n_hidden: int | None = None,
        n_aux: int | None = None,
        init_scale: float = 0.1,
        max_rotated: int = MAX_ROTATED,
        negative_phase: Literal["auto", "exact", "sampled"] = "auto",
        k: int = 1,
        n_chains: int = 256,
    ) -> None:
        if n_outcomes != 6:
            raise ModelError(f"a density-matrix RBM models pauli6 codes: n_outcomes must be 6, got {n_outcomes!r}")
        super().__init__(n_qubits, 6)
        negative_phase = resolve_negative_phase(negative_phase, 2**n_qubits, "Tr rho (its 2^N diagonal)")
        check_chain_options(k, n_chains)
        n_hidden = n_qubits if n_hidden is None else n_hidden
        n_aux = n_qubits if n_aux is None else n_aux
        if isinstance(n_aux, bool) or not isinstance(n_aux, int) or n_aux < 1:
            raise ModelError(f"n_aux must be a positive integer, got {n_aux!r}")
        if isinstance(max_rotated, bool) or not isinstance(max_rotated, int) or max_rotated < 0:
            raise ModelError(f"max_rotated must be an integer >= 0, got {max_rotated!r}")
        self.hyperparameters = {
            "n_hidden": n_hidden,
            "n_aux": n_aux,
            "init_scale": init_scale,
            "max_rotated": max_rotated,
            "negative_phase": negative_phase,
            "k": k,
            "n_chains": n_chains,
        }
        self.amplitude = RBMEnergy(n_qubits, 2, n_hidden, init_scale)
        self.phase = RBMEnergy(n_qubits, 2, n_hidden, init_scale)
        # U_lambda, U_mu as (site, state, aux) like the RBMs' weights; the phase RBM's aux bias is a pure gauge.
        self.aux_amplitude = nn.Parameter(init_scale * torch.randn(n_qubits, 2, n_aux))
        self.aux_phase = nn.Parameter(init_scale * torch.randn(n_qubits, 2, n_aux))
        self.aux_bias = nn.Parameter(torch.zeros(n_aux))
        if negative_phase == "sampled":
            # Persistent chains of the diagonal: a buffer, so checkpoints and bit-exact resume carry them (only
            # here: an exact model's state, and so its model files, are those it had before chains existed).
            self.register_buffer("chains", initial_chains(n_chains, n_qubits))
        # The exact NLL is monitored where the trace is enumerable; beyond, no validation number is cheap.
        self.monitor = "nll" if n_qubits <= MAX_TRAINING_QUBITS else None  # type: ignore[misc]

    # ---- rho as a function of two strings ------------------------------------------------------------------

    def _terms(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-string pieces of log rho: F_lambda, F_mu (...,) and U_lambda.sigma, U_mu.sigma (..., n_aux)."""
        flat = sigma.reshape(-1, self.n_qubits)
        onehot = self.amplitude.one_hot(flat)
        shape = sigma.shape[:-1]
        n_aux = self.aux_bias.shape[0]
        return (
            self.amplitude.free_energy(flat).reshape(shape),
            self.phase.free_energy(flat).reshape(shape),
            (onehot @ self.aux_amplitude.reshape(-1, n_aux)).reshape(*shape, n_aux),
            (onehot @ self.aux_phase.reshape(-1, n_aux)).reshape(*shape, n_aux),
        )

    @staticmethod
    def _log_rho(left: tuple[Tensor, ...], right: tuple[Tensor, ...], aux_bias: Tensor) -> Tensor:
        """Complex log rho(sigma, sigma') from the per-string pieces of sigma (left) and sigma' (right), broadcast."""
        f_amp, f_phase, u_amp, u_phase = left
        g_amp, g_phase, v_amp, v_phase = right
        gamma = torch.complex(-0.5 * (f_amp + g_amp), -0.5 * (f_phase - g_phase))
        pi = complex_softplus(torch.complex(aux_bias + 0.5 * (u_amp + v_amp), 0.5 * (u_phase - v_phase))).sum(-1)
        return gamma + pi

    def log_density(self, sigma: Tensor, sigma_prime: Tensor) -> Tensor:
        """(n,) complex log rho(sigma, sigma') of two (n, N) batches of bit strings, up to -log Tr rho."""
        return self._log_rho(self._terms(sigma), self._terms(sigma_prime), self.aux_bias)

    def _log_diagonal(self, sigma: Tensor) -> Tensor:
        """(n,) real log rho(sigma, sigma) = -F_lambda(sigma) + sum_k softplus(d_k + U_lambda,k.sigma)."""
        f_amp, _, u_amp, _ = self._terms(sigma)
        return -f_amp + nn.functional.softplus(self.aux_bias + u_amp).sum(-1)

    def diagonal_energy(self) -> RBMEnergy:
        """The detached RBM whose marginal over the N visibles is rho(sigma, sigma): hidden and auxiliary units."""
        a = self.amplitude
        return joint_energy([a.weight, self.aux_amplitude], a.visible_bias, [a.hidden_bias, self.aux_bias])

    def log_trace(self) -> Tensor:
        """log Tr rho by enumerating the 2^N diagonal (in chunks); differentiable."""
        if self.n_qubits > MAX_TRAINING_QUBITS:
            raise ModelError(
                f"an exact log Tr rho of {self.n_qubits} qubits enumerates 2^{self.n_qubits} strings, over the limit "
                f"of 2^{MAX_TRAINING_QUBITS}; use log_normalizer('ais')"
            )
        total = 2**self.n_qubits
        device = self.aux_bias.device
        powers = 2 ** torch.arange(self.n_qubits - 1, -1, -1, device=device)
        parts = []
        for start in range(0, total, _CHUNK):
            idx = torch.arange(start, min(total, start + _CHUNK), device=device)
            parts.append(self._log_diagonal((idx.unsqueeze(1) // powers) % 2))
        return torch.logsumexp(torch.cat(parts), 0)

    # ---- the pauli6 distribution ---------------------------------------------------------------------------

    def rotated_log_density(self, x: Tensor) -> Tensor:
        """(n,) real log <s_b|rho|s_b> of (n, N) pauli6 codes (validated here), up to -log Tr rho.

        Each distinct shot is computed once: <s_b|rho|s_b> = sum_{sigma, sigma'} c(sigma) rho(sigma, sigma')
        c(sigma')^*, c(sigma) = prod_i <s_i|_{b_i}|sigma_i>, over the 2^m x 2^m strings of its rotated sites.
        """
        x = self.check_outcomes(x)
        unique, inverse = torch.unique(x, dim=0, return_inverse=True)
        out = torch.zeros(len(unique), dtype=self.aux_bias.dtype, device=x.device)
        for shots, sigma, log_coef in rotated_strings(unique, self.hyperparameters["max_rotated"]):
            terms = self._terms(sigma)  # each (k, A) or (k, A, n_aux)
            left = tuple(t.unsqueeze(2) for t in terms)
            right = tuple(t.unsqueeze(1) for t in terms)
            log_rho = self._log_rho(left, right, self.aux_bias)  # (k, A, A)
            log_terms = log_rho + log_coef.unsqueeze(2) + log_coef.conj().unsqueeze(1)
            # the sum is real and positive: its log's real part is the log of the sum itself
            out = out.index_put((shots,), complex_logsumexp(log_terms, (1, 2)).real.to(out.dtype))
        return out[inverse]

    def log_prob(self, x: Tensor) -> Tensor:
        """log <s_b|rho|s_b> - N log 3: the pauli6 log-probability up to log Tr rho (`log_normalizer`)."""
        return self.rotated_log_density(x) - self.n_qubits * math.log(3.0)

    def log_normalizer(self, method: str = "auto", generator: torch.Generator | int | None = None) -> Estimate:
        """log Tr rho in float64: exact by enumerating the 2^N diagonal (N <= 20), or by AIS of the diagonal's RBM.

        Args:
            method: "auto" (exact for N <= 20, else AIS), "exact" or "ais" (`ais_log_partition` of
                `diagonal_energy`, with its error bar).
            generator: the randomness of AIS.
        """
        if method not in ("auto", "exact", "ais"):
            raise ModelError(f"method must be 'auto', 'exact' or 'ais' for {type(self).__name__}, got {method!r}")
        if method == "ais" or (method == "auto" and self.n_qubits > MAX_TRAINING_QUBITS):
            energy = copy.deepcopy(self).double().diagonal_energy()
            return ais_log_partition(energy, generator=as_generator(generator, self.device))
        with torch.no_grad():
            value = float(copy.deepcopy(self).double().log_trace())
        return Estimate(value, 0.0, "exact", 0, {"layer": "visible", "configurations": 2**self.n_qubits})

    # ---- the state -----------------------------------------------------------------------------------------

    def density_matrix(self) -> Tensor:
        """(2^N, 2^N) complex128 rho / Tr rho, site 0 the most significant bit (N <= 10)."""
        if self.n_qubits > MAX_DENSITY_QUBITS:
            raise ModelError(
                f"a dense density matrix of {self.n_qubits} qubits exceeds the limit of {MAX_DENSITY_QUBITS}"
            )
        model = copy.deepcopy(self).double()
        with torch.no_grad():
            terms = model._terms(all_outcomes(2, self.n_qubits, self.device))
            left = tuple(t.unsqueeze(1) for t in terms)
            right = tuple(t.unsqueeze(0) for t in terms)
            log_rho = model._log_rho(left, right, model.aux_bias)
            rho = torch.exp(log_rho - log_rho.real.max())
            rho = 0.5 * (rho + rho.conj().T)  # Hermitian to rounding already; make it exact
            return rho / torch.diagonal(rho).real.sum()

    def as_state(self):
        """The normalised mixed state as a `qgen.states.DenseState` (density matrix, N <= 10)."""
        from qgen.states.dense import DenseState

        return DenseState(density_matrix=self.density_matrix().cpu().numpy())

    def fidelity(
        self,
        target: Any,
        *,
        method: str = "auto",
        n_samples: int = 4096,
        generator: torch.Generator | int | None = None,
    ) -> Estimate:
        """<phi|rho|phi> / Tr rho with a pure target (DenseState or MPSState).

        Args:
            target: the pure target state of N qubits.
            method: "auto" (exact for N <= 10, else Monte Carlo), "exact" (the dense rho) or "mc": `n_samples`
                pairs of exact target draws and as many Gibbs samples of the diagonal (burn-in and thinning from
                their autocorrelation time), `qgen.models.rbm.overlap.sampled_mixed_fidelity`.
            n_samples: samples of each for "mc".
            generator: the randomness of "mc".
        """
        if method not in ("auto", "exact", "mc"):
            raise ModelError(f"method must be 'auto', 'exact' or 'mc', got {method!r}")
        if not getattr(target, "is_pure", False):
            raise ModelError("fidelity() takes a pure target; for two mixed states use qgen.metrics.quantum_fidelity")
        if method == "exact" or (method == "auto" and self.n_qubits <= MAX_DENSITY_QUBITS):
            from qgen.states.dense import DenseState

            vector = getattr(target, "vector", None)
            pure = DenseState(vector=target.to_dense() if vector is None else vector)
            return Estimate(self.as_state().fidelity(pure), 0.0, "exact", 0, {"configurations": 4**self.n_qubits})
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ModelError(f"n_samples must be an integer >= 2, got {n_samples!r}")
        g = as_generator(generator, self.device)
        energy = self.diagonal_energy()
        init = (uniform((self.hyperparameters["n_chains"], self.n_qubits), g, self.device, torch.float64) < 0.5).long()
        bits, report = sample_chains(energy, init, n_samples, g)
        return sampled_mixed_fidelity(
            self.log_density, self._log_diagonal, bits, target, n_samples, g, {"gibbs": report}
        )

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n pauli6 codes: each qubit's basis uniform, then the bits from <s_b|rho|s_b> of that setting (exact)."""
        nq = self.n_qubits
        rho = self.density_matrix().reshape([2] * (2 * nq)) if n else None
        rows = BASIS_ROWS.to(self.device)

        def probabilities(setting: list[int]) -> Tensor:
            rotated = rho
            for site, b in enumerate(setting):
                # R rho R^dagger: the row index of site `site` is axis site, its column index axis nq + site
                rotated = torch.tensordot(rows[b], rotated, dims=([1], [site])).movedim(0, site)
                rotated = torch.tensordot(rows[b].conj(), rotated, dims=([1], [nq + site])).movedim(0, nq + site)
            return torch.diagonal(rotated.reshape(2**nq, 2**nq)).real.clamp_min(0.0)

        return sample_pauli6(n, nq, probabilities, as_generator(generator, self.device), self.device)

    # ---- training ------------------------------------------------------------------------------------------

    def nll(self, x: Tensor) -> Tensor:
        """-mean log <s_b|rho|s_b> / Tr rho over a batch: the per-setting negative log-likelihood (N <= 20)."""
        return -self.rotated_log_density(x).mean() + self.log_trace()

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """The persistent chains (sampled negative phase) start at the measured bits of random training rows."""
        if self.hyperparameters["negative_phase"] != "sampled":
            return
        with torch.no_grad():
            self.chains.copy_(chains_from_data(train, self.chains.shape[0], generator))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        if self.hyperparameters["negative_phase"] == "exact":
            nll = self.nll(x)
            yield Update("model", loss=nll, log={"nll": nll.detach()})
            return
        # The same generator on every rank: the same chains and negative term on each (see ComplexRBM).
        with torch.no_grad():
            self.chains.copy_(self.diagonal_energy().gibbs(self.chains, self.hyperparameters["k"], step.generator))
        # the surrogate's gradient is the chains' mean of grad log rho(sigma, sigma), an estimate of grad log Tr rho
        loss = -self.rotated_log_density(x).mean() + self._log_diagonal(self.chains).mean()
        yield Update("model", loss=loss, log={"free_energy_gap": loss.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        if self.monitor != "nll":
            return {}
        with torch.no_grad():
            return {"nll": self.nll(x)}

    def extra_repr(self) -> str:
        h = self.hyperparameters
        return (
            f"n_qubits={self.n_qubits}, n_hidden={h['n_hidden']}, n_aux={h['n_aux']}, "
            f"negative_phase={h['negative_phase']!r}"
        )
