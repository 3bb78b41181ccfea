"""The density figures of continuous data: what they draw is the density asked for, and bad input is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qgen.data.toy import seed000_density, seed000_points, toy_density
from qgen.errors import MetricError
from qgen.report.plots import plot_density_histogram, plot_samples_over_density, save_figure


def test_density_over_histogram_draws_the_densities():
    truth = seed000_density()
    fig = plot_density_histogram(
        seed000_points(), truth.log_prob, bounds=((-1.5, 1.5),), reference=truth.log_prob, points=301
    )
    (ax,) = fig.axes
    model_line, truth_line = ax.lines
    x = model_line.get_xdata()
    expected = 0.5 * np.exp(-0.5 * ((x + 0.4) / 0.3) ** 2) / (0.3 * math.sqrt(2 * math.pi)) + 0.5 * np.exp(
        -0.5 * ((x - 0.6) / 0.15) ** 2
    ) / (0.15 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(model_line.get_ydata(), expected, rtol=1e-12)
    np.testing.assert_allclose(truth_line.get_ydata(), expected, rtol=1e-12)
    # The histogram is a density: its bars integrate to the fraction of points inside the range (all 100).
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert abs(float((heights * widths).sum()) - 1.0) < 1e-12


def test_samples_over_density_shades_the_density_scaled_to_its_maximum(tmp_path):
    g8 = toy_density("8gaussians")
    samples = g8.sample(500, generator=0)
    fig = plot_samples_over_density(samples, g8.log_prob, bounds=g8.bounds, points=81, max_points=300)
    (ax,) = fig.axes
    (mesh,) = ax.collections[:1]
    shade = np.asarray(mesh.get_array()).reshape(81, 81)
    assert abs(float(shade.max()) - 1.0) < 1e-12 and float(shade.min()) >= 0
    # The darkest cell lies on one of the 8 centres (radius 2).
    iy, ix = np.unravel_index(np.argmax(shade), shade.shape)
    axis = np.linspace(*g8.bounds[0], 81)
    assert abs(math.hypot(axis[ix], axis[iy]) - 2.0) < 0.2
    assert len(ax.collections[1].get_offsets()) == 300
    path = save_figure(fig, tmp_path / "g8.png", dpi=60)
    assert path.stat().st_size < 100_000


def test_bad_input_is_refused():
    g8 = toy_density("8gaussians")
    with pytest.raises(MetricError, match="samples must have shape"):
        plot_samples_over_density(np.zeros((5, 3)), g8.log_prob, bounds=g8.bounds)
    with pytest.raises(MetricError, match="bounds"):
        plot_samples_over_density(np.zeros((5, 2)), g8.log_prob, bounds=((1, 0), (0, 1)))
    with pytest.raises(MetricError, match="data must have shape"):
        plot_density_histogram(np.zeros((5, 2)), g8.log_prob, bounds=((0, 1),))
