"""Reconstruct a state from lab data: read outcome strings from a file, train a model, report its observables.

    python examples/reconstruct_lab_data.py --data shots.txt --povm tetra -o results/lab
    python examples/reconstruct_lab_data.py --fast -o /tmp/lab   # makes its own small file first

The file holds one shot per line, one integer outcome per qubit (the index of the POVM element that clicked);
--povm names the single-qubit POVM. QuCumber's files and qgen's HDF5 data sets work as well (see README).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="outcome table (text or .npy); default: simulate a small one")
    parser.add_argument("--povm", default="tetra")
    parser.add_argument("--fast", action="store_true", help="tiny sizes (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/lab")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from qgen.data import import_outcomes, simulate
    from qgen.metrics.observables import correlation_matrix, magnetization
    from qgen.models import save
    from qgen.train import train

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.data is None:
        from qgen.states import graph

        # Stand-in for a lab file: a 4-qubit cluster state measured with the tetrahedral POVM.
        lab = simulate(graph(4), args.povm, 1_000 if args.fast else 20_000, seed=0, reference=False)
        args.data = out / "shots.txt"
        np.savetxt(args.data, lab.outcomes, fmt="%d")
    data = import_outcomes(args.data, args.povm)
    print(data.summary())

    model = train(
        "rnn",
        data,
        epochs=2 if args.fast else None,
        progress=False,
        device="cpu",
        model_options={"hidden_size": 16 if args.fast else 64, "n_layers": 2},
    )
    save(model, out / "model.pt")
    samples = model.sample(5_000, generator=torch.Generator().manual_seed(1)).numpy()
    for name, result in (
        ("<X_i>", magnetization(samples, data.povm, "X")),
        ("<Z_i Z_i+1>", correlation_matrix(samples, data.povm, "Z")),
    ):
        value = np.asarray(getattr(result, "value", result[0]))
        value = np.diagonal(value, 1) if value.ndim == 2 else value
        print(f"{name:<12} model: {np.round(value, 3).tolist()}")
    print(f"wrote {out / 'model.pt'}")


if __name__ == "__main__":
    main()
