"""paper-fig3: training samples a qgen model needs to reconstruct an N-qubit GHZ state to classical fidelity 0.99.

The comparison is Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019), GHZ sample complexity:
their RNN needed about 20k, 35k, 40k, 45k, 72k samples (tetrahedral POVM) and 43k, 56k, 76k, 90k, 98k (Pauli-4)
for N = 10, 20, 40, 60, 80.

For every (POVM, N) training-set sizes are scanned in increasing order. The data sets are nested: one set of the
largest size is simulated with an explicit seed and each smaller set is its prefix (the strings are i.i.d., so a
prefix is a valid data set of that size). At each size a fresh model (same seed) is trained by maximum likelihood
with early stopping on held-out NLL (10 % of the set, best weights restored), then:

  - screening: F from `screen_samples` model samples; if F + 3 sigma < target the size fails outright;
  - decision: F from `fidelity_samples` model samples, estimator "mc" with sampler "q":
    F = E_{a ~ q}[sqrt(p(a) / q(a))] (the paper's estimator, q = model, p = exact GHZ measurement
    probabilities), stderr = std / sqrt(n).

Criterion "q+p" (the default): a size passes when F - 1 stderr >= target both for the sampler-q estimate and for
F = E_{a ~ p}[sqrt(q(a) / p(a))] over as many exact target samples (sampler p), which guards against picking the
first size whose q estimate happened to fluctuate up; "q" uses the sampler-q estimate alone.

benchmarks/bench_ghz_samples.py runs the full scan through `scan_cell`; `run` draws the figure.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PAPER_RNN", "MODEL_PRESETS", "DEFAULT_SIZES", "ScanSettings", "epochs_for", "train_one", "scan_cell", "run"]

#: Samples the paper's RNN needed for F = 0.99 (Carrasquilla et al. 2019), by POVM and N.
PAPER_RNN: dict[str, dict[int, int]] = {
    "tetra": {10: 20_000, 20: 35_000, 40: 40_000, 60: 45_000, 80: 72_000},
    "pauli4": {10: 43_000, 20: 56_000, 40: 76_000, 60: 90_000, 80: 98_000},
}

#: Hyperparameters per architecture, chosen by a short N = 10, 20 comparison (see benchmarks/README.md).
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "gru", "n_layers": 2, "hidden_size": 64},
    "transformer": {"d_model": 32, "n_heads": 4, "n_layers": 2},
    "pixelcnn": {},
}

DEFAULT_SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 35_000, 50_000, 75_000, 100_000)


@dataclass
class ScanSettings:
    """Everything a scan depends on (the benchmark's command-line options)."""

    model: str = "rnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    sizes: tuple[int, ...] = DEFAULT_SIZES
    max_size_factor: float = 1.0
    target: float = 0.99
    fidelity_samples: int = 10_000
    screen_samples: int = 2_000
    criterion: str = "q+p"
    cross_check: bool = True
    lr: float = 3e-3
    batch_size: int = 128
    steps: int = 800
    min_epochs: int = 5
    max_epochs: int = 40
    patience: int = 6
    seed: int = 0

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {**MODEL_PRESETS.get(self.model, {}), **self.model_options}


def epochs_for(n_train: int, batch_size: int, steps: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs giving about `steps` optimizer steps, clamped to [min_epochs, max_epochs]."""
    per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(max_epochs, max(min_epochs, math.ceil(steps / per_epoch))))


def train_one(outcomes: Any, s: ScanSettings) -> tuple[Any, dict[str, Any]]:
    """Train a fresh model on `outcomes`; returns it and the facts of the run (epochs, time, throughput)."""
    from qgen.models import build
    from qgen.train import Trainer

    n, n_qubits = outcomes.shape
    model = build(s.model, n_qubits=n_qubits, n_outcomes=4, seed=s.seed, **s.hyperparameters)
    n_train = n - int(round(0.1 * n))
    epochs = epochs_for(n_train, s.batch_size, s.steps, s.min_epochs, s.max_epochs)
    trainer = Trainer(
        model,
        lr=s.lr,
        batch_size=s.batch_size,
        epochs=epochs,
        schedule="cosine",
        val_fraction=0.1,
        early_stopping_patience=s.patience,
        seed=s.seed,
        device="cpu",
        progress=False,
    )
    start = time.perf_counter()
    history = trainer.fit(outcomes)
    seconds = time.perf_counter() - start
    done = len(history["epoch"])
    run = {
        "epochs_max": epochs,
        "epochs_run": done,
        "best_val_nll": min(history["val_loss"]),
        "train_seconds": seconds,
        # Strings through forward + backward + step per second of the whole fit (validation passes included).
        "train_samples_per_s": n_train * done / seconds,
    }
    return trainer.model, run


def scan_cell(
    n_qubits: int, povm: str, s: ScanSettings, deadline: float = math.inf, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Scan training-set sizes for one (N, POVM) until the fidelity criterion holds; the cell's record."""
    import torch

    from qgen.data.simulation import simulate
    from qgen.metrics import classical_fidelity
    from qgen.states import ghz

    paper = PAPER_RNN.get(povm, {}).get(n_qubits)
    cap = paper * s.max_size_factor if paper else math.inf
    sizes = [size for size in sorted(s.sizes) if size <= cap]
    state = ghz(n_qubits)
    target = state.measured(povm)
    data_seed = s.seed * 1_000_003 + n_qubits * 10 + ("tetra", "pauli4", "pauli6").index(povm)
    t0 = time.perf_counter()
    data = simulate(state, povm, max(sizes), seed=data_seed, reference=False)
    outcomes = torch.as_tensor(data.outcomes)
    record: dict[str, Any] = {
        "model": s.model,
        "hyperparameters": s.hyperparameters,
        "povm": povm,
        "n_qubits": n_qubits,
        "paper_rnn_samples": paper,
        "data_seed": data_seed,
        "simulate_seconds": time.perf_counter() - t0,
        "scan": [],
        "samples_needed": None,
        "status": "not reached",
        "criterion": s.criterion,
    }
    for size in sizes:
        if time.perf_counter() > deadline:
            record["status"] = "time budget spent"
            break
        model, run = train_one(outcomes[:size], s)
        model.eval()
        fid_seed = data_seed + size
        with torch.no_grad():
            screen = classical_fidelity(target, model, "mc", n_samples=s.screen_samples, generator=fid_seed)
            entry: dict[str, Any] = {"size": size, **run, "screen": screen.to_dict()}
            passed = False
            if screen.value + 3 * screen.stderr >= s.target:
                t1 = time.perf_counter()
                fid = classical_fidelity(target, model, "mc", n_samples=s.fidelity_samples, generator=fid_seed + 1)
                entry["fidelity"] = fid.to_dict()
                entry["fidelity_seconds"] = time.perf_counter() - t1
                passed = fid.value - fid.stderr >= s.target
                if passed and (s.cross_check or s.criterion == "q+p"):
                    # The same F from exact samples of the target (sampler p): independent of the model's sampler.
                    check = classical_fidelity(
                        target, model, "mc", n_samples=s.fidelity_samples, generator=fid_seed + 2, sampler="p"
                    )
                    entry["fidelity_sampler_p"] = check.to_dict()
                    if s.criterion == "q+p":
                        passed = check.value - check.stderr >= s.target
        entry["passed"] = passed
        record["scan"].append(entry)
        shown = entry.get("fidelity", entry["screen"])
        check_p = entry.get("fidelity_sampler_p")
        check_text = f", sampler p {check_p['value']:.4f} +- {check_p['stderr']:.4f}" if check_p else ""
        log(
            f"  N={n_qubits:<3} {povm:<7} size {size:>7}: F = {shown['value']:.4f} +- {shown['stderr']:.4f} "
            f"({shown['n_samples']} samples{check_text}) {'PASS' if passed else 'fail'}; "
            f"{run['epochs_run']}/{run['epochs_max']} "
            f"epochs, {run['train_seconds']:.0f} s, {run['train_samples_per_s']:.0f} samples/s"
        )
        if passed:
            record["samples_needed"] = size
            record["fidelity"] = entry["fidelity"]
            if "fidelity_sampler_p" in entry:
                record["fidelity_sampler_p"] = entry["fidelity_sampler_p"]
            record["train_seconds"] = run["train_seconds"]
            record["train_samples_per_s"] = run["train_samples_per_s"]
            record["status"] = "reached"
            break
    if record["status"] == "not reached" and sizes and record["scan"] and record["scan"][-1]["size"] == sizes[-1]:
        record["status"] = f"not reached up to {sizes[-1]} samples"
    return record


#: The quick run: small N, a short size grid, fewer optimizer steps (a few minutes on 2 cores).
QUICK = {
    "n_qubits": (4, 8),
    "settings": {"sizes": (250, 500, 1_000, 2_000, 5_000), "steps": 300, "fidelity_samples": 4_000},
}
FULL = {"n_qubits": (10, 20, 40, 60, 80), "settings": {}}


def run(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] = print, plan: dict[str, Any] | None = None
) -> tuple[Any, dict, dict]:
    """Scan both POVMs over N and plot the samples needed beside the paper's RNN.

    Returns:
        (figure, numbers, settings): the Figure, the plotted numbers (samples needed per POVM and N, with every
        scan record), and the settings of the run.
    """
    from matplotlib.figure import Figure

    base = QUICK if quick else FULL
    plan = {**base, **(plan or {}), "settings": {**base["settings"], **(plan or {}).get("settings", {})}}
    s = ScanSettings(seed=seed, **plan["settings"])
    records = [scan_cell(n, povm, s, log=log) for povm in ("tetra", "pauli4") for n in plan["n_qubits"]]
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for colour, povm in zip(("C0", "C1"), ("tetra", "pauli4")):
        rows = [r for r in records if r["povm"] == povm]
        reached = [(r["n_qubits"], r["samples_needed"]) for r in rows if r["samples_needed"]]
        if reached:
            ax.plot(*zip(*reached), "o-", color=colour, label=f"qgen {s.model} ({povm})")
        missed = [(r["n_qubits"], max(s.sizes)) for r in rows if not r["samples_needed"]]
        if missed:
            ax.plot(*zip(*missed), "^", color=colour, mfc="none", label=f"not reached by {max(s.sizes):,} ({povm})")
        paper = sorted(PAPER_RNN[povm].items())
        ax.plot(*zip(*paper), "s--", color=colour, alpha=0.6, label=f"paper RNN ({povm})")
    ax.set_yscale("log")
    ax.set_xlabel("qubits N")
    ax.set_ylabel(f"training samples to classical fidelity {s.target}")
    ax.set_title("GHZ sample complexity" + (" (quick: small N, short scan)" if quick else ""))
    ax.legend(fontsize=7)
    numbers = {
        "samples_needed": {
            povm: {str(r["n_qubits"]): r["samples_needed"] for r in records if r["povm"] == povm}
            for povm in ("tetra", "pauli4")
        },
        "paper_rnn_samples": PAPER_RNN,
        "records": records,
    }
    settings = {"n_qubits": list(plan["n_qubits"]), **dataclasses.asdict(s)}
    return fig, numbers, settings
