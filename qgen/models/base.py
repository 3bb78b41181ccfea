"""The GenerativeModel interface every model implements: what metrics and the Trainer see.

A model is a distribution over a `support`: strings of N symbols out of K (`Strings`, every reconstructor) or
real vectors (`Vectors`, the generic backends on continuous data). The Trainer knows no family: a model says
which parameter groups it has (one optimizer each) and, for each batch, yields the `Update`s to apply in order.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError, OutcomeError
from qgen.strings import as_outcomes, positive_int

if TYPE_CHECKING:
    from qgen.estimate import Estimate

__all__ = [
    "GenerativeModel",
    "MaximumLikelihood",
    "Strings",
    "Vectors",
    "Support",
    "Update",
    "Step",
    "Ranks",
    "LIKELIHOODS",
    "SAMPLINGS",
]

LIKELIHOODS = ("exact", "lower_bound", "unnormalized", "none")
SAMPLINGS = ("exact", "mcmc")


@dataclass(frozen=True)
class Strings:
    """Strings of `n_sites` symbols out of `n_symbols`: (n, N) integer batches with values in [0, K).

    Example:
        >>> Strings(3, 4).check([[0, 1, 3]]).tolist()
        [[0, 1, 3]]
    """

    n_sites: int
    n_symbols: int

    def __post_init__(self) -> None:
        # Stored as Python ints (numpy integers are accepted), so `config` writes plain JSON.
        object.__setattr__(self, "n_sites", positive_int(self.n_sites, "n_qubits (string length)", error=ModelError))
        n_symbols = positive_int(self.n_symbols, "n_outcomes (symbols per site)", minimum=2, error=ModelError)
        object.__setattr__(self, "n_symbols", n_symbols)

    def check(self, x: Any, device: torch.device | None = None) -> Tensor:
        """Validate a batch and return it as an (n, N) int64 tensor (on `device`, if given).

        Raises:
            OutcomeError: not integers, not of shape (n, N), or a value outside [0, K).
        """
        # A model takes batches only: a lone (N,) string is ambiguous here.
        return as_outcomes(x, self.n_sites, self.n_symbols, device, single=False)

    @property
    def config(self) -> dict[str, int]:
        return {"n_qubits": self.n_sites, "n_outcomes": self.n_symbols}


@dataclass(frozen=True)
class Vectors:
    """Real vectors of dimension `dim`: (n, dim) floating batches with finite values.

    Example:
        >>> Vectors(1).check([[0.5], [-1.0]]).shape
        torch.Size([2, 1])
    """

    dim: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", positive_int(self.dim, "dim", error=ModelError))

    def check(self, x: Any, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """Validate a batch and return it as an (n, dim) floating tensor.

        Raises:
            OutcomeError: not real numbers, not of shape (n, dim), or not finite.
        """
        try:
            t = x if isinstance(x, Tensor) else torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise OutcomeError(f"vectors must be a real array of shape (n, {self.dim}), got {type(x)}") from err
        if t.dtype.is_complex or t.dtype == torch.bool:
            raise OutcomeError(f"vectors must be real numbers, got dtype {t.dtype}")
        if t.ndim == 1 and self.dim == 1:
            t = t.unsqueeze(1)
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise OutcomeError(f"vectors must have shape (n, {self.dim}), got {tuple(t.shape)}")
        if not t.dtype.is_floating_point:
            t = t.to(torch.get_default_dtype())
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise OutcomeError("vectors must be finite: found NaN or infinity")
        return t.to(device=device, dtype=dtype or t.dtype)

    @property
    def config(self) -> dict[str, int]:
        return {"dim": self.dim}


Support = Strings | Vectors


@dataclass
class Update:
    """One update of one parameter group, applied by the Trainer before it asks for the next.

    Exactly one of:
      - `loss`: a scalar whose autograd gradient, with respect to the group's parameters, is the update
        direction (it may be a surrogate, e.g. contrastive divergence's F(data) - F(chains));
      - `grads`: the gradients themselves, one tensor per parameter of the group, in `parameter_groups()` order;
      - `group=None`: the model has already changed itself (a closed-form step such as EM); nothing to apply.

    The loss or gradients are means over the batch the model was given; under data parallelism the Trainer
    weighs and averages them so that the step is the one the global batch would give.

    Attributes:
        group: a key of `parameter_groups()`, or None.
        loss: scalar tensor, or None.
        grads: list of tensors shaped like the group's parameters, or None.
        log: numbers to record in the history (averaged over the epoch as "train_<key>").
    """

    group: str | None
    loss: Tensor | None = None
    grads: list[Tensor] | None = None
    log: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group is None:
            if self.loss is not None or self.grads is not None:
                raise ModelError("an Update with group=None applies nothing: it cannot carry a loss or gradients")
        elif (self.loss is None) == (self.grads is None):
            raise ModelError(f"Update of group {self.group!r} needs exactly one of loss or grads")


class Ranks:
    """The data-parallel world as a model sees it: its rank, the number of ranks, and a sum over ranks.

    In a single process, `sum` returns its argument unchanged.
    """

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank, self.world = rank, world

    def sum(self, tensor: Tensor) -> Tensor:
        """The elementwise sum of `tensor` over all ranks (a new tensor; the argument is left unchanged)."""
        out = tensor.clone()
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


@dataclass
class Step:
    """Where a training step is: its epoch, its index within the epoch, its randomness and the ranks.

    Attributes:
        epoch: the epoch (from 0).
        index: the batch index within the epoch (from 0).
        generator: the step's only source of randomness, seeded from (seed, epoch, index) and the same on
            every rank, so a resumed run draws the same numbers.
        ranks: the data-parallel world (`ranks.sum(t)` for statistics summed over ranks).
    """

    epoch: int
    index: int
    generator: torch.Generator
    ranks: Ranks = field(default_factory=Ranks)


class GenerativeModel(nn.Module, metaclass=ABCMeta):
    """A probability distribution over a support (strings or vectors), learnt from samples.

    Models know no physics: an outcome string is a row of N integers in [0, K). Subclasses set `name` (the
    key `qgen.models.build` knows them by), `likelihood` (required) and `sampling`, store their
    hyperparameters in `self.hyperparameters` so `config` rebuilds them, and implement `log_prob`, `sample`
    and `training_step` (exact-likelihood models inherit the last from `MaximumLikelihood`).

    Args:
        support: a `Strings` or `Vectors`; for strings, `GenerativeModel(n_qubits, n_outcomes)` also works.

    Attributes:
        likelihood: what `log_prob` returns: "exact" (normalised log-probability), "lower_bound" (e.g. an
            ELBO), "unnormalized" (up to a constant, e.g. an RBM's free energy) or "none" (no density).
        sampling: "exact" (independent samples) or "mcmc" (a Markov chain: samples are correlated).
        monitor: the validation metric early stopping watches ("val_<monitor>", lower is better), or None.
        support: the sample space.
        history: the training history (learning curves) a Trainer attached; saved with the model.
    """

    name: ClassVar[str] = ""
    likelihood: ClassVar[Literal["exact", "lower_bound", "unnormalized", "none"]]
    sampling: ClassVar[Literal["exact", "mcmc"]] = "exact"
    monitor: ClassVar[str | None] = None
    #: the supports the family can model: "strings", "vectors" or both (the contract tests build each)
    supports: ClassVar[tuple[str, ...]] = ("strings",)

    def __init__(self, support: Support | int, n_outcomes: int | None = None) -> None:
        super().__init__()
        if isinstance(support, (Strings, Vectors)):
            if n_outcomes is not None:
                raise ModelError("give either a support or (n_qubits, n_outcomes), not both")
        else:
            positive_int(support, "n_qubits", error=ModelError)
            positive_int(n_outcomes, "n_outcomes", minimum=2, error=ModelError)
            support = Strings(support, n_outcomes)
        likelihood = getattr(type(self), "likelihood", None)
        if likelihood not in LIKELIHOODS:
            raise ModelError(f"{type(self).__name__}.likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if type(self).sampling not in SAMPLINGS:
            raise ModelError(f"{type(self).__name__}.sampling must be one of {SAMPLINGS}, got {type(self).sampling!r}")
        self.support: Support = support
        self.hyperparameters: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}
        # What the training data were (POVM as applied and ideal, state spec, noise), set by whoever trains
        # on a data set and saved with the model, so its samples can be written as a data set of their own.
        self.measurement: dict[str, Any] = {}

    # ---- the support ---------------------------------------------------------------------------------------

    @property
    def n_qubits(self) -> int:
        """N, the length of a string (models on strings only)."""
        return self._strings().n_sites

    @property
    def n_outcomes(self) -> int:
        """K, the number of symbols per site (models on strings only)."""
        return self._strings().n_symbols

    def _strings(self) -> Strings:
        if not isinstance(self.support, Strings):
            raise ModelError(f"{type(self).__name__} models {self.support}, not strings of outcomes")
        return self.support

    @property
    def config(self) -> dict[str, Any]:
        """Everything `qgen.models.build(**config)` needs to rebuild this model (weights aside)."""
        return {"name": self.name, **self.support.config, **self.hyperparameters}

    @property
    def device(self) -> torch.device:
        """The device the model's parameters live on."""
        p = next(self.parameters(), None)
        if p is None:
            p = next(self.buffers(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model's parameters (float32 unless `.double()` was called)."""
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """The model in eval mode (no dropout) for the block, then back in the mode it had, even on error.

        Sampling and exact tables describe the distribution `log_prob` defines, which dropout would perturb.
        """
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def check_outcomes(self, x: Any) -> Tensor:
        """Validate a batch against the support and return it on the model's device.

        Args:
            x: strings: (n, N) integers in [0, K) (uint8 and int64 alike); vectors: (n, dim) finite reals.

        Returns:
            strings: (n, N) int64; vectors: (n, dim) in the model's dtype; on `self.device`.

        Raises:
            OutcomeError: wrong type, dtype, shape, or a value outside the support.
        """
        if isinstance(self.support, Vectors):
            return self.support.check(x, self.device, self.dtype)
        return self.support.check(x, self.device)

    # ---- the distribution ----------------------------------------------------------------------------------

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) per row; what it means is `likelihood` (an exact value, a lower bound, or up to log Z).

        Args:
            x: a batch of the support: (n, N) integers in [0, K), or (n, dim) reals.

        Returns:
            (n,) tensor in the model's dtype.
        """

    @abstractmethod
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Draw n points from the model.

        Args:
            n: number of samples.
            generator: torch.Generator or integer seed; None uses the global torch RNG.

        Returns:
            strings: (n, N) int64 in [0, K); vectors: (n, dim) floating; on the model's device.
        """

    def log_normalizer(self, method: str = "auto", generator: torch.Generator | int | None = None) -> Estimate:
        """log Z, the constant that `log_prob` lacks: 0 (exactly) for a normalised model.

        Args:
            method: "auto", "exact" (enumeration) or "ais" (annealed importance sampling).
            generator: randomness of a sampled estimate.

        Raises:
            ModelError: the model has no normaliser to compute (likelihood "lower_bound" or "none").
        """
        from qgen.estimate import Estimate

        if self.likelihood == "exact":
            return Estimate(0.0, 0.0, "exact")
        raise ModelError(f"{type(self).__name__} (likelihood {self.likelihood!r}) has no log-normalizer to compute")

    # ---- the training contract -----------------------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters by group, one optimizer each (default: one group "model" with every parameter)."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def default_group_options(self) -> dict[str, dict[str, Any]]:
        """Optimizer settings the family recommends per group (e.g. {"critic": {"lr": 1e-4, "betas": (0.5, 0.9)}}).

        The Trainer applies them over its own settings and under the user's `group_options`. Keys a group may
        set: lr, optimizer, weight_decay, betas, momentum, clip_grad, schedule.
        """
        return {}

    def training_data(self, data: Any) -> Any:
        """The rows the Trainer trains on, made from what the user passed to `fit` (default: the data as given).

        A model whose rows carry more than the data set's samples (a conditional model appends each row's
        condition index) builds them here, so `Trainer(model).fit(data_set)` works for it as for any model.
        """
        return data

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        """Called once before the first epoch (not on resume): data-dependent initialisation, chains.

        Args:
            train: the validated training split, on the model's device.
            generator: the randomness for the preparation.
        """

    @abstractmethod
    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """The updates of one batch, in order; the Trainer applies each before asking for the next.

        Args:
            x: the batch (validated, on the model's device): (n, N) int64 strings or (n, dim) vectors.
            step: the step's epoch, index, generator and ranks.
        """

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Scalar metrics of a held-out batch (batch means), recorded as "val_<key>"; `monitor` names one."""
        return {}


class MaximumLikelihood(GenerativeModel):
    """Training by maximum likelihood for models whose `log_prob` is exact: minimise the mean -log p(x).

    Subclasses implement `log_prob` and `sample`; `forward(x)` is the mean negative log-likelihood of a batch
    that has already been validated (subclasses may override it to skip their own validation).
    """

    likelihood: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "loss"

    def loss(self, x: Tensor) -> Tensor:
        """The mean negative log-likelihood of a batch (validated here)."""
        return -self.log_prob(x).mean()

    def forward(self, x: Tensor) -> Tensor:
        """The mean NLL of a validated batch (what `torch.compile` compiles when the Trainer is asked to)."""
        return -self.log_prob(x).mean()

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        nll = self(x)
        yield Update("model", loss=nll, log={"loss": nll.detach()})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return {"loss": self(x).detach()}
