"""The evaluation report: a model (or raw data) against a target state, or against the data, as a JSON-able dict.

Every number in the report is an object with `value`, `stderr` and `method`, so a reader always knows which
estimator produced it (DESIGN.md, "Measurements and models meet in metrics.py").
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qgen.errors import MetricError, ModelError, QgenError
from qgen.estimate import Estimate
from qgen.files import atomic_write
from qgen.measurement.povm import POVM
from qgen.metrics import classical_fidelity, kl_divergence
from qgen.metrics.distances import AUTO_ENUMERATION
from qgen.metrics.distributions import EmpiricalDistribution, as_generator, draw, likelihood_of, tabulate
from qgen.metrics.fidelity import MAX_EXACT_QUBITS, quantum_fidelity
from qgen.metrics.normalized import normalized
from qgen.metrics.observables import NOT_DETERMINED
from qgen.metrics.positive import model_state, state_fidelity, state_observables
from qgen.report.progress import Progress
from qgen.report.targets import target_of

__all__ = [
    "evaluate",
    "exact_observables",
    "target_of",
    "run_evaluate",
    "write_json",
    "write_plots",
    "write_learning_curve",
    "EmpiricalDistribution",
]

# Seconds a report runs before `run_evaluate` shows its progress: a quick report stays silent.
PROGRESS_DELAY = 2.0

# Observables in every report: name -> (kind, Pauli letter). The same names key a data set's /reference group.
OBSERVABLES = {"magnetization_x": ("magnetization", "X"), "magnetization_z": ("magnetization", "Z")}
CORRELATIONS = {"correlation_zz": "Z"}


def _is_data(obj: Any) -> bool:
    return hasattr(obj, "outcomes") and hasattr(obj, "povm") and not hasattr(obj, "log_prob")


def exact_observables(target: Any) -> dict[str, np.ndarray]:
    """The exact values the report compares with, keyed like a data set's /reference group.

    Keys: "magnetization_x", "magnetization_z" ((N,) <X_i>, <Z_i>), "correlation_zz" ((N, N) <Z_i Z_j>, diagonal
    exactly 1 since Z^2 = I), and "energy" (0-d) when the target's spec names a Hamiltonian (its ground state).

    Args:
        target: a State (anything with n_qubits, expectation and spec).
    """
    from qgen.states.reference import reference_values

    # The same function fills a data set's /reference group (transfer-matrix sweeps for an MPS).
    names = set(OBSERVABLES) | set(CORRELATIONS) | {"energy"}
    return {k: v for k, v in reference_values(target).items() if k in names}


def _unavailable(exc: Exception) -> dict[str, Any]:
    """The entry of a number the report cannot give, with the reason (and the status, when the measurement
    does not determine it)."""
    entry: dict[str, Any] = {"value": None, "stderr": None, "method": "unavailable", "reason": str(exc)}
    if NOT_DETERMINED in str(exc):
        entry["status"] = NOT_DETERMINED
    return entry


def _safe(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """fn(...).to_dict(), or an "unavailable" entry that says why (a report is still written)."""
    try:
        return fn(*args, **kwargs).to_dict()
    except (MetricError, ModelError) as exc:
        return _unavailable(exc)


def _sample_observables(outcomes: Any, povm: POVM, hamiltonian: dict | None, model: Any = None) -> dict[str, Any]:
    """Magnetizations, correlations and the energy from outcome strings: through the dual frame, or, when `model`
    is the autoregressive model that drew them, by its conditional means (`qgen.metrics.conditional_mean`)."""
    from qgen.metrics.conditional_mean import sample_estimators

    mag, corr, expect = sample_estimators(model)
    out = {name: _safe(mag, outcomes, povm, letter) for name, (_, letter) in OBSERVABLES.items()}
    out.update({name: _safe(corr, outcomes, povm, letter) for name, letter in CORRELATIONS.items()})
    if hamiltonian is not None:
        out["energy"] = _safe(expect, outcomes, povm, hamiltonian)
    return out


def _comparable(d: Any, samples: torch.Tensor | None) -> Any:
    """d as the distances should see it: its table of log-probabilities computed once (exact likelihood, or
    unnormalized with its log Z, K^N <= AUTO_ENUMERATION), or the empirical distribution of the shared samples
    (a model without an exact likelihood), or d itself (Monte Carlo above AUTO_ENUMERATION; the metric says
    when it cannot)."""
    if d.n_outcomes**d.n_qubits > AUTO_ENUMERATION:
        return d
    if likelihood_of(d) == "unnormalized":
        d = normalized(d)  # log Z exact at this size: the model's table is then exact too
    if likelihood_of(d) == "exact":
        try:
            return tabulate(d)
        except QgenError:
            return d  # each metric then reports why it is unavailable
    if samples is not None and not isinstance(d, EmpiricalDistribution):
        return EmpiricalDistribution(samples, d.n_outcomes)
    return d


def evaluate(
    model: Any,
    target: Any = None,
    *,
    data: Any = None,
    povm: POVM | str | None = None,
    n_samples: int = 10_000,
    seed: int = 0,
    positive: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compare a model with a target state (or with the data) and return the report dict.

    Args:
        model: a GenerativeModel, a Measurement, an EmpiricalDistribution, or a MeasurementData (evaluated
            through its empirical distribution: the raw-data baseline).
        target: a State, a state spec dict (rebuilt with qgen.states.from_spec), or None for the state the data
            (or the model's data) records; with no state at all, distances are taken to the data's empirical
            distribution and observables have no exact values.
        data: the MeasurementData the model was trained on: its POVM, its recorded state, and its observables
            as the raw-data baseline.
        povm: the POVM of the outcomes (as applied, noise folded in); default: the data's, else the model's.
            Its duals estimate the noiseless state's observables, and the target is measured with it.
        n_samples: model samples drawn once and shared by every Monte-Carlo number (observables, distances
            sampled from the model, the frequencies of a model without an exact likelihood). Exact distances
            (K^N <= AUTO_ENUMERATION, exact likelihoods) come from one table of log-probabilities per
            distribution: the target's `probabilities()`, the model's prefix-tree walk.
        seed: seed of every random draw in the report.
        positive: a model of Z-basis shots without its own `as_state()` is read as the positive wavefunction
            psi = sqrt(p) (`qgen.metrics.positive.positive_state`, N <= 20): right for the ground state of a
            stoquastic Hamiltonian (TFIM), and the only way Z-basis shots give <X_i> and the energy.
        progress: told which step starts (qgen.report.progress.Progress, inside its `with` block), or None.

    A model with a state (its own `as_state()`, an RBM's, or the positive wavefunction) has its observables and
    quantum fidelity computed from that state, exactly; its sample-based observables move to "model_samples",
    and report["model"]["state"] names the state's estimator.

    Returns:
        dict with keys "n_qubits", "n_outcomes", "povm", "model", "target", "seed", "n_samples",
        "classical_fidelity", "kl_divergence" (KL(target || model)), "kl_divergence_reverse" (KL(model ||
        target)), "observables" (name -> {"model": ..., "exact": ..., "data": ...}, each with value, stderr,
        method) and, with a target, "quantum_fidelity" (from the model's state, any N it is built for; else
        reconstructed from the outcome probabilities for N <= MAX_EXACT_QUBITS). An observable the POVM as
        applied does not determine has value None and status "not determined by this measurement"; a number
        that cannot be computed has value None, method "unavailable" and the reason.
    """
    from qgen.states import from_spec
    from qgen.states.hamiltonians import hamiltonian_of

    if _is_data(model):
        data = model if data is None else data
        model = EmpiricalDistribution(model)
    n, k = int(model.n_qubits), int(model.n_outcomes)
    if data is not None and (data.n_qubits, data.povm.n_outcomes) != (n, k):
        raise MetricError(f"data has (N, K) = {(data.n_qubits, data.povm.n_outcomes)}, the model has {(n, k)}")
    povm = povm if povm is not None else (data.povm if data is not None else getattr(model, "povm", None))
    if povm is None:
        raise MetricError("no POVM: pass data= or povm= so the outcomes can be turned into observables")
    povm = POVM.from_spec(povm)
    if target is None and data is not None:
        target = target_of(data)
    if isinstance(target, dict):
        target = from_spec(target)
    if target is not None and target.n_qubits != n:
        raise MetricError(f"the target has {target.n_qubits} qubits, the model {n}")
    spec = getattr(target, "spec", None) if target is not None else None
    hamiltonian = hamiltonian_of(spec)

    step = progress.stage if progress is not None else lambda message: None
    gen = as_generator(seed)
    if target is not None:
        reference, reference_name = target.measured(povm), "target"
    elif data is not None:
        reference, reference_name = EmpiricalDistribution(data), "data"
    else:
        raise MetricError("nothing to compare with: give a target or data")
    # One set of model samples for every Monte-Carlo number: the observables, the model-sampled distances and
    # the frequencies of a model without an exact likelihood. The raw data are evaluated on all their rows.
    raw = isinstance(model, EmpiricalDistribution)
    if not raw:
        step(f"drawing {n_samples:,} model samples")
    samples = torch.from_numpy(model.outcomes) if raw else draw(model, n_samples, gen)
    # Exact distances share one table per distribution instead of enumerating all strings once per metric.
    table = f"all {k}^{n} probabilities" if k**n <= AUTO_ENUMERATION else None
    if table:
        step(f"{reference_name} table: {table}")
    ref_d = _comparable(reference, None)
    if table:
        step(f"model table: {table}")
    model_d = _comparable(model, samples)
    kw = {"n_samples": n_samples, "generator": gen}
    distances = {}
    for key, label, options in [
        ("classical_fidelity", "classical fidelity", {"samples": samples}),
        ("kl_divergence", "KL divergence", {}),
        ("kl_divergence_reverse", "reverse KL divergence", {"direction": "reverse", "samples": samples}),
    ]:
        step(label)
        fn = classical_fidelity if key == "classical_fidelity" else kl_divergence
        distances[key] = _safe(fn, ref_d, model_d, **options, **kw)
    report: dict[str, Any] = {
        "n_qubits": n,
        "n_outcomes": k,
        "povm": povm.name,
        "model": {"type": type(model).__name__, "likelihood": likelihood_of(model)},
        "target": spec if target is not None else None,
        "reference": reference_name,
        "seed": int(seed),
        "n_samples": int(n_samples),
        **distances,
    }

    step("observables of the model samples")
    model_obs = _sample_observables(samples, povm, hamiltonian, None if raw else model)
    step("the model's state")
    state = _model_state(model, povm, positive, report)
    if state is not None:
        step("observables of the model's state")
        state_obs = {name: e.to_dict() for name, e in state_observables(*state, hamiltonian).items()}
    data_obs = None
    if data is not None and not raw:
        step("observables of the data")
        data_obs = _sample_observables(data.outcomes, povm, hamiltonian)
    step("exact observables" if target is not None else "reference observables")
    exact = exact_observables(target) if target is not None else _reference_group(data)
    observables: dict[str, Any] = {}
    for name, entry in model_obs.items():
        observables[name] = {"model": entry}
        if state is not None and name in state_obs:
            observables[name] = {"model": state_obs[name], "model_samples": entry}
        if name in exact:
            method = "exact" if target is not None else "reference"
            observables[name]["exact"] = Estimate(exact[name], 0.0, method).to_dict()
        if data_obs is not None:
            observables[name]["data"] = data_obs[name]
    report["observables"] = observables
    # Beyond its dense state a model with its own Monte Carlo overlap (the RBMs' fidelity()) is measured by it.
    own = callable(getattr(model, "fidelity", None)) and target is not None and target.is_pure
    if target is not None and (state is not None or n <= MAX_EXACT_QUBITS or own):
        step("quantum fidelity")
    if target is not None and state is not None:
        report["quantum_fidelity"] = _safe(state_fidelity, state[0], target, state[1])
    elif target is not None and n <= MAX_EXACT_QUBITS:
        report["quantum_fidelity"] = _safe(quantum_fidelity, model_d, target, povm=povm, method="exact", **kw)
    elif own:
        report["quantum_fidelity"] = _safe(model.fidelity, target, method="mc", generator=int(seed))
    return report


def _model_state(model: Any, povm: POVM, positive: bool, report: dict[str, Any]) -> tuple[Any, str] | None:
    """(state, estimator name) of a model with a state (`qgen.metrics.positive.model_state`), recorded under
    report["model"]["state"]; None without one. A model whose own state cannot be built (N too large) is
    evaluated through its samples, and the report says why; `positive` on the wrong data is an error."""
    try:
        found = model_state(model, positive=positive, povm=povm)
    except MetricError as exc:
        if positive and not callable(getattr(model, "as_state", None)):
            raise
        report["model"]["state"] = _unavailable(exc)
        return None
    if found is not None:
        report["model"]["state"] = {"method": found[1], "pure": bool(found[0].is_pure)}
    return found


def _reference_group(data: Any) -> dict[str, np.ndarray]:
    ref = getattr(data, "reference", None) or {}
    names = set(OBSERVABLES) | set(CORRELATIONS) | {"energy"}
    return {key: np.asarray(value, dtype=np.float64) for key, value in ref.items() if key in names}


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, Estimate):
        return obj.to_dict()
    if isinstance(obj, (np.ndarray, np.generic)):
        return _json_ready(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write obj as indented JSON, atomically (a temporary file in the same folder, renamed into place).

    Non-finite floats become the strings "inf", "-inf", "nan" (strict JSON has no such numbers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_json_ready(obj), indent=2, allow_nan=False)
    with atomic_write(path) as tmp:
        tmp.write_text(text + "\n")


def _load_model(path: Path) -> Any:
    if path.suffix.lower() in (".h5", ".hdf5"):
        from qgen.data import load

        return load(path)
    from qgen.models import load

    return load(path)


def run_evaluate(
    model_path: str | os.PathLike,
    data_path: str | os.PathLike,
    json_path: str | os.PathLike,
    *,
    target_spec: str | dict | None = None,
    plots_dir: str | os.PathLike | None = None,
    n_samples: int = 10_000,
    seed: int = 0,
    positive: bool = False,
    progress: bool | str = False,
) -> dict[str, Any]:
    """`qgen evaluate`: load a model (.pt) or a data set (.h5) and the data, evaluate, write JSON and plots.

    Args:
        model_path: a saved model (qgen.models.load) or a data set file (evaluated as its empirical distribution).
        data_path: the data set the model was trained on (its POVM, recorded state and raw-data baseline).
        json_path: where the report goes (written atomically).
        target_spec: the target in any form `qgen.report.targets.load_target` reads (a state name, a JSON spec or
            file, a state vector, a density matrix, an MPS file or folder); default: the data's recorded state.
        plots_dir: if given, the standard figures go there as PNG (correlation_matrix, correlation_vs_distance,
            magnetization_z, magnetization_x; a figure of an observable the measurement does not determine is
            left out) and, when the model has a training history, learning_curve.png; their paths are listed
            under "plots" in the report.
        n_samples: model samples drawn for the estimates.
        seed: seed of every random draw.
        positive: read a model of Z-basis shots as the positive wavefunction sqrt(p) (`evaluate`'s `positive`).
        progress: the running step on stderr once the report has taken more than PROGRESS_DELAY seconds
            (`Progress`'s modes: True is a status line on a terminal and one line per step elsewhere; False: silent).

    Returns:
        The report dict (as written).
    """
    from qgen.data import load
    from qgen.report.targets import load_target

    with Progress("qgen evaluate", progress, delay=PROGRESS_DELAY) as bar:
        bar.stage("loading the model, the data and the target")
        data = load(data_path)
        model = _load_model(Path(model_path))
        target = None if target_spec is None else load_target(target_spec, data)
        report = evaluate(model, target, data=data, n_samples=n_samples, seed=seed, positive=positive, progress=bar)
        report["model"]["path"] = str(model_path)
        report["data"] = str(data_path)
        if target_spec is not None and not isinstance(target_spec, dict):
            report["target_source"] = str(target_spec)
        if plots_dir is not None:
            bar.stage("figures")
            report["plots"] = write_plots(report, plots_dir)
            curve = write_learning_curve(getattr(model, "history", None), plots_dir)
            if curve is not None:
                report["plots"].append(curve)
        bar.stage("writing the report")
        write_json(report, json_path)
    return report


def learning_curve_keys(history: dict[str, Any] | None) -> list[str]:
    """The history columns a learning curve shows: the classical fidelity when a callback recorded it (the demo),
    else the training and validation losses, else every other train_/val_ column; [] when there is no history."""
    if not history:
        return []

    def recorded(key: str) -> bool:
        return any(isinstance(v, int | float) and math.isfinite(v) for v in history.get(key, []))

    if recorded("classical_fidelity"):
        return ["classical_fidelity"]
    losses = [k for k in ("train_loss", "val_loss") if recorded(k)]
    if losses:
        return losses
    return sorted(k for k in history if k.startswith(("train_", "val_")) and not k.endswith("_stderr") and recorded(k))


def write_learning_curve(history: dict[str, Any] | None, plots_dir: str | os.PathLike) -> str | None:
    """learning_curve.png in plots_dir (the columns of `learning_curve_keys` per epoch); None without a history."""
    from qgen.report import plots

    keys = learning_curve_keys(history)
    if not keys:
        return None
    path = Path(plots_dir) / "learning_curve.png"
    plots.save_figure(plots.plot_learning_curve(history, keys), path)
    return str(path)


def write_plots(report: dict[str, Any], plots_dir: str | os.PathLike) -> list[str]:
    """The standard figures of a report as PNG files in plots_dir; returns their paths."""
    from qgen.report import plots

    folder = Path(plots_dir)
    obs = report["observables"]

    def values(name: str, who: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        e = obs.get(name, {}).get(who)
        if e is None or e.get("value") is None:
            return None, None
        return np.asarray(e["value"], dtype=np.float64), np.asarray(e["stderr"], dtype=np.float64)

    label = "data" if report["model"]["type"] == "EmpiricalDistribution" else "model"
    figures = {}
    # A figure is drawn only for what the model's outcomes determine: no flat zeros for unmeasured observables.
    corr, corr_err = values("correlation_zz", "model")
    if corr is not None:
        corr_exact, _ = values("correlation_zz", "exact")
        figures["correlation_matrix"] = plots.plot_correlation_matrix(corr, corr_exact, label=label)
        figures["correlation_vs_distance"] = plots.plot_correlation_vs_distance(corr, corr_err, corr_exact, label=label)
    for letter in "zx":
        m, m_err = values(f"magnetization_{letter}", "model")
        if m is None:
            continue
        m_exact, _ = values(f"magnetization_{letter}", "exact")
        d, d_err = values(f"magnetization_{letter}", "data")
        figures[f"magnetization_{letter}"] = plots.plot_magnetization(
            m, m_err, m_exact, pauli=letter.upper(), data_values=d, data_stderrs=d_err, label=label
        )
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        plots.save_figure(fig, path)
        paths.append(str(path))
    return paths
