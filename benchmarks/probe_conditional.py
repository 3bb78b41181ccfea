"""Probe for the <X> bias of bench_conditional.py (issue 15): the same training, evaluated exactly at a few fields.

Trains the conditional model of `bench_conditional.py` (TFIM N = 10, tetra, 5 fields x 10^4 strings, Adam 3e-3,
cosine, batch 256, best validation epoch kept) with the given options, prints the data's own <X> +- stderr at
each trained field, the best validation epoch, and classical fidelity and <X> against exact at `--fields` only
(5 exact evaluations instead of 21). `--normalize` feeds the model (h - 1) / 0.5 in [-1, 1] instead of h.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_conditional.py --seed 2 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from qgen.data.scan import simulate_scan
from qgen.measurement.povm import POVM
from qgen.models import build
from qgen.report.conditional import phase_point
from qgen.states.library import from_spec
from qgen.train.trainer import Trainer

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=2)
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--opts", default="{}")
p.add_argument("--fields", default="0.5,0.55,0.75,1.0,1.5")
p.add_argument("--model", default="transformer")
p.add_argument("--tag", default="")
p.add_argument("--normalize", action="store_true")
a = p.parse_args()
torch.set_num_threads(1)
print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
FAMILY = {"name": "tfim", "n_qubits": 10}
data = simulate_scan(FAMILY, "h", "0.5:1.5:5", "tetra", 10_000, seed=a.seed, reference=False)
xc = POVM.named("tetra").coefficients("X").real
for h in sorted(set(data.conditions[:, 0].tolist())):
    o = data.outcomes[data.conditions[:, 0] == h]
    v = xc[np.asarray(o)].mean(axis=1)
    print(f"data h {h:.2f} <X> {v.mean():.5f} +- {v.std() / np.sqrt(len(v)):.5f}")
opts = {"d_model": 32, "n_heads": 4, "n_layers": 2} if a.model == "transformer" else {}
opts.update(json.loads(a.opts))
model = build(a.model, n_qubits=10, n_outcomes=4, seed=a.seed, n_conditions=1, condition_names=["h"], **opts)
conds = data.conditions
if a.normalize:
    conds = (np.asarray(conds) - 1.0) / 0.5
rows = model.condition_rows(data.outcomes, conds)
t = time.process_time()
hist = Trainer(
    model,
    epochs=a.epochs,
    batch_size=256,
    lr=a.lr,
    schedule="cosine",
    early_stopping_patience=None,
    progress=False,
    seed=a.seed,
).fit(rows)
cpu = time.process_time() - t
vl = hist["val_loss"]
print(
    f"{a.tag} trained {cpu:.0f} CPU s, best epoch {int(np.argmin(vl))} of {len(vl)}, "
    f"val {min(vl):.5f} last {vl[-1]:.5f}; val loss per epoch {[round(v, 5) for v in vl]}"
)
out = []
for h in (float(s) for s in a.fields.split(",")):
    pt = phase_point(model.at(h=(h - 1.0) / 0.5 if a.normalize else h), from_spec({**FAMILY, "h": h}), "tetra")
    err = (pt["x"] - pt["x_exact"]) / pt["x_exact"]
    out.append((h, pt["fidelity"], err))
    print(
        f"{a.tag} h {h:.2f} F {pt['fidelity']:.5f} <X> {pt['x']:.5f} exact {pt['x_exact']:.5f} "
        f"({100 * err:+.2f} %, {pt['x'] - pt['x_exact']:+.4f})",
        flush=True,
    )
print(
    f"{a.tag} SUMMARY seed {a.seed} opts {a.opts} epochs {a.epochs}: min F {min(o[1] for o in out):.5f}, "
    f"max |<X> err| {100 * max(abs(o[2]) for o in out):.2f} %"
)
