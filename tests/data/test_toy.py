"""Toy data: seed 000's shipped points, normalised exact densities, seeded samples that follow them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.data.toy import TOY_DENSITIES, seed000_density, seed000_points, toy_data, toy_density
from qgen.errors import QgenError


def test_seed000_points_are_the_tutorials():
    x = seed000_points()
    assert x.shape == (100,)
    # First, middle and last entries as printed in seed 000's data_samples array.
    assert (x[0], x[46], x[99]) == (-3.61078109e-01, 8.06578890e-04, 7.02255988e-01)
    # The array lists the 50 draws of N(-0.4, 0.3^2) first, then the 50 of N(0.6, 0.15^2).
    assert (x[:50] < 0.4).all() and (x[50:] > 0.1).all()


@pytest.mark.parametrize("name", sorted(TOY_DENSITIES))
def test_density_integrates_to_one_and_samples_follow_it(name):
    d = toy_density(name)
    axes = [torch.linspace(lo, hi, 301 if d.dim == 2 else 20001, dtype=torch.float64) for lo, hi in d.bounds]
    grid = axes[0].unsqueeze(1) if d.dim == 1 else torch.cartesian_prod(*axes)
    p = d.log_prob(grid).exp().reshape([len(a) for a in axes])
    for axis in axes:
        p = torch.trapezoid(p, axis, dim=0)
    # Smooth densities to 1e-6; the checkerboard's jumps cost the trapezoid rule O(grid step) = 4e-3.
    assert abs(float(p) - 1) < (8e-3 if name == "checkerboard" else 1e-6)
    s = d.sample(5000, generator=0)
    assert bool(torch.isfinite(d.log_prob(s)).all())  # every sample lies in the support
    lo = torch.tensor([b[0] for b in d.bounds], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in d.bounds], dtype=torch.float64)
    assert bool(((s >= lo) & (s <= hi)).all())


def test_eight_gaussians_density_and_sample_moments():
    d = toy_density("8gaussians", radius=2.0, scale=0.2)
    x = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    # At a centre: its own Gaussian's peak / 8, plus the neighbours' (distance 2 sin(pi/8) * 2 = 1.531) tails.
    angles = torch.arange(8, dtype=torch.float64) * torch.pi / 4
    centers = 2 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    ref = (torch.exp(-0.5 * ((x - centers) ** 2).sum(1) / 0.04) / (2 * torch.pi * 0.04)).mean()
    assert abs(float(d.log_prob(x).exp()) - float(ref)) < 1e-12
    s = d.sample(40000, generator=1)
    np.testing.assert_allclose((s**2).sum(1).mean().item(), 4 + 2 * 0.04, atol=0.02)


def test_seeded_and_validated():
    assert torch.equal(toy_data("rings", 10, seed=3), toy_data("rings", 10, seed=3))
    assert not torch.equal(toy_data("rings", 10, seed=3), toy_data("rings", 10, seed=4))
    assert abs(float(seed000_density().sample(20000, generator=0).mean()) - 0.1) < 0.01
    with pytest.raises(QgenError, match="unknown toy set"):
        toy_density("spirals")
    with pytest.raises(QgenError, match="noise"):
        toy_density("moons", noise=-1.0)
    with pytest.raises(QgenError, match="cells"):
        toy_density("checkerboard", cells=3)
