"""MPSState and MPSMeasurement against dense linear algebra, analytic GHZ values and goodness of fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgen.errors import OutcomeError, StateError
from qgen.measurement.mps import MPSMeasurement
from qgen.measurement.noise import amplitude_damping, depolarizing
from qgen.measurement.povm import NAMED_POVMS, POVM
from qgen.states.dense import DenseState
from qgen.states.exact_mps import ghz_mps, graph_mps
from qgen.states.library import ghz, graph
from qgen.states.mps import MPSState
from tests.helpers import assert_samples_fit, random_mps

NOISES = {"ideal": None, "depolarizing": depolarizing(0.1), "amplitude_damping": amplitude_damping(0.2)}


def assert_log_prob_close(lp_mps: torch.Tensor, lp_dense: torch.Tensor, tol: float) -> None:
    """log P agrees to `tol` where P is not negligible; P itself agrees to tol * max P elsewhere."""
    p_mps, p_dense = lp_mps.exp(), lp_dense.exp()
    scale = float(p_dense.max())
    assert torch.allclose(p_mps, p_dense, rtol=0, atol=tol * scale)
    big = p_dense > 1e-8 * scale
    assert torch.allclose(lp_mps[big], lp_dense[big], rtol=0, atol=tol)


@pytest.mark.parametrize("noise", list(NOISES))
@pytest.mark.parametrize("povm", NAMED_POVMS)
@pytest.mark.parametrize("name", ["ghz", "graph", "random"])
def test_log_prob_matches_dense(name: str, povm: str, noise: str) -> None:
    n = {"ghz": 6, "graph": 6, "random": 5}[name]
    if name == "ghz":
        mps, dense = ghz_mps(n), ghz(n, representation="dense")
    elif name == "graph":
        mps, dense = graph_mps(n), graph(n, representation="dense")
    else:
        mps = random_mps(n, 3, seed=1)
        dense = DenseState(vector=mps.to_dense())
    k = POVM.named(povm).n_outcomes
    strings = torch.from_numpy(np.random.default_rng(2).integers(0, k, size=(300, n)))
    m_mps, m_dense = mps.measured(povm, NOISES[noise]), dense.measured(povm, NOISES[noise])
    assert_log_prob_close(m_mps.log_prob(strings), m_dense.log_prob(strings), 1e-10)
    assert m_mps.log_prob(strings).dtype == torch.float64
    if k**n <= 5000:
        assert abs(float(m_mps.probabilities().sum()) - 1) < 1e-12


def test_exact_mps_match_library_dense_vectors() -> None:
    for n in (1, 2, 5, 9):
        assert np.allclose(ghz_mps(n).to_dense(), ghz(n, representation="dense").vector if n > 1 else [2**-0.5] * 2)
    for n in (2, 3, 8):
        assert np.allclose(graph_mps(n).to_dense(), graph(n, representation="dense").vector)
    assert ghz_mps(300).bond_dimension == 2 and graph_mps(300).bond_dimension == 2


def test_expectation_matches_dense() -> None:
    mps = random_mps(6, 4, seed=3)
    dense = DenseState(vector=mps.to_dense())
    rng = np.random.default_rng(4)
    strings = ["".join(rng.choice(list("IXYZ"), size=6)) for _ in range(40)]
    for s in strings:
        assert abs(mps.expectation(s) - dense.expectation(s)) < 1e-12
    ham = {s: float(c) for s, c in zip(strings, rng.normal(size=len(strings)))}
    assert abs(mps.expectation(ham) - dense.expectation(ham)) < 1e-11


def test_canonical_form_norm_and_dense_round_trip() -> None:
    mps = random_mps(7, 5, seed=5)
    for t in mps.tensors[1:]:
        m = t.reshape(t.shape[0], -1)
        assert np.allclose(m @ m.conj().T, np.eye(t.shape[0]), atol=1e-12)
    assert abs(mps.norm() - 1) < 1e-12
    again = MPSState.from_dense(mps.to_dense())
    assert abs(abs(np.vdot(again.to_dense(), mps.to_dense())) - 1) < 1e-12
    # Scaling every tensor by 10 changes only the recorded norm, and N = 1000 does not overflow.
    big = MPSState([10.0 * t for t in ghz_mps(1000).tensors])
    assert math.isclose(big.log_norm, 1000 * math.log(10), rel_tol=1e-12)
    assert abs(big.expectation("Z" * 1000) - 1) < 1e-10


def ghz_log_prob(elements: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log P(a) for GHZ: P = (prod M00 + prod M11 + 2 Re prod M01) / 2, summed in log space."""
    m = elements[a]  # (n, N, 2, 2)
    with np.errstate(divide="ignore"):  # tetra's M_0 = |0><0| / 2 has M_11 = 0: that product is exactly 0
        return _ghz_log_prob(m)


def _ghz_log_prob(m: np.ndarray) -> np.ndarray:
    logs = [np.log(m[..., 0, 0].real).sum(1), np.log(m[..., 1, 1].real).sum(1)]
    l01 = np.log(m[..., 0, 1].astype(np.complex128)).sum(1)
    top = np.maximum(np.maximum(logs[0], logs[1]), l01.real)
    total = np.exp(logs[0] - top) + np.exp(logs[1] - top) + 2 * np.exp(l01 - top).real
    return top + np.log(total / 2)


def test_ghz_1000_log_prob_is_stable_and_exact() -> None:
    mps = ghz_mps(1000)
    for noise in (None, depolarizing(0.05)):
        meas = mps.measured("tetra", noise)
        a = meas.sample(50, generator=torch.Generator().manual_seed(0))
        lp = meas.log_prob(a).numpy()
        assert np.all(np.isfinite(lp))
        assert np.allclose(lp, ghz_log_prob(meas.povm.elements, a.numpy()), rtol=0, atol=1e-9)


@pytest.mark.parametrize("sampler", ["kernel", "torch"])
@pytest.mark.parametrize(("povm", "noise"), [("tetra", None), ("pauli4", depolarizing(0.1)), ("trine", None)])
def test_sampler_goodness_of_fit(povm: str, noise, sampler: str) -> None:
    mps = random_mps(3, 2, seed=6) if povm != "trine" else random_mps(4, 3, seed=6, complex_=False)
    meas = MPSMeasurement(mps, povm, noise, sampler=sampler)
    n = 100_000
    a = meas.sample(n, generator=torch.Generator().manual_seed(7))
    assert_samples_fit(a, meas.probabilities().numpy(), meas.n_outcomes)


def test_sampler_is_deterministic_and_chunkable() -> None:
    meas = random_mps(6, 3, seed=8).measured("pauli6", depolarizing(0.1))
    a = meas.sample(1000, generator=torch.Generator().manual_seed(1))
    b = meas.sample(1000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.dtype == torch.int64 and a.shape == (1000, 6)
    meas.chunk_size = 300
    chunks = list(meas.iter_samples(1000, generator=torch.Generator().manual_seed(1)))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert torch.equal(torch.cat(chunks), meas.sample(1000, generator=torch.Generator().manual_seed(1)))
    assert meas.sample(0).shape == (0, 6)
    # Chunk sizes go through the one positive-integer check: no silent int(2.5) == 2, no 0 meaning "auto".
    for bad in (0, 2.5, True):
        with pytest.raises(StateError, match="chunk_size must be an integer >= 1"):
            next(meas.iter_samples(10, chunk_size=bad))
        with pytest.raises(StateError, match="chunk_size must be an integer >= 1"):
            MPSMeasurement(meas.state, "pauli6", chunk_size=bad)


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize(("povm", "noise"), [("tetra", None), ("pauli6", amplitude_damping(0.2)), ("trine", None)])
def test_kernel_and_torch_samplers_give_the_same_bits(povm: str, noise, complex_: bool) -> None:
    mps = random_mps(7, 5, seed=12, complex_=complex_)
    a = MPSMeasurement(mps, povm, noise, sampler="kernel").sample(3000, generator=torch.Generator().manual_seed(2))
    b = MPSMeasurement(mps, povm, noise, sampler="torch").sample(3000, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_kernel_bits_do_not_depend_on_chunks_or_threads() -> None:
    meas = random_mps(9, 6, seed=13).measured("tetra")
    ref = meas.sample(2000, generator=torch.Generator().manual_seed(4))
    threads = torch.get_num_threads()
    try:
        for n_threads, chunk in [(1, 2000), (2, 333), (3, 64)]:
            torch.set_num_threads(n_threads)
            meas.chunk_size = chunk
            assert torch.equal(meas.sample(2000, generator=torch.Generator().manual_seed(4)), ref)
    finally:
        torch.set_num_threads(threads)
    # The first m samples of a longer draw are the m samples of a shorter one.
    assert torch.equal(meas.sample(500, generator=torch.Generator().manual_seed(4)), ref[:500])


def test_ghz80_dual_frame_zz_estimates_agree_with_one() -> None:
    povm = POVM.named("tetra")
    a = ghz_mps(80).measured(povm).sample(100_000, generator=torch.Generator().manual_seed(11))
    c = torch.from_numpy(povm.coefficients("Z"))[a]  # (n, N): Tr(Z Q_a) per site
    pairs = c[:, :-1] * c[:, 1:]
    est, err = pairs.mean(0), pairs.std(0) / math.sqrt(len(a))
    assert torch.all((est - 1).abs() < 4 * err), (est - 1).abs().max()
    assert float(err.max()) < 0.05


def test_bad_input_raises_state_error() -> None:
    with pytest.raises(StateError, match="shape"):
        MPSState([np.ones((1, 3, 1))])
    with pytest.raises(StateError, match="bond"):
        MPSState([np.ones((1, 2, 2)), np.ones((3, 2, 1))])
    with pytest.raises(StateError, match="zero"):
        MPSState([np.zeros((1, 2, 1)), np.ones((1, 2, 1))])
    with pytest.raises(StateError, match="Pauli string"):
        ghz_mps(3).expectation("ZZ")
    with pytest.raises(OutcomeError):
        ghz_mps(3).measured("tetra").log_prob([[0, 1, 4]])
    with pytest.raises(StateError, match="sampler"):
        MPSMeasurement(ghz_mps(3), "tetra", sampler="numba")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    mps = random_mps(6, 3, seed=9)
    a = torch.randint(0, 4, (100, 6))
    cpu = mps.measured("tetra", depolarizing(0.1)).log_prob(a)
    gpu = mps.measured("tetra", depolarizing(0.1), device="cuda").log_prob(a.cuda())
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-12)
    s = mps.measured("tetra", device="cuda").sample(100, generator=torch.Generator("cuda").manual_seed(0))
    assert s.device.type == "cuda"


@pytest.mark.parametrize("noise", ["ideal", "depolarizing"])
def test_chunked_log_prob_matches_one_chunk_and_dense(noise: str) -> None:
    mps = random_mps(8, 6, seed=14)
    meas = mps.measured("tetra", NOISES[noise])
    strings = torch.from_numpy(np.random.default_rng(15).integers(0, 4, size=(1000, 8)))
    whole = meas.log_prob(strings)
    meas.log_prob_chunk_bytes = 20_000  # dozens of chunks
    assert len(meas._chunk_bounds(strings[torch.argsort(meas._prefix_keys(strings))])) > 20
    chunked = meas.log_prob(strings)
    assert_log_prob_close(chunked, whole, 1e-12)
    dense = DenseState(vector=mps.to_dense()).measured("tetra", NOISES[noise])
    assert_log_prob_close(chunked, dense.log_prob(strings), 1e-12)


@pytest.mark.parametrize("noise", ["ideal", "depolarizing"])
@pytest.mark.parametrize("real", [True, False])
def test_prefix_tree_log_prob_with_repeats_and_zero_probabilities(noise: str, real: bool) -> None:
    # Sampled strings repeat and share prefixes (what the prefix-tree walk exploits); GHZ in the Z basis adds
    # strings of probability zero. Unsorted input, results in input order, against dense linear algebra.
    mps = ghz_mps(6) if real else random_mps(6, 4, seed=21)
    meas = mps.measured("pauli6", NOISES[noise])
    sampled = meas.sample(400, generator=torch.Generator().manual_seed(3))
    zero = torch.tensor([[0, 1, 0, 0, 0, 0], [1, 0, 1, 1, 0, 1]])  # |0> then |1>: P = 0 for GHZ, ideal
    strings = torch.cat(
        [sampled, zero, sampled[:50].flip(0), torch.from_numpy(np.random.default_rng(4).integers(0, 6, size=(200, 6)))]
    )
    dense = DenseState(vector=mps.to_dense()).measured("pauli6", NOISES[noise]).log_prob(strings)
    meas.log_prob_chunk_bytes = 1  # one string per chunk
    assert_log_prob_close(meas.log_prob(strings[390:450]), dense[390:450], 1e-12)
    for budget in (20_000, 1 << 22):
        meas.log_prob_chunk_bytes = budget
        lp = meas.log_prob(strings)
        assert torch.equal(torch.isinf(lp), torch.isinf(dense))
        assert_log_prob_close(lp, dense, 1e-12)
    if real and noise == "ideal":
        assert torch.isinf(lp[400:402]).all()


def test_log_prob_chunks_respect_the_work_space_budget() -> None:
    mps = random_mps(9, 5, seed=22)
    meas = mps.measured("tetra", depolarizing(0.1))
    a = meas.sample(3000, generator=torch.Generator().manual_seed(5))
    a = a[torch.argsort(meas._prefix_keys(a))]
    site_bytes = meas._site_bytes()
    meas.log_prob_chunk_bytes = 200_000
    bounds = meas._chunk_bounds(a)
    assert bounds[0] == 0 and bounds[-1] == len(a) and len(bounds) > 3
    for start, stop in zip(bounds[:-1], bounds[1:]):
        chunk = a[start:stop]
        for i in range(9):
            distinct = len(torch.unique(chunk[:, : i + 1], dim=0))
            # the chunk's first string may bring one whole path beyond the budget
            assert distinct * site_bytes[i] <= meas.log_prob_chunk_bytes + site_bytes.max()
    assert meas.log_prob(torch.zeros(0, 9, dtype=torch.int64)).shape == (0,)
