"""Categorical RBM, RNN and Transformer on GHZ N = 10 and TFIM N = 10 (tetra): samples and time to F = 0.99.

Issue 10, section 4, third bullet. For each target (GHZ N = 10; the TFIM ground state N = 10, open chain,
h = J = 1, both measured with the tetrahedral POVM) and each model, training-set sizes are scanned in increasing
order (default 10^3, 3x10^3, 10^4, 3x10^4, 10^5). The data sets are nested prefixes of one simulated set of the
largest size (seed 0; the strings are i.i.d., so a prefix is a valid data set). At each size a fresh model (seed
0) is trained through qgen.train.Trainer with Adam at a constant rate, batch 128, no validation split, no early
stopping, for a fixed budget of --max-steps optimizer steps (whole epochs: the last epoch may overrun it), and is
evaluated every --eval-every steps (at the first epoch end past each multiple):

  - classical fidelity F = sum_a sqrt(p(a) q(a)), exact over all 4^10 strings (`qgen.metrics.classical_fidelity`
    with method "exact" on both tables: the target's exact probabilities; the RBM's -F(a) - log Z with log Z
    exact by enumerating its 2^M hidden configurations; the autoregressive models' tables by the prefix-tree
    walk of qgen.metrics). For the autoregressive models a Monte-Carlo screen (2,000 model samples, sampler q)
    comes first and the exact table is computed only when F_mc + 3 stderr >= the target.
  - training stops at the first evaluation with exact F >= --target (0.99); the scan of that model stops at the
    first size that reaches it. "Time to 0.99" is the training time (wall and CPU seconds of this process,
    evaluations excluded) until that evaluation, so its resolution is the evaluation interval.
  - quantum fidelity of the final model of each size: rho = sum_a q(a) Q(a) reconstructed from the model's
    exact probabilities through the tetra dual frame (`qgen.metrics.reconstruct_density_matrix`, 2^10 x 2^10),
    then <psi|rho|psi> for the pure target, unprojected (the quantity "mc-dual" estimates, here exact) and
    after `qgen.metrics.project_to_physical` (what `quantum_fidelity(method="exact")` returns for a pure
    target; its N <= 8 limit is a cost limit, lifted here by computing it directly).

One seed, one data set per target: no error bars. Results go to --output (default results/rbm_scan.json), merged
per (target, model) and written after every cell, so an interrupted run keeps its finished cells.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rbm_scan.py [--targets ghz tfim]
        [--models rbm rnn transformer] [--sizes 1000 3000 10000 30000 100000] [--max-steps 3000]
        [--eval-every 250] [--rbm-hidden 20] [--rbm-gradient pcd|exact] [--threads 1] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import qgen
from qgen import metrics, states
from qgen.metrics.distributions import TabulatedDistribution, tabulate
from qgen.metrics.normalized import normalized
from qgen.models import build
from qgen.report.evaluation import write_json
from qgen.train import Trainer

__all__ = ["main", "MODELS", "TARGETS"]

N_QUBITS = 10
POVM = "tetra"
BATCH = 128
SCREEN_SAMPLES = 2_000
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "rbm_scan.json"

#: name -> (registry name, options, Adam learning rate)
MODELS: dict[str, tuple[str, dict[str, Any], float]] = {
    "rbm": ("rbm", {"n_hidden": 20, "gradient": "pcd", "k": 10}, 1e-2),
    "rnn": ("rnn", {"cell": "gru", "n_layers": 1, "hidden_size": 32}, 3e-3),
    "transformer": ("transformer", {"d_model": 32, "n_heads": 4, "n_layers": 2}, 3e-3),
}

TARGETS = {
    "ghz": lambda: states.ghz(N_QUBITS),
    "tfim": lambda: states.tfim(N_QUBITS, h=1.0, J=1.0, boundary="open"),
}


def quantum_fidelities(probabilities: np.ndarray, psi: np.ndarray) -> dict[str, float]:
    """<psi|rho|psi> of rho reconstructed from all 4^N probabilities, unprojected and projected."""
    rho = metrics.reconstruct_density_matrix(probabilities / probabilities.sum(), POVM)
    linear = float(np.vdot(psi, rho @ psi).real)
    projected = float(np.vdot(psi, metrics.project_to_physical(rho) @ psi).real)
    return {"linear": linear, "projected": projected}


def dephased_reference(state: Any, ev: Evaluator) -> dict[str, float]:
    """Classical and quantum fidelity of the target's Z-dephased state (its diagonal: for GHZ the classical
    mixture of |0..0> and |1..1>): what a model with no coherence at all would score."""
    psi = ev.psi
    dephased = states.from_density_matrix(np.diag(np.abs(psi) ** 2).astype(np.complex128)).measured(POVM)
    return {
        "classical_fidelity": metrics.classical_fidelity(ev.p, tabulate(dephased), method="exact").value,
        "quantum_fidelity": float(np.sum(np.abs(psi) ** 4)),
    }


class Evaluator:
    """Exact classical fidelity (with a cheap Monte-Carlo screen for exact-likelihood models) against one target."""

    def __init__(self, target_state: Any, goal: float) -> None:
        self.p = tabulate(target_state.measured(POVM))
        self.psi = np.asarray(target_state.vector, dtype=np.complex128)
        self.goal = goal

    def screen(self, model: Any, seed: int) -> dict[str, float] | None:
        """F_mc from model samples (sampler q), or None for a model without exact likelihood (the RBM)."""
        if model.likelihood != "exact":
            return None
        est = metrics.classical_fidelity(self.p, model, method="mc", n_samples=SCREEN_SAMPLES, generator=seed)
        return {"value": est.value, "stderr": est.stderr}

    def table(self, model: Any) -> TabulatedDistribution:
        with torch.no_grad():
            return TabulatedDistribution(normalized(model))

    def exact(self, q: TabulatedDistribution) -> float:
        return metrics.classical_fidelity(self.p, q, method="exact").value


def train_size(
    name: str, x: torch.Tensor, ev: Evaluator, *, max_steps: int, eval_every: int, seed: int, log: Any
) -> dict[str, Any]:
    """Train one fresh model on x until exact F >= goal or the step budget; its evaluations and times."""
    registry_name, options, lr = MODELS[name]
    model = build(registry_name, n_qubits=N_QUBITS, n_outcomes=4, seed=seed, **options)
    per_epoch = math.ceil(len(x) / BATCH)
    epochs = math.ceil(max_steps / per_epoch)
    evals: list[dict[str, Any]] = []
    clock = {"wall": 0.0, "cpu": 0.0, "last": 0, "wall0": time.perf_counter(), "cpu0": time.process_time()}
    reached: dict[str, Any] = {}
    last: dict[str, Any] = {}  # the exact table of the last evaluation, reused when it is the final model's

    def callback(trainer: Trainer, epoch: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        clock["wall"] += wall - clock["wall0"]
        clock["cpu"] += cpu - clock["cpu0"]
        steps = epoch * per_epoch
        if steps - clock["last"] >= eval_every or epoch == epochs:
            clock["last"] = steps
            row: dict[str, Any] = {"epoch": epoch, "steps": steps, "train_wall_s": clock["wall"]}
            row["train_cpu_s"] = clock["cpu"]
            row["screen"] = ev.screen(model, seed=1000 + epoch)
            s = row["screen"]
            if s is None or s["value"] + 3 * s["stderr"] >= ev.goal or epoch == epochs:
                last.update(epoch=epoch, q=ev.table(model))
                row["fidelity"] = ev.exact(last["q"])
                if row["fidelity"] >= ev.goal and not reached:
                    reached.update(row)
                    trainer.stop = True
            evals.append(row)
            f = f"{row['fidelity']:.5f}" if "fidelity" in row else "-"
            scr = f"{s['value']:.4f}+-{s['stderr']:.4f}" if s else "-"
            log(
                f"    step {steps:5d}  train {clock['wall']:7.1f} s wall {clock['cpu']:7.1f} s CPU  screen {scr}  F {f}"
            )
        clock["wall0"], clock["cpu0"] = time.perf_counter(), time.process_time()

    trainer = Trainer(
        model,
        lr=lr,
        batch_size=BATCH,
        epochs=epochs,
        optimizer="adam",
        val_fraction=0.0,
        early_stopping_patience=None,
        monitor="none",
        clip_grad=None,
        progress=False,
        device="cpu",
        seed=seed,
        callbacks=[callback],
    )
    trainer.fit(x)
    q = last["q"] if last.get("epoch") == trainer.epoch else ev.table(model)
    final = {"fidelity": ev.exact(q), "quantum_fidelity": quantum_fidelities(np.exp(q.table), ev.psi)}
    params = sum(t.numel() for t in model.parameters())
    return {
        "size": len(x),
        "epochs_max": epochs,
        "params": params,
        "evaluations": evals,
        "reached": reached or None,
        "final": final,
        "train_wall_s": clock["wall"],
        "train_cpu_s": clock["cpu"],
    }


def scan_cell(target: str, name: str, data: torch.Tensor, ev: Evaluator, args: argparse.Namespace) -> dict[str, Any]:
    """Scan the sizes for one (target, model) until a size reaches the goal."""
    registry_name, options, lr = MODELS[name]
    print(f"{target} / {name} ({registry_name} {options}, Adam lr {lr})", flush=True)
    runs = []
    for size in args.sizes:
        print(f"  size {size}", flush=True)
        run = train_size(
            name,
            data[:size],
            ev,
            max_steps=args.max_steps,
            eval_every=args.eval_every,
            seed=args.seed,
            log=lambda line: print(line, flush=True),
        )
        runs.append(run)
        qf = run["final"]["quantum_fidelity"]
        print(
            f"  size {size}: F final {run['final']['fidelity']:.5f}, quantum F {qf['projected']:.5f} (projected) "
            f"{qf['linear']:.5f} (linear), reached {bool(run['reached'])}",
            flush=True,
        )
        if run["reached"]:
            break
    passed = runs[-1] if runs[-1]["reached"] else None
    return {
        "target": target,
        "model": name,
        "registry_name": registry_name,
        "options": options,
        "lr": lr,
        "samples_needed": passed["size"] if passed else None,
        "time_to_goal_wall_s": passed["reached"]["train_wall_s"] if passed else None,
        "time_to_goal_cpu_s": passed["reached"]["train_cpu_s"] if passed else None,
        "steps_to_goal": passed["reached"]["steps"] if passed else None,
        "scan_train_wall_s": sum(r["train_wall_s"] for r in runs),
        "scan_train_cpu_s": sum(r["train_cpu_s"] for r in runs),
        "runs": runs,
    }


def print_table(cells: list[dict[str, Any]]) -> None:
    print(
        f"{'target':6s} {'model':12s} {'params':>7s} {'samples':>8s} {'steps':>6s} {'wall s':>7s} {'CPU s':>7s} "
        f"{'F final':>8s} {'F_q proj':>9s} {'F_q lin':>8s} {'scan CPU s':>10s}"
    )
    for c in cells:
        last = c["runs"][-1]
        needed = c["samples_needed"]
        cols = (
            (f"{needed:8d} {c['steps_to_goal']:6d} {c['time_to_goal_wall_s']:7.1f} {c['time_to_goal_cpu_s']:7.1f}")
            if needed
            else f"{'> ' + str(last['size']):>8s} {'-':>6s} {'-':>7s} {'-':>7s}"
        )
        qf = last["final"]["quantum_fidelity"]
        print(
            f"{c['target']:6s} {c['model']:12s} {last['params']:7d} {cols} {last['final']['fidelity']:8.5f} "
            f"{qf['projected']:9.5f} {qf['linear']:8.5f} {c['scan_train_cpu_s']:10.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="+", choices=tuple(TARGETS), default=list(TARGETS))
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 3_000, 10_000, 30_000, 100_000])
    parser.add_argument("--max-steps", type=int, default=3000, help="optimizer steps per size (whole epochs)")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between evaluations")
    parser.add_argument("--target", type=float, default=0.99, help="classical fidelity goal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rbm-hidden", type=int, default=20, help="hidden units of the RBM (log Z stays exact)")
    parser.add_argument("--rbm-gradient", choices=("pcd", "exact"), default="pcd", help="'exact': log Z each step")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--references-only", action="store_true", help="the dephased-target references, no training")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # log Z is exact for any n_hidden: the smaller layer is then the 4^10 visible strings (2^20, enumerable)
    rbm_options = {**MODELS["rbm"][1], "n_hidden": args.rbm_hidden, "gradient": args.rbm_gradient}
    if args.rbm_gradient == "exact":
        del rbm_options["k"]
    MODELS["rbm"] = ("rbm", rbm_options, MODELS["rbm"][2])
    command = "benchmarks/bench_rbm_scan.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"torch threads: {torch.get_num_threads()}  (python {sys.version.split()[0]}, torch {torch.__version__})")
    print(f"command: .venv/bin/python {command}", flush=True)
    previous = json.loads(args.output.read_text()).get("cells", []) if args.output.exists() else []
    cells: list[dict[str, Any]] = []
    for target in args.targets:
        state = TARGETS[target]()
        ev = Evaluator(state, args.target)
        check = quantum_fidelities(np.exp(ev.p.table), ev.psi)
        print(f"{target}: exact probabilities -> rho -> <psi|rho|psi> = {check['linear']:.12f} (pipeline check)")
        reference = dephased_reference(state, ev)
        print(
            f"{target}: Z-dephased target (no coherence): classical F {reference['classical_fidelity']:.5f}, "
            f"quantum F {reference['quantum_fidelity']:.5f}",
            flush=True,
        )
        if args.references_only:
            cells.append({"target": target, "pipeline_check": check["linear"], "dephased": reference})
            continue
        data = qgen.simulate(state, POVM, max(args.sizes), seed=args.seed)
        x = torch.as_tensor(data.outcomes.astype(np.int64))
        for name in args.models:
            cell = {**scan_cell(target, name, x, ev, args), "command": command, "max_steps": args.max_steps}
            cell.update(eval_every=args.eval_every, batch=BATCH, seed=args.seed, goal=args.target, dephased=reference)
            cells.append(cell)
            keep = [c for c in previous if (c["target"], c["model"]) != (target, name)]
            previous = [*keep, cell]
            meta = {"benchmark": "rbm_scan", "n_qubits": N_QUBITS, "povm": POVM, "torch_threads": args.threads}
            write_json({**meta, "date": time.strftime("%Y-%m-%d %H:%M"), "cells": previous}, args.output)
    if args.references_only:
        write_json({"benchmark": "rbm_scan references", "povm": POVM, "references": cells}, args.output)
    else:
        print_table(cells)
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
