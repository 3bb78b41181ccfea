"""The `qgen` command line: simulate, info, train, sample, evaluate, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A bad argument combination found after parsing; printed as one line."""


def _state_from_args(args: argparse.Namespace) -> Any:
    from qgen.states import library

    n, rep = args.n_qubits, args.representation
    if args.state == "tfim":
        return library.tfim(n, h=args.field, J=args.coupling, boundary=args.boundary, representation=rep)
    if args.state == "xxz":
        return library.xxz(n, delta=args.delta, J=args.coupling, boundary=args.boundary, representation=rep)
    if args.state == "ghz":
        return library.ghz(n, representation=rep)
    if args.state == "w":
        return library.w(n)
    if args.state == "graph":
        return library.graph(n, representation=rep)
    if args.state == "product":
        labels = args.product_state.split(",")
        return library.product(labels if len(labels) > 1 else labels[0], n, representation=rep)
    raise CommandError(f"unknown state {args.state!r}")


def _writable(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CommandError(f"cannot write {path}: folder {folder} does not exist")
    return path


def cmd_simulate(args: argparse.Namespace) -> int:
    from qgen import noise as qnoise
    from qgen.data.simulation import write_simulation

    out = _writable(Path(args.output))
    channel = qnoise.parse(args.noise) if args.noise else None
    state = _state_from_args(args)
    n = write_simulation(
        out,
        state,
        args.povm,
        args.samples,
        noise=channel,
        seed=args.seed,
        reference=not args.no_reference,
        progress=None if not args.quiet else False,
    )
    if not args.quiet:
        print(f"wrote {n} samples of {state!r} measured with {args.povm} to {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from qgen.data import load

    print(load(args.file).summary())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from qgen.report.demo import run_demo

    run_demo(Path(args.output), quick=args.quick)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from qgen.report.evaluation import run_evaluate

    _writable(Path(args.json))
    if args.plots:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
    report = run_evaluate(
        args.model,
        args.data,
        args.json,
        target_spec=args.target,
        plots_dir=args.plots,
        n_samples=args.n_samples,
        seed=args.seed,
    )
    for key in ("classical_fidelity", "kl_divergence", "quantum_fidelity"):
        entry = report.get(key)
        if isinstance(entry, dict) and entry.get("value") is not None:
            print(f"{key:<20} {entry['value']:.6g} +- {entry.get('stderr', 0):.2g}  ({entry['method']})")
    print(f"wrote {args.json}" + (f" and figures in {args.plots}" if args.plots else ""))
    return 0


def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="compare a model (or a data set) with the exact target")
    p.add_argument("--model", required=True, help="a trained model (.pt) or a data set (.h5) to evaluate")
    p.add_argument("--data", required=True, help="the data set whose recorded state is the target")
    p.add_argument("--target", help="another target: a JSON state spec, or a file holding one")
    p.add_argument("--json", required=True, help="the report to write (JSON)")
    p.add_argument("--plots", help="folder for the figures (PNG)")
    p.add_argument("--n-samples", type=int, default=10_000, help="samples for Monte-Carlo estimates")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate)


def cmd_train(args: argparse.Namespace) -> int:
    from qgen.data import load
    from qgen.train.defaults import train

    out = _writable(Path(args.output))
    data = load(args.data)
    options = {"model_options": _parse_options(args.option)} if args.option else {}
    model = train(
        args.model,
        data,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        output=str(out),
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
        **options,
    )
    if not args.quiet and model is not None:
        print(f"wrote {out}")
    return 0


def _parse_options(items: list[str]) -> dict[str, Any]:
    """Model hyperparameters from KEY=VALUE words (numbers become numbers)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"cannot read --option {item!r}: expected KEY=VALUE, e.g. hidden_size=64")
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="fit a generative model to a data set by maximum likelihood")
    p.add_argument("--model", required=True, choices=["rnn", "pixelcnn", "transformer"])
    p.add_argument("--data", required=True, help="the data set (.h5)")
    p.add_argument("--epochs", type=int, help="default: chosen from the data size, with early stopping")
    p.add_argument("--batch-size", type=int, help="default: chosen from the data size")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: CUDA when present)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model hyperparameter (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside the output")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-o", "--output", required=True, help="the model file to write (.pt)")
    p.set_defaults(func=cmd_train)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from qgen.data import MeasurementData, load, save
    from qgen.models import load as load_model

    out = _writable(Path(args.output))
    model = load_model(args.model, map_location="cpu")
    if args.samples < 1:
        raise CommandError(f"-n must be a positive integer, got {args.samples}")
    outcomes = model.sample(args.samples, generator=torch.Generator().manual_seed(args.seed))
    fields = {"seed": args.seed, "extra": {"generated_by": str(args.model)}}
    strings = outcomes.to(torch.uint8).cpu().numpy()
    if args.data:
        source = load(args.data)
        if source.n_qubits != model.n_qubits:
            raise CommandError(f"{args.data} has {source.n_qubits} qubits, the model {model.n_qubits}")
        data = MeasurementData.from_record(strings, source.measurement_record(), **fields)
    elif model.measurement:
        data = MeasurementData.from_record(strings, model.measurement, **fields)
    else:
        raise CommandError(f"{args.model} does not record how its training data were measured: pass --data")
    save(data, out)
    print(f"wrote {args.samples} samples of {args.model} to {out}")
    return 0


def _add_sample(sub: Any) -> None:
    p = sub.add_parser("sample", help="draw outcome strings from a trained model into a data set")
    p.add_argument("--model", required=True, help="a trained model (.pt)")
    p.add_argument("-n", "--samples", type=int, required=True)
    p.add_argument("--data", help="take POVM and state from this data set instead of the model file's record")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="the data set to write (.h5)")
    p.set_defaults(func=cmd_sample)


def _add_simulate(sub: Any) -> None:
    from qgen.measurement.povm import NAMED_POVMS

    p = sub.add_parser("simulate", help="measure a target state and write a data set (HDF5)")
    p.add_argument("--state", required=True, choices=["tfim", "xxz", "ghz", "w", "product", "graph"])
    p.add_argument("--n-qubits", type=int, required=True, help="number of qubits N")
    p.add_argument("--field", type=float, default=1.0, help="transverse field h of the Ising chain (default 1)")
    p.add_argument("--coupling", type=float, default=1.0, help="coupling J (default 1)")
    p.add_argument("--delta", type=float, default=1.0, help="anisotropy of the XXZ chain (default 1)")
    p.add_argument("--boundary", choices=["open", "periodic"], default="open")
    p.add_argument("--product-state", default="0", help="label(s) of a product state: 0,1,+,-,+i,-i (comma list)")
    p.add_argument("--representation", choices=["auto", "dense", "mps"], default="auto")
    p.add_argument("--povm", default="tetra", choices=list(NAMED_POVMS), help="single-qubit POVM (default tetra)")
    p.add_argument("--samples", type=int, required=True, help="number of outcome strings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--noise",
        action="append",
        metavar="NAME:VALUE",
        help="local noise before measurement, e.g. depolarizing:0.05 (repeat to compose)",
    )
    p.add_argument("--no-reference", action="store_true", help="skip the exact reference values")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-o", "--output", required=True, help="the data set file to write (.h5)")
    p.set_defaults(func=cmd_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qgen", description="Reconstruct quantum states from measurement data with generative models."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_simulate(sub)
    p = sub.add_parser("info", help="summarise a data set file")
    p.add_argument("file")
    p.set_defaults(func=cmd_info)
    for register in _EXTRA_COMMANDS:
        register(sub)
    p = sub.add_parser("demo", help="simulate, reconstruct and evaluate a small Ising chain end to end")
    p.add_argument("-o", "--output", default="results/demo", help="results folder (default results/demo)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
    p.set_defaults(func=cmd_demo)
    return parser


# Further commands register themselves here (train, sample, evaluate), each in its own function below.
_EXTRA_COMMANDS: list[Callable[[Any], None]] = [_add_train, _add_sample, _add_evaluate]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from qgen import __version__

        print(f"qgen {__version__}")
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from qgen.errors import QgenError

    try:
        return int(args.func(args) or 0)
    except (QgenError, CommandError, OSError) as exc:
        print(f"qgen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qgen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
