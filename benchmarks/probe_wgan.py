"""WGAN-GP (or GAN) probes: one setting per run, trained as bench_backends.py (GHZ-6) or seed-toys (2-D) train it.

The settings table of benchmarks/README.md ("WGAN-GP: what reached 0.95") was measured with this script, one run
per row, one torch thread. On GHZ N = 6 (tetra, 10^4 samples of `simulate(ghz(6), "tetra", seed=seed)`, 10 %
held out, batch 128, cosine schedule) it prints the empirical classical fidelity from `--eval` model samples
every `--every` epochs (the plug-in estimate, biased low: 0.9941 on 10^5 exact samples of the target); on a
2-D toy set (2,000 points, batch 128, constant lr, as `qgen reproduce seed-toys --quick`) the energy distance
of 1,000 model samples to 1,000 held-out points. The last line gives the training CPU seconds.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_wgan.py --target ghz6 --lr 3e-4 --epochs 20 \\
        --opts '{"penalty": "two-sided"}'
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_wgan.py --target moons --lr 3e-4 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from qgen.data.simulation import simulate
from qgen.data.toy import toy_density
from qgen.metrics import classical_fidelity
from qgen.metrics.vectors import energy_distance
from qgen.models import build
from qgen.states import ghz
from qgen.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="wgan-gp", choices=("wgan-gp", "gan"))
    parser.add_argument("--target", default="ghz6", help="ghz6, or a 2-D toy set (moons, 8gaussians, ...)")
    parser.add_argument("--opts", default="{}", help="model options as JSON, over the benchmark's sizes")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--betas", default=None, help="Adam betas of both networks, e.g. 0,0.9 (default: model's)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--eval", type=int, default=100_000, help="model samples per fidelity estimate (ghz6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    groups = None
    if args.betas:
        betas = tuple(float(b) for b in args.betas.split(","))
        groups = {group: {"betas": betas} for group in ("critic", "generator")}
    settings = {"batch_size": 128, "early_stopping_patience": None, "epochs": args.epochs, "lr": args.lr}
    if args.target == "ghz6":
        target = ghz(6).measured("tetra")
        data = torch.as_tensor(simulate(ghz(6), "tetra", 10_000, seed=args.seed, reference=False).outcomes)
        options = {"hidden_size": 128, "latent_dim": 16, **json.loads(args.opts)}
        model = build(args.family, n_qubits=6, n_outcomes=4, seed=args.seed, **options)
        settings.update(val_fraction=0.1, schedule="cosine")

        def score() -> str:
            f = classical_fidelity(target, model, "empirical", n_samples=args.eval, generator=99).value
            return f"F({args.eval:.0e}) {f:.4f}"
    else:
        truth = toy_density(args.target)
        data = truth.sample(2_000, generator=args.seed).float()
        held_out = truth.sample(1_000, generator=args.seed + 1)
        options = {"hidden_size": 64, "latent_dim": 8, **json.loads(args.opts)}
        model = build(args.family, dim=2, seed=args.seed, **options)
        settings.update(val_fraction=0.0, monitor="none")

        def score() -> str:
            with torch.no_grad():
                s = model.sample(1_000, generator=torch.Generator().manual_seed(args.seed + 1)).double()
            ed = energy_distance(s, held_out, n_bootstrap=5, seed=args.seed).value
            return f"energy distance {ed:.4f}, sample std {s.std(0).numpy().round(2)}"

    cpu = time.process_time()
    spent = [0.0]  # evaluation CPU time, left out of the training time

    def report(trainer: Trainer, epoch: int) -> None:
        if (epoch + 1) % args.every == 0:
            start = time.process_time()
            model.eval()
            print(f"  epoch {epoch + 1:3d} {score()}", flush=True)
            model.train()
            spent[0] += time.process_time() - start

    Trainer(model, progress=False, seed=args.seed, group_options=groups, callbacks=[report], **settings).fit(data)
    model.eval()
    train_cpu = time.process_time() - cpu - spent[0]
    print(f"{args.family} {args.target} {options} lr {args.lr} betas {args.betas or 'default'} epochs {args.epochs}")
    print(f"final: {score()}; training CPU {train_cpu:.0f} s (threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
