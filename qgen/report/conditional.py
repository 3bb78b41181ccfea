"""Conditional models in reports: evaluation at any parameter value, and the phase diagram across a scan.

A conditional model (qgen.models.conditional) is one distribution per value of its condition. Evaluated at a
value, it is `model.at(...)`, a plain model that `evaluate` takes as it is. The phase diagram tabulates, for
each value on a grid, the classical fidelity to the exact outcome distribution, the mean transverse
magnetisation <X> = (1/N) sum_i <X_i> and the correlation <Z_0 Z_{N/2}>. Where the K^N strings can be
enumerated (N = 10 with four outcomes) every number is exact: the model's K^N probabilities come from its
prefix-tree walk, the target's from its dense or MPS measurement. Beyond that (N = 50, MPS targets) they are
sampled, each with its standard error, and each number's estimator is named in the result (`methods`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qgen.errors import MetricError
from qgen.measurement.povm import POVM
from qgen.strings import MAX_ENUMERATION

__all__ = [
    "evaluate_at",
    "phase_point",
    "phase_diagram",
    "observables_from_table",
    "choose_method",
    "sampled_methods",
    "EXACT_METHODS",
]


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


#: Names of the estimators behind each number of a phase point (its "methods"), exact or sampled.
EXACT_METHODS = {
    "fidelity": "exact: sum over all K^N strings (model by its prefix-tree walk)",
    "observables": "exact: the model's K^N probability table through the dual frame",
    "exact": "the target state's expectation value (dense vector or MPS)",
}


def sampled_methods(n_samples: int, conditional: bool = False) -> dict[str, str]:
    """The estimator names of a sampled phase point with `n_samples` samples per estimate.

    `conditional`: the observables' last sites are the model's exact conditional means (an autoregressive model,
    `qgen.metrics.conditional_mean`) rather than dual-frame values of sampled outcomes.

    Example:
        >>> sampled_methods(10_000)["fidelity"]
        'mc: E_{a~p}[sqrt(q(a)/p(a))] over 10,000 exact samples of the target p (qgen.metrics.classical_fidelity)'
    """
    if conditional:
        observables = (
            f"mc-conditional: mean of {n_samples:,} model samples through the dual frame, each term's last site "
            "by the model's exact conditional mean (qgen.metrics.conditional_mean)"
        )
    else:
        observables = (
            f"mc-dual: mean of {n_samples:,} model samples through the dual frame "
            "(qgen.metrics.observables.expectation)"
        )
    return {
        "fidelity": f"mc: E_{{a~p}}[sqrt(q(a)/p(a))] over {n_samples:,} exact samples of the target p "
        "(qgen.metrics.classical_fidelity)",
        "observables": observables,
        "exact": EXACT_METHODS["exact"],
    }


def choose_method(method: str, n_qubits: int, n_outcomes: int) -> str:
    """ "exact" or "sampled" for `method` ("auto", "exact" or "sampled") on K^N strings.

    "auto" enumerates up to `qgen.metrics.AUTO_ENUMERATION` strings (4^10) and samples beyond; "exact" refuses
    more than `qgen.strings.MAX_ENUMERATION`.

    Example:
        >>> choose_method("auto", 10, 4), choose_method("auto", 50, 4)
        ('exact', 'sampled')
    """
    from qgen.metrics import AUTO_ENUMERATION

    if method not in ("auto", "exact", "sampled"):
        raise MetricError(f"method must be 'auto', 'exact' or 'sampled', got {method!r}")
    size = n_outcomes**n_qubits
    if method == "exact" and size > MAX_ENUMERATION:
        raise MetricError(
            f"method 'exact' enumerates K^N = {n_outcomes}^{n_qubits} strings, over the limit of {MAX_ENUMERATION:,}: "
            "use method 'sampled'"
        )
    if method == "auto":
        return "exact" if size <= AUTO_ENUMERATION else "sampled"
    return method


def _exact_values(target: Any, n: int) -> tuple[float, float]:
    far = n // 2
    x = float(np.mean([np.real(target.expectation("I" * i + "X" + "I" * (n - 1 - i))) for i in range(n)]))
    zz = float(np.real(target.expectation("Z" + "I" * (far - 1) + "Z" + "I" * (n - far - 1))))
    return x, zz


def phase_point(
    model: Any,
    target: Any,
    povm: POVM | str,
    *,
    method: str = "auto",
    n_samples: int = 10_000,
    seed: int | Any = 0,
) -> dict[str, Any]:
    """Classical fidelity, <X> and <Z_0 Z_{N/2}> of a model (at one condition), and the target's exact values.

    Exact (all K^N strings enumerated; stderr 0) or sampled, by `method`:

    - fidelity F = sum_a sqrt(p(a) q(a)) = E_{a~p}[sqrt(q(a)/p(a))] (Carrasquilla et al., Nat. Mach. Intell.
      1, 155 (2019), Methods), averaged over `n_samples` exact samples of the target's outcome distribution p
      (an MPS samples them cheaply) and the model's exact log q; the standard error is that of the mean;
    - <X> = (1/N) sum_i <X_i> and <Z_0 Z_{N/2}> from `n_samples` model samples through the dual frame
      (DESIGN.md), with the standard error of the mean; for an autoregressive model the last site of each term
      is the model's exact conditional mean given the sample's earlier sites (`qgen.metrics.conditional_mean`:
      the same value, several times less noise);
    - the exact values always from the target itself (`target.expectation`: dense, or the MPS of a DMRG).

    Args:
        model: a model of N-symbol strings with an exact likelihood (e.g. `conditional.at(h=0.93)`); the exact
            method needs an autoregressive one (prefix-tree walk).
        target: the exact state at that condition (dense or MPS).
        povm: the POVM the model's strings were measured with (noise folded in).
        method: "auto" (exact up to `AUTO_ENUMERATION` strings, sampled beyond), "exact" or "sampled".
        n_samples: samples per sampled estimate (target samples for F, model samples for the observables).
        seed: integer seed or torch.Generator of the samples.

    Returns:
        {"fidelity", "fidelity_stderr", "x", "x_stderr", "x_exact", "zz", "zz_stderr", "zz_exact"} (floats),
        "method" ("exact" or "sampled") and "methods" (the estimator of each kind of number).
    """
    import torch

    from qgen.metrics.distributions import as_generator

    povm = povm if isinstance(povm, POVM) else POVM.named(povm)
    n = int(model.n_qubits)
    if int(target.n_qubits) != n:
        raise MetricError(f"the model has N = {n} qubits but the target {target.n_qubits}")
    chosen = choose_method(method, n, povm.n_outcomes)
    x_exact, zz_exact = _exact_values(target, n)
    out: dict[str, Any] = {"x_exact": x_exact, "zz_exact": zz_exact, "method": chosen}
    if chosen == "exact":
        from qgen.metrics.prefix_tree import autoregressive_log_probabilities

        log_q = autoregressive_log_probabilities(model)
        p = target.measured(povm).probabilities().double().cpu().numpy()
        model_obs = observables_from_table(log_q, povm, n)
        out.update(
            fidelity=float(np.sum(np.sqrt(np.clip(p, 0.0, None) * np.exp(log_q)))),
            x=model_obs["x"],
            zz=model_obs["zz"],
            fidelity_stderr=0.0,
            x_stderr=0.0,
            zz_stderr=0.0,
            methods=dict(EXACT_METHODS),
        )
        return out
    from qgen.metrics import classical_fidelity
    from qgen.metrics.conditional_mean import is_autoregressive, sample_estimators

    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise MetricError(f"n_samples must be an integer >= 2 (a standard error needs two samples), got {n_samples!r}")
    gen = as_generator(seed)
    with torch.no_grad():
        fidelity = classical_fidelity(
            target.measured(povm), model, "mc", n_samples=n_samples, generator=gen, sampler="p"
        )
    far = n // 2
    mean_x = {"I" * i + "X" + "I" * (n - 1 - i): 1.0 / n for i in range(n)}
    zz_string = "Z" + "I" * (far - 1) + "Z" + "I" * (n - far - 1)
    with torch.no_grad():
        samples = model.sample(n_samples, generator=gen)
    # One estimator per sample (the covariances between sites count); an autoregressive model's by conditional means.
    conditional = is_autoregressive(model)
    _, _, expect = sample_estimators(model)
    x, zz = expect(samples, povm, mean_x), expect(samples, povm, zz_string)
    out.update(
        fidelity=float(fidelity.value),
        fidelity_stderr=float(fidelity.stderr),
        x=float(x.value),
        x_stderr=float(x.stderr),
        zz=float(zz.value),
        zz_stderr=float(zz.stderr),
        methods=sampled_methods(n_samples, conditional),
    )
    return out


def phase_diagram(
    model: Any,
    spec: dict[str, Any],
    parameter: str,
    values: Sequence[float],
    povm: POVM | str,
    *,
    method: str = "auto",
    n_samples: int = 10_000,
    seed: int = 0,
    representation: str = "auto",
) -> dict[str, Any]:
    """`phase_point` of a conditional model at each value of `parameter` (the family's other fields in `spec`).

    Args:
        model: a conditional model (`model.at({parameter: v})` is evaluated).
        spec: the family's state spec, e.g. {"name": "tfim", "n_qubits": 50}.
        parameter: the condition scanned, e.g. "h".
        values: the values of the diagram.
        povm: the POVM of the model's strings.
        method, n_samples: as for `phase_point` (one method for the whole diagram).
        seed: point i's samples come from `qgen.data.scan.point_seed(seed, i)`.
        representation: of the targets ("auto", "dense", "mps": an MPS by DMRG per value).

    Returns:
        {"parameter", "values", "method", "methods", "fidelity", "fidelity_stderr", "x", "x_stderr", "x_exact",
        "zz", "zz_stderr", "zz_exact"}: lists aligned with values, what `qgen.report.plots.plot_phase_diagram`
        draws; "method" and "methods" (the estimators) are shared by every point.
    """
    from qgen.data.scan import point_seed
    from qgen.states.library import from_spec

    out: dict[str, Any] = {"parameter": parameter, "values": [float(v) for v in values]}
    for i, v in enumerate(out["values"]):
        target = from_spec({**spec, parameter: v}, representation=representation)
        point = phase_point(
            model.at({parameter: v}), target, povm, method=method, n_samples=n_samples, seed=point_seed(seed, i)
        )
        for key in ("method", "methods"):
            out[key] = point.pop(key)
        for key, value in point.items():
            out.setdefault(key, []).append(value)
    return out


def evaluate_at(
    model: Any,
    target_spec: dict[str, Any],
    *,
    data: Any = None,
    n_samples: int = 10_000,
    seed: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """`qgen.report.evaluation.evaluate` of a conditional model at the condition a target spec names.

    The spec's fields named like the model's conditions (e.g. "h") pick the condition; the target is the
    state the spec builds. Of a scan data set, only the rows measured at exactly that condition serve as the
    raw-data baseline (none when the value was not measured). `progress` (a `qgen.report.progress.Progress`
    inside its `with` block, or None) is told which step starts, as by `evaluate`.

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
    if progress is not None:
        progress.stage(f"building the target at {view.condition_map}")
    report = evaluate(
        view, dict(target_spec), data=baseline, povm=povm, n_samples=n_samples, seed=seed, progress=progress
    )
    report["condition"] = dict(view.condition_map)
    return report
