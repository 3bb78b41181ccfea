"""The standard figures: correlation matrices, correlations against distance, magnetization, learning curves.

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
    "correlation_by_distance",
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


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a figure atomically (temporary file in the same folder, renamed into place); format from suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        # the temporary name has no image suffix: name the format
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path
