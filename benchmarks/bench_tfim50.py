"""Reconstruction of the 50-site critical transverse-field Ising chain from 10^5 tetrahedral-POVM samples.

Target: the ground state of H = -sum Z_i Z_{i+1} - sum X_i (open chain, h = J = 1) as the shipped DMRG MPS
(`qgen.states.tfim(50, 1.0, representation="mps")`), measured with the tetrahedral POVM. A model is trained
by maximum likelihood on `--n-samples` strings (10 % held out for early stopping), and the script reports:

  - classical fidelity, estimator "mc" with sampler q: F = E_{a ~ model}[sqrt(p(a) / q(a))] over
    `--fidelity-samples` model samples, p the exact MPS probabilities; goal F >= 0.99 with its error bar;
  - <X> averaged over the 50 sites and <Z_i Z_{i+1}> averaged over the 49 bonds, estimated from
    `--observable-samples` model samples through the POVM's dual frame, against the exact values
    (`state.expectation`); goal: within 1 %;
  - the full <Z_i Z_j> matrix from the model samples against the exact one (MPS transfer-matrix sweeps):
    z_ij = (model - exact) / stderr over the i < j entries; reported: the fraction with |z| <= 2 and max |z|
    (if the model were exact, about 95 % and a max |z| near 3.5 for 1225 entries);
  - training throughput (strings per second through forward, backward and the optimizer step) and the wall
    time of training until the monitored fidelity (`--monitor-samples` model samples after every epoch)
    first reached F - stderr >= 0.99 (monitoring time excluded).

The same observables from the training data themselves are printed alongside, as the statistical floor.
Results go to `benchmarks/results/tfim50.json` (written atomically); nothing is asserted about speed.

Usage:
    .venv/bin/python benchmarks/bench_tfim50.py --model rnn --threads 1 --max-train-minutes 30
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qgen.data.simulation import simulate
from qgen.measurement.povm import POVM
from qgen.metrics import classical_fidelity
from qgen.metrics.observables import correlation_matrix, magnetization
from qgen.models import build
from qgen.report.evaluation import write_json
from qgen.states import tfim
from qgen.states.reference import reference_values
from qgen.train.trainer import Trainer

__all__ = ["main", "MODEL_PRESETS"]

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "gru", "n_layers": 2, "hidden_size": 64},
    "transformer": {"d_model": 32, "n_heads": 4, "n_layers": 2},
    "pixelcnn": {},
}
N_SITES = 50
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "tfim50.json"


def observables(outcomes: Any, povm: POVM) -> dict[str, Any]:
    """Site-averaged <X>, bond-averaged nearest-neighbour <ZZ> (each with stderr) and the <Z_i Z_j> matrix.

    The averages' standard errors come from the per-string averages (so correlations between sites are
    accounted for), not from combining the per-site errors.
    """
    a = np.asarray(outcomes).astype(np.int64)
    x_table = np.asarray(povm.coefficients("X"), dtype=np.float64).real
    z_table = np.asarray(povm.coefficients("Z"), dtype=np.float64).real
    x_per_string = x_table[a].mean(axis=1)
    z = z_table[a]
    zz_per_string = (z[:, :-1] * z[:, 1:]).mean(axis=1)
    n = len(a)
    zz_est = correlation_matrix(a, povm, "Z")
    zz, zz_err = zz_est.value, zz_est.stderr
    x_sites = magnetization(a, povm, "X").value
    return {
        "X_mean": float(x_per_string.mean()),
        "X_mean_stderr": float(x_per_string.std(ddof=1) / np.sqrt(n)),
        "X_sites_mean_check": float(x_sites.mean()),
        "ZZ_nn_mean": float(zz_per_string.mean()),
        "ZZ_nn_mean_stderr": float(zz_per_string.std(ddof=1) / np.sqrt(n)),
        "ZZ": zz,
        "ZZ_stderr": zz_err,
        "n_samples": n,
    }


def compare(obs: dict[str, Any], exact: dict[str, Any], data_stderr: np.ndarray | None = None) -> dict[str, Any]:
    """Relative errors of the averages and the z-scores of the correlation matrix against the exact values.

    With `data_stderr` (the training data's own standard errors of <Z_i Z_j>), a second z-score divides by
    sqrt(stderr_model^2 + stderr_data^2): a model fitted to a finite data set inherits that set's sampling
    error (even a model equal to the data's empirical distribution would be off by it), so this is the error a
    perfect reconstruction from these strings would show.
    """
    iu = np.triu_indices(N_SITES, k=1)
    z = (obs["ZZ"][iu] - exact["ZZ"][iu]) / obs["ZZ_stderr"][iu]
    extra = {}
    if data_stderr is not None:
        z_all = (obs["ZZ"][iu] - exact["ZZ"][iu]) / np.hypot(obs["ZZ_stderr"][iu], data_stderr[iu])
        extra = {
            "ZZ_fraction_within_2sigma_with_data_error": float(np.mean(np.abs(z_all) <= 2)),
            "ZZ_max_abs_z_with_data_error": float(np.max(np.abs(z_all))),
        }
    return {
        "X_mean": obs["X_mean"],
        "X_mean_stderr": obs["X_mean_stderr"],
        "X_rel_error": abs(obs["X_mean"] / exact["X_mean"] - 1),
        "ZZ_nn_mean": obs["ZZ_nn_mean"],
        "ZZ_nn_mean_stderr": obs["ZZ_nn_mean_stderr"],
        "ZZ_nn_rel_error": abs(obs["ZZ_nn_mean"] / exact["ZZ_nn_mean"] - 1),
        "ZZ_fraction_within_2sigma": float(np.mean(np.abs(z) <= 2)),
        "ZZ_max_abs_z": float(np.max(np.abs(z))),
        "ZZ_max_abs_diff": float(np.max(np.abs(obs["ZZ"][iu] - exact["ZZ"][iu]))),
        "n_samples": obs["n_samples"],
        **extra,
    }


def exact_values(state: Any) -> dict[str, Any]:
    """Exact <X> (site average), nearest-neighbour <ZZ> (bond average) and the <Z_i Z_j> matrix."""
    n = state.n_qubits
    x = [state.expectation("I" * i + "X" + "I" * (n - i - 1)) for i in range(n)]
    zz_nn = [state.expectation("I" * i + "ZZ" + "I" * (n - i - 2)) for i in range(n - 1)]
    ref = reference_values(state)
    iu = np.arange(n - 1)
    # Two independent routes to the same numbers: expectation() per string and the transfer-matrix sweeps.
    zz = ref["correlation_zz"]
    check = max(np.max(np.abs(ref["magnetization_x"] - x)), np.max(np.abs(zz[iu, iu + 1] - zz_nn)))
    return {
        "X_mean": float(np.mean(x)),
        "ZZ_nn_mean": float(np.mean(zz_nn)),
        "ZZ": zz,
        "energy": float(ref["energy"]) if "energy" in ref else None,
        "expectation_vs_sweeps_max_diff": float(check),
    }


def run_key(result: dict[str, Any]) -> tuple[str, str, int]:
    """Runs with the same model, hyperparameters and data size replace each other in the results file."""
    return result["model"], json.dumps(result["hyperparameters"], sort_keys=True), result["n_samples"]


def load_results(path: Path) -> list[dict[str, Any]]:
    """The runs already in the results file (none when it does not exist)."""
    if not path.is_file():
        return []
    content = json.loads(path.read_text())
    return content["results"] if "results" in content else [content]


def print_summary(results: list[dict[str, Any]]) -> None:
    """One line per run in the results file: the goals and the throughput of each architecture."""
    header = (
        f"{'model':<12} {'params':>7} {'F +- stderr (mc, q)':>20} {'<X> err':>8} {'<ZZ>nn err':>10} "
        f"{'ZZ |z|<=2':>9} {'max|z|':>7} {'train/s':>8} {'train s':>8} {'s to F':>7} {'thr':>3}  date"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        fid, obs, tr = r["fidelity"], r["model_observables"], r["training"]
        to_target = tr["seconds_to_target"]
        fid_text = f"{fid['value']:.4f} +- {fid['stderr']:.4f}"
        print(
            f"{r['model']:<12} {r['n_parameters']:>7} {fid_text:>20} "
            f"{obs['X_rel_error']:>8.2%} {obs['ZZ_nn_rel_error']:>10.2%} {obs['ZZ_fraction_within_2sigma']:>9.3f} "
            f"{obs['ZZ_max_abs_z']:>7.2f} {tr['train_samples_per_s']:>8.0f} {tr['train_seconds']:>8.0f} "
            f"{f'{to_target:.0f}' if to_target is not None else '-':>7} {r['threads']:>3}  {r['date']}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rnn", choices=sorted(MODEL_PRESETS))
    parser.add_argument("--model-options", default="{}", help="JSON hyperparameters added to the preset")
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10, help="cosine schedule length and epoch cap")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw"])
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--max-train-minutes", type=float, default=30.0, help="stop training after this")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--monitor-samples", type=int, default=1_000, help="model samples per epoch's fidelity")
    parser.add_argument("--fidelity-samples", type=int, default=10_000)
    parser.add_argument("--observable-samples", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hyper = {**MODEL_PRESETS[args.model], **json.loads(args.model_options)}
    command = shlex.join([".venv/bin/python", "benchmarks/bench_tfim50.py", *(sys.argv[1:] if argv is None else argv)])
    print(command)
    print(f"model {args.model} {hyper}, {torch.get_num_threads()} threads, torch {torch.__version__}")

    t0 = time.perf_counter()
    state = tfim(N_SITES, 1.0, representation="mps")
    target = state.measured("tetra")
    exact = exact_values(state)
    data = simulate(state, "tetra", args.n_samples, seed=args.seed + 50, reference=False)
    outcomes = torch.as_tensor(data.outcomes)
    print(f"target and {args.n_samples} samples ready in {time.perf_counter() - t0:.0f} s")

    model = build(args.model, n_qubits=N_SITES, n_outcomes=4, seed=args.seed, **hyper)
    monitor: dict[str, Any] = {"seconds": 0.0, "reached_at": None, "curve": []}
    train_start = time.perf_counter()

    def watch(trainer: Trainer, epoch: int) -> dict[str, float]:
        t = time.perf_counter()
        train_seconds = t - train_start - monitor["seconds"]
        trainer.model.eval()
        with torch.no_grad():
            f = classical_fidelity(target, trainer.model, "mc", n_samples=args.monitor_samples, generator=epoch)
        monitor["seconds"] += time.perf_counter() - t
        point = {"epoch": epoch, "train_seconds": train_seconds, "F": f.value, "F_stderr": f.stderr}
        monitor["curve"].append(point)
        print(
            f"  epoch {epoch}: train NLL {trainer.history['train_loss'][-1]:.4f}, "
            f"val NLL {trainer.history['val_loss'][-1]:.4f}, F = {f.value:.4f} +- {f.stderr:.4f} "
            f"({args.monitor_samples} samples), {train_seconds:.0f} s of training",
            flush=True,
        )
        if monitor["reached_at"] is None and f.value - f.stderr >= args.target:
            monitor["reached_at"] = point
        if time.perf_counter() - train_start > 60 * args.max_train_minutes:
            trainer.stop = True
        return {"monitor_fidelity": f.value}

    trainer = Trainer(
        model,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        epochs=args.epochs,
        schedule="cosine",
        val_fraction=0.1,
        early_stopping_patience=args.patience,
        callbacks=[watch],
        seed=args.seed,
        device="cpu",
        progress=False,
    )
    history = trainer.fit(outcomes)
    wall = time.perf_counter() - train_start
    train_seconds = wall - monitor["seconds"]
    n_train = args.n_samples - int(round(0.1 * args.n_samples))
    epochs_run = len(history["epoch"])
    throughput = n_train * epochs_run / train_seconds

    model = trainer.model.eval()
    with torch.no_grad():
        t = time.perf_counter()
        fid = classical_fidelity(target, model, "mc", n_samples=args.fidelity_samples, generator=args.seed + 7)
        fid_seconds = time.perf_counter() - t
        t = time.perf_counter()
        samples = model.sample(args.observable_samples, generator=args.seed + 8).cpu().numpy()
        sample_seconds = time.perf_counter() - t
    data_obs = observables(data.outcomes, target.povm)
    model_cmp = compare(observables(samples, target.povm), exact, data_stderr=data_obs["ZZ_stderr"])
    data_cmp = compare(data_obs, exact)

    result = {
        "benchmark": "tfim50",
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()}-core CPU, no GPU ({platform.machine()})",
        "threads": torch.get_num_threads(),
        "command": command,
        "model": args.model,
        "hyperparameters": hyper,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "n_samples": args.n_samples,
        "training": {
            "lr": args.lr,
            "optimizer": args.optimizer,
            "weight_decay": args.weight_decay,
            "batch_size": args.batch_size,
            "epochs_max": args.epochs,
            "epochs_run": epochs_run,
            "best_val_nll": min(history["val_loss"]),
            "train_seconds": train_seconds,
            "monitor_seconds": monitor["seconds"],
            "train_samples_per_s": throughput,
            "seconds_to_target": monitor["reached_at"]["train_seconds"] if monitor["reached_at"] else None,
            "epoch_reached_target": monitor["reached_at"]["epoch"] if monitor["reached_at"] else None,
            "monitor_curve": monitor["curve"],
        },
        "fidelity": fid.to_dict(),
        "fidelity_seconds": fid_seconds,
        "sampling_samples_per_s": args.observable_samples / sample_seconds,
        "exact": {k: v for k, v in exact.items() if k != "ZZ"},
        "model_observables": model_cmp,
        "data_observables": data_cmp,
        "goals": {
            "fidelity": fid.value - fid.stderr >= args.target,
            "X_within_1pct": model_cmp["X_rel_error"] <= 0.01,
            "ZZ_nn_within_1pct": model_cmp["ZZ_nn_rel_error"] <= 0.01,
        },
    }
    results = [r for r in load_results(args.output) if run_key(r) != run_key(result)] + [result]
    write_json({"benchmark": "tfim50", "results": results}, args.output)

    reached = result["training"]["seconds_to_target"]
    print()
    print(f"{'quantity':<34} {'exact':>9} {'model':>20} {'rel. err':>9} {'data (10^5)':>20}")
    print("-" * 96)
    print(f"{'classical fidelity (mc, q)':<34} {'1':>9} {f'{fid.value:.4f} +- {fid.stderr:.4f}':>20}")
    for key, label in (("X_mean", "<X> (site average)"), ("ZZ_nn_mean", "<Z_i Z_i+1> (bond average)")):
        m, d = model_cmp, data_cmp
        rel = "X_rel_error" if key == "X_mean" else "ZZ_nn_rel_error"
        err = key + "_stderr"
        model_text, data_text = f"{m[key]:.5f} +- {m[err]:.5f}", f"{d[key]:.5f} +- {d[err]:.5f}"
        print(f"{label:<34} {exact[key]:>9.5f} {model_text:>20} {m[rel]:>9.2%} {data_text:>20}")
    for key, label in (("ZZ_fraction_within_2sigma", "<Z_i Z_j>: fraction |z| <= 2"), ("ZZ_max_abs_z", "max |z|")):
        print(f"{label:<34} {'':>9} {model_cmp[key]:>20.3f} {'':>9} {data_cmp[key]:>20.3f}")
    print(
        f"{'  same, z with data error too':<34} {'':>9} "
        f"{model_cmp['ZZ_fraction_within_2sigma_with_data_error']:>20.3f}   max |z| "
        f"{model_cmp['ZZ_max_abs_z_with_data_error']:.2f}"
    )
    print()
    print(
        f"{args.model} {hyper}: {result['n_parameters']} parameters, {epochs_run} epochs, "
        f"{throughput:.0f} training samples/s, {train_seconds:.0f} s training, "
        f"time to F - stderr >= {args.target}: {f'{reached:.0f} s' if reached is not None else 'not reached'}, "
        f"sampling {result['sampling_samples_per_s']:.0f} samples/s ({torch.get_num_threads()} threads)"
    )
    print(f"reproduce: {command}")
    print()
    print_summary(results)


if __name__ == "__main__":
    main()
