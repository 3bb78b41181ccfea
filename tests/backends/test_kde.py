"""KDE: matches scipy's gaussian_kde, integrates to 1 (grid in 1-D/2-D, enumeration on strings), samples agree."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from qgen.backends.kde import KDE
from qgen.data.toy import eight_gaussians, seed000_points, toy_data
from qgen.errors import ModelError
from qgen.models import load, save
from qgen.models.base import Vectors
from qgen.models.registry import build
from qgen.train import Trainer
from tests.helpers import product_samples


def _fitted(support, x, **options):
    model = KDE(support, **options).double()  # float64 from the start: the references are float64
    model.prepare(x, torch.Generator().manual_seed(0))
    return model


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_gaussian_kde_matches_scipy(rule):
    from scipy.stats import gaussian_kde

    x = toy_data("moons", 300, seed=0)
    model = _fitted(Vectors(2), x, bandwidth=rule)
    probe = toy_data("moons", 50, seed=1)
    ref = gaussian_kde(x.T.numpy(), bw_method=rule).logpdf(probe.T.numpy())
    np.testing.assert_allclose(model.log_prob(probe).numpy(), ref, rtol=1e-10)


def test_gaussian_kde_integrates_to_one_in_1d_and_2d():
    x1 = torch.as_tensor(seed000_points()).unsqueeze(1)
    m1 = _fitted(Vectors(1), x1, bandwidth="cv")
    grid = torch.linspace(-4, 4, 8001, dtype=torch.float64)
    assert abs(float(torch.trapezoid(m1.log_prob(grid.unsqueeze(1)).exp(), grid)) - 1) < 1e-8
    x2 = toy_data("8gaussians", 200, seed=0)
    m2 = _fitted(Vectors(2), x2)
    g = torch.linspace(-4.5, 4.5, 401, dtype=torch.float64)
    X, Y = torch.meshgrid(g, g, indexing="ij")
    p = m2.log_prob(torch.stack([X.reshape(-1), Y.reshape(-1)], 1)).exp().reshape(401, 401)
    assert abs(float(torch.trapezoid(torch.trapezoid(p, g, dim=1), g)) - 1) < 1e-4


def test_cross_validation_beats_scott_on_multimodal_data():
    # Scott's rule assumes one Gaussian and over-smooths eight; the leave-one-out choice fits better held out.
    x = toy_data("8gaussians", 1000, seed=0)
    held_out = toy_data("8gaussians", 2000, seed=1)
    truth = -float(eight_gaussians().log_prob(held_out).mean())
    nll = {r: -float(_fitted(Vectors(2), x, bandwidth=r).log_prob(held_out).mean()) for r in ("scott", "cv")}
    assert nll["cv"] < nll["scott"] - 0.1
    assert nll["cv"] - truth < 0.1  # measured 0.04 nats above the true density's NLL


def test_aitchison_aitken_kde_is_normalised_and_samples_agree():
    x = product_samples(400, seed=0)[:, :3]
    model = _fitted(3, x, n_outcomes=4)
    lam = float(model.lam)
    assert 0 < lam < 0.75
    strings = torch.tensor(list(itertools.product(range(4), repeat=3)))
    p = model.log_prob(strings).double().exp()
    assert abs(float(p.sum()) - 1) < 1e-5
    # Independent reference: the kernel written out site by site.
    a, b = strings[5], x
    k = torch.where(a == b, 1 - lam, lam / 3).prod(1).mean()
    assert abs(float(k) - float(p[5])) < 1e-6
    s = model.sample(40000, generator=1)
    freq = torch.bincount(s[:, 0] * 16 + s[:, 1] * 4 + s[:, 2], minlength=64).double() / len(s)
    assert float((freq - p).abs().max()) < 5 * math.sqrt(float(p.max()) / len(s))


def test_gaussian_kde_samples_agree_with_log_prob():
    x = toy_data("moons", 200, seed=0)
    model = _fitted(Vectors(2), x)
    s = model.sample(50000, generator=0)
    cov = model.scale_tril @ model.scale_tril.T
    np.testing.assert_allclose(s.mean(0).numpy(), x.mean(0).numpy(), atol=0.02)
    ref_cov = torch.cov(x.T) * (len(x) - 1) / len(x) + cov  # mixture covariance: data spread plus kernel
    np.testing.assert_allclose(torch.cov(s.T).numpy(), ref_cov.numpy(), atol=0.02)


def test_trainer_and_save_load_round_trip(tmp_path):
    x = toy_data("rings", 500, seed=0).float()
    model = build("kde", dim=2, bandwidth="cv", seed=0)
    history = Trainer(model, epochs=1, batch_size=100, progress=False).fit(x)
    assert len(history["val_loss"]) == 1 and model.points.shape == (450, 2)
    save(model, tmp_path / "k.pt")
    again = load(tmp_path / "k.pt")
    assert torch.equal(again.log_prob(x[:20]), model.log_prob(x[:20]))
    assert torch.equal(again.sample(5, generator=0), model.sample(5, generator=0))


def test_bad_input():
    with pytest.raises(ModelError, match="bandwidth"):
        KDE(Vectors(1), bandwidth="wide")
    with pytest.raises(ModelError, match="rule for vectors"):
        KDE(3, 4, bandwidth="scott")
    with pytest.raises(ModelError, match="lambda"):
        KDE(3, 4, bandwidth=0.9)
    with pytest.raises(ModelError, match="no training points"):
        KDE(Vectors(1)).log_prob(torch.zeros(1, 1))
