"""The text summary of an evaluation report that `qgen demo` and `qgen evaluate` print: distances and observables."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["entry_text", "distance_lines", "observable_rows", "observables_table", "summary_text"]

DISTANCES = ("classical_fidelity", "kl_divergence", "kl_divergence_reverse", "quantum_fidelity")


def _number(x: Any, fmt: str) -> str:
    """x formatted, or "inf", "-inf", "nan" as such (a JSON report stores them as those strings)."""
    if isinstance(x, str):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if not math.isfinite(x):
        return str(float(x))
    text = format(x, fmt)
    # -0.000001 rounds to "-0.00000": the sign of a number that prints as zero carries no information
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def entry_text(entry: dict[str, Any]) -> str:
    """A report entry as one string: value +- stderr (method); infinite, NaN and unavailable values say so.

    Example:
        >>> entry_text({"value": 0.5, "stderr": 0.01, "method": "mc"})
        '0.5 +- 0.01  (mc)'
        >>> entry_text({"value": float("inf"), "stderr": float("inf"), "method": "empirical"})
        'inf  (empirical)'
        >>> entry_text({"value": -1e-9, "stderr": 0.0, "method": "exact"})
        '-1e-09  (exact)'
        >>> entry_text({"value": None, "method": "unavailable", "reason": "too many strings"})
        'unavailable (too many strings)'
    """
    value, stderr = entry.get("value"), entry.get("stderr")
    if value is None:
        if entry.get("status"):
            return str(entry["status"])
        return f"unavailable ({entry.get('reason', entry.get('method', 'no value'))})"
    finite = isinstance(value, int | float) and math.isfinite(value)
    err = f" +- {_number(stderr, '.6g')}" if finite and stderr not in (None, 0, 0.0) else ""
    return f"{_number(value, '.6g')}{err}  ({entry.get('method', '?')})"


def distance_lines(report: dict[str, Any]) -> list[str]:
    """One line per distance in the report: classical fidelity, both KL divergences, quantum fidelity."""
    return [f"{key:<22} {entry_text(report[key])}" for key in DISTANCES if isinstance(report.get(key), dict)]


def observable_rows(n_qubits: int, observables: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The rows of the table: (label, report key, site) for the energy, the middle site's <X> and <Z>, the middle
    nearest-neighbour <Z Z> and the end-to-end <Z_0 Z_{N-1}>, as far as the report has them."""
    n, mid = n_qubits, n_qubits // 2
    rows: list[tuple[str, str, Any]] = [
        ("energy", "energy", None),
        (f"<X_{mid}>", "magnetization_x", mid),
        (f"<Z_{mid}>", "magnetization_z", mid),
    ]
    if n >= 2:
        rows.append((f"<Z_{mid - 1} Z_{mid}>", "correlation_zz", (mid - 1, mid)))
    if n >= 3:
        rows.append((f"<Z_0 Z_{n - 1}>", "correlation_zz", (0, n - 1)))
    return [row for row in rows if row[1] in observables]


def _at(x: Any, site: Any) -> Any:
    if site is None or x is None:
        return x
    return x[site[0]][site[1]] if isinstance(site, tuple) else x[site]


def _cell(entry: dict[str, Any] | None, site: Any, *, error: bool = True) -> str:
    """One table cell: value +- stderr, "not determined" when the measurement does not fix it, "-" when absent."""
    if entry is None:
        return "-"
    value = _at(entry.get("value"), site)
    if value is None:
        return "not determined" if entry.get("status") else "unavailable"
    text = f"{_number(value, '.5f')}"
    stderr = _at(entry.get("stderr"), site)
    if error and stderr is not None:
        text += f" +- {_number(stderr, '.5f')}"
    return text


def observables_table(report: dict[str, Any]) -> list[str]:
    """The observables as a table: the model's estimate, the raw data's, the exact value and the estimator.

    Every estimate carries its standard error; the last column names the estimator of the model's number (e.g.
    "mc-dual": the dual-frame average over model samples). When the report evaluates raw data, its column is
    headed "raw data" and there is no second one; with no target, the exact column holds the data file's
    reference values or "-".
    """
    obs = report.get("observables") or {}
    rows = observable_rows(int(report["n_qubits"]), obs)
    if not rows:
        return []
    raw = report.get("model", {}).get("type") == "EmpiricalDistribution"
    head = ["observable", "raw data" if raw else "model"] + ([] if raw else ["raw data"]) + ["exact", "estimator"]
    table = []
    for label, key, site in rows:
        entries = obs[key]
        model = entries.get("model")
        cells = [label, _cell(model, site)]
        if not raw:
            cells.append(_cell(entries.get("data"), site))
        cells += [_cell(entries.get("exact"), site, error=False), str((model or {}).get("method", "-"))]
        table.append(cells)
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join([first, *(f"{c:>{w}}" for c, w in zip(cells[1:-1], widths[1:-1])), cells[-1]]).rstrip()

    return [line(head), *(line(r) for r in table)]


def summary_text(report: dict[str, Any]) -> str:
    """The distances, a blank line and the observables table: what `qgen demo` and `qgen evaluate` print."""
    lines = distance_lines(report)
    table = observables_table(report)
    return "\n".join(lines + ([""] if lines and table else []) + table)
