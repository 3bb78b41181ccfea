"""qgen.report.summary: the distances and the observables table that `qgen demo` and `qgen evaluate` print."""

from __future__ import annotations

import numpy as np

from qgen.report.summary import distance_lines, observable_rows, observables_table, summary_text


def _entry(value, stderr, method):
    return {"value": value, "stderr": stderr, "method": method}


def _report(raw: bool = False, n: int = 4) -> dict:
    rng = np.random.default_rng(0)
    corr = rng.uniform(-1, 1, (n, n))
    obs = {
        "energy": {"model": _entry(-4.5, 0.05, "mc-dual"), "exact": _entry(-4.75877, 0.0, "exact")},
        "magnetization_x": {"model": _entry(list(rng.uniform(size=n)), [0.01] * n, "mc-dual")},
        "magnetization_z": {
            "model": {
                "value": None,
                "stderr": None,
                "method": "unavailable",
                "status": "not determined by this measurement",
            }
        },
        "correlation_zz": {"model": _entry(corr.tolist(), (0.02 * np.ones((n, n))).tolist(), "mc-dual")},
    }
    if not raw:
        obs["energy"]["data"] = _entry(-4.8, 0.1, "mc-dual")
    return {
        "n_qubits": n,
        "model": {"type": "EmpiricalDistribution" if raw else "RNN"},
        "classical_fidelity": _entry(0.96, 0.0, "exact"),
        "kl_divergence": _entry("inf", "inf", "empirical"),
        "kl_divergence_reverse": {"value": None, "stderr": None, "method": "unavailable", "reason": "too many"},
        "observables": obs,
    }, corr


def test_table_shows_model_data_exact_and_estimator():
    report, corr = _report()
    lines = observables_table(report)
    assert lines[0].split() == ["observable", "model", "raw", "data", "exact", "estimator"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["energy"].split() == [
        "energy",
        "-4.50000",
        "+-",
        "0.05000",
        "-4.80000",
        "+-",
        "0.10000",
        "-4.75877",
        "mc-dual",
    ]
    # The middle site of N = 4 is 2; each cell is the entry's value at that site, to 5 decimals.
    x = report["observables"]["magnetization_x"]["model"]["value"][2]
    assert rows["<X_2>"].split()[1:4] == [f"{x:.5f}", "+-", "0.01000"]
    assert "not determined" in rows["<Z_2>"]
    assert rows["<Z_1"].split()[2] == f"{corr[1, 2]:.5f}" and "<Z_0 Z_3>" in lines[-1]
    assert lines[-1].split()[2] == f"{corr[0, 3]:.5f}"
    assert rows["<X_2>"].split()[-3:] == ["-", "-", "mc-dual"]  # no raw data, no exact value: "-"


def test_raw_data_report_has_one_estimate_column():
    report, _ = _report(raw=True)
    lines = observables_table(report)
    assert lines[0].split() == ["observable", "raw", "data", "exact", "estimator"]
    assert lines[1].split() == ["energy", "-4.50000", "+-", "0.05000", "-4.75877", "mc-dual"]


def test_distances_print_inf_and_unavailable_as_such():
    report, _ = _report()
    assert distance_lines(report) == [
        "classical_fidelity     0.96  (exact)",
        "kl_divergence          inf  (empirical)",
        "kl_divergence_reverse  unavailable (too many)",
    ]
    text = summary_text(report)
    assert text.splitlines()[3] == "" and text.splitlines()[4].startswith("observable")


def test_rows_follow_the_chain_length():
    obs = {"energy": {}, "magnetization_x": {}, "correlation_zz": {}}
    assert [r[0] for r in observable_rows(1, obs)] == ["energy", "<X_0>"]
    assert [r[0] for r in observable_rows(2, obs)] == ["energy", "<X_1>", "<Z_0 Z_1>"]
    assert [r[2] for r in observable_rows(8, obs)] == [None, 4, (3, 4), (0, 7)]


def test_a_value_that_rounds_to_zero_prints_without_a_sign():
    report, _ = _report()
    report["observables"]["energy"]["model"] = _entry(-4e-7, 0.01, "mc-dual")
    assert observables_table(report)[1].split()[1:4] == ["0.00000", "+-", "0.01000"]
