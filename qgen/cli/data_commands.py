"""`qgen simulate`, `qgen info`, `qgen import`: making and inspecting data sets."""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from pathlib import Path
from typing import Any

from qgen.cli.args import (
    CommandError,
    check_disk,
    check_outputs,
    positive_int,
    seed,
)
from qgen.cli.common import (
    DENSE_GROUND_STATE_LIMIT,
    DMRG_LIMIT,
    STATE_NAMES,
    TOY_NAMES,
    _command,
    _finish,
    _is_vector_file,
    _note,
    _vector_summary,
)
from qgen.cli.conditional import field_or_scan

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
    elif args.state == "heisenberg2d":
        _check_lattice_cost(args, library)
    return build(n_qubits=args.n_qubits, **kwargs)


# The largest L x L Heisenberg lattice whose snake-MPS DMRG runs without --force: 8 x 8 at bond dimension 200
# took about 6 CPU-minutes (benchmarks: paper-fig4's Heisenberg row); the cost grows exponentially with the width.
LATTICE_DMRG_LIMIT = 100


def _check_lattice_cost(args: argparse.Namespace, library: Any) -> None:
    """The 2-D Heisenberg ground state: refuse DMRG beyond 10 x 10 without --force; announce an uncached one."""
    from qgen.states import dmrg

    n, rep = args.n_qubits, args.representation or "auto"
    if n is None or rep == "dense" or (rep == "auto" and n <= library.DENSE_LIMIT):
        return
    side = math.isqrt(n)
    boundary = args.boundary or "open"
    J = 1.0 if args.coupling is None else float(args.coupling)
    name = dmrg.cache_key("heisenberg2d", n, boundary, Lx=float(side), Ly=float(side), J=J)
    if any((folder / name).is_file() for folder in (dmrg.data_dir(), dmrg.cache_dir())):
        return
    if n > LATTICE_DMRG_LIMIT and not args.force:
        raise CommandError(
            f"--n-qubits {n}: a {side} x {side} Heisenberg lattice by DMRG on a snake MPS costs exponentially in "
            f"its width (8 x 8 at bond dimension 200: about 6 CPU-minutes); checked up to {LATTICE_DMRG_LIMIT} "
            "sites, pass --force to run it anyway"
        )
    _note(
        args,
        f"computing the {side} x {side} Heisenberg ground state by DMRG on a snake MPS (not cached yet; 8 x 8 at "
        f"bond dimension 200 took about 6 CPU-minutes); it will be cached in {dmrg.cache_dir()}",
    )


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
    from qgen.cli.conditional import scanned_option, simulate_scan

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
