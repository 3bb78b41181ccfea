"""Probe: how much of the N = 10 conditional Transformer's <X> error is its own seed, and what an equal mixture of
several seeds does (issue 15).

bench_conditional.py changes the data and the model's initial weights together with --seed. Here the data are
fixed (one scan, `--data-seed`) and K models are trained on them with model seeds 0..K-1, with the benchmark's
recipe (Transformer d_model 32, 4 heads, 2 layers, Adam 3e-3, cosine, batch 256, 20 epochs). For each model, and
for the equal mixture of the first k (a mixture's <X> is the mean of its members'), the script prints
(<X>_model - <X>_exact) / <X>_exact in % at the 21 fields 0.5, 0.55, ..., 1.5 (trained: 0.5, 0.75, 1, 1.25,
1.5), with <X> from 50,000 model samples per field by `qgen.metrics.conditional_mean` (standard error about
0.001, 0.2-0.4 % of <X>); exact values from free fermions.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_conditional_seeds.py --data-seed 0 --members 4 --out F

About 200 CPU s of training and 100 CPU s of evaluation per member on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qgen.data.scan import simulate_scan
from qgen.measurement.povm import POVM
from qgen.metrics.conditional_mean import conditional_mean_expectation
from qgen.models import build
from qgen.states.free_fermions import tfim_free_fermion_correlators
from qgen.train.trainer import Trainer

N = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-eval", type=int, default=50_000, help="model samples per <X> estimate")
    parser.add_argument("--out", required=True, help="results file (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    data = simulate_scan(
        {"name": "tfim", "n_qubits": N}, "h", "0.5:1.5:5", "tetra", 10_000, seed=args.data_seed, reference=False
    )
    grid = [float(h) for h in np.linspace(0.5, 1.5, 21)]
    exact = {h: float(tfim_free_fermion_correlators(N, h=h)["X"].mean()) for h in grid}
    mean_x = {"I" * i + "X" + "I" * (N - 1 - i): 1.0 / N for i in range(N)}
    record: dict = {"command": " ".join(["python", *sys.argv]), "grid": grid, "exact": exact, "members": []}
    for seed in range(args.members):
        start = time.process_time()
        model = build(
            "transformer",
            n_qubits=N,
            n_outcomes=4,
            seed=seed,
            n_conditions=1,
            condition_names=["h"],
            d_model=32,
            n_heads=4,
            n_layers=2,
        )
        rows = model.condition_rows(data)
        Trainer(
            model, epochs=args.epochs, batch_size=256, lr=3e-3, schedule="cosine", early_stopping_patience=None,
            progress=False, seed=seed,
        ).fit(rows)  # fmt: skip
        model.eval()
        x = {}
        for h in grid:
            e = conditional_mean_expectation(
                model.at(h=h), POVM.named("tetra"), mean_x, n_samples=args.n_eval, generator=int(1000 * h)
            )
            x[h] = (e.value, e.stderr)
        record["members"].append({"seed": seed, "cpu_s": time.process_time() - start, "x": x})
        err = [100 * (x[h][0] / exact[h] - 1) for h in grid]
        print(
            f"member {seed} ({time.process_time() - start:.0f} CPU s), <X> err %: " + " ".join(f"{e:+.2f}" for e in err)
        )
        mix = [100 * (np.mean([m["x"][h][0] for m in record["members"]]) / exact[h] - 1) for h in grid]
        print(
            f"  mixture of {seed + 1}: "
            + " ".join(f"{e:+.2f}" for e in mix)
            + f"  (max |err| {max(map(abs, mix)):.2f})",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
