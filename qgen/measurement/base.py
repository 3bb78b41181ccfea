"""The Measurement interface: the exact outcome distribution P(a) of a state under a local POVM."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import torch

from qgen.devices import resolve_device
from qgen.errors import StateError
from qgen.measurement.noise import Channel, apply_to_povm, spec_of
from qgen.measurement.povm import POVM
from qgen.strings import all_outcomes, positive_int

if TYPE_CHECKING:
    from qgen.states.base import State

__all__ = ["Measurement"]


class Measurement(ABC):
    """The exact outcome distribution P(a) = Tr[(M_a0 x ... x M_aN-1) rho] of a state under a local POVM.

    Attributes:
        state: the measured State.
        ideal_povm: the POVM as the experimenter meant it.
        povm: the POVM as applied, noise folded in.
        noise: the local channel applied before the measurement, or None.
    """

    likelihood = "exact"

    def __init__(self, state: State, povm: POVM | str, noise: Channel | None = None, device: Any = None):
        self.state = state
        self.ideal_povm = POVM.from_spec(povm)
        self.noise = noise
        self.povm = apply_to_povm(self.ideal_povm, noise)
        self.device = resolve_device(device)
        self.n_qubits = state.n_qubits

    @property
    def n_outcomes(self) -> int:
        return self.povm.n_outcomes

    @property
    def noise_spec(self) -> list[dict[str, Any]]:
        return spec_of(self.noise)

    @abstractmethod
    def log_prob(self, outcomes: Any) -> torch.Tensor:
        """Exact log P(a), float64, shape (n,), for outcomes of shape (n, N) with values in [0, K)."""

    @abstractmethod
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact samples, an int64 tensor of shape (n, N); the same generator state gives the same bits.

        For dense states sampled from the table of all K^N probabilities (K^N <= 2^22) or, when mixed, site by
        site across the whole batch, the bits can depend on n as well as on the generator: the first m rows of
        sample(n) are not sample(m); take subsets of one draw, not new draws. MPS measurements, and dense pure
        states beyond the table (sampled through their exact MPS), draw their uniforms sample by sample, so there
        the first m rows of sample(n) are sample(m), whatever the chunk size and thread count.
        """

    def prob(self, outcomes: Any) -> torch.Tensor:
        """Exact P(a), float64, shape (n,)."""
        return self.log_prob(outcomes).exp()

    def probabilities(self) -> torch.Tensor:
        """P over all K^N strings in lexicographic order (site 0 most significant), float64, shape (K^N,)."""
        strings = all_outcomes(self.n_outcomes, self.n_qubits, self.device)
        chunk = 1 << 16
        return torch.cat([self.prob(strings[i : i + chunk]) for i in range(0, len(strings), chunk)])

    def _check_n(self, n: Any) -> int:
        return positive_int(n, "number of samples", minimum=0, error=StateError)

    def __repr__(self) -> str:
        noise = f", noise={self.noise!r}" if self.noise is not None else ""
        return f"{type(self).__name__}(n_qubits={self.n_qubits}, povm={self.povm.name!r}{noise})"
