"""Training samples a qgen model needs to reconstruct an N-qubit GHZ state to classical fidelity 0.99.

The scan itself is qgen.reproduce.paper_fig3.scan_cell (also behind `qgen reproduce paper-fig3`); this script
runs it over the paper's sizes, merges the results into a JSON file and prints the table.

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
import dataclasses
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qgen.report.evaluation import write_json
from qgen.reproduce.paper_fig3 import DEFAULT_SIZES, MODEL_PRESETS, PAPER_RNN, ScanSettings
from qgen.reproduce.paper_fig3 import scan_cell as scan_cell_core

__all__ = ["main", "PAPER_RNN", "MODEL_PRESETS", "scan_cell", "settings_of"]

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "ghz_samples.json"


def settings_of(args: argparse.Namespace) -> ScanSettings:
    """The scan settings of these command-line options (the scan itself lives in qgen.reproduce.paper_fig3)."""
    names = [f.name for f in dataclasses.fields(ScanSettings) if f.name not in ("model_options", "sizes")]
    return ScanSettings(
        model_options=json.loads(args.model_options),
        sizes=tuple(args.sizes),
        **{name: getattr(args, name) for name in names},
    )


def scan_cell(n_qubits: int, povm: str, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    """Scan training-set sizes for one (N, POVM) until the fidelity criterion holds; the cell's record."""
    record = scan_cell_core(n_qubits, povm, settings_of(args), deadline, log=lambda line: print(line, flush=True))
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
