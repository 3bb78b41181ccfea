"""`qgen validate` end to end: read the data and the target (qgen.report.targets), validate, write JSON + figure."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import DataFormatError, MetricError
from qgen.report.targets import load_target

__all__ = ["load_data", "load_target", "plot_validation", "run_validate"]


def load_data(path: str | os.PathLike, *, povm: str | None = None, bases: str | os.PathLike | None = None) -> Any:
    """A data set from a qgen HDF5 file, QuCumber text files (with `bases`), or an integer table (with `povm`).

    Args:
        path: .h5/.hdf5 data file, or a text/.npy table of outcomes.
        povm: the POVM the integers of a table index ("tetra", "pauli4", ...).
        bases: QuCumber's file of measurement bases (one letter X, Y, Z per qubit per shot).
    """
    from qgen.data import import_outcomes, import_qucumber, load

    p = Path(path)
    if p.suffix.lower() in (".h5", ".hdf5"):
        if povm is not None or bases is not None:
            raise DataFormatError(f"{p}: a qgen data file records its POVM; --povm and --bases apply to text tables")
        return load(p)
    if bases is not None:
        return import_qucumber(p, bases)
    if povm is None:
        raise DataFormatError(
            f"{p}: a table of outcomes needs its POVM named (--povm tetra, pauli4, ...) or, for QuCumber "
            "bit strings, the file of measurement bases (--bases)"
        )
    return import_outcomes(p, povm)


def _fmt(value: Any, err: Any = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" + (f" +- {err:.4f}" if err is not None and math.isfinite(err) else "")


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report's numbers as text lines (what `qgen validate` prints and the figure's last panel shows)."""
    v = report["verdict"]
    d = report["direct_fidelity"]
    lines = [
        f"verdict           {v['verdict']} (exit {report['exit_code']}): {v['from']} vs threshold {v['threshold']}",
        f"  one-sided {v['confidence']:.0%} bounds [{v['lower_bound']:.4f}, {v['upper_bound']:.4f}]; "
        + (f"about {v['further_shots']:,} further shots would decide" if v["verdict"] == "INCONCLUSIVE" else "decided"),
        f"shots             {report['n_shots']:,} of {report['n_qubits']} qubits, POVM {report['povm']}",
        f"direct fidelity   {_fmt(d.get('value'), d.get('stderr'))} ({d.get('method')}"
        + (f", {d['reason']}" if "reason" in d else "")
        + ")",
    ]
    if "shots_needed" in report:
        s = report["shots_needed"]
        pairs = ", ".join(f"{m}: {n:,}" for m, n in zip(s["margins"], s["shots"]))
        lines.append(f"  shots for margins {pairs}")
        lines.append(f"  {s['note']}")
    mb = report.get("model_based")
    if mb and "classical_fidelity" in mb:
        for key in ("classical_fidelity", "quantum_fidelity"):
            e = mb[key]
            lines.append(f"{key:<17} {_fmt(e['value'], e['stderr'])} ({e['method']})")
        lines.append(f"  model {mb['model']}: {mb['cost']}")
    elif mb:
        lines.append(f"model-based       unavailable: {mb.get('reason')}")
    nf = report.get("noise_fit")
    if nf and "p" in nf:
        lo, hi = nf["interval"]
        fi = nf["implied_fidelity"]
        lines.append(
            f"depolarizing p    {nf['p']:.4f} in [{lo:.4f}, {hi:.4f}] ({nf['confidence']:.0%}, likelihood ratio)"
        )
        lines.append(f"  fidelity implied {fi['value']:.4f} in [{fi['interval'][0]:.4f}, {fi['interval'][1]:.4f}]")
    obs = report.get("observables") or {}
    if "summary" in obs:
        s = obs["summary"]
        lines.append(
            f"observables       {s['n']} entries: max |z| {s['max_abs_z']:.2f}, {s['within_2_sigma']:.1%} within "
            f"2 sigma, chi2/entry {s['chi2_per_entry']:.2f}"
        )
    return lines


def plot_validation(report: dict[str, Any]) -> Any:
    """One page with every number: fidelity estimates against the threshold, the noise likelihood curve, the
    observables' z-scores, and the text summary."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 9), layout="constrained")
    (ax_f, ax_n), (ax_z, ax_t) = fig.subplots(2, 2)
    v = report["verdict"]
    rows: list[tuple[str, float, float, float]] = []
    d = report["direct_fidelity"]
    if d.get("value") is not None:
        rows.append(("direct (model-free)", d["value"], d["stderr"], 0))
    mb = report.get("model_based") or {}
    for key, label in (("classical_fidelity", "model: classical"), ("quantum_fidelity", "model: quantum")):
        if key in mb:
            rows.append((label, mb[key]["value"], mb[key]["stderr"] or 0.0, 0))
    nf = report.get("noise_fit") or {}
    if "implied_fidelity" in nf:
        fi = nf["implied_fidelity"]
        rows.append(("fitted noise", fi["value"], 0.0, 0))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(v["confidence"])
    for i, (_, value, err, _) in enumerate(rows):
        ax_f.errorbar(value, i, xerr=z * err, fmt="o", capsize=4)
    if "implied_fidelity" in nf:
        lo, hi = sorted(nf["implied_fidelity"]["interval"])
        ax_f.plot([lo, hi], [len(rows) - 1] * 2, "-", color="C1")
    ax_f.axvline(v["threshold"], color="k", ls="--", label=f"threshold {v['threshold']}")
    ax_f.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax_f.set_xlabel(f"fidelity (bars: one-sided {v['confidence']:.0%} bound)")
    ax_f.set_title(f"verdict: {v['verdict']}")
    ax_f.legend(loc="lower left")
    if "curve" in nf:
        p = np.asarray(nf["curve"]["p"])
        ll = np.asarray(nf["curve"]["log_likelihood"])
        ax_n.plot(p, ll - nf["log_likelihood"], ".-")
        ax_n.axvspan(*nf["interval"], alpha=0.2, label=f"{nf['confidence']:.0%} interval")
        ax_n.axvline(nf["p"], color="k", lw=1, label=f"p = {nf['p']:.4f}")
        shown = p[ll - nf["log_likelihood"] >= -50]
        ax_n.set_ylim(max(-50.0, float(np.min(ll - nf["log_likelihood"]))), 1)
        ax_n.set_xlim(0, min(0.75, float(shown.max()) + 2 * (p[1] - p[0])))
        ax_n.legend()
    ax_n.set_xlabel("depolarizing p")
    ax_n.set_ylabel("log-likelihood - maximum")
    obs = report.get("observables") or {}
    names = [k for k in obs if k != "summary"]
    for name in names:
        zs = np.asarray(obs[name]["z"], dtype=np.float64)
        ax_z.plot(np.arange(len(zs)), zs, "o", ms=3, label=name)
    ax_z.axhspan(-2, 2, color="0.9")
    ax_z.set_xlabel("entry (site i, or pair i < j)")
    ax_z.set_ylabel("z = (data - exact) / stderr")
    if names:
        ax_z.legend(fontsize=8)
    ax_t.axis("off")
    ax_t.text(0, 1, "\n".join(summary_lines(report)), va="top", family="monospace", fontsize=6.5, wrap=True)
    return fig


def run_validate(
    data_path: str | os.PathLike,
    target: Any,
    output: str | os.PathLike | None = None,
    *,
    povm: str | None = None,
    bases: str | os.PathLike | None = None,
    command: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """`qgen validate`: load, validate, and write validation.json and validation.png into `output`.

    Args:
        data_path, povm, bases: the data, as for `load_data`.
        target: the target, as for `load_target`.
        output: folder for the report (None: write nothing).
        command: the command line, recorded in the JSON.
        **options: keyword arguments of qgen.report.validate.validate.
    """
    from qgen.report.evaluation import write_json
    from qgen.report.plots import save_figure
    from qgen.report.validate import validate

    data = load_data(data_path, povm=povm, bases=bases)
    state = load_target(target, data)
    if state.n_qubits != data.n_qubits:
        raise MetricError(f"the target has {state.n_qubits} qubits but {data_path} has {data.n_qubits}")
    report = validate(data, state, **options)
    report["data"] = str(data_path)
    report["command"] = command
    if output is not None:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(report, folder / "validation.json")
        save_figure(plot_validation(report), folder / "validation.png")
    return report
