"""Conditional models in reports: evaluation at any parameter value, and the phase diagram across a scan.

A conditional model (qgen.models.conditional) is one distribution per value of its condition. Evaluated at a
value, it is `model.at(...)`, a plain model that `evaluate` takes as it is. The phase diagram tabulates, for
each value on a grid, the classical fidelity to the exact outcome distribution, the mean transverse
magnetisation <X> = (1/N) sum_i <X_i> and the correlation <Z_0 Z_{N/2}>, all exact: the model's K^N
probabilities come from its prefix-tree walk, the target's from its dense or MPS measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qgen.errors import MetricError
from qgen.measurement.povm import POVM
from qgen.strings import MAX_ENUMERATION

__all__ = ["evaluate_at", "phase_point", "phase_diagram", "observables_from_table"]


def observables_from_table(log_p: np.ndarray, povm: POVM, n_qubits: int) -> dict[str, float]:
    """<X> (mean over sites) and <Z_0 Z_{N/2}> of an outcome distribution given by all K^N log-probabilities.

    <O_i> = sum_a p_i(a) Tr(O Q_a) with p_i the site's marginal, and <Z_0 Z_j> = sum_ab p_0j(a, b) z_a z_b
    (DESIGN.md, the dual-frame identity): exact for the distribution, no sampling.
    """
    k = povm.n_outcomes
    p = np.exp(np.asarray(log_p, dtype=np.float64)).reshape((k,) * n_qubits)
    x, z = povm.coefficients("X").real, povm.coefficients("Z").real
    mean_x = 0.0
    for site in range(n_qubits):
        marginal = p.sum(axis=tuple(j for j in range(n_qubits) if j != site))
        mean_x += float(marginal @ x) / n_qubits
    far = n_qubits // 2
    pair = p.sum(axis=tuple(j for j in range(n_qubits) if j not in (0, far)))
    return {"x": mean_x, "zz": float(z @ pair @ z)}


def phase_point(model: Any, target: Any, povm: POVM | str) -> dict[str, float]:
    """Exact classical fidelity, <X> and <Z_0 Z_{N/2}> of a model (at one condition) and of its target.

    Args:
        model: an autoregressive model of N-symbol strings (e.g. `conditional.at(h=0.93)`), K^N enumerable.
        target: the exact state at that condition.
        povm: the POVM the model's strings were measured with (noise folded in).

    Returns:
        {"fidelity", "x", "x_exact", "zz", "zz_exact"}.
    """
    from qgen.metrics.prefix_tree import autoregressive_log_probabilities

    povm = povm if isinstance(povm, POVM) else POVM.named(povm)
    n = int(model.n_qubits)
    if povm.n_outcomes**n > MAX_ENUMERATION:
        raise MetricError(f"the phase diagram enumerates K^N = {povm.n_outcomes}^{n} strings, over the limit")
    log_q = autoregressive_log_probabilities(model)
    p = target.measured(povm).probabilities().double().cpu().numpy()
    fidelity = float(np.sum(np.sqrt(np.clip(p, 0.0, None) * np.exp(log_q))))
    model_obs = observables_from_table(log_q, povm, n)
    far = n // 2
    x_exact = float(np.mean([target.expectation("I" * i + "X" + "I" * (n - 1 - i)) for i in range(n)]))
    zz_exact = float(target.expectation("Z" + "I" * (far - 1) + "Z" + "I" * (n - far - 1)))
    return {"fidelity": fidelity, "x": model_obs["x"], "x_exact": x_exact, "zz": model_obs["zz"], "zz_exact": zz_exact}


def phase_diagram(
    model: Any, spec: dict[str, Any], parameter: str, values: Sequence[float], povm: POVM | str
) -> dict[str, Any]:
    """`phase_point` of a conditional model at each value of `parameter` (the family's other fields in `spec`).

    Returns:
        {"parameter", "values", "fidelity", "x", "x_exact", "zz", "zz_exact"}: lists aligned with values, what
        `qgen.report.plots.plot_phase_diagram` draws.
    """
    from qgen.states.library import from_spec

    out: dict[str, Any] = {"parameter": parameter, "values": [float(v) for v in values]}
    for v in out["values"]:
        point = phase_point(model.at({parameter: v}), from_spec({**spec, parameter: v}), povm)
        for key, value in point.items():
            out.setdefault(key, []).append(value)
    return out


def evaluate_at(
    model: Any, target_spec: dict[str, Any], *, data: Any = None, n_samples: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """`qgen.report.evaluation.evaluate` of a conditional model at the condition a target spec names.

    The spec's fields named like the model's conditions (e.g. "h") pick the condition; the target is the
    state the spec builds. Of a scan data set, only the rows measured at exactly that condition serve as the
    raw-data baseline (none when the value was not measured).

    Returns:
        the report dict, with "condition": {name: value}.
    """
    from qgen.report.evaluation import evaluate

    view = model.at(target_spec)
    baseline = None
    if data is not None and getattr(data, "conditions", None) is not None:
        names = list(data.condition_names)
        if all(name in names for name in view.condition_map):
            columns = [names.index(name) for name in view.condition_map]
            wanted = np.array(list(view.condition_map.values()))
            rows = np.flatnonzero(np.all(data.conditions[:, columns] == wanted, axis=1))
            baseline = data.subset(rows) if len(rows) else None
    povm = data.povm if data is not None else None
    if povm is None and getattr(model, "measurement", None):  # the POVM the model's training data were taken with
        from qgen.data.dataset import MeasurementData

        povm = MeasurementData.from_record(np.zeros((0, model.n_qubits), np.uint8), model.measurement).povm
    report = evaluate(view, dict(target_spec), data=baseline, povm=povm, n_samples=n_samples, seed=seed)
    report["condition"] = dict(view.condition_map)
    return report
