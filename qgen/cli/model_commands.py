"""`qgen train`, `qgen sample`, `qgen evaluate`, `qgen demo`: models from data, and their evaluation."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from qgen.cli.args import (
    CommandError,
    LazyChoices,
    check_device,
    check_disk,
    check_options,
    check_outputs,
    fraction,
    nonnegative_float,
    parse_options,
    patience,
    positive_float,
    positive_int,
    schedule_name,
    seed,
)
from qgen.cli.common import (
    MODEL_NAMES,
    SAMPLE_CHUNK_SYMBOLS,
    _command,
    _finish,
    _is_vector_file,
    run_training,
)

# ------------------------------------------------------------------------------------------------------- train


# The model `qgen train` fits when --model is not given: the GRU, the best of the benchmarks (benchmarks/README.md).
DEFAULT_MODEL = "rnn"
OPTIMIZER_NAMES = LazyChoices("qgen.train.optim", "OPTIMIZERS")


def cmd_train(args: argparse.Namespace) -> int:
    from qgen.models.registry import options

    if args.model is None:
        if args.list_options:
            raise CommandError("--list-options needs --model NAME")
        if args.data and len(args.data) == 1 and _is_vector_file(args.data[0]):
            raise CommandError(f"--data {args.data[0]} holds vectors: name a model of vectors with --model")
        if not args.condition:  # a conditional model is chosen by the data's N (qgen.train.recipes.conditional_model)
            args.model = DEFAULT_MODEL
    defaults = options(args.model) if args.model is not None else None
    if args.list_options:
        print(f"options of model {args.model!r} (qgen train --model {args.model} --option KEY=VALUE):")
        for key, value in defaults.items():
            print(f"  {key:<24} {'(required)' if value is None else repr(value)}")
        return 0
    if not args.data or not args.output:
        raise CommandError("--data and -o/--output are required (or --list-options)")
    if args.condition:  # one conditional model over every --data file: the same flags, its own recipe and plan
        from qgen.cli.conditional import train_conditional

        return train_conditional(args, defaults, _finish)
    if len(args.data) > 1:
        raise CommandError("several --data files train one conditional model: name its condition with --condition")
    args.data = args.data[0]
    start = time.perf_counter()
    out = Path(args.output)
    check_outputs({"-o": out, "checkpoint": Path(str(out) + ".ckpt")}, {"--data": args.data}, force=args.force)
    check_device(args.device)
    model_options = check_options(args.model, parse_options(args.option), defaults)

    from qgen.data import load, load_vectors
    from qgen.train.defaults import train

    data = load_vectors(args.data) if _is_vector_file(args.data) else load(args.data)
    model, summarized = run_training(train, args, data, out, model_options)
    if args.quiet and not summarized and model is not None and os.environ.get("RANK", "0") == "0":
        # no epoch ran (a resumed run that had already finished): say so instead of printing nothing
        epochs = len(model.history.get("epoch", []))
        print(f"trained {epochs} epochs (the checkpoint's run had already finished)", file=sys.stderr, flush=True)
    if model is not None:
        _finish(args, f"wrote {out}", start)
    return _divergence_status(args, model)


# Exit status of a training run that diverged (its summary says why), unless --allow-divergence.
DIVERGED_EXIT = 3


def _divergence_status(args: argparse.Namespace, model: Any) -> int:
    """0, or DIVERGED_EXIT when a maximum-likelihood model on strings ended far above the uniform distribution."""
    from qgen.models.base import MaximumLikelihood, Strings
    from qgen.train.history import divergence

    if model is None or not (isinstance(model, MaximumLikelihood) and isinstance(model.support, Strings)):
        return 0
    failed = divergence(model.history, model.n_qubits, model.n_outcomes)
    if not failed or args.allow_divergence:
        return 0
    print(f"qgen train: {failed}; the model was written, exit {DIVERGED_EXIT} (--allow-divergence: 0)", file=sys.stderr)
    return DIVERGED_EXIT


def _add_train(sub: Any) -> None:
    p = _command(sub, "train", "fit a generative model to a data set", cmd_train)
    p.add_argument(
        "--model",
        choices=MODEL_NAMES,
        metavar="NAME",
        help=f"one of: %(choices)s (default {DEFAULT_MODEL} on outcome strings: the benchmarks' best)",
    )
    p.add_argument("--list-options", action="store_true", help="print the model's hyperparameters and exit")
    p.add_argument(
        "--data", nargs="+", help="the data set (.h5): outcome strings, or vectors; several with --condition"
    )
    p.add_argument(
        "--condition",
        action="append",
        metavar="NAME",
        help="train one conditional model on the data's parameter NAME (a scan's column or each file's state)",
    )
    recipe = "default: the benchmarks' recipe for the model and data size (qgen.train.default_recipe)"
    p.add_argument("--epochs", type=positive_int, help=f"at most this many epochs; {recipe}")
    p.add_argument("--batch-size", type=positive_int, help=recipe)
    p.add_argument("--lr", type=positive_float, help=f"learning rate; {recipe}, else 1e-3")
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZER_NAMES,
        metavar="NAME",
        help=f"adam, adamw, sgd or rmsprop; {recipe} (another optimizer drops the recipe's weight decay)",
    )
    p.add_argument("--weight-decay", type=nonnegative_float, help=f"weight decay (AdamW) or L2 penalty; {recipe}")
    p.add_argument(
        "--schedule",
        type=schedule_name,
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"learning-rate schedule: cosine, step, exponential, plateau or none; {recipe}",
    )
    p.add_argument(
        "--patience",
        type=patience,
        default=argparse.SUPPRESS,
        metavar="EPOCHS",
        help=f"early stopping after this many epochs without a better validation loss, or none; {recipe}",
    )
    p.add_argument(
        "--val-fraction", type=fraction, metavar="F", help="share of the data held out for validation (default 0.1)"
    )
    p.add_argument(
        "--max-minutes",
        type=positive_float,
        metavar="M",
        help="time budget: stop after the first epoch that ends past M minutes of training (the summary says so)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: CUDA when present)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model hyperparameter (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside the output")
    p.add_argument("--force", action="store_true", help="allow -o to replace an input file")
    p.add_argument(
        "--allow-divergence",
        action="store_true",
        help="exit 0 even when training diverged (best loss far above the uniform distribution's; default: exit 3)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no plan, bar or per-epoch lines; the summary and the final line remain",
    )
    p.add_argument("-o", "--output", help="the model file to write (.pt)")


# ------------------------------------------------------------------------------------------------------ sample


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from qgen.data import MeasurementData, MeasurementWriter, load
    from qgen.models import load as load_model
    from qgen.models.base import Strings

    start = time.perf_counter()
    out = Path(args.output)
    check_outputs({"-o": out}, {"--model": args.model, "--data": args.data}, force=args.force)
    model = load_model(args.model, map_location="cpu")
    if not isinstance(model.support, Strings):
        return _sample_vectors(args, model, out, start)
    n_qubits, k = model.n_qubits, model.n_outcomes
    check_disk(out, args.samples * n_qubits, f"{args.samples:,} strings of {n_qubits} qubits", force=args.force)
    if args.data:
        source = load(args.data)
        if (source.n_qubits, source.n_outcomes) != (n_qubits, k):
            raise CommandError(
                f"--data {args.data} has (N, K) = {(source.n_qubits, source.n_outcomes)}, the model {(n_qubits, k)}"
            )
        record = source.measurement_record()
    elif model.measurement:
        record = model.measurement
    else:
        raise CommandError(f"{args.model} does not record how its training data were measured: pass --data")
    extra = {"generated_by": str(args.model)}
    meta = MeasurementData.from_record(np.zeros((0, n_qubits), np.uint8), record, seed=args.seed, extra=extra)
    if meta.n_outcomes != k:
        raise CommandError(f"the model has K = {k} outcomes, its recorded POVM {meta.n_outcomes}")
    generator = torch.Generator().manual_seed(args.seed)
    chunk = max(1, SAMPLE_CHUNK_SYMBOLS // n_qubits)
    fields = {"povm": meta.povm, "ideal_povm": meta.ideal_povm, "state": meta.state, "noise": meta.noise}
    with (
        MeasurementWriter(out, n_qubits=n_qubits, seed=args.seed, extra=extra, **fields) as writer,
        tqdm(total=args.samples, disable=not sys.stderr.isatty() or args.samples <= chunk, unit="samples") as bar,
        torch.no_grad(),
    ):
        done = 0
        while done < args.samples:
            size = min(chunk, args.samples - done)
            writer.append(model.sample(size, generator=generator).to("cpu", torch.uint8).numpy())
            done += size
            bar.update(size)
    _finish(args, f"wrote {args.samples:,} samples of {args.model} to {out}", start)
    return 0


def _sample_vectors(args: argparse.Namespace, model: Any, out: Path, start: float) -> int:
    """`qgen sample` for a model of vectors: its samples as a vector data set."""
    import torch

    from qgen.data.vectors import VectorData, save_vectors

    if args.data:
        raise CommandError(f"--data gives a measurement record; {args.model} models vectors and needs none")
    dim = model.support.dim
    check_disk(out, 8 * args.samples * dim, f"{args.samples:,} points of dimension {dim}", force=args.force)
    generator = torch.Generator().manual_seed(args.seed)
    chunk = max(1, SAMPLE_CHUNK_SYMBOLS // dim)
    parts = []
    with torch.no_grad():
        for done in range(0, args.samples, chunk):
            size = min(chunk, args.samples - done)
            parts.append(model.sample(size, generator=generator).to("cpu", torch.float64))
    extra = {"generated_by": str(args.model), "model": model.config}
    save_vectors(out, VectorData(torch.cat(parts).numpy(), name=model.name, seed=args.seed, extra=extra))
    _finish(args, f"wrote {args.samples:,} points of {args.model} to {out}", start)
    return 0


def _add_sample(sub: Any) -> None:
    p = _command(sub, "sample", "draw outcome strings (or vectors) from a trained model into a data set", cmd_sample)
    p.add_argument("--model", required=True, help="a trained model (.pt)")
    p.add_argument("-n", "--samples", type=positive_int, required=True, help="number of strings")
    p.add_argument("--data", help="take POVM and state from this data set instead of the model file's record")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--force", action="store_true", help="allow -o to replace an input (and a possibly full disk)")
    p.add_argument("-o", "--output", required=True, help="the data set to write (.h5)")


# ---------------------------------------------------------------------------------------------------- evaluate


def _check_evaluation_inputs(args: argparse.Namespace) -> None:
    """The model and the data must describe the same measurement: same N, same K, same POVM as applied."""
    import numpy as np

    from qgen.data import load

    data = load(args.data)
    model_path = Path(args.model)
    if model_path.suffix.lower() in (".h5", ".hdf5"):
        other = load(model_path)
        shape, povm = (other.n_qubits, other.n_outcomes), other.povm.elements
    else:
        from qgen.data import MeasurementData
        from qgen.models import load as load_model

        model = load_model(model_path, map_location="cpu")
        shape = (int(getattr(model, "n_qubits", -1)), int(getattr(model, "n_outcomes", -1)))
        record = getattr(model, "measurement", None)
        povm = None
        if record:
            povm = MeasurementData.from_record(np.zeros((0, shape[0]), np.uint8), record).povm.elements
    if shape != (data.n_qubits, data.n_outcomes):
        raise CommandError(
            f"--model {args.model} has (N, K) = {shape}, --data {args.data} has {(data.n_qubits, data.n_outcomes)}: "
            "they do not describe the same measurement"
        )
    if povm is not None and not np.allclose(povm, data.povm.elements, atol=1e-8) and not args.force:
        raise CommandError(
            f"--model {args.model} was trained on strings measured with another POVM than --data {args.data} "
            f"({data.povm_name}, noise {data.noise or 'none'}): observables would be read with the wrong POVM "
            "(pass --force to evaluate anyway)"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from qgen.cli.conditional import evaluate_at, is_conditional
    from qgen.report.evaluation import run_evaluate

    if is_conditional(args.model):  # at the condition --target names
        return evaluate_at(args, _finish)
    if not args.data:
        raise CommandError("--data is required (except for a conditional model evaluated at its --target)")
    start = time.perf_counter()
    # Every file --target may read (a file, a REAL,IMAG pair, an MPS folder's tables) is an input --json must spare.
    target_files = {}
    if args.target:
        text = args.target.split(":", 1)[1] if args.target.startswith(("paper:", "qgen:")) else args.target
        parts = [text] if Path(text).exists() else text.split(",")
        for part in parts:
            found = sorted(Path(part).glob("*.txt")) if Path(part).is_dir() else [Path(part)]
            target_files.update({f"--target {f}": f for f in found if f.is_file()})
    check_outputs(
        {"--json": args.json},
        {"--model": args.model, "--data": args.data, **target_files},
        force=args.force,
        folders={"--plots": args.plots},
    )
    _check_evaluation_inputs(args)
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
        positive=args.positive,
        progress=not args.quiet,
    )
    from qgen.report.summary import summary_text

    print(summary_text(report))
    _finish(args, f"wrote {args.json}" + (f" and figures in {args.plots}" if args.plots else ""), start)
    return 0


def _add_evaluate(sub: Any) -> None:
    p = _command(sub, "evaluate", "compare a model (or a data set) with the exact target", cmd_evaluate)
    p.add_argument("--model", required=True, help="a trained model (.pt) or a data set (.h5) to evaluate")
    p.add_argument("--data", help="the data set whose recorded state is the target (optional: conditional model)")
    p.add_argument(
        "--target",
        help="another target: a state name with N from the data (ghz, tfim:h=0.5); a JSON spec or .json file; a "
        "state vector (.npy, or 'Re Im' text lines); a density matrix (square .npy, or REAL.txt,IMAG.txt); an MPS "
        "(.h5 with /mps or /reference/mps, or the paper's text folder as paper:DIR, its +ZZ+X signs mapped to "
        "qgen's, or qgen:DIR)",
    )
    p.add_argument("--json", required=True, help="the report to write (JSON)")
    p.add_argument("--plots", help="folder for the figures (PNG), with the learning curve when the model has one")
    p.add_argument("--n-samples", type=positive_int, default=10_000, help="samples for Monte-Carlo estimates")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--force", action="store_true", help="allow --json to replace an input; evaluate across POVMs")
    p.add_argument(
        "--positive",
        action="store_true",
        help="Z-basis shots of a positive state (a stoquastic ground state such as the TFIM's): read the model as "
        "psi = sqrt(p) over all 2^N strings (N <= 20), so <X_i>, the energy and the quantum fidelity come from it",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr (shown when the report takes more than 2 s); the table and final line remain",
    )


# -------------------------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from qgen.report.demo import run_demo

    check_outputs({}, {}, folders={"-o": args.output})
    run_demo(Path(args.output), quick=args.quick)
    return 0


def _add_demo(sub: Any) -> None:
    p = _command(sub, "demo", "simulate, reconstruct and evaluate a small Ising chain end to end", cmd_demo)
    p.add_argument("-o", "--output", default="results/demo", help="results folder (default results/demo)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
