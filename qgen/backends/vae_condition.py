"""A conditional VAE at one condition: a plain model of outcome strings, what metrics and reports take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Update

if TYPE_CHECKING:  # vae.py makes these views (VAE.at); importing it back would be a cycle
    from qgen.backends.vae import VAE

__all__ = ["VAEAtCondition"]


class VAEAtCondition(GenerativeModel):
    """A conditional VAE at one condition: a plain model of N-symbol strings (a lower bound) sharing the weights.

    Metrics take it like any model of strings; training it trains the shared weights at that one condition.
    Save the conditional model, not the view.

    Args:
        model: a conditional VAE.
        condition: (C,) condition values (see `qgen.models.conditional.condition_vector` for the forms).
    """

    name = "vae-at-condition"
    likelihood: ClassVar[str] = "lower_bound"
    monitor: ClassVar[str | None] = "loss"

    def __init__(self, model: VAE, condition: Any = None, **named: float) -> None:
        if type(model).__name__ != "VAE" or not getattr(model, "n_conditions", 0):
            raise ModelError(f"VAEAtCondition takes a conditional VAE, got {type(model).__name__}")
        from qgen.models.conditional import condition_vector

        vector = condition_vector(model, condition, **named)
        super().__init__(model.n_qubits, model.n_outcomes)
        self.model = model
        self.register_buffer("condition", vector.to(model.device))
        self.condition_map = {s: float(v) for s, v in zip(model.condition_names, vector.tolist())}
        self.hyperparameters = {"condition": dict(self.condition_map)}

    def log_prob(self, x: Tensor) -> Tensor:
        """The conditional VAE's bound of log p(x | c) at this condition, (n,)."""
        return self.model.log_prob(x, conditions=self.condition)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        """Draws of p(x | c) at this condition, (n, N) int64."""
        return self.model.sample(n, generator=generator, conditions=self.condition)

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        """The conditional VAE's step with every row at this condition."""
        yield self.model.bound_update(x, self.condition.unsqueeze(0).expand(x.shape[0], -1), step.generator)

    def __repr__(self) -> str:
        where = ", ".join(f"{k}={v:g}" for k, v in self.condition_map.items())
        return f"{type(self.model).__name__}.at({where})"
