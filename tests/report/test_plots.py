"""Tests of qgen.plots: every figure function returns a Figure with the expected axes, and saving is atomic."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from qgen.errors import MetricError
from qgen.report.plots import (
    correlation_by_distance,
    plot_correlation_matrix,
    plot_correlation_vs_distance,
    plot_learning_curve,
    plot_magnetization,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _corr(n: int, xi: float) -> np.ndarray:
    i = np.arange(n)
    return np.exp(-np.abs(i[:, None] - i[None, :]) / xi)


def test_correlation_matrix_panels():
    fig = plot_correlation_matrix(_corr(5, 2.0), _corr(5, 3.0))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # model, exact, colour bar
    assert [ax.get_title() for ax in fig.axes[:2]] == [
        "model $\\langle Z_i Z_j \\rangle$",
        "exact $\\langle Z_i Z_j \\rangle$",
    ]
    assert len(plot_correlation_matrix(_corr(5, 2.0)).axes) == 2
    with pytest.raises(MetricError, match="shape"):
        plot_correlation_matrix(_corr(5, 2.0), _corr(4, 2.0))


def test_correlation_by_distance_numbers():
    c = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.4], [0.2, 0.4, 1.0]])
    e = np.array([[0.0, 0.3, 0.1], [0.3, 0.0, 0.4], [0.1, 0.4, 0.0]])
    r, m, s = correlation_by_distance(c, e)
    assert r.tolist() == [1, 2]
    assert np.allclose(m, [0.45, 0.2]) and np.allclose(s, [0.25, 0.1])


def test_correlation_vs_distance_and_magnetization():
    fig = plot_correlation_vs_distance(_corr(6, 2.0), np.full((6, 6), 0.01), _corr(6, 2.5))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) >= 2 and ax.get_legend() is not None
    fig = plot_magnetization(np.ones(6), np.full(6, 0.1), np.ones(6), pauli="X", data_values=np.ones(6))
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "$\\langle X_i \\rangle$"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["exact", "model", "data"]


def test_learning_curve_from_rows_and_columns():
    rows = [{"epoch": e, "loss": 1 / (e + 1), "fidelity": 0.5 + 0.1 * e, "fidelity_stderr": 0.01} for e in range(4)]
    fig = plot_learning_curve(rows, "loss", log_y=True)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    fig = plot_learning_curve({"loss": [3, 2, 1], "kl": [1.0, 0.5, 0.1]}, ["loss", "kl"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["loss", "kl"]
    x, y = fig.axes[0].lines[0].get_data()
    assert list(x) == [0, 1, 2] and list(y) == [3, 2, 1]
    with pytest.raises(MetricError, match="no 'nope'"):
        plot_learning_curve(rows, "nope")


def test_save_figure_writes_png_atomically(tmp_path):
    path = save_figure(plot_correlation_matrix(_corr(4, 1.0)), tmp_path / "sub" / "c.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["c.png"]
