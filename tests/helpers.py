"""Helpers shared by the test modules: random states, dense references, goodness of fit, reference data."""

from __future__ import annotations

import os
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from qgen.pauli import PAULI
from qgen.states.mps import MPSState
from qgen.train import Trainer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference-data"

# Every goodness-of-fit test in the suite rejects at p <= 1e-3. Under a correct sampler the p-value is
# uniform on [0, 1], so a seeded test fails by bad luck with probability 1e-3 when its seed is chosen; a
# wrong distribution with the tests' sample sizes gives p-values many orders of magnitude smaller.
GOF_THRESHOLD = 1e-3
# Pearson's statistic is chi-square distributed only when every expected count is large enough; cells
# expected fewer than 5 times are pooled into one (the usual rule, e.g. Cochran, Ann. Math. Stat. 23, 315
# (1952)).
GOF_MIN_EXPECTED = 5.0


def outcome_counts(samples: Any, n_outcomes: int) -> np.ndarray:
    """Counts of each of the K^N strings among (n, N) samples, indexed with site 0 most significant.

    That is the order of `qgen.strings.all_outcomes` and of every `Measurement.probabilities()`.
    """
    a = torch.as_tensor(samples).long()
    assert a.ndim == 2, f"samples must be (n, N), got shape {tuple(a.shape)}"
    n_sites = a.shape[1]
    index = (a * n_outcomes ** torch.arange(n_sites - 1, -1, -1)).sum(1)
    return torch.bincount(index, minlength=n_outcomes**n_sites).numpy()


def chi_square_p_value(counts: Any, probabilities: Any, *, min_expected: float = GOF_MIN_EXPECTED) -> float:
    """p-value of Pearson's chi-square test of observed counts against exact probabilities of the same cells.

    Cells expected fewer than `min_expected` times are pooled into one cell (merged into the smallest other
    cell when the pool itself is still too small). A count in a cell of probability exactly 0 gives p = 0.

    Args:
        counts: (M,) non-negative integer counts.
        probabilities: (M,) exact probabilities of the cells, summing to 1 within 1e-6.
    """
    counts = np.asarray(counts)
    probs = np.asarray(probabilities, dtype=np.float64)
    assert counts.ndim == 1 and counts.shape == probs.shape, (counts.shape, probs.shape)
    assert np.all(counts >= 0) and np.all(counts == np.round(counts)), "counts must be non-negative integers"
    assert np.all(probs >= 0) and abs(probs.sum() - 1) < 1e-6, f"probabilities sum to {probs.sum()!r}, not 1"
    if counts[probs == 0].sum() > 0:
        return 0.0
    n = counts.sum()
    expected = n * probs / probs.sum()
    small = expected < min_expected
    observed = list(counts[~small].astype(np.float64))
    expect = list(expected[~small])
    if small.any():
        pooled_observed, pooled_expected = float(counts[small].sum()), float(expected[small].sum())
        if pooled_expected < min_expected and expect:
            j = int(np.argmin(expect))
            observed[j] += pooled_observed
            expect[j] += pooled_expected
        else:
            observed.append(pooled_observed)
            expect.append(pooled_expected)
    assert len(expect) >= 2, f"{n} samples leave fewer than two cells with {min_expected} expected counts"
    return float(chisquare(observed, expect).pvalue)


def assert_counts_fit(
    counts: Any, probabilities: Any, *, threshold: float = GOF_THRESHOLD, min_expected: float = GOF_MIN_EXPECTED
) -> float:
    """Assert that counts are a sample of the probabilities (chi-square p-value above `threshold`); return p."""
    p_value = chi_square_p_value(counts, probabilities, min_expected=min_expected)
    assert p_value > threshold, (
        f"counts do not follow the probabilities: chi-square p = {p_value:.3g} <= {threshold:g}\n"
        f"counts {np.asarray(counts)}\nexpected {np.sum(counts) * np.asarray(probabilities)}"
    )
    return p_value


def assert_samples_fit(samples: Any, probabilities: Any, n_outcomes: int, *, threshold: float = GOF_THRESHOLD) -> float:
    """Assert that (n, N) outcome strings are a sample of probabilities over all K^N strings (site 0 first)."""
    return assert_counts_fit(outcome_counts(samples, n_outcomes), probabilities, threshold=threshold)


def in_ci() -> bool:
    """Whether the suite runs under CI (CI=true), where reference data must be present."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_reference(path: Path) -> Path:
    """Return `path` if it exists; else skip the calling test, or fail it under CI=true.

    A skip would let CI pass without ever comparing against the reference data.
    """
    if path.exists():
        return path
    message = f"reference data not found at {path}"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it, a skip would pass CI without the comparison", pytrace=False)
    pytest.skip(message)


def random_density_matrix(n_qubits: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    dim = 2**n_qubits
    a = rng.normal(size=(dim, rank or dim)) + 1j * rng.normal(size=(dim, rank or dim))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def random_vector(n_qubits: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=2**n_qubits) + 1j * rng.normal(size=2**n_qubits)
    return v / np.linalg.norm(v)


def pauli_matrix_of(string: str) -> np.ndarray:
    op = np.ones((1, 1))
    for ch in string:
        op = np.kron(op, PAULI[ch])
    return op


def random_mps(n: int, chi: int, seed: int, complex_: bool = True) -> MPSState:
    rng = np.random.default_rng(seed)
    dims = [1] + [min(chi, 2 ** min(i, n - i)) for i in range(1, n)] + [1]
    tensors = []
    for i in range(n):
        t = rng.normal(size=(dims[i], 2, dims[i + 1]))
        if complex_:
            t = t + 1j * rng.normal(size=t.shape)
        tensors.append(t)
    return MPSState(tensors)


def tfim_vector(n: int, h: float, J: float = 1.0) -> np.ndarray:
    """Ground state of H = -J sum Z_i Z_{i+1} - h sum X_i (open chain), by dense diagonalisation."""
    H = np.zeros((2**n, 2**n))
    for i in range(n - 1):
        H -= J * reduce(np.kron, [PAULI["Z"].real if k in (i, i + 1) else np.eye(2) for k in range(n)])
    for i in range(n):
        H -= h * reduce(np.kron, [PAULI["X"].real if k == i else np.eye(2) for k in range(n)])
    return np.linalg.eigh(H)[1][:, 0].astype(np.complex128)


def tfim_hamiltonian_dict(n: int, h: float, J: float = 1.0) -> dict[str, float]:
    ham = {}
    for i in range(n - 1):
        ham["".join("Z" if k in (i, i + 1) else "I" for k in range(n))] = -J
    for i in range(n):
        ham["".join("X" if k == i else "I" for k in range(n))] = -h
    return ham


SITE_PROBS = torch.tensor(
    [[0.70, 0.10, 0.10, 0.10], [0.10, 0.60, 0.20, 0.10], [0.25, 0.25, 0.25, 0.25], [0.05, 0.05, 0.10, 0.80]],
    dtype=torch.float64,
)


def product_samples(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    columns = [torch.multinomial(p, n, replacement=True, generator=g) for p in SITE_PROBS]
    return torch.stack(columns, dim=1).to(torch.uint8)


class Interrupted(Exception):
    """Raised by InterruptedTrainer right after it wrote a checkpoint: a run killed between two epochs."""


class InterruptedTrainer(Trainer):
    """A Trainer that stops with `Interrupted` once the checkpoint of epoch `interrupt_after` is on disk."""

    def __init__(self, *args: Any, interrupt_after: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupt_after = interrupt_after

    def save_checkpoint(self, path: Any = None) -> None:
        super().save_checkpoint(path)
        if self.epoch == self.interrupt_after:
            raise Interrupted(f"stopped after epoch {self.epoch}")


def positive_product_rbm(n: int, seed: int) -> tuple[Any, MPSState, float]:
    """rbm-positive with all weights 0 (the product state psi_i(s) ~ exp(b_i(s) / 2) of its random visible biases),
    a product-state MPS target with every site rotated slightly from it, and their fidelity in closed form,
    prod_i <phi_i|psi_i>^2: a Monte Carlo fidelity check at any N."""
    from qgen.models.rbm import PositiveRBM

    model = PositiveRBM(n, n_hidden=2, n_chains=200).double()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.rbm.visible_bias.copy_(torch.as_tensor(rng.normal(size=(n, 2))))
    sites = np.exp(0.5 * model.rbm.visible_bias.detach().numpy())
    sites /= np.linalg.norm(sites, axis=1, keepdims=True)
    targets = sites + 0.1 * rng.normal(size=(n, 2))
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    closed_form = float(np.prod((targets * sites).sum(1) ** 2))
    return model, MPSState([t.reshape(1, 2, 1) for t in targets]), closed_form


def assert_chains_resume_bit_exact(make: Any, data: torch.Tensor, tmp_path: Path) -> None:
    """A model with persistent chains (`make()` builds it fresh): a run interrupted after 2 epochs and resumed
    from its checkpoint ends with the same parameters and chains as one straight run, and the chains moved."""
    options = {"epochs": 4, "batch_size": 20, "lr": 0.01, "progress": False, "seed": 1, "device": "cpu"}
    straight = make()
    start = straight.chains.clone()
    Trainer(straight, **options).fit(data)
    assert not torch.equal(straight.chains, start)
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupted):
        InterruptedTrainer(make(), checkpoint=path, interrupt_after=2, **options).fit(data)
    resumed = Trainer.resume(path, progress=False)
    resumed.fit(data)
    assert "chains" in straight.state_dict()
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
