"""Reproduce a figure of Carrasquilla et al. (2019): the Bell state under depolarizing noise (paper-fig2).

    python examples/reproduce_figure.py -o results/figures            # the --quick run, about a minute
    python examples/reproduce_figure.py --fast -o /tmp/figures         # a smoke test

`qgen reproduce --list` lists every figure; `qgen reproduce paper-fig4 --quick -o DIR` draws another.
"""

from __future__ import annotations

import argparse

import torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", default="paper-fig2")
    parser.add_argument("--fast", action="store_true", help="tiny sizes (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/figures")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from qgen.reproduce import reproduce

    plan = {"noise": (0.0, 0.3), "n_samples": 500, "epochs": 2} if args.fast else None
    record = reproduce(args.figure, args.output, quick=True, plan=plan)
    print(f"wrote {record['png']} and {record['json']} ({record['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
