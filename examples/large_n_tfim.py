"""Reconstruct a large transverse-field Ising chain: DMRG target, MPS sampling, RNN, observables vs exact.

    python examples/large_n_tfim.py --n-qubits 50 -o results/tfim        # 10^5 samples, ~20 min on one thread
    python examples/large_n_tfim.py --fast -o /tmp/tfim                   # N = 20, tiny training

The target is the ground state of H = -sum Z_i Z_i+1 - h sum X_i found by DMRG (an MPS, so N can be hundreds);
its exact correlations come from the MPS, the model's from its samples through the POVM's dual frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qubits", type=int, default=50)
    parser.add_argument("--field", type=float, default=1.0)
    parser.add_argument("--fast", action="store_true", help="N = 20 and tiny training (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/tfim")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from qgen.data import simulate
    from qgen.metrics import classical_fidelity
    from qgen.metrics.observables import magnetization
    from qgen.models import save
    from qgen.states import tfim
    from qgen.train import train

    n = 20 if args.fast else args.n_qubits
    state = tfim(n, h=args.field, representation="mps")
    data = simulate(state, "tetra", 2_000 if args.fast else 100_000, seed=0)
    print(f"{state!r}: exact energy {float(data.reference['energy']):.6f}")
    model = train(
        "rnn",
        data,
        epochs=1 if args.fast else 20,
        progress=not args.fast,
        device="cpu",
        model_options={"cell": "gru", "n_layers": 2, "hidden_size": 16 if args.fast else 96},
        **({} if args.fast else {"optimizer": "adamw", "weight_decay": 0.1}),
    )
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    save(model, out / "tfim.pt")
    with torch.no_grad():
        fid = classical_fidelity(state.measured("tetra"), model, "mc", n_samples=1_000 if args.fast else 10_000)
        samples = model.sample(2_000 if args.fast else 50_000, generator=torch.Generator().manual_seed(1)).numpy()
    mx = magnetization(samples, data.povm, "X")
    value = np.asarray(getattr(mx, "value", mx[0]))
    exact = np.asarray(data.reference["magnetization_x"])
    print(f"classical fidelity {fid.value:.4f} +- {fid.stderr:.4f} ({fid.method})")
    print(f"<X> averaged over sites: model {value.mean():.4f}, exact {exact.mean():.4f}")


if __name__ == "__main__":
    main()
