"""The CPU MPS sampling kernel: its cache blocks change no bits, its layouts agree with the exact P(a)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.errors import StateError
from qgen.measurement.mps import MPSMeasurement
from qgen.measurement.mps_kernels import KernelSampler
from qgen.measurement.noise import depolarizing
from qgen.states.dmrg import tfim_mps
from tests.helpers import assert_samples_fit, random_mps


def _kernel(meas: MPSMeasurement, block: int | None = None) -> KernelSampler:
    mats = [m.numpy() for m in meas._mats]
    return KernelSampler(mats, meas._chi, meas._pieces, meas._parent.numpy(), block=block)


@pytest.mark.parametrize("complex_", [True, False])
def test_blocks_do_not_change_the_bits(complex_: bool) -> None:
    # Every sample's arithmetic is its own (the passes vectorise across samples, never mix them), so any cut of
    # a chunk into blocks, including blocks that leave a remainder, gives the same strings.
    meas = MPSMeasurement(random_mps(11, 6, seed=31, complex_=complex_), "pauli4", depolarizing(0.1), sampler="kernel")
    u = meas._uniforms(1000, torch.Generator().manual_seed(3)).numpy()
    ref = _kernel(meas).sample_chunk(u)
    assert ref.shape == (1000, 11) and ref.dtype == np.int64
    for block in (1, 7, 64, 999, 5000):
        assert np.array_equal(_kernel(meas, block).sample_chunk(u), ref), block
    # The same strings as the torch path (another layout and other arithmetic) for these uniforms.
    torch_path = MPSMeasurement(meas.state, "pauli4", depolarizing(0.1), sampler="torch")
    assert np.array_equal(torch_path._sample_chunk(torch.from_numpy(u)).numpy(), ref)
    assert _kernel(meas).sample_chunk(np.zeros((0, 11))).shape == (0, 11)


def test_block_size_is_checked_and_defaults_to_the_cache_budget() -> None:
    meas = MPSMeasurement(tfim_mps(50, h=1.0), "tetra", sampler="kernel")
    # 256 KiB of work space: 8 chi + 13 + R floats per sample at chi = 22, R = 4
    assert _kernel(meas).block == (1 << 15) // (8 * 22 + 13 + 4)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(StateError, match="block must be an integer >= 1"):
            _kernel(meas, bad)


def test_small_blocks_sample_the_exact_distribution() -> None:
    # Blocks of 3 samples against exact probabilities (chi-square): the remainder paths are exact samplers too.
    meas = MPSMeasurement(random_mps(4, 3, seed=32), "tetra", sampler="kernel")
    meas.sample(1, generator=torch.Generator().manual_seed(0))  # builds the kernel
    meas._kernel.block = 3
    a = meas.sample(60_000, generator=torch.Generator().manual_seed(33))
    assert_samples_fit(a, meas.probabilities().numpy(), meas.n_outcomes)
