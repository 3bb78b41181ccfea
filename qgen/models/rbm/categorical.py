"""The categorical RBM over POVM outcomes: one K-state visible unit per qubit, binary hidden units."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.estimate import Estimate
from qgen.models.base import GenerativeModel, Ranks, Step, Update
from qgen.models.rbm.ais import ais_log_partition
from qgen.models.rbm.energy import ENUMERATION_LIMIT, RBMEnergy, Share, uniform
from qgen.models.rbm.gibbs import sample_chains
from qgen.models.rbm.tempering import inverse_temperatures, tempering_sweep
from qgen.seeding import as_generator

__all__ = ["CategoricalRBM", "VALIDATION_LIMIT"]

# Validation reports the exact NLL when log Z costs at most this many configurations (every epoch).
VALIDATION_LIMIT = 2**16
GRADIENTS = ("pcd", "cd", "exact")


def _global_count(n: int, ranks: Ranks, device: torch.device) -> int:
    """The number of rows of the global batch: this rank's n summed over ranks."""
    return int(ranks.sum(torch.tensor([n], dtype=torch.int64, device=device)))


def _check_int(value: Any, label: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ModelError(f"{label} must be an integer >= {low}, got {value!r}")
    return value


class CategoricalRBM(GenerativeModel):
    """A restricted Boltzmann machine on outcome strings: p(a) = exp(-F(a)) / Z, with F the free energy.

    Each site is one visible unit with K states (one-hot), coupled to `n_hidden` binary hidden units. `log_prob`
    is -F(a): the likelihood is known up to log Z, which `log_normalizer` computes exactly (summing over the
    smaller layer when it has at most 2^22 configurations) or by annealed importance sampling. Samples come from
    block-Gibbs chains with burn-in and thinning chosen from the measured autocorrelation time (reported in
    `sampling_report` after each `sample`).

    Training minimises the negative log-likelihood through the surrogate loss F(data) - F(negatives), whose
    gradient is the log-likelihood gradient with the model expectation replaced by the negatives: k Gibbs
    sweeps from the batch (CD-k), from persistent chains kept as a buffer (PCD, so checkpoints carry them), or,
    when the smaller layer is enumerable, the exact loss F(data) + log Z. With `n_temperatures` > 1 the
    persistent chains are the beta = 1 replicas of a parallel-tempering ladder (`tempering_sweep`), which crosses
    the barriers between modes that plain Gibbs chains cannot; `sample` then runs the same ladder.

    Under torchrun each rank advances its own interleaved share of the chains (and, for CD, of the batch) with
    the random numbers one process would draw for those rows, so the ranks run different chains, the gathered
    chains and the parameters stay identical on every rank, and the run is the single-process run.

    References:
        G. E. Hinton, Neural Comput. 14, 1771 (2002) (contrastive divergence); T. Tieleman, ICML (2008)
        (persistent CD); G. Desjardins et al., AISTATS (2010) (parallel tempering); J. Carrasquilla, G. Torlai,
        R. G. Melko, L. Aolita, Nat. Mach. Intell. 1, 155 (2019) (RBMs on POVM outcomes).

    Args:
        n_qubits: N, the string length.
        n_outcomes: K, symbols per site.
        n_hidden: M, hidden units.
        gradient: "pcd", "cd" or "exact" (needs min(2^M, K^N) <= 2^22).
        k: Gibbs sweeps per update (CD-k, PCD-k).
        n_chains: persistent chains (PCD) and parallel chains of `sample`.
        init_scale: standard deviation of the initial weights.
        burn_in: sweeps `sample` discards first (None: chosen from the autocorrelation time).
        thinning: sweeps between kept samples of a chain (None: chosen from the autocorrelation time).
        n_temperatures: replicas of the parallel-tempering ladder (1: plain block Gibbs).
        beta_min: the smallest inverse temperature of the ladder (geometric from 1).

    Example:
        >>> model = CategoricalRBM(3, 4, n_hidden=4)
        >>> est = model.log_normalizer()
        >>> est.method, est.details["layer"]
        ('exact', 'hidden')
        >>> model.sample(5, generator=0).shape
        torch.Size([5, 3])
    """

    name = "rbm"
    likelihood: ClassVar[Literal["unnormalized"]] = "unnormalized"
    sampling: ClassVar[Literal["mcmc"]] = "mcmc"
    monitor: ClassVar[str | None] = "nll"

    def __init__(
        self,
        n_qubits: int,
        n_outcomes: int,
        *,
        n_hidden: int = 16,
        gradient: Literal["pcd", "cd", "exact"] = "pcd",
        k: int = 1,
        n_chains: int = 256,
        init_scale: float = 0.01,
        burn_in: int | None = None,
        thinning: int | None = None,
        n_temperatures: int = 1,
        beta_min: float = 0.1,
    ) -> None:
        super().__init__(n_qubits, n_outcomes)
        if gradient not in GRADIENTS:
            raise ModelError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        _check_int(k, "k", 1)
        _check_int(n_chains, "n_chains", 1)
        for label, value, low in (("burn_in", burn_in, 0), ("thinning", thinning, 1)):
            if value is not None:
                _check_int(value, label, low)
        betas = inverse_temperatures(n_temperatures, beta_min)
        self.rbm = RBMEnergy(n_qubits, n_outcomes, n_hidden, init_scale)
        if gradient == "exact" and min(self.rbm.enumeration_size(s) for s in ("hidden", "visible")) > ENUMERATION_LIMIT:
            raise ModelError(
                f"gradient='exact' needs 2^n_hidden or K^N <= {ENUMERATION_LIMIT}; got 2^{n_hidden} and "
                f"{n_outcomes}^{n_qubits}: use 'pcd' or 'cd'"
            )
        self.hyperparameters = {
            "n_hidden": n_hidden,
            "gradient": gradient,
            "k": k,
            "n_chains": n_chains,
            "init_scale": init_scale,
            "burn_in": burn_in,
            "thinning": thinning,
            "n_temperatures": n_temperatures,
            "beta_min": beta_min,
        }
        # Persistent chains: a buffer, so checkpoints and bit-exact resume carry them; `prepare` re-draws them.
        self.register_buffer("chains", torch.randint(0, n_outcomes, (n_chains, n_qubits)))
        # The hotter replicas of the tempering ladder (none without tempering).
        self.register_buffer("hot_chains", self.chains.unsqueeze(0).repeat(n_temperatures - 1, 1, 1))
        self.register_buffer("betas", betas, persistent=False)
        #: swaps accepted per neighbouring pair of the ladder, and swaps attempted per pair, since construction
        self.swap_counts = {"accepted": torch.zeros(n_temperatures - 1, dtype=torch.int64), "attempted": 0}
        # The exact NLL is monitored where log Z is cheap enough to recompute every epoch; else pseudo-likelihood.
        cheap = min(self.rbm.enumeration_size(s) for s in ("hidden", "visible")) <= VALIDATION_LIMIT
        self.monitor = "nll" if cheap else "pseudo_nll"  # type: ignore[misc]
        #: burn-in, thinning, autocorrelation time and chains of the last `sample` call
        self.sampling_report: dict[str, Any] = {}

    @property
    def n_hidden(self) -> int:
        """M, the number of hidden units."""
        return self.rbm.n_hidden

    # ---- the distribution ----------------------------------------------------------------------------------

    def free_energy(self, x: Tensor) -> Tensor:
        """(n,) free energies F(a) of (n, N) outcome strings (validated here)."""
        return self.rbm.free_energy(self.check_outcomes(x))

    def log_prob(self, x: Tensor) -> Tensor:
        """-F(a): log p(a) up to log Z (see `log_normalizer`)."""
        return -self.free_energy(x)

    def log_normalizer(self, method: str = "auto", generator: torch.Generator | int | None = None) -> Estimate:
        """log Z, in float64: exact by enumerating the smaller layer, or by annealed importance sampling.

        Args:
            method: "auto" (exact when the smaller layer has at most 2^22 configurations, else AIS), "exact" or
                "ais" (10,000 annealing steps, 256 chains).
            generator: the randomness of AIS.

        Raises:
            ModelError: an unknown method, or "exact" over the enumeration limit.
        """
        if method not in ("auto", "exact", "ais"):
            raise ModelError(f"method must be 'auto', 'exact' or 'ais', got {method!r}")
        layer = self.rbm.smaller_layer()
        size = self.rbm.enumeration_size(layer)
        if method == "exact" or (method == "auto" and size <= ENUMERATION_LIMIT):
            with torch.no_grad():
                value = float(self._float64().log_partition(layer))
            return Estimate(value, 0.0, "exact", 0, {"layer": layer, "configurations": size})
        return ais_log_partition(self._float64(), generator=as_generator(generator, self.device))

    def _float64(self) -> RBMEnergy:
        return copy.deepcopy(self.rbm).double()

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """n strings from `n_chains` block-Gibbs chains started from the visible biases' independent sites.

        Burn-in and thinning are the hyperparameters, or chosen from the autocorrelation time of the chains'
        free energy when None; `sampling_report` records what was used.
        """
        g = as_generator(generator, self.device)
        with torch.no_grad():
            bias = self.rbm.visible_bias
            u = uniform((self.hyperparameters["n_chains"], *bias.shape), g, bias.device, bias.dtype)
            init = (bias - torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))).argmax(-1)
            samples, report = sample_chains(
                self.rbm,
                init,
                n,
                g,
                burn_in=self.hyperparameters["burn_in"],
                thinning=self.hyperparameters["thinning"],
                sweep=self._tempered_sweep(init) if self.betas.numel() > 1 else None,
            )
        report["sampler"] = "parallel tempering" if self.betas.numel() > 1 else "block Gibbs"
        self.sampling_report = report
        return samples

    def _tempered_sweep(self, init: Tensor):
        """A parallel-tempering sweep for `sample_chains`: the hot replicas live in the closure, start at `init`."""
        hot = init.unsqueeze(0).repeat(self.betas.numel() - 1, 1, 1)

        def sweep(v: Tensor, generator: torch.Generator | None) -> Tensor:
            nonlocal hot
            replicas, _ = tempering_sweep(self.rbm, torch.cat([v.unsqueeze(0), hot]), self.betas, generator)
            hot = replicas[1:]
            return replicas[0]

        return sweep

    # ---- training ------------------------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Visible biases from the data marginals (log frequencies, add-one/2 smoothed); chains from data rows."""
        x = self.check_outcomes(train)
        counts = torch.zeros(self.n_qubits, self.n_outcomes, dtype=torch.float64, device=x.device)
        counts.scatter_add_(1, x.T.contiguous(), torch.ones(x.T.shape, dtype=torch.float64, device=x.device))
        freq = (counts + 0.5) / (x.shape[0] + 0.5 * self.n_outcomes)
        with torch.no_grad():
            self.rbm.visible_bias.copy_(freq.log())
            rows = torch.randint(0, x.shape[0], (self.chains.shape[0],), generator=generator, device=generator.device)
            self.chains.copy_(x[rows.to(x.device)])
            self.hot_chains.copy_(self.chains.unsqueeze(0).expand_as(self.hot_chains))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        data_term = self.rbm.free_energy(x).mean()
        gradient = self.hyperparameters["gradient"]
        if gradient == "exact":
            nll = data_term + self.rbm.log_partition()
            yield Update("model", loss=nll, log={"nll": nll.detach()})
            return
        ranks, k = step.ranks, self.hyperparameters["k"]
        if gradient == "cd":
            # this rank's rows of the global batch are rows rank, rank + world, ... (the Trainer's shares)
            share = Share(ranks.rank, ranks.world, _global_count(len(x), ranks, x.device)) if ranks.world > 1 else None
            negatives = self.rbm.gibbs(x, k, step.generator, share=share)
            loss = data_term - self.rbm.free_energy(negatives).mean()
        else:
            negatives = self._advance_chains(k, step.generator, ranks)
            negative_term = self.rbm.free_energy(negatives).mean()
            if ranks.world > 1:
                # The Trainer averages losses weighted by each rank's share of the batch; weigh the chains' term
                # so that the average is the mean over all chains, as in one process.
                n_global = _global_count(len(x), ranks, x.device)
                negative_term = negative_term * (len(negatives) * n_global / (len(x) * self.chains.shape[0]))
            loss = data_term - negative_term
        yield Update("model", loss=loss, log={"free_energy_gap": loss.detach()})

    def _advance_chains(self, sweeps: int, generator: torch.Generator, ranks: Ranks) -> Tensor:
        """k sweeps of this rank's persistent chains (all ranks' chains gathered back in the buffers); its cold ones."""
        n_chains = self.chains.shape[0]
        share = Share(ranks.rank, ranks.world, n_chains) if ranks.world > 1 else None
        replicas = torch.cat([self.chains.unsqueeze(0), self.hot_chains])
        if share is not None:
            replicas = replicas[:, share.rows(replicas.device)]
        with torch.no_grad():
            if self.betas.numel() == 1:
                replicas = self.rbm.gibbs(replicas[0], sweeps, generator, share=share).unsqueeze(0)
            else:
                for _ in range(sweeps):
                    replicas, accepted = tempering_sweep(self.rbm, replicas, self.betas, generator, share)
                    self.swap_counts["accepted"] += accepted.cpu()
                    self.swap_counts["attempted"] += replicas.shape[1]
        if share is None:
            gathered = replicas
        else:
            # every chain is advanced by exactly one rank: the sum over ranks puts each in place
            gathered = torch.zeros(
                (len(replicas), n_chains, self.n_qubits), dtype=replicas.dtype, device=replicas.device
            )
            gathered[:, share.rows(replicas.device)] = replicas
            gathered = ranks.sum(gathered)
        self.chains.copy_(gathered[0])
        self.hot_chains.copy_(gathered[1:])
        return replicas[0]

    def pseudo_log_likelihood(self, x: Tensor) -> Tensor:
        """(n,) sum_i log p(a_i | a_{-i}), the pseudo-log-likelihood (Besag, 1975): needs no log Z."""
        x = self.check_outcomes(x)
        w = self.rbm.weight
        field = self.rbm.hidden_field(x)  # (n, M)
        own = w[torch.arange(self.n_qubits, device=x.device), x]  # (n, N, M): W[i, a_i]
        total = torch.zeros(x.shape[0], dtype=w.dtype, device=x.device)
        for i in range(self.n_qubits):
            # -F of the string with site i set to each k, up to terms that do not depend on site i
            swapped = field.unsqueeze(1) - own[:, i].unsqueeze(1) + w[i].unsqueeze(0)  # (n, K, M)
            scores = self.rbm.visible_bias[i] + torch.nn.functional.softplus(swapped).sum(-1)  # (n, K)
            total += scores.gather(1, x[:, i : i + 1]).squeeze(1) - torch.logsumexp(scores, 1)
        return total

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """pseudo_nll always; the exact nll where log Z sums at most 2^16 configurations."""
        with torch.no_grad():
            out = {"pseudo_nll": -self.pseudo_log_likelihood(x).mean()}
            if self.monitor == "nll":
                out["nll"] = self.rbm.free_energy(x).mean() + self.rbm.log_partition()
        return out

    def extra_repr(self) -> str:
        return f"n_qubits={self.n_qubits}, n_outcomes={self.n_outcomes}, n_hidden={self.n_hidden}"
