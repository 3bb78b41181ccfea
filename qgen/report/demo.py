"""`qgen demo`: the main job on its built-in default, end to end, on a laptop in a few minutes.

Simulate measurements of the critical Ising chain, reconstruct the state with an autoregressive model
trained by maximum likelihood, and evaluate the reconstruction against the exact state: the method of
Carrasquilla et al., Nat. Mach. Intell. 1, 155 (2019), on a chain small enough (8 qubits, 4^8 outcome
strings) that every number, the quantum fidelity included, is computed exactly rather than estimated.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["run_demo", "DEMO_DEFAULTS", "QUICK"]

# The model and its training come from `qgen.train.default_recipe` (None: the recipe's), as for `qgen train`:
# for 20,000 strings the GHZ scan's GRU 2 x 64, Adam lr 3e-3, cosine schedule, batch 128, about 800 steps.
DEMO_DEFAULTS = {
    "n_qubits": 8,
    "h": 1.0,
    "povm": "tetra",
    "samples": 20_000,
    "seed": 1234,
    "model": "rnn",
    "epochs": None,
    "batch_size": None,
    "eval_samples": 20_000,
}
QUICK = {**DEMO_DEFAULTS, "n_qubits": 4, "samples": 2_000, "epochs": 2, "batch_size": 64, "eval_samples": 2_000}


def fidelity_callback(target_measurement: Any, n_samples: int, seed: int) -> Any:
    """A Trainer callback recording the classical fidelity (paper's estimator, model samples) after each epoch."""
    from qgen.metrics import classical_fidelity

    def callback(trainer: Any, epoch: int) -> dict[str, float]:
        est = classical_fidelity(
            target_measurement, trainer.model, method="mc", n_samples=n_samples, generator=seed + epoch
        )
        return {"classical_fidelity": est.value, "classical_fidelity_stderr": est.stderr}

    return callback


def run_demo(output: Path, *, quick: bool = False) -> dict[str, Any]:
    """Run the demo and write data.h5, model.pt, report.json and figures/ under `output`."""
    from qgen.data import save
    from qgen.data.simulation import simulate
    from qgen.report.evaluation import evaluate, write_json, write_learning_curve, write_plots
    from qgen.report.summary import summary_text
    from qgen.states import tfim
    from qgen.train.defaults import train

    cfg = QUICK if quick else DEMO_DEFAULTS
    output.mkdir(parents=True, exist_ok=True)
    n = cfg["n_qubits"]
    t0 = time.perf_counter()
    print(f"[1/4] ground state of the {n}-site Ising chain at h = {cfg['h']} (exact diagonalisation)")
    state = tfim(n, h=cfg["h"])
    print(f"[2/4] {cfg['samples']} measurements with the {cfg['povm']} POVM (seed {cfg['seed']}) -> data.h5")
    data = simulate(state, cfg["povm"], cfg["samples"], seed=cfg["seed"])
    save(data, output / "data.h5")

    at_most = f"{cfg['epochs']} epochs at most" if cfg["epochs"] else "the benchmarks' recipe for this data size"
    print(f"[3/4] training a {cfg['model']} by maximum likelihood ({at_most})")
    target = state.measured(data.povm)
    model = train(
        cfg["model"],
        data,
        seed=cfg["seed"],
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        output=output / "model.pt",
        device="cpu",
        callbacks=[fidelity_callback(target, 2_000, cfg["seed"])],
    )
    print("[4/4] evaluating against the exact state")
    report = evaluate(model, state, data=data, n_samples=cfg["eval_samples"], seed=cfg["seed"])
    report["config"] = cfg
    report["plots"] = write_plots(report, output / "figures")
    curve = write_learning_curve(model.history, output / "figures")  # the callback's classical fidelity
    if curve is not None:
        report["plots"].append(curve)
    write_json(report, output / "report.json")
    print()
    print(summary_text(report))
    print(f"\nwrote data.h5, model.pt, report.json and figures/ in {output} ({time.perf_counter() - t0:.0f} s)")
    return report
