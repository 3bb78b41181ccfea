"""Conditional reconstructors: one autoregressive model P(a | c) across a family of states labelled by c.

A physicist who scans a parameter (the transverse field h of an Ising chain, a detuning) measures a few points
and wants the states in between. A conditional model learns all points at once: the RNN, PixelCNN and
Transformer take a condition vector c (C real numbers, e.g. c = (h,)) and give an exact, normalised
P(a | c) for every c, so any value of c, trained on or not, is a distribution like any other model's.

References:
    H.-Y. Wang et al., "Predicting properties of quantum systems with conditional generative models",
    arXiv:2211.16943 (2022): a Transformer decoder conditioned on the Hamiltonian's parameters;
    A. van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.

How a condition enters each network (`conditioning=`): with "add" (`ConditionEncoder`), a two-layer perceptron
maps c to a learned embedding e(c), which the Transformer adds to every position's input (token + position +
e(c)), the PixelCNN adds to every position's input features, and the RNN takes as its initial hidden state
(tanh e(c), one slice per layer). With "film" (`FiLM`), the perceptron gives a scale and a shift per layer and
feature, gamma(c) * h + beta(c), applied after each of the Transformer's layer norms, to each RNN layer's output
and to each PixelCNN block's output; it starts as the identity (gamma = 1, beta = 0), so training starts from
the unconditional network. With `n_conditions=0` (the default) none of this exists: the models are unchanged.

How conditions travel through training. The Trainer hands a model (n, d) integer batches and knows nothing of
conditions, so a conditional model's training rows carry them: a row is the N outcome codes followed by one
more integer, the index of the row's condition vector in a table the model holds as a buffer
(`condition_table`, (T, C) float64; also in `config`, so a checkpoint or model file rebuilds the table before
any row is checked against it). `model.condition_rows(data)` builds the rows and
extends the table with any condition it has not seen; the model's `support` is then a `ConditionalStrings`
that validates such rows. To evaluate at one condition, `model.at(h=0.93)` is a plain model of N-symbol
strings (an `AtCondition` view, in qgen.models.autoregressive, sharing the weights) that every metric takes as it is.

Example:
    >>> import torch
    >>> from qgen.models import build
    >>> model = build("rnn", n_qubits=3, n_outcomes=4, hidden_size=8, n_conditions=1, condition_names=["h"], seed=0)
    >>> outcomes = torch.randint(0, 4, (6, 3), generator=torch.Generator().manual_seed(0))
    >>> rows = model.condition_rows(outcomes, torch.tensor([[0.5], [0.5], [1.0], [1.0], [1.5], [1.5]]))
    >>> rows.shape, model.condition_table.flatten().tolist()
    (torch.Size([6, 4]), [0.5, 1.0, 1.5])
    >>> model.at(h=0.93).sample(2, generator=0).shape   # any h, seen in training or not
    torch.Size([2, 3])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from qgen.errors import ModelError, OutcomeError
from qgen.models.base import Strings
from qgen.strings import as_outcomes

if TYPE_CHECKING:
    from qgen.models.autoregressive import AutoregressiveModel

__all__ = [
    "ConditionTable",
    "ConditionalStrings",
    "ConditionEncoder",
    "FiLM",
    "CONDITIONING",
    "check_conditioning",
    "modulate",
    "enable_conditions",
    "set_condition_table",
    "condition_rows",
    "condition_vector",
    "per_row_conditions",
]

# Width of the hidden layer of the condition perceptron: c is a handful of numbers, the map c -> e(c) smooth.
_ENCODER_HIDDEN = 64

#: How a condition enters a network: "add" (an embedding added to the inputs, the RNN's initial state) or
#: "film" (a per-layer scale and shift of the hidden features, `FiLM`).
CONDITIONING = ("add", "film")


@dataclass(frozen=True)
class ConditionalStrings(Strings):
    """The training rows of a conditional model: N outcome symbols in [0, K), then a condition index in [0, T).

    `n_sites` and `n_symbols` are the strings' N and K (what `model.n_qubits`, `model.n_outcomes` report);
    a row has N + 1 columns, the last the index of the row's condition in the model's table of T vectors.

    Example:
        >>> ConditionalStrings(2, 4, n_conditions=1, n_table=3).check([[0, 3, 2]]).tolist()
        [[0, 3, 2]]
    """

    n_conditions: int = 1
    n_table: int = 0

    def check(self, x: Any, device: torch.device | None = None) -> Tensor:
        """Validate rows (outcomes, condition index) and return them as an (n, N + 1) int64 tensor.

        Raises:
            OutcomeError: not integers, not N + 1 columns, an outcome outside [0, K) or an index outside [0, T).
        """
        n, k, width = self.n_sites, self.n_symbols, self.n_sites + 1
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) == 2 and shape[1] != width:
            raise OutcomeError(
                f"a conditional model takes rows of {width} integers: the {n} outcomes, then the index of the "
                f"row's condition in the model's table (model.condition_rows(outcomes, conditions) builds them); "
                f"got shape {shape}. To use the model at one condition, take model.at(...)"
            )
        if self.n_table == 0:
            raise OutcomeError(
                "the conditional model has no condition table yet: build its training rows with "
                "model.condition_rows(outcomes, conditions)"
            )
        rows = as_outcomes(x, width, max(k, self.n_table), device)
        if rows.numel():
            if int(rows[:, :n].max()) >= k:
                raise OutcomeError(f"outcomes (the first {n} columns) must lie in [0, {k})")
            if int(rows[:, n].max()) >= self.n_table:
                raise OutcomeError(
                    f"condition index (column {n}) must lie in [0, {self.n_table}), the rows of the model's table"
                )
        return rows


class ConditionEncoder(nn.Module):
    """c -> e(c): a perceptron with one tanh hidden layer, from C condition values to `width` features.

    Args:
        n_conditions: C, the length of a condition vector.
        width: the number of features the network adds (or uses as its initial state).
    """

    def __init__(self, n_conditions: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_conditions, _ENCODER_HIDDEN), nn.Tanh(), nn.Linear(_ENCODER_HIDDEN, width))

    def forward(self, conditions: Tensor) -> Tensor:
        """(n, C) conditions (any floating dtype) -> (n, width) features in the encoder's dtype."""
        return self.net(conditions.to(self.net[0].weight.dtype))


class FiLM(nn.Module):
    """Feature-wise linear modulation: c -> (gamma_l(c), beta_l(c)) for L layers of `width` features each.

    A layer's features h become gamma_l(c) * h + beta_l(c), feature by feature. gamma and beta come from one
    `ConditionEncoder` whose output layer starts at zero, so gamma = 1, beta = 0 at initialisation: training
    starts from the unconditional network and learns how the condition reshapes each layer.

    References:
        E. Perez, F. Strub, H. de Vries, V. Dumoulin, A. Courville, "FiLM: Visual Reasoning with a General
        Conditioning Layer", AAAI 2018 (Eq. 1-3).

    Args:
        n_conditions: C, the length of a condition vector.
        n_layers: L, the number of modulated layers.
        width: features per modulated layer.

    Example:
        >>> film = FiLM(n_conditions=1, n_layers=2, width=3)
        >>> gamma, beta = film(torch.tensor([[0.5], [1.5]]))
        >>> gamma.shape, bool((gamma == 1).all() and (beta == 0).all())
        (torch.Size([2, 2, 3]), True)
    """

    def __init__(self, n_conditions: int, n_layers: int, width: int) -> None:
        super().__init__()
        self.n_layers, self.width = n_layers, width
        self.encoder = ConditionEncoder(n_conditions, 2 * n_layers * width)
        nn.init.zeros_(self.encoder.net[-1].weight)
        nn.init.zeros_(self.encoder.net[-1].bias)

    def forward(self, conditions: Tensor) -> tuple[Tensor, Tensor]:
        """(n, C) conditions -> gamma, beta, each (n, L, width)."""
        out = self.encoder(conditions).view(-1, self.n_layers, 2, self.width)
        return 1.0 + out[:, :, 0], out[:, :, 1]


def modulate(h: Tensor, film: tuple[Tensor, Tensor] | None, layer: int, feature_dim: int = -1) -> Tensor:
    """gamma * h + beta for one layer (h unchanged when `film` is None); features along `feature_dim` of h.

    Args:
        h: (n, ..., width, ...) features of n strings.
        film: (gamma, beta), each (n, L, width), from `FiLM`; or None.
        layer: which of the L layers h is.
        feature_dim: the dimension of h that holds the features (-1: last; 1: channels-first).
    """
    if film is None:
        return h
    gamma, beta = film[0][:, layer], film[1][:, layer]
    shape = [h.shape[0]] + [1] * (h.ndim - 1)
    shape[feature_dim] = gamma.shape[1]
    return h * gamma.view(shape) + beta.view(shape)


def check_conditioning(conditioning: Any) -> str:
    """The conditioning mechanism's name, checked against `CONDITIONING`."""
    if conditioning not in CONDITIONING:
        raise ModelError(f"conditioning must be one of {list(CONDITIONING)}, got {conditioning!r}")
    return str(conditioning)


def enable_conditions(
    model: AutoregressiveModel, n_conditions: Any, condition_names: Any, condition_table: Any = None
) -> None:
    """Make `model` conditional on C = n_conditions values (a no-op for 0): names, table, row support.

    Args:
        model: the model being constructed.
        n_conditions: C >= 0; 0 with names given means len(names).
        condition_names: None (names c0, c1, ...) or C distinct non-empty strings, e.g. ["h"].
        condition_table: None (empty) or the (T, C) condition vectors that training rows index.
    """
    if isinstance(n_conditions, bool) or not isinstance(n_conditions, int) or n_conditions < 0:
        raise ModelError(f"n_conditions must be an integer >= 0, got {n_conditions!r}")
    names: tuple[str, ...] | None = None
    if condition_names is not None:
        if isinstance(condition_names, str) or not isinstance(condition_names, Sequence):
            raise ModelError(f"condition_names must be a list of strings, got {condition_names!r}")
        names = tuple(condition_names)
        if not all(isinstance(s, str) and s for s in names) or len(set(names)) != len(names):
            raise ModelError(f"condition_names must be distinct non-empty strings, got {list(names)!r}")
        if n_conditions == 0:
            n_conditions = len(names)
        elif len(names) != n_conditions:
            raise ModelError(f"{len(names)} condition_names {list(names)} for n_conditions={n_conditions}")
    if n_conditions == 0:
        if condition_table is not None:
            raise ModelError("condition_table needs n_conditions >= 1")
        return
    model.n_conditions = n_conditions
    model.condition_names = names or tuple(f"c{i}" for i in range(n_conditions))
    model.register_buffer("condition_table", torch.zeros(0, n_conditions, dtype=torch.float64))
    model.support = ConditionalStrings(model.n_qubits, model.n_outcomes, n_conditions=n_conditions, n_table=0)
    if condition_table is not None:
        table = _as_float_matrix(condition_table, n_conditions, "condition_table")
        if len(torch.unique(table, dim=0)) != len(table):
            raise ModelError("condition_table must not repeat a condition vector")
        set_condition_table(model, table)


def set_condition_table(model: AutoregressiveModel, table: Tensor) -> None:
    """Replace the model's table of condition vectors (T, C) and the row support that checks indices into it."""
    model.condition_table = table.detach().to(device=model.condition_table.device)
    model.support = dataclasses.replace(model.support, n_table=int(table.shape[0]))


def _as_float_matrix(values: Any, n_conditions: int, label: str) -> Tensor:
    """Conditions as a float64 CPU tensor of shape (n, C), finite; a (C,) vector becomes one row."""
    try:
        t = values if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise ModelError(f"{label} must be real numbers of shape (n, {n_conditions}): {err}") from None
    if t.dtype.is_complex or t.dtype == torch.bool:
        raise ModelError(f"{label} must be real numbers, got dtype {t.dtype}")
    t = t.detach().to("cpu", torch.float64)
    if t.ndim == 0 and n_conditions == 1:
        t = t.reshape(1, 1)
    if t.ndim == 1 and t.shape[0] == n_conditions:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n_conditions:
        raise ModelError(f"{label} must have shape (n, {n_conditions}) or ({n_conditions},), got {tuple(t.shape)}")
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ModelError(f"{label} must be finite: found NaN or infinity")
    return t


def _require_conditional(model: AutoregressiveModel) -> None:
    if not getattr(model, "n_conditions", 0):
        raise ModelError(f"{type(model).__name__} is not conditional (build it with n_conditions >= 1)")


def per_row_conditions(model: AutoregressiveModel, n: int, conditions: Any) -> Tensor:
    """Conditions for n rows, (n, C) float64 on the model's device: one (C,) vector repeats, (n, C) stays."""
    _require_conditional(model)
    t = _as_float_matrix(conditions, model.n_conditions, "conditions")
    if t.shape[0] == 1 and n != 1:
        t = t.expand(n, -1)
    if t.shape[0] != n:
        raise ModelError(f"conditions: {t.shape[0]} rows for {n} strings")
    return t.to(model.device)


def condition_vector(model: AutoregressiveModel, condition: Any = None, **named: float) -> Tensor:
    """One condition as a (C,) float64 tensor, from a number, a sequence, a mapping by name, or keywords.

    A mapping may hold other keys too (a state spec such as {"name": "tfim", "n_qubits": 10, "h": 0.93} gives
    h); keywords must be condition names.
    """
    _require_conditional(model)
    names = model.condition_names
    if condition is not None and named:
        raise ModelError("give the condition either as one argument or as keywords, not both")
    if named:
        unknown = sorted(set(named) - set(names))
        if unknown:
            raise ModelError(f"unknown condition {', '.join(unknown)}: this model's conditions are {list(names)}")
        condition = named
    if isinstance(condition, Mapping):
        missing = [s for s in names if s not in condition]
        if missing:
            raise ModelError(f"the condition lacks {missing}: this model's conditions are {list(names)}")
        condition = [condition[s] for s in names]
    if condition is None:
        raise ModelError(f"give a condition: values of {list(names)}")
    t = _as_float_matrix(condition, model.n_conditions, "condition")
    if t.shape[0] != 1:
        raise ModelError(f"condition must be one vector of {model.n_conditions} values, got {t.shape[0]} rows")
    return t[0]


def condition_rows(model: AutoregressiveModel, outcomes: Any, conditions: Any = None) -> Tensor:
    """Training rows for a conditional model: outcomes, then each row's index in the model's condition table.

    Condition vectors not yet in the table are appended to it (sorted, so the same data give the same table
    on a fresh model); vectors already there keep their index, so a resumed or extended run reads the same rows.

    Args:
        model: a conditional autoregressive model.
        outcomes: (n, N) integers in [0, K), or a data set with `.outcomes` (and `.conditions`).
        conditions: (n, C) per-row conditions, or one (C,) vector for every row; default: `outcomes.conditions`.

    Returns:
        (n, N + 1) integer tensor on the CPU, in the smallest unsigned dtype that holds K and the table size
        (uint8 as a rule), what `Trainer.fit` takes.
    """
    _require_conditional(model)
    if conditions is None:
        conditions = getattr(outcomes, "conditions", None)
        if conditions is None:
            raise ModelError("condition_rows needs conditions: the data carry none (no per-row condition column)")
    strings = getattr(outcomes, "outcomes", outcomes)
    x = as_outcomes(strings, model.n_qubits, model.n_outcomes, "cpu") if not isinstance(strings, np.ndarray) else None
    if x is None:
        x = as_outcomes(np.ascontiguousarray(strings), model.n_qubits, model.n_outcomes, "cpu")
    cond = _as_float_matrix(conditions, model.n_conditions, "conditions")
    if cond.shape[0] == 1 and x.shape[0] != 1:
        cond = cond.expand(x.shape[0], -1)
    if cond.shape[0] != x.shape[0]:
        raise ModelError(f"conditions: {cond.shape[0]} rows for {x.shape[0]} outcome strings")
    table = model.condition_table.detach().to("cpu")
    # Compared in the table's dtype, so a model cast to float32 still finds its float32 copies of the values.
    unique, inverse = torch.unique(cond.to(table.dtype), dim=0, return_inverse=True)
    index = torch.empty(len(unique), dtype=torch.int64)
    new = []
    for i, row in enumerate(unique):
        hit = torch.nonzero((table == row).all(dim=1)).flatten() if len(table) else torch.empty(0)
        if len(hit):
            index[i] = int(hit[0])
        else:
            index[i] = len(table) + len(new)
            new.append(row)
    if new:
        set_condition_table(model, torch.cat([table, torch.stack(new)]).to(model.condition_table.dtype))
    high = max(model.n_outcomes, len(model.condition_table))
    dtype = torch.uint8 if high <= 256 else torch.int16 if high <= 2**15 else torch.int64
    return torch.cat([x, index[inverse].unsqueeze(1)], dim=1).to(dtype)


class ConditionTable:
    """What every conditional model shares (a mixin listed before its GenerativeModel base): training rows that
    carry an index into the model's table of condition vectors, and a saved table restored before the weights.

    The model has `n_conditions` (0: not conditional) and, when conditional, a `condition_table` buffer
    (`enable_conditions`).
    """

    n_conditions: int

    def condition_rows(self, outcomes: Any, conditions: Any = None) -> Tensor:
        """Training rows: outcomes, then each row's index in the condition table (see `condition_rows`)."""
        return condition_rows(self, outcomes, conditions)  # the module-level function

    def training_data(self, data: Any) -> Any:
        """A data set with per-row conditions becomes `condition_rows(data)` for a conditional model."""
        if self.n_conditions and getattr(data, "conditions", None) is not None:
            return self.condition_rows(data)
        return data

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # A conditional model is built with an empty condition table; a saved one brings its own (T, C) table.
        table = state_dict.get(prefix + "condition_table")
        if self.n_conditions and isinstance(table, Tensor) and table.ndim == 2 and table.shape[1] == self.n_conditions:
            set_condition_table(self, torch.empty_like(table, dtype=self.condition_table.dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
