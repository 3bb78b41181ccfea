"""Measurement simulation: sample a target under a POVM and write the data set, streamed in chunks."""

from __future__ import annotations

import os
from typing import Any

import torch

from qgen.data.dataset import MeasurementData
from qgen.data.writer import MeasurementWriter
from qgen.errors import StateError
from qgen.measurement.noise import Channel, spec_of
from qgen.measurement.povm import POVM
from qgen.states.base import State
from qgen.strings import positive_int

__all__ = ["simulate", "write_simulation", "reference_for"]

# Rows sampled per chunk while streaming to a file: bounds memory at any sample count.
DEFAULT_CHUNK = 1 << 16


def reference_for(state: State) -> dict[str, Any]:
    """The exact values a data set carries in /reference (energy, magnetisations, correlation matrices),
    and for an MPS target the MPS itself (/reference/mps/site_000, ...), so evaluation never reruns a DMRG."""
    from qgen.states.mps import MPSState
    from qgen.states.reference import reference_values

    ref: dict[str, Any] = dict(reference_values(state))
    if isinstance(state, MPSState):
        ref["mps"] = {f"site_{i:03d}": t for i, t in enumerate(state.tensors)}
    return ref


def _measure(
    state: State, povm: POVM | str, noise: Channel | None, seed: int, reference: bool, device: Any
) -> tuple[Any, torch.Generator, dict[str, Any]]:
    """The measurement, its seeded generator, and the data-set fields that describe it."""
    m = state.measured(povm, noise, device=device)
    gen = torch.Generator(device=m.device).manual_seed(int(seed))
    fields = {
        "povm": m.povm,
        "ideal_povm": m.ideal_povm,
        "state": state.spec,
        "noise": spec_of(noise),
        "seed": int(seed),
        "reference": reference_for(state) if reference else {},
    }
    return m, gen, fields


def simulate(
    state: State,
    povm: POVM | str,
    n_samples: int,
    *,
    noise: Channel | None = None,
    seed: int = 0,
    reference: bool = True,
    device: Any = None,
) -> MeasurementData:
    """Measure `state` n_samples times with `povm` (after local `noise`) and return the data set in memory.

    Args:
        state: any target (dense or MPS).
        povm: a POVM or its name.
        n_samples: number of outcome strings.
        noise: a local channel applied to every qubit before the measurement.
        seed: seed of the torch.Generator the samples are drawn with; the same seed gives the same bits.
        reference: whether to compute the exact reference values of the target.
    """
    n = positive_int(n_samples, "n_samples", error=StateError)
    m, gen, fields = _measure(state, povm, noise, seed, reference, device)
    return MeasurementData(m.sample(n, generator=gen).to("cpu", torch.uint8).numpy(), **fields)


def write_simulation(
    path: str | os.PathLike,
    state: State,
    povm: POVM | str,
    n_samples: int,
    *,
    noise: Channel | None = None,
    seed: int = 0,
    reference: bool = True,
    chunk: int = DEFAULT_CHUNK,
    progress: bool | None = None,
    device: Any = None,
) -> int:
    """Sample into an HDF5 data set at `path` chunk by chunk (bounded memory; atomic rename at the end).

    Returns the number of samples written. A progress bar shows for runs of more than one chunk unless
    `progress` is False.
    """
    from tqdm.auto import tqdm

    n = positive_int(n_samples, "n_samples", error=StateError)
    chunk = positive_int(chunk, "chunk", error=StateError)  # 0 would loop forever, appending nothing
    m, gen, fields = _measure(state, povm, noise, seed, reference, device)
    show = n > chunk if progress is None else progress
    with (
        MeasurementWriter(path, n_qubits=state.n_qubits, **fields) as writer,
        tqdm(total=n, disable=not show, unit="samples", desc="sampling") as bar,
    ):
        done = 0
        while done < n:
            size = min(chunk, n - done)
            writer.append(m.sample(size, generator=gen).to("cpu", torch.uint8).numpy())
            done += size
            bar.update(size)
    return n
