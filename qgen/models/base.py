"""The GenerativeModel interface every model implements: what metrics and the Trainer see."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError

__all__ = ["GenerativeModel"]


class GenerativeModel(nn.Module, metaclass=ABCMeta):
    """A probability distribution over strings of N symbols out of K, learnt from samples.

    Models know no physics: an outcome string is a row of N integers in [0, K). Subclasses set `name` (the
    key `qgen.models.build` knows them by) and `likelihood`, and store their hyperparameters in
    `self.hyperparameters` so `config` rebuilds them.

    Attributes:
        likelihood: what `log_prob` returns: "exact" (normalised log-probability), "lower_bound" (e.g. an
            ELBO), "unnormalized" (up to a constant, e.g. an RBM's free energy) or "none".
        n_qubits: N, the length of a string.
        n_outcomes: K, the number of symbols per site.
        history: the training history (learning curves) a Trainer attached; saved with the model.
    """

    name: ClassVar[str] = ""
    likelihood: ClassVar[Literal["exact", "lower_bound", "unnormalized", "none"]] = "none"

    def __init__(self, n_qubits: int, n_outcomes: int) -> None:
        super().__init__()
        for label, value, low in (("n_qubits", n_qubits, 1), ("n_outcomes", n_outcomes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ModelError(f"{label} must be an integer >= {low}, got {value!r}")
        self.n_qubits = n_qubits
        self.n_outcomes = n_outcomes
        self.hyperparameters: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}
        # What the training data were (POVM as applied and ideal, state spec, noise), set by whoever trains
        # on a data set and saved with the model, so its samples can be written as a data set of their own.
        self.measurement: dict[str, Any] = {}

    @property
    def config(self) -> dict[str, Any]:
        """Everything `qgen.models.build(**config)` needs to rebuild this model (weights aside)."""
        return {"name": self.name, "n_qubits": self.n_qubits, "n_outcomes": self.n_outcomes, **self.hyperparameters}

    @property
    def device(self) -> torch.device:
        """The device the model's parameters live on."""
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model's parameters (float32 unless `.double()` was called)."""
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    def check_outcomes(self, x: Any) -> Tensor:
        """Validate a batch of outcome strings and return it as an int64 tensor on the model's device.

        Args:
            x: (n, N) integer tensor or array with values in [0, K); uint8 and int64 are both accepted.

        Returns:
            (n, N) int64 tensor on `self.device`.

        Raises:
            ModelError: wrong type, dtype, shape or a value outside [0, K).
        """
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(x)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ModelError(f"outcomes must be an integer tensor of shape (n, N), got {type(x).__name__}") from err
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise ModelError(f"outcomes must have an integer dtype, got {x.dtype}")
        if x.dim() != 2 or x.shape[1] != self.n_qubits:
            raise ModelError(f"outcomes must have shape (n, {self.n_qubits}) for this model, got {tuple(x.shape)}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.n_outcomes):
            raise ModelError(
                f"outcomes must lie in [0, {self.n_outcomes}), found values in [{int(x.min())}, {int(x.max())}]"
            )
        return x.to(device=self.device, dtype=torch.long)

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """log P(x) per string; what it means is `likelihood`.

        Args:
            x: (n, N) integer tensor with values in [0, K).

        Returns:
            (n,) tensor in the model's dtype.
        """

    @abstractmethod
    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Draw n strings from the model.

        Args:
            n: number of strings.
            generator: torch.Generator or integer seed; None uses the global torch RNG.

        Returns:
            (n, N) int64 tensor with values in [0, K), on the model's device.
        """

    def loss(self, x: Tensor) -> Tensor:
        """The training objective on a batch: the mean negative log-likelihood.

        Args:
            x: (n, N) integer tensor with values in [0, K).

        Returns:
            scalar tensor.
        """
        return -self.log_prob(x).mean()

    def forward(self, x: Tensor) -> Tensor:
        """The training objective, so DistributedDataParallel and torch.compile wrap `loss`."""
        return self.loss(x)
