"""The CPU MPS sampling kernel: its cache blocks change no bits, its layouts agree with the exact P(a)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.errors import StateError
from qgen.measurement.mps import MPSMeasurement
from qgen.measurement.mps_kernels import KernelSampler, counter_uniforms
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
    key = 2**63 - 12345  # a key with the top bit set: the counters' uint64 arithmetic must wrap, not overflow
    ref = _kernel(meas).sample_chunk(key, 17, 1000)
    assert ref.shape == (1000, 11) and ref.dtype == np.int64
    for block in (1, 7, 64, 999, 5000):
        assert np.array_equal(_kernel(meas, block).sample_chunk(key, 17, 1000), ref), block
    # A chunk that starts later in the draw gives those samples' strings: a sample's numbers are its own.
    assert np.array_equal(_kernel(meas).sample_chunk(key, 517, 500), ref[500:])
    # The same strings as the torch path (another layout and other arithmetic) from the same uniforms.
    torch_path = MPSMeasurement(meas.state, "pauli4", depolarizing(0.1), sampler="torch")
    assert np.array_equal(torch_path._sample_chunk(torch_path._uniforms(key, 17, 1000)).numpy(), ref)
    assert _kernel(meas).sample_chunk(key, 0, 0).shape == (0, 11)


def test_counter_uniforms_are_splitmix64_and_uniform() -> None:
    """The kernel's numbers against a pure-Python SplitMix64 (Steele et al. 2014), and their distribution."""
    mask = (1 << 64) - 1

    def splitmix(key: int, counter: int) -> float:
        z = (key + (counter + 1) * 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return ((z ^ (z >> 31)) >> 11) / 2.0**53

    for key in (0, 1, 2**63 - 1, 0x0123456789ABCDEF):
        u = counter_uniforms(key, 5, 7, 3)
        expected = [[splitmix(key, (5 + j) * 3 + i) for i in range(3)] for j in range(7)]
        assert u.tolist() == expected  # bit for bit
    u = counter_uniforms(99, 0, 200_000, 5).ravel()
    # Kolmogorov-Smirnov against U(0, 1) and the lag-1 correlation of consecutive numbers
    from scipy.stats import kstest

    assert kstest(u, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / np.sqrt(len(u))


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
