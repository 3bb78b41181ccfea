"""Generic backends next to the RNN on GHZ N = 6 (tetra, 10^4 samples): classical fidelity and training time.

Every family is trained by the common Trainer on the same simulated data set (10 % held out) and compared with
the exact outcome distribution of the target:

- exact likelihood (the RNN): F by enumerating all 4^6 strings (estimator "exact");
- every family, from samples: F = sum_a sqrt(p(a) q_hat(a)) with q_hat the frequencies of `--eval-samples`
  model samples (estimator "empirical", bootstrap stderr). This plug-in estimate is biased low by finite
  sampling; the same estimator applied to exact samples of the target itself ("reference" row, measured in
  the same run) shows the size of that bias;
- lower-bound families (VAE, diffusion): also F_bound = sum_a sqrt(p(a) exp(log_prob(a))) over all strings,
  with log_prob the model's bound: a lower bound of the fidelity of the distribution the bound is for (up to
  the Monte-Carlo noise of the bound itself).

Goals (issue 11): F >= 0.99 for families with an exact or bounded likelihood, F >= 0.95 for GANs.

Reproduce (one torch thread; results merged into benchmarks/results/backends.json):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_backends.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qgen.data.simulation import simulate
from qgen.files import atomic_write
from qgen.metrics import classical_fidelity
from qgen.models import build
from qgen.states import ghz
from qgen.strings import all_outcomes
from qgen.train.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "backends.json"

# Per family: constructor options and Trainer settings (epochs over 9,000 training strings, batch 128).
FAMILIES: dict[str, dict[str, Any]] = {
    "rnn": {"options": {"hidden_size": 64, "n_layers": 2}, "train": {"epochs": 40, "lr": 3e-3}},
    "vae": {"options": {"latent_dim": 8, "hidden_size": 128, "bound_samples": 64}, "train": {"epochs": 60, "lr": 1e-3}},
    "diffusion": {"options": {"hidden_size": 128, "n_layers": 3}, "train": {"epochs": 60, "lr": 1e-3}},
    "gan": {"options": {"hidden_size": 128, "latent_dim": 16}, "train": {"epochs": 60, "lr": 3e-4}},
    "wgan-gp": {"options": {"hidden_size": 128, "latent_dim": 16}, "train": {"epochs": 30, "lr": 1e-4}},
}


def bound_fidelity(target: Any, model: Any) -> float:
    """sum_a sqrt(p(a) exp(bound(a))) over every string: a lower bound when log_prob is one."""
    x = all_outcomes(model.n_outcomes, model.n_qubits)
    with torch.no_grad():
        lp = target.log_prob(x).double()
        # The diffusion's log_prob samples one visible set per size (its exp can sum above 1): enumerate them.
        bound = getattr(model, "exhaustive_elbo", model.log_prob)
        lq = torch.cat([bound(chunk).double() for chunk in x.split(512)])
    return float(torch.exp(0.5 * (lp + lq)).sum())


def run_family(name: str, data: torch.Tensor, target: Any, args: argparse.Namespace) -> dict[str, Any]:
    spec = FAMILIES[name]
    model = build(name, n_qubits=6, n_outcomes=4, seed=args.seed, **spec["options"])
    settings = {"batch_size": 128, "val_fraction": 0.1, "schedule": "cosine", **spec["train"]}
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    trainer = Trainer(model, progress=False, seed=args.seed, early_stopping_patience=None, **settings)
    start = time.perf_counter()
    history = trainer.fit(data)
    seconds = time.perf_counter() - start
    record: dict[str, Any] = {
        "family": name,
        "likelihood": model.likelihood,
        "options": spec["options"],
        "train": settings,
        "train_seconds": round(seconds, 1),
        "train_samples_per_s": round(settings["epochs"] * 0.9 * len(data) / seconds, 1),
        "epochs_run": len(history.get("epoch", [])),
    }
    model.eval()
    if model.likelihood == "exact":
        record["fidelity_exact"] = classical_fidelity(target, model, "exact").to_dict()
    record["fidelity_empirical"] = classical_fidelity(
        target, model, "empirical", n_samples=args.eval_samples, generator=args.seed + 1
    ).to_dict()
    if model.likelihood == "lower_bound":
        record["fidelity_bound"] = bound_fidelity(target, model)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--eval-samples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override every family's epochs (smoke runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; {platform.processor() or platform.machine()}")
    print("command:", shlex.join(["OMP_NUM_THREADS=1", ".venv/bin/python", *sys.argv]))

    state = ghz(6)
    target = state.measured("tetra")
    data = torch.as_tensor(simulate(state, "tetra", args.n_samples, seed=args.seed, reference=False).outcomes)

    # Reference row: the empirical estimator on exact samples of the target (its finite-sample bias).
    start = time.perf_counter()
    reference = classical_fidelity(
        target, target_sampler(target), "empirical", n_samples=args.eval_samples, generator=args.seed + 1
    )
    print(
        f"reference: exact target samples, empirical F = {reference.value:.4f} +- {reference.stderr:.4f} "
        f"({time.perf_counter() - start:.1f} s)"
    )

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["reference_empirical"] = reference.to_dict()
    columns = ("F exact", "F empirical", "F bound", "train s", "samples/s")
    print(f"{'family':10} {'likelihood':12} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (8, 18, 8, 8, 10))))
    for name in args.families:
        r = run_family(name, data, target, args)
        results[name] = r
        exact = r.get("fidelity_exact", {}).get("value", math.nan)
        emp = r["fidelity_empirical"]
        print(
            f"{name:10} {r['likelihood']:12} {exact:8.4f} {emp['value']:9.4f} +- {emp['stderr']:.4f} "
            f"{r.get('fidelity_bound', math.nan):8.4f} {r['train_seconds']:8.1f} {r['train_samples_per_s']:10.1f}",
            flush=True,
        )
        RESULTS.parent.mkdir(exist_ok=True)
        with atomic_write(RESULTS) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1, default=_json_default))


class target_sampler:  # noqa: N801 - a thin view, named for what it is
    """The target measurement seen as a distribution without an exact likelihood (so it is sampled)."""

    likelihood = "none"

    def __init__(self, measurement: Any) -> None:
        self.m = measurement
        self.n_qubits, self.n_outcomes = measurement.n_qubits, measurement.n_outcomes

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.m.log_prob(x)

    def sample(self, n: int, *, generator: Any = None) -> torch.Tensor:
        return self.m.sample(n, generator=generator)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


if __name__ == "__main__":
    main()
