"""What every qgen subcommand shares: registry choices, limits, the --threads option, the final line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from qgen.cli.args import (
    LazyChoices,
    positive_int,
    trainer_options,
)

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


def run_training(
    fit: Callable[..., Any], args: argparse.Namespace, data: Any, out: Any, options: dict
) -> tuple[Any, bool]:
    """`fit` (qgen.train.defaults.train or qgen.train.conditional.train_conditional) with the command's flags.

    On a terminal the Trainer draws a bar, in a log one line per epoch; both end with its summary (stderr). The
    plan comes first, on stderr too (rank 0; --quiet leaves it out, and prints only the Trainer's summary line).

    Returns:
        the model, and whether the summary line was printed under --quiet (no epoch ran when it was not).
    """
    trainers: list[Any] = []

    def keep_trainer(trainer: Any, epoch: int) -> None:
        """Remember the Trainer (rank 0 runs callbacks), so that --quiet can still print its summary."""
        if not trainers:
            trainers.append(trainer)

    model = fit(
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
        model_options=options,
        max_minutes=getattr(args, "max_minutes", None),
        plan=None if args.quiet else sys.stderr,
        **trainer_options(args),
    )
    summarized = bool(args.quiet and trainers and trainers[0].is_main)
    if summarized:
        print(trainers[0].summary(), file=sys.stderr, flush=True)
    return model, summarized
