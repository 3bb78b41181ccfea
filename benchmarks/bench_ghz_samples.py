"""Training samples a qgen model needs to reconstruct an N-qubit GHZ state to classical fidelity 0.99.

The comparison is Carrasquilla, Torlai, Melko, Aolita, Nat. Mach. Intell. 1, 155 (2019), Fig. 2: their RNN
needed about 20k, 35k, 40k, 45k, 72k samples (tetrahedral POVM) and 43k, 56k, 76k, 90k, 98k (Pauli-4) for
N = 10, 20, 40, 60, 80. The goal is half of those numbers or fewer.

For every (POVM, N) the script scans training-set sizes in increasing order. The data sets are nested: one
set of the largest size is simulated with an explicit seed and each smaller set is its prefix (the strings are
i.i.d., so a prefix is a valid data set of that size). At each size a fresh model (same seed) is trained by
maximum likelihood with early stopping on held-out NLL (10 % of the set, best weights restored), then:

  - screening: F from `--screen-samples` model samples; if F + 3 sigma < target the size fails outright;
  - decision: F from `--fidelity-samples` (>= 10^4) model samples, estimator "mc" with sampler "q":
    F = E_{a ~ q}[sqrt(p(a) / q(a))] (the paper's estimator, q = model, p = exact GHZ measurement
    probabilities), stderr = std / sqrt(n).

Criterion ("q+p", the default): a size passes when F - 1 stderr >= target (default 0.99) both for the
sampler-q estimate above and for F = E_{a ~ p}[sqrt(q(a) / p(a))] over as many exact target samples (sampler
p). Requiring both guards against picking the first size whose q estimate happened to fluctuate up;
`--criterion q` uses the sampler-q estimate alone (the sampler-p value is still recorded).

"Samples needed" is the first passing size of the scan, so it is resolved only to the scan's grid. A scan
stops at the first passing size, when the next size exceeds the paper's number times `--max-size-factor`, or
when `--max-minutes` are spent.

Results are merged into `benchmarks/results/ghz_samples.json` (one record per model, POVM and N; written
atomically after every cell), and a table is printed.

Usage:
    .venv/bin/python benchmarks/bench_ghz_samples.py --n-qubits 10 20 40 --povms tetra pauli4 \
        --model rnn --threads 1 --max-minutes 60
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qgen.data.simulation import simulate
from qgen.metrics import classical_fidelity
from qgen.models import build
from qgen.report.evaluation import write_json
from qgen.states import ghz
from qgen.train.trainer import Trainer

__all__ = ["main", "PAPER_RNN", "MODEL_PRESETS", "scan_cell"]

#: Samples the paper's RNN needed for F = 0.99 (Carrasquilla et al. 2019, Fig. 2), by POVM and N.
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
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "ghz_samples.json"


def epochs_for(n_train: int, batch_size: int, steps: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs giving about `steps` optimizer steps, clamped to [min_epochs, max_epochs]."""
    per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(max_epochs, max(min_epochs, math.ceil(steps / per_epoch))))


def train_one(outcomes: torch.Tensor, args: argparse.Namespace, hyper: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Train a fresh model on `outcomes`; returns it and the facts of the run (epochs, time, throughput)."""
    n, n_qubits = outcomes.shape
    model = build(args.model, n_qubits=n_qubits, n_outcomes=4, seed=args.seed, **hyper)
    n_train = n - int(round(0.1 * n))
    epochs = epochs_for(n_train, args.batch_size, args.steps, args.min_epochs, args.max_epochs)
    trainer = Trainer(
        model,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=epochs,
        schedule="cosine",
        val_fraction=0.1,
        early_stopping_patience=args.patience,
        seed=args.seed,
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


def scan_cell(n_qubits: int, povm: str, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    """Scan training-set sizes for one (N, POVM) until the fidelity criterion holds; the cell's record."""
    hyper = {**MODEL_PRESETS.get(args.model, {}), **json.loads(args.model_options)}
    paper = PAPER_RNN.get(povm, {}).get(n_qubits)
    cap = paper * args.max_size_factor if paper else math.inf
    sizes = [s for s in sorted(args.sizes) if s <= cap]
    state = ghz(n_qubits)
    target = state.measured(povm)
    data_seed = args.seed * 1_000_003 + n_qubits * 10 + ("tetra", "pauli4", "pauli6").index(povm)
    t0 = time.perf_counter()
    data = simulate(state, povm, max(sizes), seed=data_seed, reference=False)
    outcomes = torch.as_tensor(data.outcomes)
    record: dict[str, Any] = {
        "model": args.model,
        "hyperparameters": hyper,
        "povm": povm,
        "n_qubits": n_qubits,
        "paper_rnn_samples": paper,
        "data_seed": data_seed,
        "simulate_seconds": time.perf_counter() - t0,
        "scan": [],
        "samples_needed": None,
        "status": "not reached",
        "criterion": args.criterion,
    }
    for size in sizes:
        if time.perf_counter() > deadline:
            record["status"] = "time budget spent"
            break
        model, run = train_one(outcomes[:size], args, hyper)
        model.eval()
        fid_seed = data_seed + size
        with torch.no_grad():
            screen = classical_fidelity(target, model, "mc", n_samples=args.screen_samples, generator=fid_seed)
            entry: dict[str, Any] = {"size": size, **run, "screen": screen.to_dict()}
            passed = False
            if screen.value + 3 * screen.stderr >= args.target:
                t1 = time.perf_counter()
                fid = classical_fidelity(target, model, "mc", n_samples=args.fidelity_samples, generator=fid_seed + 1)
                entry["fidelity"] = fid.to_dict()
                entry["fidelity_seconds"] = time.perf_counter() - t1
                passed = fid.value - fid.stderr >= args.target
                if passed and (args.cross_check or args.criterion == "q+p"):
                    # The same F from exact samples of the target (sampler p): independent of the model's sampler.
                    check = classical_fidelity(
                        target, model, "mc", n_samples=args.fidelity_samples, generator=fid_seed + 2, sampler="p"
                    )
                    entry["fidelity_sampler_p"] = check.to_dict()
                    if args.criterion == "q+p":
                        passed = check.value - check.stderr >= args.target
        entry["passed"] = passed
        record["scan"].append(entry)
        shown = entry.get("fidelity", entry["screen"])
        check_p = entry.get("fidelity_sampler_p")
        check_text = f", sampler p {check_p['value']:.4f} +- {check_p['stderr']:.4f}" if check_p else ""
        print(
            f"  N={n_qubits:<3} {povm:<7} size {size:>7}: F = {shown['value']:.4f} +- {shown['stderr']:.4f} "
            f"({shown['n_samples']} samples{check_text}) {'PASS' if passed else 'fail'}; "
            f"{run['epochs_run']}/{run['epochs_max']} "
            f"epochs, {run['train_seconds']:.0f} s, {run['train_samples_per_s']:.0f} samples/s",
            flush=True,
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
    record["command"] = reproduce_command(args, n_qubits, povm)
    return record


def reproduce_command(args: argparse.Namespace, n_qubits: int, povm: str) -> str:
    """The command that recomputes one cell with this run's settings."""
    parts = [
        ".venv/bin/python",
        "benchmarks/bench_ghz_samples.py",
        "--n-qubits",
        str(n_qubits),
        "--povms",
        povm,
        "--model",
        args.model,
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
    ]
    if args.model_options != "{}":
        parts += ["--model-options", args.model_options]
    defaults = vars(parse_args([]))
    settings = ("criterion", "lr", "batch_size", "steps", "min_epochs", "max_epochs", "patience", "target")
    for key in (*settings, "fidelity_samples"):
        if getattr(args, key) != defaults[key]:
            parts += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    if list(args.sizes) != list(defaults["sizes"]):
        parts += ["--sizes", *map(str, args.sizes)]
    return shlex.join(parts)


def print_table(records: list[dict[str, Any]]) -> None:
    """The results table: samples needed against the paper's RNN."""
    header = (
        f"{'N':>3} {'POVM':<7} {'model':<12} {'needed':>8} {'F +- stderr (mc, q)':>22} {'paper RNN':>10} "
        f"{'ratio':>6} {'F (sampler p)':>18} {'train/s':>8} {'train s':>8}  status"
    )
    print(header)
    print("-" * len(header))
    for r in sorted(records, key=lambda r: (r["model"], r["povm"], r["n_qubits"])):
        needed = r["samples_needed"]
        fid = r.get("fidelity")
        fid_text = f"{fid['value']:.4f} +- {fid['stderr']:.4f}" if fid else "-"
        ratio = f"{needed / r['paper_rnn_samples']:.2f}" if needed and r["paper_rnn_samples"] else "-"
        rate = f"{r['train_samples_per_s']:.0f}" if needed else "-"
        secs = f"{r['train_seconds']:.0f}" if needed else "-"
        check = r.get("fidelity_sampler_p")
        check_text = f"{check['value']:.4f} +- {check['stderr']:.4f}" if check else "-"
        print(
            f"{r['n_qubits']:>3} {r['povm']:<7} {r['model']:<12} {needed or '-':>8} {fid_text:>22} "
            f"{r['paper_rnn_samples'] or '-':>10} {ratio:>6} {check_text:>18} {rate:>8} {secs:>8}  {r['status']}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qubits", type=int, nargs="+", default=[10, 20, 40, 60, 80])
    parser.add_argument("--povms", nargs="+", default=["tetra", "pauli4"], choices=["tetra", "pauli4", "pauli6"])
    parser.add_argument("--model", default="rnn", choices=sorted(MODEL_PRESETS))
    parser.add_argument("--model-options", default="{}", help="JSON hyperparameters added to the preset")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--max-size-factor", type=float, default=1.0, help="scan sizes up to this x paper's number")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--fidelity-samples", type=int, default=10_000)
    parser.add_argument("--screen-samples", type=int, default=2_000)
    parser.add_argument(
        "--criterion",
        choices=["q", "q+p"],
        default="q+p",
        help="q: F_q - stderr >= target; q+p: that and the same for the sampler-p estimate (selection-bias guard)",
    )
    parser.add_argument(
        "--cross-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the passing size, also estimate F from exact target samples (sampler p)",
    )
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=800, help="optimizer steps aimed at per training run")
    parser.add_argument("--min-epochs", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads")
    parser.add_argument("--max-minutes", type=float, default=120.0, help="no new training run starts after this")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--fresh", action="store_true", help="replace the output file instead of merging into it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    deadline = time.perf_counter() + 60 * args.max_minutes
    print(f"{shlex.join([sys.executable, *sys.argv])}")
    print(
        f"model {args.model} { ({**MODEL_PRESETS.get(args.model, {}), **json.loads(args.model_options)}) }, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}"
    )
    print(
        f"criterion ({args.criterion}): F_mc - 1 stderr >= {args.target}, F_mc = mean of sqrt(p/q) over "
        f"{args.fidelity_samples} model samples (sampler q)"
        + (", and the same bound for the sampler-p estimate" if args.criterion == "q+p" else "")
    )
    results: list[dict[str, Any]] = []
    if args.fresh and args.output.is_file():
        args.output.unlink()
    for n_qubits in args.n_qubits:
        for povm in args.povms:
            record = scan_cell(n_qubits, povm, args, deadline)
            record["date"] = datetime.date.today().isoformat()
            record["threads"] = torch.get_num_threads()
            key = (record["model"], povm, n_qubits)
            # Re-read before writing, so cells that another run wrote meanwhile are kept.
            if args.output.is_file():
                results = json.loads(args.output.read_text()).get("results", [])
            results = [r for r in results if (r["model"], r["povm"], r["n_qubits"]) != key] + [record]
            meta = {
                "benchmark": "ghz_samples",
                "machine": f"{os.cpu_count()}-core CPU, no GPU",
                "criterion": (
                    f"first scanned size whose model has F_mc - stderr >= {args.target} "
                    f"({args.fidelity_samples} model samples, sampler q)"
                ),
            }
            write_json({**meta, "results": results}, args.output)
    print()
    print_table(results)
    print("\nreproduce a cell:")
    for r in sorted(results, key=lambda r: (r["model"], r["povm"], r["n_qubits"])):
        print(f"  {r['command']}")


if __name__ == "__main__":
    main()
