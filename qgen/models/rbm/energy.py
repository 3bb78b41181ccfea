"""The RBM energy over one-hot K-state visible units and binary hidden units: free energy, conditionals, exact log Z."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qgen.errors import ModelError

__all__ = ["RBMEnergy", "ENUMERATION_LIMIT", "Share", "uniform", "bernoulli", "categorical"]

# Largest number of configurations (of the smaller layer) an exact log Z sums over: 2^22, a few seconds.
ENUMERATION_LIMIT = 2**22
# Configurations per chunk of an enumeration: (chunk, N*K) temporaries of a few MiB.
_CHUNK = 2**14


@dataclass(frozen=True)
class Share:
    """One rank's rows of a set of `total` chains: rows rank, rank + world, ... (torchrun's interleaved shares).

    Random numbers are drawn for all `total` rows from the generator every rank shares, and each rank keeps its
    own rows: the ranks together make exactly the draws of one process, while each advances different chains.
    """

    rank: int
    world: int
    total: int

    def rows(self, device: torch.device) -> Tensor:
        return torch.arange(self.rank, self.total, self.world, device=device)


def uniform(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
    share: Share | None = None,
    axis: int = 0,
) -> Tensor:
    """Uniforms in [0, 1) drawn on the generator's device (a CPU generator drives a CUDA model too).

    With `share`, axis `axis` of `shape` holds this rank's rows: all `share.total` rows are drawn, its rows kept.
    """
    dev = generator.device if generator is not None else device
    if share is None:
        return torch.rand(shape, generator=generator, device=dev, dtype=dtype).to(device)
    full = list(shape)
    full[axis] = share.total
    draws = torch.rand(full, generator=generator, device=dev, dtype=dtype)
    return draws.index_select(axis, share.rows(dev)).to(device)


def bernoulli(p: Tensor, generator: torch.Generator | None, share: Share | None = None, axis: int = 0) -> Tensor:
    """0/1 draws (in p's dtype) with probabilities p."""
    return (uniform(tuple(p.shape), generator, p.device, p.dtype, share, axis) < p).to(p.dtype)


def categorical(logits: Tensor, generator: torch.Generator | None, share: Share | None = None, axis: int = 0) -> Tensor:
    """Draws from softmax(logits) over the last axis (Gumbel-max), int64 of logits.shape[:-1]."""
    u = uniform(tuple(logits.shape), generator, logits.device, logits.dtype, share, axis)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    return (logits + gumbel).argmax(-1)


class RBMEnergy(nn.Module):
    """E(v, h) = -sum_i b[i, v_i] - sum_j c_j h_j - sum_ij W[i, v_i, j] h_j, v_i in [0, K), h_j in {0, 1}.

    Summing out h gives the free energy F(v) = -sum_i b[i, v_i] - sum_j softplus(c_j + sum_i W[i, v_i, j]),
    so p(v) = exp(-F(v)) / Z. With K = 2 this is the ordinary binary RBM (the biases of state 0 are a gauge).

    References:
        G. E. Hinton, "A practical guide to training restricted Boltzmann machines", UTML TR 2010-003 (2010),
        sec. 13.1 (softmax visible units).

    Args:
        n_sites: N, visible units.
        n_states: K, states per visible unit.
        n_hidden: M, hidden units.
        init_scale: standard deviation of the initial weights (drawn from torch's global RNG; biases start at 0).
    """

    def __init__(self, n_sites: int, n_states: int, n_hidden: int, init_scale: float = 0.01) -> None:
        super().__init__()
        if isinstance(n_hidden, bool) or not isinstance(n_hidden, int) or n_hidden < 1:
            raise ModelError(f"n_hidden must be a positive integer, got {n_hidden!r}")
        if not (isinstance(init_scale, (int, float)) and math.isfinite(init_scale) and init_scale >= 0):
            raise ModelError(f"init_scale must be a finite number >= 0, got {init_scale!r}")
        self.n_sites, self.n_states, self.n_hidden = n_sites, n_states, n_hidden
        self.weight = nn.Parameter(init_scale * torch.randn(n_sites, n_states, n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_sites, n_states))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    def _flat_weight(self) -> Tensor:
        return self.weight.reshape(self.n_sites * self.n_states, self.n_hidden)

    def one_hot(self, v: Tensor) -> Tensor:
        """(n, N) states -> (n, N*K) one-hot rows in the parameters' dtype."""
        return F.one_hot(v, self.n_states).to(self.weight.dtype).reshape(v.shape[0], -1)

    def hidden_field(self, v: Tensor) -> Tensor:
        """(n, M): c_j + sum_i W[i, v_i, j], the input of each hidden unit."""
        return self.hidden_bias + self.one_hot(v) @ self._flat_weight()

    def visible_term(self, v: Tensor) -> Tensor:
        """(n,): sum_i b[i, v_i]."""
        return (self.one_hot(v) * self.visible_bias.reshape(1, -1)).sum(1)

    def free_energy(self, v: Tensor) -> Tensor:
        """(n,) free energies F(v) of (n, N) int64 states."""
        return -self.visible_term(v) - F.softplus(self.hidden_field(v)).sum(1)

    def visible_logits(self, h: Tensor) -> Tensor:
        """(n, N, K): b[i, k] + sum_j W[i, k, j] h_j, the logits of each visible unit given (n, M) hiddens."""
        field = h @ self._flat_weight().T
        return self.visible_bias + field.reshape(h.shape[0], self.n_sites, self.n_states)

    def sample_hidden(
        self, v: Tensor, generator: torch.Generator | None, beta: float = 1.0, share: Share | None = None
    ) -> Tensor:
        """(n, M) hiddens drawn from p(h | v) at inverse temperature beta (0/1 in the parameters' dtype)."""
        return bernoulli(torch.sigmoid(beta * self.hidden_field(v)), generator, share)

    def sample_visible(
        self,
        h: Tensor,
        generator: torch.Generator | None,
        beta: float = 1.0,
        base_bias: Tensor | None = None,
        share: Share | None = None,
    ) -> Tensor:
        """(n, N) int64 visibles from p(v | h) at inverse temperature beta (Gumbel-max over the K logits).

        With `base_bias`, the logits are beta * (b + W h) + (1 - beta) * base_bias: the annealed chain of AIS.
        """
        logits = self.visible_logits(h)
        if beta != 1.0:
            logits = beta * logits + (0.0 if base_bias is None else (1.0 - beta) * base_bias)
        return categorical(logits, generator, share)

    def gibbs(self, v: Tensor, sweeps: int, generator: torch.Generator | None, share: Share | None = None) -> Tensor:
        """`sweeps` block-Gibbs sweeps v -> h -> v from (n, N) states (no gradient); `share`: see `Share`."""
        with torch.no_grad():
            for _ in range(sweeps):
                v = self.sample_visible(self.sample_hidden(v, generator, share=share), generator, share=share)
        return v

    # ---- the partition function by enumeration -----------------------------------------------------------------

    def enumeration_size(self, layer: str) -> int:
        """How many configurations an exact log Z sums over when it enumerates `layer`."""
        return 2**self.n_hidden if layer == "hidden" else self.n_states**self.n_sites

    def smaller_layer(self) -> str:
        """The layer with fewer configurations ("hidden" on a tie: it is the cheaper sum per configuration)."""
        return "hidden" if self.enumeration_size("hidden") <= self.enumeration_size("visible") else "visible"

    def log_partition(self, layer: str = "auto", limit: int = ENUMERATION_LIMIT) -> Tensor:
        """log Z by summing over every configuration of one layer; differentiable in the parameters.

        Over visible strings, log Z = logsumexp_v -F(v); over hidden configurations,
        log Z = logsumexp_h [c.h + sum_i logsumexp_k (b[i, k] + sum_j W[i, k, j] h_j)].

        Args:
            layer: "visible", "hidden", or "auto" (the smaller).
            limit: the most configurations to sum over.

        Raises:
            ModelError: an unknown layer, or more configurations than `limit`.
        """
        if layer == "auto":
            layer = self.smaller_layer()
        if layer not in ("visible", "hidden"):
            raise ModelError(f"layer must be 'visible', 'hidden' or 'auto', got {layer!r}")
        total = self.enumeration_size(layer)
        if total > limit:
            raise ModelError(
                f"an exact log Z over the {layer} layer sums {total:.3g} configurations, over the limit {limit}; "
                "use method='ais'"
            )
        device = self.weight.device
        width, base = (self.n_hidden, 2) if layer == "hidden" else (self.n_sites, self.n_states)
        powers = base ** torch.arange(width - 1, -1, -1, device=device)
        parts = []
        for start in range(0, total, _CHUNK):
            idx = torch.arange(start, min(total, start + _CHUNK), device=device)
            configs = (idx.unsqueeze(1) // powers) % base
            if layer == "visible":
                parts.append(-self.free_energy(configs))
            else:
                h = configs.to(self.weight.dtype)
                parts.append(h @ self.hidden_bias + torch.logsumexp(self.visible_logits(h), -1).sum(1))
        return torch.logsumexp(torch.cat(parts), 0)
