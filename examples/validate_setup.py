"""Validate an experimental set-up: did the lab prepare the GHZ state it meant to, at fidelity >= 0.9?

    python examples/validate_setup.py -o results/validate
    python examples/validate_setup.py --fast -o /tmp/validate

Here the "lab" is simulated: a 4-qubit GHZ state whose qubits each suffer depolarizing noise p = 0.03 before the
tetrahedral measurement, so its exact fidelity is 0.886, just under the threshold.
`qgen validate lab.h5 --target ghz --threshold 0.9` runs the same thing from a shell, with exit status 0 (PASS),
1 (FAIL) or 3 (INCONCLUSIVE).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer shots, no model (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/validate")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from qgen.data import save, simulate
    from qgen.measurement.noise import depolarizing
    from qgen.report.validate import channel_fidelity
    from qgen.report.validate_io import run_validate, summary_lines
    from qgen.states import ghz

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    noise = depolarizing(0.03)
    save(simulate(ghz(4), "tetra", 5_000 if args.fast else 50_000, noise=noise, seed=7), out / "lab.h5")
    report = run_validate(
        out / "lab.h5",
        "ghz",
        out,
        threshold=0.9,
        model=None if args.fast else "rnn",
        n_refits=2,
    )
    print("\n".join(summary_lines(report)))
    print(f"(the exact fidelity of this simulated lab state is {channel_fidelity(ghz(4), noise):.4f})")
    return int(report["exit_code"])


if __name__ == "__main__":
    raise SystemExit(main())
