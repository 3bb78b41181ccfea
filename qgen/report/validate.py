"""Validate an experimental set-up: is the measured state close enough to the state it was meant to prepare?

Four independent looks at the same data, each with its estimator named and its interval stated:

(a) model-free: the direct estimate of F = <psi|rho_lab|psi> through the dual frame. With Q(a) = Q_{a_0} x ...
    x Q_{a_N-1}, rho = sum_a P(a) Q(a), so F = E_{a ~ P}[<psi|Q(a)|psi>]: the mean over the shots is unbiased and
    its standard error is std / sqrt(n) (Carrasquilla et al., Nat. Mach. Intell. 1, 155 (2019), Methods;
    the same identity as a data set's observables). Its per-shot variance grows exponentially with N: for a
    product state under tetra every qubit multiplies the second moment by 2, so the shots a decision needs grow
    like c^N; the report gives c as measured on the data (`second_moment_per_qubit`).
(b) model-based: a reconstructor trained on the data (qgen.train.train), its classical and quantum fidelity to
    the target, with a bootstrap error from refits on resampled data (the number of refits and their cost are
    recorded).
(c) observables against the target (magnetizations, <Z_i Z_j>, the energy when the target is a ground state),
    each as a z-score.
(d) the local depolarizing strength p that best explains the data: maximum likelihood over p with the exact
    target measured through the noisy POVM, and the likelihood-ratio interval (Wilks).

Everything is computed with the data's *ideal* POVM (what the experimenter meant to measure): the lab's noise is
part of the set-up being validated, so it must not be inverted. The verdict compares a one-sided confidence bound
of the fidelity with the threshold: PASS when the lower bound is >= threshold, FAIL when the upper bound is below
it, INCONCLUSIVE otherwise, with the further shots that would decide if the estimate stayed where it is.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from qgen.errors import MetricError
from qgen.estimate import Estimate
from qgen.measurement.povm import POVM
from qgen.report.direct import confidence_z, decide, direct_fidelity

__all__ = [
    "validate",
    "direct_fidelity",
    "decide",
    "fit_depolarizing",
    "channel_fidelity",
    "observable_zscores",
    "model_fidelity",
    "EXIT_CODES",
]

#: Exit codes of `qgen validate` (2 is bad input, as for every qgen command).
EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}
# The model a validation trains by default, and its hyperparameters: the GRU 2 x 64 that needed the fewest GHZ
# samples and reached F > 0.99 on the 50-site chain (benchmarks/README.md).
DEFAULT_MODEL = "rnn"
DEFAULT_MODEL_OPTIONS = {"cell": "gru", "n_layers": 2, "hidden_size": 64}


def channel_fidelity(target: Any, channel: Any) -> float:
    """<psi| E^(x N)(|psi><psi|) |psi> for a pure target and a local channel E on every qubit, exactly.

    With Kraus operators K_k, F = sum_{k_0..k_N-1} |<psi| K_k0 x ... x K_kN-1 |psi>|^2, contracted site by site
    as an MPS with a doubled bra-ket pair (cost O(N chi^5)); dense targets are converted to an MPS first.
    """
    from qgen.states.mps import MPSState

    if not getattr(target, "is_pure", False):
        raise MetricError("channel_fidelity needs a pure target")
    tensors = target.tensors if hasattr(target, "tensors") else MPSState.from_dense(target.vector).tensors
    kraus = channel.kraus
    # S[s, u, t, v] = sum_k K_k[s, t] conj(K_k[u, v]): the channel acting on the two copies.
    sup = np.einsum("kst,kuv->sutv", kraus, kraus.conj())
    env = np.ones((1, 1, 1, 1), dtype=np.complex128)
    for t in tensors:
        env = np.einsum("abcd,asx,bty,cuz,dvw,sutv->xyzw", env, t.conj(), t, t, t.conj(), sup, optimize=True)
    return float(env.reshape(-1)[0].real)


def _unique_counts(outcomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    strings, counts = np.unique(np.asarray(outcomes), axis=0, return_inverse=False, return_counts=True)
    return strings.astype(np.int64), counts.astype(np.float64)


def fit_depolarizing(
    outcomes: Any, target: Any, povm: POVM, *, confidence: float = 0.95, grid: int = 31
) -> dict[str, Any]:
    """The depolarizing strength p in [0, 3/4] that maximises the likelihood of the data, with its interval.

    The log-likelihood L(p) = sum_shots log P_p(a), P_p the exact outcome distribution of the target measured
    through the POVM with depolarizing(p) folded in (Measurement.log_prob), is evaluated on a grid, refined by
    golden-section search around the best grid point, and the interval is {p: 2 (L_max - L(p)) <= chi2_1(conf)}
    (Wilks' theorem; one-sided at the boundary p = 0). p = 3/4 is the fully depolarizing channel.

    Returns:
        dict with "p" (the maximiser), "interval" [low, high], "log_likelihood" at p, "curve" {"p": [...],
        "log_likelihood": [...]}, "method", and "implied_fidelity" {value, interval}: F = <psi|E_p(psi)|psi>.
    """
    from scipy.optimize import brentq, minimize_scalar
    from scipy.stats import chi2

    from qgen.measurement.noise import depolarizing

    strings, counts = _unique_counts(outcomes)

    def loglik(p: float) -> float:
        m = target.measured(povm, depolarizing(float(np.clip(p, 0.0, 0.75))))
        lp = m.log_prob(strings).numpy()
        return float(np.sum(counts * lp))

    ps = np.linspace(0.0, 0.75, grid)
    curve = np.array([loglik(p) for p in ps])
    k = int(np.argmax(curve))
    lo, hi = ps[max(k - 1, 0)], ps[min(k + 1, grid - 1)]
    res = minimize_scalar(lambda p: -loglik(p), bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    p_hat, l_max = (float(res.x), -float(res.fun)) if -res.fun >= curve[k] else (float(ps[k]), float(curve[k]))
    cut = 0.5 * float(chi2.ppf(confidence, 1))

    def excess(p: float) -> float:
        return l_max - loglik(p) - cut

    low = 0.0 if excess(0.0) <= 0 else brentq(excess, 0.0, p_hat, xtol=1e-7)
    high = 0.75 if excess(0.75) <= 0 else brentq(excess, p_hat, 0.75, xtol=1e-7)
    f = [channel_fidelity(target, depolarizing(x)) for x in (p_hat, high, low)]
    return {
        "p": p_hat,
        "interval": [float(low), float(high)],
        "confidence": float(confidence),
        "log_likelihood": l_max,
        "method": "maximum likelihood over the depolarizing p (exact target log_prob), likelihood-ratio interval",
        "curve": {"p": ps.tolist(), "log_likelihood": curve.tolist()},
        "implied_fidelity": {"value": f[0], "interval": [f[1], f[2]]},
    }


def _value_err(result: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, stderrs) as 1-D-or-more float arrays from an Estimate (or a (value, stderr) pair)."""
    value, err = (result.value, result.stderr) if isinstance(result, Estimate) else result
    return np.atleast_1d(np.asarray(value, dtype=np.float64)), np.atleast_1d(np.asarray(err, dtype=np.float64))


def observable_zscores(outcomes: Any, target: Any, povm: POVM) -> dict[str, Any]:
    """Dual-frame estimates of <X_i>, <Z_i>, <Z_i Z_j> (i < j) and the energy against the target's exact values.

    Returns:
        dict name -> {"estimate", "stderr", "exact", "z"} (lists), and "summary" {"n", "max_abs_z",
        "within_2_sigma", "chi2_per_entry"} over all entries with a non-zero error.
    """
    from qgen.metrics.observables import correlation_matrix, expectation, magnetization
    from qgen.report.evaluation import exact_observables
    from qgen.states.hamiltonians import hamiltonian_of

    exact = exact_observables(target)
    iu = np.triu_indices(target.n_qubits, 1)
    corr = _value_err(correlation_matrix(outcomes, povm, "Z"))
    estimates = {
        "magnetization_x": _value_err(magnetization(outcomes, povm, "X")),
        "magnetization_z": _value_err(magnetization(outcomes, povm, "Z")),
        "correlation_zz": (corr[0][iu], corr[1][iu]),
    }
    hamiltonian = hamiltonian_of(getattr(target, "spec", None))
    if hamiltonian is not None and "energy" in exact:
        estimates["energy"] = _value_err(expectation(outcomes, povm, hamiltonian))
    out: dict[str, Any] = {}
    zs = []
    for name, (value, err) in estimates.items():
        ref = np.atleast_1d(np.asarray(exact[name], dtype=np.float64))
        ref = ref[iu] if name == "correlation_zz" else ref
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(err > 0, (value - ref) / np.where(err > 0, err, 1.0), np.nan)
        zs.append(z[np.isfinite(z)])
        out[name] = {"estimate": value.tolist(), "stderr": err.tolist(), "exact": ref.tolist(), "z": z.tolist()}
    z_all = np.concatenate(zs) if zs else np.zeros(0)
    out["summary"] = {
        "n": int(z_all.size),
        "max_abs_z": float(np.abs(z_all).max()) if z_all.size else math.nan,
        "within_2_sigma": float(np.mean(np.abs(z_all) <= 2)) if z_all.size else math.nan,
        "chi2_per_entry": float(np.mean(z_all**2)) if z_all.size else math.nan,
        "method": "dual-frame estimates from the raw shots (ideal POVM) against the exact target",
    }
    return out


def _fit(outcomes: np.ndarray, povm: POVM, model: str, seed: int, options: dict[str, Any]) -> Any:
    from qgen.data import MeasurementData
    from qgen.train import train

    opts = dict(options)
    model_options = {**(DEFAULT_MODEL_OPTIONS if model == DEFAULT_MODEL else {}), **opts.pop("model_options", {})}
    data = MeasurementData(outcomes, povm)
    fitted = train(model, data, seed=seed, progress=False, device="cpu", model_options=model_options, **opts)
    return fitted.eval()


def model_fidelity(
    outcomes: Any,
    target: Any,
    povm: POVM,
    *,
    model: str = DEFAULT_MODEL,
    n_refits: int = 2,
    n_samples: int = 10_000,
    seed: int = 0,
    train_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Classical and quantum fidelity of a reconstruction trained on the data, with a bootstrap error.

    The model is fitted on the data, then refitted `n_refits` times on data resampled with replacement (seeds
    seed + 1 ...); the standard error of each fidelity is the standard deviation over the refits (None for
    n_refits < 2). Each refit costs as much as the first fit: the report records the seconds of each.

    Args:
        outcomes: (n, N) integer array.
        target: a State; the classical fidelity compares with target.measured(povm).
        povm: the POVM the outcomes index (the ideal one, to validate the noisy state).
        model: a registered model name; "rnn" defaults to a GRU 2 x 64.
        n_refits: bootstrap refits (0 to skip the error).
        n_samples: model samples for Monte-Carlo estimates.
        seed: seed of the fits, the resampling and the estimates.
        train_options: keyword arguments for qgen.train.train (epochs, batch_size, lr, model_options, ...).
    """
    import torch

    from qgen.metrics import classical_fidelity, quantum_fidelity

    a = np.asarray(outcomes)
    measured = target.measured(povm)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {"classical_fidelity": [], "quantum_fidelity": []}
    seconds, methods = [], {}
    for r in range(n_refits + 1):
        rows = np.arange(len(a)) if r == 0 else rng.integers(0, len(a), len(a))
        start = time.perf_counter()
        fitted = _fit(a[rows], povm, model, seed + r, train_options or {})
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            kw = {"n_samples": n_samples, "generator": seed + 1000 + r}
            cf = classical_fidelity(measured, fitted, **kw)
            qf = quantum_fidelity(fitted, target, povm=povm, **kw)
        values["classical_fidelity"].append(cf.value)
        values["quantum_fidelity"].append(qf.value)
        methods = {"classical_fidelity": cf.method, "quantum_fidelity": qf.method}
    options = dict(train_options or {})
    model_options = {**(DEFAULT_MODEL_OPTIONS if model == DEFAULT_MODEL else {}), **options.pop("model_options", {})}
    out: dict[str, Any] = {
        "model": model,
        "model_options": model_options,
        "train_options": options,
        "n_refits": int(n_refits),
        "fit_seconds": seconds,
        "cost": f"{n_refits + 1} fits, {sum(seconds):.1f} s in total ({np.mean(seconds):.1f} s each)",
    }
    for key, vals in values.items():
        boot = np.asarray(vals[1:])
        out[key] = {
            "value": vals[0],
            "stderr": float(boot.std(ddof=1)) if boot.size >= 2 else None,
            "method": f"{methods[key]} of the fit; stderr: std over {boot.size} bootstrap refits",
            "refits": boot.tolist(),
        }
    return out


def _safe(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        out = fn(*args, **kwargs)
    except MetricError as exc:
        return {"value": None, "method": "unavailable", "reason": str(exc)}
    return out.to_dict() if isinstance(out, Estimate) else out


def validate(
    data: Any,
    target: Any,
    *,
    threshold: float = 0.9,
    confidence: float = 0.95,
    model: str | None = DEFAULT_MODEL,
    n_refits: int = 2,
    fit_noise: bool = True,
    train_options: dict[str, Any] | None = None,
    n_samples: int = 10_000,
    seed: int = 0,
    verdict_from: str = "auto",
) -> dict[str, Any]:
    """Validate measured data against the state they were meant to come from; the report as a JSON-able dict.

    Args:
        data: a MeasurementData (its ideal POVM is what the experimenter meant to measure).
        target: a State, or a state spec dict (qgen.states.from_spec).
        threshold: the fidelity the set-up must reach.
        confidence: level of the one-sided bounds and of the noise interval.
        model: reconstructor for (b), or None to skip it.
        n_refits: bootstrap refits of (b).
        fit_noise: run (d).
        train_options: keyword arguments for qgen.train.train in (b).
        n_samples: model samples of the Monte-Carlo estimates in (b).
        seed: seed of every random step.
        verdict_from: "direct" (a), "model" (the quantum fidelity of (b) with its bootstrap error), or "auto"
            (direct when available, else model).

    Returns:
        dict with "verdict" (PASS / FAIL / INCONCLUSIVE and its bounds), "exit_code", "direct_fidelity",
        "shots_needed", "model_based", "observables", "noise_fit" and the settings.
    """
    from qgen.states import from_spec

    if isinstance(target, dict):
        target = from_spec(target)
    if not 0.0 < float(threshold) <= 1.0:
        raise MetricError(f"threshold must be a fidelity in (0, 1], got {threshold!r}")
    confidence_z(confidence)
    if target.n_qubits != data.n_qubits:
        raise MetricError(f"the data have {data.n_qubits} qubits but the target has {target.n_qubits}")
    if verdict_from not in ("auto", "direct", "model"):
        raise MetricError(f"verdict_from must be 'auto', 'direct' or 'model', got {verdict_from!r}")
    povm, a, n = data.ideal_povm, data.outcomes, data.n_samples
    report: dict[str, Any] = {
        "n_qubits": data.n_qubits,
        "n_shots": n,
        "povm": povm.name,
        "target": getattr(target, "spec", None) or repr(target),
        "settings": {
            "threshold": threshold,
            "confidence": confidence,
            "model": model,
            "n_refits": n_refits,
            "n_samples": n_samples,
            "seed": seed,
            "verdict_from": verdict_from,
        },
    }
    report["direct_fidelity"] = direct = _safe(direct_fidelity, a, target, povm)
    if direct.get("value") is not None:
        sigma = math.sqrt(direct["details"]["per_shot_variance"])
        z = confidence_z(confidence)
        report["shots_needed"] = {
            "margins": [0.01, 0.02, 0.05, 0.1],
            "shots": [math.ceil((z * sigma / m) ** 2) for m in (0.01, 0.02, 0.05, 0.1)],
            "note": (
                f"shots for the one-sided {confidence:.0%} bound of the direct estimate to lie within the margin; "
                f"its per-shot variance grows exponentially with N (second moment x "
                f"{direct['details']['second_moment_per_qubit']:.3g} per qubit on these data)"
            ),
        }
    report["observables"] = _safe(observable_zscores, a, target, povm)
    report["noise_fit"] = _safe(fit_depolarizing, a, target, povm, confidence=confidence) if fit_noise else None
    if model is not None:
        report["model_based"] = _safe(
            model_fidelity,
            a,
            target,
            povm,
            model=model,
            n_refits=n_refits,
            n_samples=n_samples,
            seed=seed,
            train_options=train_options,
        )
    source = verdict_from
    if source == "auto":
        source = "direct" if direct.get("value") is not None else "model"
    if source == "direct" and direct.get("value") is not None:
        basis = (direct["value"], direct["stderr"], "direct (model-free) fidelity")
    elif source == "model" and (report.get("model_based") or {}).get("quantum_fidelity", {}).get("stderr"):
        q = report["model_based"]["quantum_fidelity"]
        basis = (q["value"], q["stderr"], "model-based quantum fidelity (bootstrap stderr)")
    else:
        raise MetricError(
            f"no fidelity to decide from ({source}): the direct estimate needs a pure target and an informationally "
            "complete POVM, the model-based one needs a model and n_refits >= 2"
        )
    report["verdict"] = {**decide(basis[0], basis[1], n, threshold, confidence), "from": basis[2]}
    report["exit_code"] = EXIT_CODES[report["verdict"]["verdict"]]
    return report
