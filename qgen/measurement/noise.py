"""Local noise channels, folded into the measurement through the adjoint channel.

Since Tr[M E(rho)] = Tr[E^dagger(M) rho], measuring the noisy state E(rho) with a POVM {M_a} is measuring the
ideal state with {E^dagger(M_a)}. Noise therefore lives in the POVM, and every exact probability and every
sampler handles it with no extra code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from qgen.errors import NoiseError
from qgen.measurement.povm import PAULI, POVM

__all__ = [
    "Channel",
    "depolarizing",
    "dephasing",
    "amplitude_damping",
    "readout_flip",
    "compose",
    "from_spec",
    "parse",
    "apply_to_povm",
    "CHANNELS",
]


class Channel:
    """A single-qubit completely positive, trace-preserving map given by Kraus operators.

    Args:
        kraus: (r, 2, 2) Kraus operators with sum_k K_k^dagger K_k = 1.
        spec: the JSON-able list of {"name": ..., parameter: value} records that rebuilds the channel.
    """

    def __init__(self, kraus: Any, spec: list[dict[str, Any]]) -> None:
        k = np.asarray(kraus, dtype=np.complex128)
        if k.ndim != 3 or k.shape[1:] != (2, 2):
            raise NoiseError(f"Kraus operators must have shape (r, 2, 2), got {k.shape}")
        dev = np.abs(np.einsum("kji,kjl->il", k.conj(), k) - np.eye(2)).max()
        if dev > 1e-12:
            raise NoiseError(f"Kraus operators are not trace preserving (deviation {dev:.3g})")
        self.kraus = k
        self.spec = spec

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """E(rho) = sum_k K rho K^dagger, for a 2x2 rho."""
        return np.einsum("kij,jl,kml->im", self.kraus, rho, self.kraus.conj())

    def adjoint(self, op: np.ndarray) -> np.ndarray:
        """E^dagger(op) = sum_k K^dagger op K, for one 2x2 op or a stack (..., 2, 2)."""
        return np.einsum("kji,...jl,klm->...im", self.kraus.conj(), op, self.kraus)

    def then(self, other: Channel) -> Channel:
        """The channel that applies self first and other second."""
        kraus = np.einsum("aij,bjk->abik", other.kraus, self.kraus).reshape(-1, 2, 2)
        # Drop Kraus operators that vanish (products of orthogonal pieces) to keep the list short.
        keep = np.abs(kraus).reshape(len(kraus), -1).max(axis=1) > 1e-15
        return Channel(kraus[keep] if keep.any() else kraus[:1], self.spec + other.spec)

    def __repr__(self) -> str:
        return "Channel(" + " -> ".join(_spec_text(s) for s in self.spec) + ")"


def _spec_text(s: dict[str, Any]) -> str:
    params = [f"{v:g}" for k, v in s.items() if k != "name"]
    return s["name"] + (":" + ",".join(params) if params else "")


def _check_probability(value: Any, name: str, channel: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NoiseError(f"{channel}: {name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0) or not np.isfinite(v):
        raise NoiseError(f"{channel}: {name} must be in [0, 1], got {v}")
    return v


def depolarizing(p: float) -> Channel:
    """rho -> (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z), the convention of Carrasquilla et al. (2019)."""
    p = _check_probability(p, "p", "depolarizing")
    kraus = [np.sqrt(1 - p) * PAULI["I"]] + [np.sqrt(p / 3) * PAULI[s] for s in "XYZ"]
    return Channel(kraus, [{"name": "depolarizing", "p": p}])


def dephasing(p: float) -> Channel:
    """rho -> (1 - p) rho + p Z rho Z (phase flip with probability p)."""
    p = _check_probability(p, "p", "dephasing")
    return Channel([np.sqrt(1 - p) * PAULI["I"], np.sqrt(p) * PAULI["Z"]], [{"name": "dephasing", "p": p}])


def amplitude_damping(gamma: float) -> Channel:
    """Decay |1> -> |0> with probability gamma (|0> is the ground state, the +1 eigenstate of Z)."""
    g = _check_probability(gamma, "gamma", "amplitude_damping")
    k0 = np.array([[1, 0], [0, np.sqrt(1 - g)]], dtype=np.complex128)
    k1 = np.array([[0, np.sqrt(g)], [0, 0]], dtype=np.complex128)
    return Channel([k0, k1], [{"name": "amplitude_damping", "gamma": g}])


def readout_flip(p: float) -> Channel:
    """Bit flip X with probability p before the measurement.

    For a computational-basis readout this is exactly a classical flip of the recorded bit with probability p.
    """
    p = _check_probability(p, "p", "readout_flip")
    return Channel([np.sqrt(1 - p) * PAULI["I"], np.sqrt(p) * PAULI["X"]], [{"name": "readout_flip", "p": p}])


CHANNELS = {
    "depolarizing": (depolarizing, "p"),
    "dephasing": (dephasing, "p"),
    "amplitude_damping": (amplitude_damping, "gamma"),
    "readout_flip": (readout_flip, "p"),
}


def compose(channels: Iterable[Channel]) -> Channel | None:
    """The channel applying each of `channels` in turn (None for an empty list)."""
    out: Channel | None = None
    for ch in channels:
        if not isinstance(ch, Channel):
            raise NoiseError(f"expected a qgen.noise.Channel, got {type(ch).__name__}")
        out = ch if out is None else out.then(ch)
    return out


def from_spec(spec: Any) -> Channel | None:
    """Rebuild a channel from its JSON spec: a list of {"name": ..., parameter: value} records."""
    if spec is None or spec == []:
        return None
    if isinstance(spec, dict):
        spec = [spec]
    chans = []
    for rec in spec:
        if not isinstance(rec, dict) or rec.get("name") not in CHANNELS:
            raise NoiseError(f"unknown noise record {rec!r}: expected a name among {', '.join(CHANNELS)}")
        fn, param = CHANNELS[rec["name"]]
        if param not in rec:
            raise NoiseError(f"noise record {rec!r} lacks its parameter {param!r}")
        chans.append(fn(rec[param]))
    return compose(chans)


def parse(texts: str | Sequence[str] | None) -> Channel | None:
    """Channels from command-line words such as "depolarizing:0.05" (several are applied in order)."""
    if texts is None:
        return None
    if isinstance(texts, str):
        texts = [texts]
    records = []
    for t in texts:
        name, sep, value = t.partition(":")
        if not sep or name not in CHANNELS:
            raise NoiseError(f"cannot read noise {t!r}: expected NAME:VALUE with NAME one of {', '.join(CHANNELS)}")
        records.append({"name": name, CHANNELS[name][1]: value})
    return from_spec(records)


def apply_to_povm(povm: POVM, noise: Channel | Sequence[Channel] | None) -> POVM:
    """The POVM {E^dagger(M_a)} that measures the ideal state as `povm` measures the noisy one."""
    if noise is None:
        return povm
    channel = noise if isinstance(noise, Channel) else compose(noise)
    if channel is None:
        return povm
    return povm.transformed(channel.adjoint(povm.elements))


def spec_of(noise: Channel | Sequence[Channel] | None) -> list[dict[str, Any]]:
    """The JSON-able record of a noise argument ([] for none)."""
    if noise is None:
        return []
    channel = noise if isinstance(noise, Channel) else compose(noise)
    return [] if channel is None else list(channel.spec)
