"""`qgen validate` and `qgen reproduce`: the users' workflows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qgen.cli.args import (
    CommandError,
    parse_options,
)
from qgen.cli.common import (
    _command,
)

# ---------------------------------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit status: 0 PASS, 1 FAIL, 3 INCONCLUSIVE (2: bad input, as for every command)."""
    import shlex

    from qgen.report.validate_io import run_validate, summary_lines

    options = {"model_options": parse_options(args.option)} if args.option else {}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    report = run_validate(
        args.data,
        args.target,
        args.output,
        povm=args.povm,
        bases=args.bases,
        command=shlex.join(["qgen", *sys.argv[1:]]),
        threshold=args.threshold,
        confidence=args.confidence,
        model=None if args.no_model else args.model,
        n_refits=args.refits,
        fit_noise=not args.no_noise_fit,
        train_options=options,
        n_samples=args.n_samples,
        seed=args.seed,
        verdict_from=args.verdict_from,
    )
    print("\n".join(summary_lines(report)))
    if args.output:
        print(f"wrote {Path(args.output) / 'validation.json'} and validation.png")
    return int(report["exit_code"])


def _add_validate(sub: Any) -> None:
    p = _command(
        sub,
        "validate",
        "test measured data against the state they should come from: PASS (exit 0), FAIL (1), INCONCLUSIVE (3)",
        cmd_validate,
    )
    p.add_argument("data", help="a qgen data file (.h5), QuCumber bits (with --bases), an outcome table (--povm)")
    p.add_argument(
        "--target",
        required=True,
        help="ghz, tfim:h=0.5, ... (N from the data); 'data' (the recorded state); a JSON spec or file; an MPS "
        "folder in the paper's text format as paper:DIR (its +ZZ+X signs mapped to qgen's) or qgen:DIR; an .h5 MPS; "
        "a state-vector file",
    )
    p.add_argument("--threshold", type=float, default=0.9, help="fidelity the set-up must reach (default 0.9)")
    p.add_argument("--confidence", type=float, default=0.95, help="level of the one-sided bounds (default 0.95)")
    p.add_argument("--povm", help="the POVM an outcome table indexes (tetra, pauli4, pauli6, trine)")
    p.add_argument("--bases", help="QuCumber's file of measurement bases for its bit strings")
    p.add_argument("--model", default="rnn", help="reconstructor of the model-based estimate (default: GRU 2 x 64)")
    p.add_argument("--no-model", action="store_true", help="skip the model-based estimate (no training)")
    p.add_argument("--refits", type=int, default=2, help="bootstrap refits of the model (each costs one training)")
    p.add_argument("--epochs", type=int, help="training epochs (default: chosen from the data size)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model hyperparameter (repeatable)")
    p.add_argument("--no-noise-fit", action="store_true", help="skip the depolarizing-noise fit")
    p.add_argument("--verdict-from", choices=["auto", "direct", "model"], default="auto")
    p.add_argument("--n-samples", type=int, default=10_000, help="model samples for Monte-Carlo estimates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="folder for validation.json and validation.png")


# --------------------------------------------------------------------------------------------------- reproduce


def cmd_reproduce(args: argparse.Namespace) -> int:
    import shlex

    from qgen.reproduce import FIGURES, MISSING, reproduce

    if args.list or not args.figure:
        for entry in FIGURES.values():
            print(f"{entry.name:<12} {entry.title}\n{'':<12} --quick: {entry.quick}; full: {entry.full}")
        if MISSING:
            print("not yet available:")
        for name, why in MISSING.items():
            print(f"  {name}: {why}")
        return 0
    if not args.output:
        raise CommandError("-o/--output is required to reproduce a figure")
    record = reproduce(
        args.figure, args.output, quick=args.quick, seed=args.seed, command=shlex.join(["qgen", *sys.argv[1:]])
    )
    print(f"wrote {record['png']} and {record['json']} in {record['seconds']:.0f} s")
    return 0


def _add_reproduce(sub: Any) -> None:
    p = _command(
        sub, "reproduce", "redraw a figure of the paper or the tutorials (PNG + JSON of its numbers)", cmd_reproduce
    )
    p.add_argument("figure", nargs="?", help="the figure's name (see --list)")
    p.add_argument("--list", action="store_true", help="list the figures and their run times")
    p.add_argument("--quick", action="store_true", help="a smaller run, at most 5 minutes on 2 cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="folder for FIGURE.png and FIGURE.json")
