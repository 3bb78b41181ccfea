"""The standard figures: correlations, magnetization, learning curves, densities of continuous data.

Each function builds a `matplotlib.figure.Figure` with the object-oriented API (no pyplot, so no global state
and no interactive backend) and returns it; `save_figure` writes it atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import MetricError
from qgen.estimate import Estimate
from qgen.files import atomic_write

__all__ = [
    "plot_correlation_matrix",
    "plot_correlation_vs_distance",
    "plot_magnetization",
    "plot_learning_curve",
    "plot_density_histogram",
    "plot_samples_over_density",
    "correlation_by_distance",
    "plot_phase_diagram",
    "save_figure",
]


def _figure(n_panels: int = 1, width: float = 4.5, height: float = 3.6) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, list(axes)


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _split(values: Any, stderrs: Any = None) -> tuple[Any, Any]:
    """(values, stderrs) from an Estimate (what qgen.metrics' observables return) or from the two arrays."""
    if isinstance(values, Estimate):
        return values.value, values.stderr if stderrs is None else stderrs
    return values, stderrs


def _square(values: Any, name: str) -> np.ndarray:
    c = np.asarray(values, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise MetricError(f"{name} must be a square (N, N) matrix, got shape {c.shape}")
    return c


def plot_correlation_matrix(
    model_values: Any, exact_values: Any = None, *, pauli: str = "Z", label: str = "model"
) -> Any:
    """<P_i P_j> of the model beside the exact one, on a shared colour scale.

    Args:
        model_values: (N, N) model correlations, or their Estimate (`qgen.metrics.correlation_matrix`).
        exact_values: (N, N) exact correlations, or None for the model panel alone.
        pauli: the Pauli letter, for the labels.
        label: what the model is ("model", "data", "RNN", ...).

    Returns:
        Figure with one image axis per matrix and one colour bar axis.
    """
    panels = [(label, _square(_split(model_values)[0], "model_values"))]
    if exact_values is not None:
        panels.append(("exact", _square(exact_values, "exact_values")))
        if panels[1][1].shape != panels[0][1].shape:
            raise MetricError(f"model and exact matrices differ in shape: {panels[0][1].shape} vs {panels[1][1].shape}")
    fig, axes = _figure(len(panels), width=4.0)
    limit = max(1.0, max(float(np.abs(c).max()) for _, c in panels))
    for ax, (label, c) in zip(axes, panels):
        image = ax.imshow(c, cmap="RdBu_r", vmin=-limit, vmax=limit, origin="upper")
        ax.set_title(f"{label} $\\langle {pauli}_i {pauli}_j \\rangle$")
        ax.set_xlabel("site j")
        ax.set_ylabel("site i")
        _integer_ticks(ax.xaxis)
        _integer_ticks(ax.yaxis)
    fig.colorbar(image, ax=axes, shrink=0.85)
    return fig


def correlation_by_distance(values: Any, stderrs: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average of C[i, i + r] over i for r = 1..N-1, and the standard error of that average.

    The stderr combines the entries' errors as if independent, sqrt(sum e^2) / count; entries that share
    samples are positively correlated, so this understates the error somewhat.

    Returns:
        (distances (N-1,), means (N-1,), stderrs (N-1,)).
    """
    c = _square(values, "values")
    e = np.zeros_like(c) if stderrs is None else _square(stderrs, "stderrs")
    n = c.shape[0]
    r = np.arange(1, n)
    means = np.array([np.diagonal(c, d).mean() for d in r])
    errs = np.array([np.sqrt((np.diagonal(e, d) ** 2).sum()) / (n - d) for d in r])
    return r, means, errs


def plot_correlation_vs_distance(
    model_values: Any, model_stderrs: Any = None, exact_values: Any = None, *, pauli: str = "Z", label: str = "model"
) -> Any:
    """<P_i P_{i+r}> averaged over i, against the distance r, model (error bars) and exact (line).

    `model_values` may be an Estimate (`qgen.metrics.correlation_matrix`), which carries its stderrs.

    Returns:
        Figure with one axis.
    """
    model_values, model_stderrs = _split(model_values, model_stderrs)
    fig, (ax,) = _figure()
    r, m, e = correlation_by_distance(model_values, model_stderrs)
    ax.errorbar(r, m, yerr=e, fmt="o", capsize=3, label=label)
    if exact_values is not None:
        _, x, _ = correlation_by_distance(exact_values)
        ax.plot(r, x, "-", color="k", label="exact")
    ax.set_xlabel("distance $|i - j|$")
    _integer_ticks(ax.xaxis)
    ax.set_ylabel(f"$\\langle {pauli}_i {pauli}_j \\rangle$ (average over i)")
    ax.legend()
    return fig


def plot_magnetization(
    model_values: Any,
    model_stderrs: Any = None,
    exact_values: Any = None,
    *,
    pauli: str = "Z",
    data_values: Any = None,
    data_stderrs: Any = None,
    label: str = "model",
) -> Any:
    """The profile <P_i> against the site i: model and raw data with error bars, exact as a line.

    Args:
        model_values: (N,) model magnetization, or its Estimate (`qgen.metrics.magnetization`); model_stderrs
            its (N,) errors or None.
        exact_values: (N,) exact values, or None.
        pauli: the Pauli letter, for the labels.
        data_values, data_stderrs: (N,) the raw data's estimate (or its Estimate), or None.
        label: what the model is ("model", "data", "RNN", ...).

    Returns:
        Figure with one axis.
    """
    model_values, model_stderrs = _split(model_values, model_stderrs)
    data_values, data_stderrs = _split(data_values, data_stderrs)
    m = np.asarray(model_values, dtype=np.float64).reshape(-1)
    fig, (ax,) = _figure()
    sites = np.arange(len(m))
    ax.errorbar(sites, m, yerr=model_stderrs, fmt="o", capsize=3, label=label)
    if data_values is not None:
        ax.errorbar(sites + 0.15, data_values, yerr=data_stderrs, fmt="s", capsize=3, alpha=0.7, label="data")
    if exact_values is not None:
        ax.plot(sites, np.asarray(exact_values, dtype=np.float64).reshape(-1), "-", color="k", label="exact")
    ax.set_xlabel("site i")
    _integer_ticks(ax.xaxis)
    ax.set_ylabel(f"$\\langle {pauli}_i \\rangle$")
    ax.legend()
    return fig


def plot_learning_curve(history: Any, key: str | Sequence[str] = "loss", *, log_y: bool = False) -> Any:
    """A quantity recorded during training against the epoch.

    Args:
        history: a list of per-epoch dicts ({"epoch": 3, "loss": 0.7, "fidelity": 0.9, "fidelity_stderr": ...})
            or a dict of lists. "<key>_stderr", when present, draws error bars; "epoch", when present, is the x.
        key: one key or several (one line each).
        log_y: logarithmic y axis (for a loss or a KL divergence).

    Returns:
        Figure with one axis.
    """
    if isinstance(history, Mapping):
        columns = {k: list(v) for k, v in history.items()}
    else:
        rows = list(history)
        columns = {k: [row.get(k, np.nan) for row in rows] for k in dict.fromkeys(k for row in rows for k in row)}
    keys = [key] if isinstance(key, str) else list(key)
    fig, (ax,) = _figure()
    for k in keys:
        if k not in columns:
            raise MetricError(f"history has no {k!r}; it has {sorted(columns)}")
        y = np.asarray(columns[k], dtype=np.float64)
        x = np.asarray(columns.get("epoch", np.arange(len(y))), dtype=np.float64)
        err = columns.get(f"{k}_stderr")
        ax.errorbar(x, y, yerr=None if err is None else np.asarray(err, dtype=np.float64), marker=".", label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel(keys[0] if len(keys) == 1 else "value")
    if log_y:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    return fig


def _grid_density(log_density: Any, bounds: Any, points: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """exp(log_density) on a regular grid over `bounds` (1-D or 2-D): (values shaped (points,) * d, axes)."""
    import torch

    box = np.asarray(bounds, dtype=np.float64)
    if box.ndim != 2 or box.shape[1] != 2 or box.shape[0] not in (1, 2) or not (box[:, 1] > box[:, 0]).all():
        raise MetricError(f"bounds must be ((lo, hi),) or ((lo, hi), (lo, hi)) with lo < hi, got {bounds!r}")
    axes = [np.linspace(lo, hi, points) for lo, hi in box]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
    with torch.no_grad():
        values = torch.as_tensor(log_density(torch.as_tensor(mesh))).double().cpu().numpy().reshape(-1)
    if values.shape != (mesh.shape[0],):
        raise MetricError(f"log_density must map (m, {len(axes)}) points to (m,) values, got shape {values.shape}")
    return np.exp(values).reshape((points,) * len(axes)), axes


def _points(x: Any, name: str, dim: int) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim == 1 and dim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != dim:
        raise MetricError(f"{name} must have shape (n, {dim}), got {a.shape}")
    return a


def plot_density_histogram(
    data: Any,
    log_density: Any,
    *,
    bounds: Any,
    reference: Any = None,
    bins: int = 50,
    label: str = "model",
    points: int = 1001,
) -> Any:
    """1-D: a model's density over the histogram of data (and the true density, when known).

    Args:
        data: (n,) or (n, 1) points (the training or held-out data).
        log_density: (m, 1) float64 tensor -> (m,) log-density of the model (e.g. `model.log_prob`).
        bounds: ((lo, hi),), the range drawn.
        reference: the true log-density in the same form, or None.
        bins: histogram bins over `bounds`.
        label: what the model is.
        points: grid points of the density curves.

    Returns:
        Figure with one axis.

    Example:
        >>> from qgen.data.toy import seed000_density, seed000_points
        >>> truth = seed000_density()
        >>> fig = plot_density_histogram(seed000_points(), truth.log_prob, bounds=((-1.5, 1.5),), label="truth")
        >>> len(fig.axes)
        1
    """
    x = _points(data, "data", 1)[:, 0]
    fig, (ax,) = _figure()
    ((lo, hi),) = np.asarray(bounds, dtype=np.float64).reshape(1, 2)
    ax.hist(x, bins=bins, range=(lo, hi), density=True, color="0.8", label=f"data (n = {len(x):,})")
    density, (grid,) = _grid_density(log_density, bounds, points)
    ax.plot(grid, density, "-", label=label)
    if reference is not None:
        truth, _ = _grid_density(reference, bounds, points)
        ax.plot(grid, truth, "--", color="k", label="true density")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def plot_samples_over_density(
    samples: Any,
    log_density: Any = None,
    *,
    bounds: Any,
    title: str | None = None,
    max_points: int = 1000,
    points: int = 120,
    ax: Any = None,
) -> Any:
    """2-D: samples (dots) over a density (shading), e.g. a model's samples over its own density or the truth's.

    The shading is exp(log_density) on a `points` x `points` grid, scaled to its maximum, so an unnormalised
    density (an energy model's) draws the same picture as its normalised one.

    Args:
        samples: (n, 2) points; the first `max_points` are drawn.
        log_density: (m, 2) float64 tensor -> (m,) log-density (or None: samples only).
        bounds: ((x_lo, x_hi), (y_lo, y_hi)), the box drawn.
        title: the axis title.
        max_points: at most this many dots.
        points: grid points per axis of the shading.
        ax: draw into this matplotlib axis (for a grid of panels) instead of a new figure.

    Returns:
        the Figure (a new one with one axis, or `ax`'s).

    Example:
        >>> from qgen.data.toy import toy_density
        >>> moons = toy_density("moons")
        >>> fig = plot_samples_over_density(moons.sample(200, generator=0), moons.log_prob, bounds=moons.bounds)
        >>> len(fig.axes)
        1
    """
    x = _points(samples, "samples", 2)[:max_points]
    if ax is None:
        fig, (ax,) = _figure(width=3.6, height=3.6)
    else:
        fig = ax.figure
    box = np.asarray(bounds, dtype=np.float64)
    if log_density is not None:
        density, axes = _grid_density(log_density, bounds, points)
        peak = density.max()
        shade = density / peak if np.isfinite(peak) and peak > 0 else np.zeros_like(density)
        ax.pcolormesh(axes[0], axes[1], shade.T, cmap="Blues", shading="auto", vmin=0, vmax=1, rasterized=True)
    ax.scatter(x[:, 0], x[:, 1], s=1.5, c="C3", alpha=0.6, linewidths=0)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return fig


def plot_phase_diagram(diagram: Mapping[str, Any], *, trained: Sequence[float] = (), label: str = "model") -> Any:
    """<X>, <Z_0 Z_{N/2}> and the classical fidelity against a scanned parameter: model points (trained
    values filled, held-out values open) over the exact curve.

    Args:
        diagram: what `qgen.report.conditional.phase_diagram` returns: "parameter", "values", "fidelity", "x",
            "x_exact", "zz", "zz_exact" (lists aligned with values).
        trained: the values the model was trained at (drawn filled); the others are held out.
        label: what the model is.

    Returns:
        Figure with three axes.

    Example:
        >>> d = {"parameter": "h", "values": [0.5, 1.0], "fidelity": [0.99, 0.98], "x": [0.3, 0.7],
        ...      "x_exact": [0.3, 0.7], "zz": [0.9, 0.5], "zz_exact": [0.9, 0.5]}
        >>> len(plot_phase_diagram(d, trained=[0.5]).axes)
        3
    """
    missing = [k for k in ("parameter", "values", "fidelity", "x", "x_exact", "zz", "zz_exact") if k not in diagram]
    if missing:
        raise MetricError(f"plot_phase_diagram: the diagram lacks {missing}")
    values = np.asarray(diagram["values"], dtype=np.float64)
    is_trained = np.isin(values, np.asarray(trained, dtype=np.float64))
    order = np.argsort(values)
    fig, axes = _figure(3, width=4.0)
    panels = (
        ("x", "$\\langle X \\rangle$"),
        ("zz", "$\\langle Z_0 Z_{N/2} \\rangle$"),
        ("fidelity", "classical fidelity"),
    )
    for ax, (key, ylabel) in zip(axes, panels):
        y = np.asarray(diagram[key], dtype=np.float64)
        if key != "fidelity":
            ax.plot(
                values[order],
                np.asarray(diagram[f"{key}_exact"], dtype=np.float64)[order],
                "-",
                color="k",
                label="exact",
            )
        ax.plot(values[is_trained], y[is_trained], "o", color="C0", label=f"{label}, trained")
        ax.plot(values[~is_trained], y[~is_trained], "o", mfc="none", color="C1", label=f"{label}, held out")
        ax.set_xlabel(str(diagram["parameter"]))
        ax.set_ylabel(ylabel)
    axes[0].legend()
    return fig


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a figure atomically (temporary file in the same folder, renamed into place); format from suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        # the temporary name has no image suffix: name the format
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path
