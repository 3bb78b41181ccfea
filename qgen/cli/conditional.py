"""The conditional paths of the `qgen` command: a scan in `simulate`, `train --condition`, `evaluate` at a condition.

Kept beside cli.py so each subcommand there only branches here: `qgen simulate --field 0.5:1.5:11` writes a
scan, `qgen train --condition h --data a.h5 b.h5` trains one conditional model on several data sets, and
`qgen evaluate --model m.pt --target '{"name": "tfim", "n_qubits": 10, "h": 0.93}'` evaluates it at h = 0.93.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qgen.cli.args import (
    CommandError,
    check_device,
    check_options,
    check_outputs,
    parse_options,
)
from qgen.cli.common import run_training

__all__ = [
    "field_or_scan",
    "scanned_option",
    "simulate_scan",
    "train_conditional",
    "is_conditional",
    "evaluate_at",
]

# The state options a scan may run over: argparse dest -> the state constructor's keyword.
_SCANNABLE = {"field": "h", "coupling": "J", "delta": "delta"}


def field_or_scan(text: str) -> float | str:
    """argparse type: a number, or a scan "start:stop:count" / "a,b,c" (kept as text, parsed by scan_values)."""
    if ":" in text or "," in text:
        from qgen.data.scan import scan_values
        from qgen.errors import StateError

        try:
            scan_values(text)
        except StateError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a scan start:stop:count, got {text!r}") from None


def scanned_option(args: argparse.Namespace) -> str | None:
    """The dest of the one option given as a scan, or None; two scans at once are refused."""
    scans = [dest for dest in _SCANNABLE if isinstance(getattr(args, dest, None), str)]
    if len(scans) > 1:
        raise CommandError(f"scan one parameter at a time, not {', '.join('--' + s for s in scans)}")
    return scans[0] if scans else None


def simulate_scan(args: argparse.Namespace, dest: str, finish: Any) -> int:
    """`qgen simulate` over a scan: --samples strings at each value, one file with a condition column."""
    from qgen.cli.args import check_disk
    from qgen.data.scan import scan_values, write_scan
    from qgen.measurement import noise as qnoise

    start = time.perf_counter()
    out = Path(args.output)
    values = scan_values(getattr(args, dest))
    check_outputs({"-o": out}, {}, force=args.force)
    total = args.samples * len(values)
    check_disk(out, total * args.n_qubits, f"{total:,} strings of {args.n_qubits} qubits", force=args.force)
    spec: dict[str, Any] = {"name": args.state, "n_qubits": args.n_qubits}
    for other, keyword in _SCANNABLE.items():
        if other != dest and getattr(args, other, None) is not None:
            spec[keyword] = getattr(args, other)
    if getattr(args, "boundary", None):
        spec["boundary"] = args.boundary
    n = write_scan(
        out,
        spec,
        _SCANNABLE[dest],
        values,
        args.povm or "tetra",
        args.samples,
        noise=qnoise.parse(args.noise) if args.noise else None,
        seed=args.seed,
        reference=not args.no_reference,
        representation=args.representation or "auto",
        progress=False if args.quiet else None,
    )
    if not args.quiet:
        finish(
            args, f"wrote {n:,} samples of {args.state} at {len(values)} values of {_SCANNABLE[dest]} to {out}", start
        )
    return 0


def train_conditional(args: argparse.Namespace, defaults: dict[str, Any] | None, finish: Any) -> int:
    """`qgen train --condition NAME --data A.h5 [B.h5 ...]`: one conditional model on every file's rows.

    Takes the plain `qgen train`'s flags and prints its plan (on stderr, unless --quiet); what the flags leave
    out comes from the conditional recipe (`qgen.train.defaults.conditional_recipe`).
    """
    from qgen.data import load
    from qgen.data.scan import combine
    from qgen.train.conditional import train_conditional as fit

    start = time.perf_counter()
    out = Path(args.output)
    inputs = {f"--data {p}": p for p in args.data}
    check_outputs({"-o": out, "checkpoint": Path(str(out) + ".ckpt")}, inputs, force=args.force)
    check_device(args.device)
    data = combine([load(p) for p in args.data], args.condition)
    if args.model is None:  # no --model: the benchmarks' best conditional model for this N
        from qgen.models.registry import options as model_options
        from qgen.train.recipes import conditional_model

        args.model = conditional_model(int(data.n_qubits))
        defaults = model_options(args.model)
    options = check_options(args.model, parse_options(args.option), defaults)
    run_training(fit, args, data, out, options)
    finish(args, f"wrote {out} (conditional on {', '.join(args.condition)})", start)
    return 0


def is_conditional(model_path: str) -> bool:
    """Whether a model file holds a conditional model (its config has n_conditions >= 1)."""
    if Path(model_path).suffix.lower() in (".h5", ".hdf5"):
        return False
    from qgen.models import load

    return bool(getattr(load(model_path, map_location="cpu"), "n_conditions", 0))


def evaluate_at(args: argparse.Namespace, finish: Any) -> int:
    """`qgen evaluate` of a conditional model at the condition its --target spec names (e.g. "h": 0.93)."""
    from qgen.models import load
    from qgen.report.conditional import evaluate_at as evaluate
    from qgen.report.evaluation import write_json

    start = time.perf_counter()
    check_outputs({"--json": args.json}, {"--model": args.model, "--data": args.data}, force=args.force)
    text = Path(args.target).read_text() if args.target and Path(args.target).is_file() else args.target
    try:
        spec = json.loads(text) if text else None
    except json.JSONDecodeError:
        spec = None
    if not isinstance(spec, dict):
        raise CommandError("a conditional model needs --target, a JSON state spec with its condition, e.g. h")
    from qgen.data import load as load_data
    from qgen.report.evaluation import PROGRESS_DELAY
    from qgen.report.progress import Progress

    with Progress("qgen evaluate", not args.quiet, delay=PROGRESS_DELAY) as bar:
        bar.stage("loading the model and the data")
        data = load_data(args.data) if args.data else None
        model = load(args.model, map_location="cpu")
        report = evaluate(model, spec, data=data, n_samples=args.n_samples, seed=args.seed, progress=bar)
        report["model"]["path"] = str(args.model)
        bar.stage("writing the report")
        write_json(report, args.json)  # the one JSON writer: atomic, strict JSON (inf/nan as strings)
    for key in ("classical_fidelity", "kl_divergence"):
        entry = report.get(key)
        if isinstance(entry, dict):
            print(f"{key:<22} {entry.get('value')} +- {entry.get('stderr')}  ({entry.get('method')})")
    finish(args, f"wrote {args.json} (at {report['condition']})", start)
    return 0
