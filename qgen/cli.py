"""The `qgen` command line: simulate, info, import, train, sample, evaluate, demo.

Each subcommand is one `_add_NAME(sub)` function (its arguments) and one `cmd_NAME(args)` function (one thin call
into the library); `_COMMANDS` lists them in the order `qgen --help` shows. Every subcommand takes `--threads`.
Bad arguments and bad files end with one line on stderr and exit code 2; outputs are checked (writable, not an
input, room on disk) before any long work starts.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qgen.cli_args import (
    CommandError,
    LazyChoices,
    check_device,
    check_disk,
    check_options,
    check_outputs,
    parse_options,
    passive_openmp,
    positive_float,
    positive_int,
    seed,
    set_threads,
)
from qgen.cli_conditional import field_or_scan

__all__ = ["main", "build_parser", "CommandError"]

MODEL_NAMES = LazyChoices("qgen.models.registry", "MODELS")
STATE_NAMES = LazyChoices("qgen.states.library", "STATE_NAMES")
TOY_NAMES = LazyChoices("qgen.data.toy", "TOY_DENSITIES")
# Explicit dense ground states above this size run a Lanczos on 2^N amplitudes for minutes: refused without
# --force (auto switches to DMRG above qgen.states.library.DENSE_LIMIT = 16).
DENSE_GROUND_STATE_LIMIT = 20
# Largest chain whose DMRG the benchmarks checked against free fermions (about 10 minutes at h = 1).
DMRG_LIMIT = 1000
# Rows per model.sample call of `qgen sample`: memory stays bounded at any -n.
SAMPLE_CHUNK_SYMBOLS = 1 << 22


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): `qgen train: error: ... (see qgen train --help)`."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(sub: Any, name: str, help: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand parser with the options every command shares (--threads)."""
    p = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch threads (default: torch's choice); idle threads sleep (OMP_WAIT_POLICY=PASSIVE) unless set",
    )
    p.set_defaults(func=func)
    return p


def _finish(args: argparse.Namespace, message: str, start: float) -> None:
    """The command's last line: what it wrote, how long it took and on how many threads."""
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for all
        return
    import torch

    threads = torch.get_num_threads()
    print(f"{message} ({time.perf_counter() - start:.1f} s, {threads} thread{'s' if threads > 1 else ''})")


def _note(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"qgen {args.command}: note: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- simulate

# Keyword of a state constructor in qgen.states.library -> the command-line option that sets it.
_STATE_OPTIONS = {
    "h": "field",
    "J": "coupling",
    "delta": "delta",
    "boundary": "boundary",
    "representation": "representation",
    "states": "product_state",
}


def _state_from_args(args: argparse.Namespace) -> Any:
    """Build the named state through its constructor in qgen.states.library, passing the options it takes."""
    from qgen.states import library

    build = getattr(library, args.state, None)
    if not callable(build):
        raise CommandError(f"--state {args.state}: qgen.states.library has no constructor of that name")
    params = inspect.signature(build).parameters
    kwargs: dict[str, Any] = {}
    for keyword, dest in _STATE_OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if keyword not in params:
            raise CommandError(f"--{dest.replace('_', '-')} does not apply to --state {args.state}")
        kwargs[keyword] = value
    if "states" in params:
        labels = str(kwargs.get("states", "0")).split(",")
        kwargs["states"] = labels if len(labels) > 1 else labels[0]
    if args.state in ("tfim", "xxz"):
        _check_ground_state_cost(args, library)
    return build(n_qubits=args.n_qubits, **kwargs)


def _check_ground_state_cost(args: argparse.Namespace, library: Any) -> None:
    """Refuse ground-state computations that would run for a very long time; announce the slow ones."""
    from qgen.states import dmrg

    n, rep = args.n_qubits, args.representation or "auto"
    if rep == "dense" or (rep == "auto" and n <= library.DENSE_LIMIT):
        if n > DENSE_GROUND_STATE_LIMIT and not args.force:
            raise CommandError(
                f"--n-qubits {n} --representation dense: exact diagonalisation of 2^{n} amplitudes takes many "
                f"minutes and gigabytes (limit {DENSE_GROUND_STATE_LIMIT}); use --representation mps (DMRG), "
                "or pass --force"
            )
        if n > library.DENSE_LIMIT:
            _note(args, f"exact diagonalisation of {n} qubits (2^{n} amplitudes) can take minutes")
        return
    boundary = args.boundary or "open"
    if args.state == "tfim":
        params = {"h": 1.0 if args.field is None else args.field, "J": 1.0 if args.coupling is None else args.coupling}
    else:
        params = {
            "delta": 1.0 if args.delta is None else args.delta,
            "J": 1.0 if args.coupling is None else args.coupling,
        }
    name = dmrg.cache_key(args.state, n, boundary, **{k: float(v) for k, v in params.items()})
    if any((folder / name).is_file() for folder in (dmrg.data_dir(), dmrg.cache_dir())):
        return
    if n > DMRG_LIMIT and not args.force:
        raise CommandError(
            f"--n-qubits {n}: the DMRG ground state is checked up to {DMRG_LIMIT} sites (about 10 minutes there "
            "on 2 cores, growing faster than N^2 beyond); pass --force to run it anyway"
        )
    _note(
        args,
        f"computing the {args.state} ground state of {n} sites by DMRG (not cached yet; 2-core benchmarks at the "
        f"critical point: 17 s at N = 50, 60 s at 100, 10 min at 1000); it will be cached in {dmrg.cache_dir()}",
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    if args.toy is not None:
        return _simulate_toy(args)
    if args.state is None or args.n_qubits is None:
        raise CommandError("--state and --n-qubits are required (or --toy NAME for a continuous toy data set)")
    from qgen.cli_conditional import scanned_option, simulate_scan

    if scanned_option(args):  # --field 0.5:1.5:11: one file with a condition column
        return simulate_scan(args, scanned_option(args), _finish)
    from qgen.data.simulation import write_simulation
    from qgen.measurement import noise as qnoise

    start = time.perf_counter()
    out = Path(args.output)
    check_outputs({"-o": out}, {}, force=args.force)
    check_disk(
        out, args.samples * args.n_qubits, f"{args.samples:,} strings of {args.n_qubits} qubits", force=args.force
    )
    channel = qnoise.parse(args.noise) if args.noise else None
    state = _state_from_args(args)
    povm = args.povm or "tetra"
    n = write_simulation(
        out,
        state,
        povm,
        args.samples,
        noise=channel,
        seed=args.seed,
        reference=not args.no_reference,
        progress=False if args.quiet else (None if sys.stderr.isatty() else False),
    )
    if not args.quiet:
        _finish(args, f"wrote {n:,} samples of {state!r} measured with {povm} to {out}", start)
    return 0


# Options of `simulate` that describe a quantum measurement, refused with --toy.
_QUANTUM_OPTIONS = (
    "state",
    "n_qubits",
    "field",
    "coupling",
    "delta",
    "boundary",
    "product_state",
    "representation",
    "noise",
)


def _simulate_toy(args: argparse.Namespace) -> int:
    """`qgen simulate --toy NAME`: seeded points of a continuous toy set, written as a vector data set."""
    given = [f"--{name.replace('_', '-')}" for name in _QUANTUM_OPTIONS if getattr(args, name) is not None]
    if args.povm is not None:
        given.append("--povm")
    if given:
        raise CommandError(f"--toy draws continuous points, not a quantum measurement: drop {', '.join(given)}")
    from qgen.data.toy import toy_density
    from qgen.data.vectors import VectorData, save_vectors

    start = time.perf_counter()
    out = Path(args.output)
    check_outputs({"-o": out}, {}, force=args.force)
    density = toy_density(args.toy)
    check_disk(
        out, 8 * args.samples * density.dim, f"{args.samples:,} points of dimension {density.dim}", force=args.force
    )
    points = density.sample(args.samples, generator=args.seed)
    save_vectors(out, VectorData(points.numpy(), name=density.name, seed=args.seed, extra=density.parameters))
    if not args.quiet:
        _finish(
            args, f"wrote {args.samples:,} points of the toy set {density.name!r} (dim {density.dim}) to {out}", start
        )
    return 0


def _add_simulate(sub: Any) -> None:
    from qgen.measurement.povm import NAMED_POVMS

    p = _command(
        sub,
        "simulate",
        "measure a target state (or draw a continuous toy set) and write a data set (HDF5)",
        cmd_simulate,
    )
    p.add_argument("--state", choices=STATE_NAMES, metavar="NAME", help="one of: %(choices)s")
    p.add_argument("--n-qubits", type=positive_int, help="number of qubits N")
    p.add_argument(
        "--toy",
        choices=TOY_NAMES,
        metavar="NAME",
        help="instead of a state: points of a continuous toy set with a known density, one of: %(choices)s",
    )
    p.add_argument(
        "--field", type=field_or_scan, help="transverse field h (default 1), or a scan start:stop:count or a,b,c"
    )
    p.add_argument("--coupling", type=float, help="coupling J (default 1)")
    p.add_argument("--delta", type=float, help="anisotropy of the XXZ chain (default 1)")
    p.add_argument("--boundary", choices=["open", "periodic"], help="chain boundary (default open)")
    p.add_argument("--product-state", help="label(s) of a product state: 0,1,+,-,+i,-i (comma list; default 0)")
    p.add_argument("--representation", choices=["auto", "dense", "mps"], help="default auto")
    p.add_argument("--povm", choices=list(NAMED_POVMS), help="single-qubit POVM (default tetra)")
    p.add_argument("--samples", type=positive_int, required=True, help="number of outcome strings")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--noise",
        action="append",
        metavar="NAME:VALUE",
        help="local noise before measurement, e.g. depolarizing:0.05 (repeat to compose)",
    )
    p.add_argument("--no-reference", action="store_true", help="skip the exact reference values")
    p.add_argument("--force", action="store_true", help="run beyond the size limits (and a possibly full disk)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-o", "--output", required=True, help="the data set file to write (.h5)")


# -------------------------------------------------------------------------------------------------------- info


def _is_vector_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a vector data set (format "qgen.vectors"); False for anything else, which the outcome
    reader then judges (and names what is wrong)."""
    import h5py

    from qgen.data.vectors import VECTORS_FORMAT

    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError:
        return False
    return (fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else fmt) == VECTORS_FORMAT


def _vector_summary(path: str | os.PathLike) -> str:
    import numpy as np

    from qgen.data.vectors import load_vectors

    data = load_vectors(path)
    v = data.vectors
    lines = [
        f"{path}: vector data set (qgen.vectors), {data.n_samples:,} points of dimension {data.dim}",
        f"  name: {data.name or '-'}; seed: {data.seed if data.seed >= 0 else '-'}",
    ]
    if data.extra:
        lines.append(f"  parameters: {data.extra}")
    if data.n_samples:
        for axis, (lo, hi, mean, std) in enumerate(
            zip(v.min(0), v.max(0), v.mean(0), v.std(0, ddof=1) if data.n_samples > 1 else np.zeros(data.dim))
        ):
            lines.append(f"  x_{axis}: range [{lo:.4g}, {hi:.4g}], mean {mean:.4g}, std {std:.4g}")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    if _is_vector_file(args.file):
        print(_vector_summary(args.file))
        return 0
    from qgen.data import load

    print(load(args.file).summary())
    return 0


def _add_info(sub: Any) -> None:
    p = _command(sub, "info", "summarise a data set file (and check that its fields agree)", cmd_info)
    p.add_argument("file")


# ------------------------------------------------------------------------------------------------------ import

_IMPORT_FORMATS = ("qucumber", "outcomes")


def cmd_import(args: argparse.Namespace) -> int:
    from qgen.data import import_outcomes, import_qucumber, save

    start = time.perf_counter()
    out = Path(args.output)
    check_outputs({"-o": out}, {f"FILE {i + 1}": f for i, f in enumerate(args.files)}, force=args.force)
    if args.format == "qucumber":
        if len(args.files) not in (1, 2) or args.povm:
            raise CommandError("qucumber takes DATA [BASES] (0/1 shots, then X/Y/Z letters) and no --povm")
        data = import_qucumber(*args.files)
    else:
        if len(args.files) != 1 or not args.povm:
            raise CommandError("outcomes takes one FILE (text table or .npy) and --povm NAME")
        data = import_outcomes(args.files[0], args.povm, n_qubits=args.n_qubits)
    save(data, out)
    _finish(args, f"wrote {data.n_samples:,} strings of {data.n_qubits} qubits ({data.povm_name}) to {out}", start)
    return 0


def _add_import(sub: Any) -> None:
    from qgen.measurement.povm import NAMED_POVMS

    p = _command(sub, "import", "bring lab data (QuCumber text, integer tables, .npy) into a data set", cmd_import)
    p.add_argument("format", choices=_IMPORT_FORMATS, help="qucumber: DATA [BASES]; outcomes: FILE with --povm")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--povm", choices=list(NAMED_POVMS), help="the POVM the integers index (outcomes format)")
    p.add_argument("--n-qubits", type=positive_int, help="expected number of qubits, checked")
    p.add_argument("--force", action="store_true", help="allow -o to replace an input file")
    p.add_argument("-o", "--output", required=True, help="the data set file to write (.h5)")


# ------------------------------------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from qgen.models.registry import options

    defaults = options(args.model)
    if args.list_options:
        print(f"options of model {args.model!r} (qgen train --model {args.model} --option KEY=VALUE):")
        for key, value in defaults.items():
            print(f"  {key:<24} {'(required)' if value is None else repr(value)}")
        return 0
    if not args.data or not args.output:
        raise CommandError("--data and -o/--output are required (or --list-options)")
    if args.condition:  # one conditional model over every --data file
        from qgen.cli_conditional import train_conditional

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
    trainers: list[Any] = []

    def keep_trainer(trainer: Any, epoch: int) -> None:
        """Remember the Trainer (rank 0 runs callbacks), so that --quiet can still print its summary."""
        if not trainers:
            trainers.append(trainer)

    # On a terminal the Trainer draws a bar, in a log one line per epoch; both end with its summary (stderr).
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
        callbacks=[keep_trainer] if args.quiet else [],
        model_options=model_options,
    )
    if args.quiet and trainers and trainers[0].is_main:
        print(trainers[0].summary(), file=sys.stderr, flush=True)
    if model is not None:
        _finish(args, f"wrote {out}", start)
    return 0


def _add_train(sub: Any) -> None:
    p = _command(sub, "train", "fit a generative model to a data set", cmd_train)
    p.add_argument("--model", required=True, choices=MODEL_NAMES, metavar="NAME", help="one of: %(choices)s")
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
    p.add_argument("--epochs", type=positive_int, help="default: chosen from the data size, with early stopping")
    p.add_argument("--batch-size", type=positive_int, help="default: chosen from the data size")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: CUDA when present)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model hyperparameter (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside the output")
    p.add_argument("--force", action="store_true", help="allow -o to replace an input file")
    p.add_argument(
        "--quiet", action="store_true", help="no bar or per-epoch lines; the summary and the final line remain"
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
    from qgen.cli_conditional import evaluate_at, is_conditional
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


# ------------------------------------------------------------------------------------------------------ parser

# The subcommands, in the order `qgen --help` lists them; a new one adds its `_add_NAME` here.
_COMMANDS: list[Callable[[Any], None]] = [
    _add_simulate,
    _add_info,
    _add_import,
    _add_train,
    _add_sample,
    _add_evaluate,
    _add_validate,
    _add_reproduce,
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qgen", description="Reconstruct quantum states from measurement data with generative models."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _COMMANDS:
        register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    passive_openmp()  # before anything imports torch
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument already reported in one line
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.version:
        from qgen import __version__

        print(f"qgen {__version__}")
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from qgen.errors import QgenError

    where = f"qgen {args.command}"
    try:
        if args.threads is not None:
            set_threads(args.threads)
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return status
    except BrokenPipeError:
        # `qgen info F | head`: the reader has what it wanted. Exit quietly, as coreutils do (128 + SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (QgenError, CommandError, OSError) as exc:
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The atomic writers have removed their temporary files while the exception unwound.
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{where}: error: out of memory (ask for fewer samples or a smaller system)", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("QGEN_DEBUG"):
            raise
        print(
            f"{where}: error: {type(exc).__name__}: {_one_line(exc)} "
            "(unexpected; set QGEN_DEBUG=1 to see the traceback, and please report it)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
