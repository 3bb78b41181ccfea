"""Bring your own state: any state vector (or MPS) becomes a target for simulation, training and evaluation.

    python examples/bring_your_own_state.py -o results/own
    python examples/bring_your_own_state.py --fast -o /tmp/own

Here the state is a random 3-qubit state built with numpy; replace `my_state()` with yours (a vector of length
2^N with site 0 the most significant bit, a density matrix via qgen.states.from_density_matrix, or an MPS via
qgen.states.MPSState(tensors)).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def my_state() -> np.ndarray:
    rng = np.random.default_rng(2024)
    v = rng.normal(size=8) + 1j * rng.normal(size=8)
    return v / np.linalg.norm(v)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny sizes (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/own")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from qgen.data import simulate
    from qgen.metrics import classical_fidelity, quantum_fidelity
    from qgen.states import from_vector
    from qgen.train import train

    state = from_vector(my_state())
    data = simulate(state, "tetra", 2_000 if args.fast else 30_000, seed=0)
    model = train(
        "rnn",
        data,
        epochs=3 if args.fast else 60,
        batch_size=100,
        lr=1e-2,
        progress=False,
        device="cpu",
        model_options={"hidden_size": 16 if args.fast else 64, "n_layers": 1},
    )
    with torch.no_grad():
        cf = classical_fidelity(state.measured("tetra"), model, "exact")
        qf = quantum_fidelity(model, state, povm=data.povm, method="exact")
    print(f"classical fidelity {cf.value:.4f} ({cf.method}), quantum fidelity {qf.value:.4f} ({qf.method})")


if __name__ == "__main__":
    main()
