"""One conditional Transformer across the Ising chain's field h, against separate models per field (issue 15).

TFIM N = 10 (open chain, J = 1), tetra POVM. The conditional model is trained on a scan of 5 fields in
[0.5, 1.5] with 10^4 strings each (`qgen.data.scan.simulate_scan`), then evaluated exactly (all 4^10 strings,
prefix-tree walk) at every field of a fine grid that it never saw: classical fidelity, <X> (mean over sites)
and <Z_0 Z_5>, against the exact ground state. The reference, measured in the same run: at a few held-out
fields, a separate Transformer of the same size trained on that field's own 10^4 strings.

Goals (issue 15): F >= 0.99 at every held-out h, and |<X> - <X>_exact| <= 1 % of <X>_exact there.

Reproduce (one torch thread; writes benchmarks/results/conditional.json and
docs/figures/conditional_phase_diagram.png):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conditional.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qgen.data.scan import simulate_scan
from qgen.data.simulation import simulate
from qgen.files import atomic_write
from qgen.measurement.povm import POVM
from qgen.models import build
from qgen.report.conditional import phase_diagram, phase_point
from qgen.report.plots import plot_phase_diagram, save_figure
from qgen.states.library import from_spec
from qgen.train.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results"
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
FAMILY = {"name": "tfim", "n_qubits": 10}


def train(model: Any, rows: Any, args: argparse.Namespace, epochs: int) -> float:
    start = time.process_time()
    Trainer(
        model,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule="cosine",
        early_stopping_patience=None,
        progress=False,
        seed=args.seed,
    ).fit(rows)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=10_000, help="strings per trained field")
    parser.add_argument("--train-fields", default="0.5:1.5:5")
    parser.add_argument("--grid", type=int, default=21, help="fine grid points in [0.5, 1.5] (trained ones skipped)")
    parser.add_argument("--separate", default="0.65,0.95,1.35", help="held-out fields that get a separate model")
    # 20, not 40: the validation loss bottoms out near epoch 20 and then rises (over-fitting); with 40 epochs the
    # kept best epoch lies mid-schedule, at half the peak learning rate, where the optimizer's noise leaves a
    # seed-dependent offset in <X> (a direction the likelihood barely constrains). See benchmarks/README.md.
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the conditional model")
    parser.add_argument("--separate-epochs", type=int, default=60, help="epochs of each separate model")
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="transformer", choices=["transformer", "rnn", "pixelcnn"])
    parser.add_argument("--conditioning", default="add", choices=["add", "film"], help="how h enters the network")
    parser.add_argument("--out", default=str(RESULTS / "conditional.json"), help="results file (JSON)")
    parser.add_argument(
        "--figure", default=str(FIGURES / "conditional_phase_diagram.png"), help="phase-diagram figure (PNG)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, python {platform.python_version()}, torch {torch.__version__}")
    # --d-model is the width of whichever network --model names (the RNN's hidden size, the PixelCNN's channels).
    width = {"transformer": "d_model", "rnn": "hidden_size", "pixelcnn": "channels"}[args.model]
    options = {width: args.d_model, **({"n_heads": 4, "n_layers": 2} if args.model == "transformer" else {})}
    wall = time.perf_counter()

    data = simulate_scan(FAMILY, "h", args.train_fields, "tetra", args.samples, seed=args.seed, reference=False)
    trained = sorted(set(data.conditions[:, 0].tolist()))
    # The data's own <X> at each trained field (dual-frame average, standard error over strings): the noise floor
    # that no model of these strings can be expected to beat by much.
    x_coefficients = POVM.named("tetra").coefficients("X").real
    data_x = {}
    for h in trained:
        per_string = x_coefficients[np.asarray(data.outcomes)[data.conditions[:, 0] == h]].mean(axis=1)
        data_x[h] = (float(per_string.mean()), float(per_string.std(ddof=1) / np.sqrt(len(per_string))))
    model = build(
        args.model,
        n_qubits=10,
        n_outcomes=4,
        seed=args.seed,
        n_conditions=1,
        condition_names=["h"],
        conditioning=args.conditioning,
        **options,
    )
    rows = model.condition_rows(data)
    model.measurement = data.measurement_record()
    cpu = train(model, rows, args, args.epochs)
    rate = len(rows) * args.epochs / cpu
    val_loss = [float(v) for v in model.history["val_loss"]]
    print(f"validation loss per epoch {[round(v, 5) for v in val_loss]}; best epoch {int(np.argmin(val_loss))}")
    print(
        f"conditional: {len(rows):,} rows (training and validation), {args.epochs} epochs, {cpu:.0f} CPU s "
        f"({rate:.0f} rows per CPU s)"
    )

    grid = [float(h) for h in np.linspace(0.5, 1.5, args.grid)]
    diagram = phase_diagram(model, FAMILY, "h", sorted(set(grid) | set(trained)), "tetra")
    rows_out = []
    for h, f, x, xe, zz, zze in zip(*(diagram[k] for k in ("values", "fidelity", "x", "x_exact", "zz", "zz_exact"))):
        kind = "trained" if np.any(np.isclose(h, trained)) else "held out"
        row = {"h": h, "kind": kind, "fidelity": f, "x": x, "x_exact": xe, "zz": zz, "zz_exact": zze}
        seen = next((v for t, v in data_x.items() if np.isclose(h, t)), None)
        if seen is not None:
            row.update(x_data=seen[0], x_data_stderr=seen[1])
        rows_out.append(row)
        print(
            f"h {h:.3f} {kind:<9} F {f:.5f}  <X> {x:.5f} exact {xe:.5f} ({100 * (x - xe) / xe:+.2f} %)  "
            f"<Z0Z5> {zz:.4f} exact {zze:.4f}"
            + ("" if seen is None else f"  data <X> {seen[0]:.5f} +- {seen[1]:.5f} ({100 * (seen[0] / xe - 1):+.2f} %)")
        )

    separate = []
    for i, h in enumerate(float(v) for v in args.separate.split(",") if v.strip()):
        own = simulate(from_spec({**FAMILY, "h": h}), "tetra", args.samples, seed=10_000 + i, reference=False)
        alone = build(args.model, n_qubits=10, n_outcomes=4, seed=args.seed, **options)  # no condition: no FiLM
        cpu_alone = train(alone, own.outcomes, args, args.separate_epochs)
        point = phase_point(alone, from_spec({**FAMILY, "h": h}), "tetra")
        at = phase_point(model.at(h=h), from_spec({**FAMILY, "h": h}), "tetra")
        separate.append({"h": h, "separate": point, "conditional": at, "cpu_s": cpu_alone})
        ratio = (1 - at["fidelity"]) / max(1 - point["fidelity"], 1e-12)
        print(
            f"h {h:.3f} separate F {point['fidelity']:.5f} <X> {point['x']:.5f} | conditional F {at['fidelity']:.5f} "
            f"<X> {at['x']:.5f} | (1-F) conditional / separate {ratio:.2f} | {cpu_alone:.0f} CPU s"
        )

    out = [r for r in rows_out if r["kind"] == "held out"]
    which = f"held out ({len(out)} fields)" if out else f"no held-out field on the grid; all {len(rows_out)} fields"
    out = out or rows_out
    worst_f = min(r["fidelity"] for r in out)
    worst_x = max(abs(r["x"] - r["x_exact"]) / abs(r["x_exact"]) for r in out)
    print(
        f"{which}: min F {worst_f:.5f} (goal 0.99: {'met' if worst_f >= 0.99 else 'MISSED'}), "
        f"max |<X> error| {100 * worst_x:.2f} % (goal 1 %: {'met' if worst_x <= 0.01 else 'MISSED'})"
    )
    out_path, figure_path = Path(args.out), Path(args.figure)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": shlex.join(["python", *sys.argv]),
        "threads": torch.get_num_threads(),
        "settings": {k: v for k, v in vars(args).items()},
        "trained": trained,
        "conditional_cpu_s": cpu,
        "conditional_rows_per_cpu_s": rate,
        "val_loss": val_loss,
        "wall_s": time.perf_counter() - wall,
        "points": rows_out,
        "separate": separate,
        "min_heldout_fidelity": worst_f,
        "max_heldout_x_relative_error": worst_x,
    }
    with atomic_write(out_path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    save_figure(
        plot_phase_diagram(diagram, trained=trained, label=f"conditional {args.model}"),
        figure_path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
