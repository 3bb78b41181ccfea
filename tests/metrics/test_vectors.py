"""Vector metrics: grid KL against closed forms, held-out NLL labels, energy distance and MMD with bootstrap errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgen.backends.ebm import EBM
from qgen.backends.kde import KDE
from qgen.data.toy import eight_gaussians, gaussian_mixture_1d, toy_data
from qgen.errors import MetricError
from qgen.metrics.vectors import energy_distance, heldout_nll, kl_on_grid, mmd
from qgen.models.base import Vectors


def _gauss2(mean, std):
    def log_p(x):
        return (-0.5 * ((x - torch.tensor(mean)) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)

    return log_p


def test_kl_on_grid_matches_closed_forms():
    # 1-D: KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1) / 8 - 1/2.
    p, q = gaussian_mixture_1d([0.0], [1.0]), gaussian_mixture_1d([1.0], [2.0])
    est = kl_on_grid(p.log_prob, q.log_prob, ((-15, 15),))
    assert abs(est.value - (math.log(2) + 2 / 8 - 0.5)) < 1e-8 and est.method == "quadrature"
    # 2-D isotropic: KL = sum over axes of the 1-D values; an unnormalised q (shifted by a constant) changes nothing.
    lp, lq = _gauss2([0.0, 0.0], 0.5), _gauss2([0.3, -0.2], 0.6)
    ref = 2 * math.log(0.6 / 0.5) + (2 * 0.25 + 0.09 + 0.04) / (2 * 0.36) - 1
    est2 = kl_on_grid(lp, lambda x: lq(x) + 7.0, ((-5, 5), (-5, 5)))
    assert abs(est2.value - ref) < 1e-6 and est2.stderr < 1e-4
    with pytest.raises(MetricError, match="bounds"):
        kl_on_grid(lp, lq, ((1, 0),))


def test_heldout_nll_labels_and_values():
    x = toy_data("8gaussians", 500, seed=0)
    kde = KDE(Vectors(2)).double()
    kde.prepare(x, torch.Generator().manual_seed(0))
    held = toy_data("8gaussians", 300, seed=1)
    est = heldout_nll(kde, held)
    ref = -kde.log_prob(held).numpy()
    assert est.method == "exact" and abs(est.value - ref.mean()) < 1e-12
    assert abs(est.stderr - ref.std(ddof=1) / math.sqrt(300)) < 1e-12
    ebm = EBM(Vectors(2), hidden=(8,)).double()
    e = heldout_nll(ebm, held)
    assert e.method == "unnormalized+quadrature" and e.details["log_normalizer"]["method"] == "quadrature"
    with torch.no_grad():
        assert abs(e.value - (-float(ebm.log_prob(held).mean()) + ebm.log_normalizer().value)) < 1e-9


def test_energy_distance_and_mmd_vanish_for_equal_laws_and_detect_a_shift():
    truth = eight_gaussians()
    a, b = truth.sample(600, generator=0), truth.sample(600, generator=1)
    shifted = b + torch.tensor([1.0, 0.0], dtype=torch.float64)
    for metric in (energy_distance, mmd):
        same, diff = metric(a, b, n_bootstrap=50), metric(a, shifted, n_bootstrap=50)
        assert abs(same.value) < 3 * same.stderr + 1e-3  # unbiased: zero within its bootstrap error
        assert diff.value > same.value + 5 * diff.stderr
    # Energy distance between N(0, 1) and N(d, 1) in 1-D: 2 E|X - Y| - 2 E|X - X'| with closed forms.
    n, d = 1500, 1.0
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, generator=g, dtype=torch.float64), torch.randn(n, 1, generator=g, dtype=torch.float64) + d
    s = math.sqrt(2)
    e_xy = s * math.sqrt(2 / math.pi) * math.exp(-(d**2) / 4) + d * math.erf(d / 2)  # E|N(d, 2)|
    ref = 2 * e_xy - 2 * s * math.sqrt(2 / math.pi)
    est = energy_distance(x, y, n_bootstrap=20)
    assert abs(est.value - ref) < 4 * est.stderr
    np.testing.assert_equal(est.method, "energy_distance")
    with pytest.raises(MetricError, match="same dimension"):
        mmd(x, torch.zeros(5, 2))
