"""Argument checks of the `qgen` command: registries as choices, numbers, threads, and output paths that never
destroy an input. Everything here answers before any long work starts, and without importing torch unless the
check needs it."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CommandError",
    "LazyChoices",
    "positive_int",
    "seed",
    "positive_float",
    "nonnegative_float",
    "fraction",
    "patience",
    "schedule_name",
    "parse_options",
    "check_options",
    "passive_openmp",
    "set_threads",
    "check_outputs",
    "check_disk",
    "check_device",
    "format_bytes",
    "trainer_options",
]

# Seeds: torch.Generator.manual_seed and the data file's seed attribute take integers in [0, 2^63).
MAX_SEED = 2**63 - 1


class CommandError(Exception):
    """A bad argument combination found after parsing; printed as one line, exit code 2."""


class LazyChoices:
    """The names of a registry, read on first use: argparse `choices` that cost nothing until a command uses them.

    `qgen --help` never looks at them, so listing every model does not import torch; `qgen train --model x`
    and `qgen train --help` read the registry once.

    Args:
        module: the module holding the registry ("qgen.models.registry").
        attribute: a dict (its keys are the names) or a sequence of names in that module.
    """

    def __init__(self, module: str, attribute: str) -> None:
        self.module, self.attribute = module, attribute
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            registry = getattr(importlib.import_module(self.module), self.attribute)
            self._names = list(registry.keys() if isinstance(registry, Mapping) else registry)
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (10^6 and 1e6 are accepted when they are whole numbers)."""
    try:
        value = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
        if not (math.isfinite(f) and f.is_integer()):
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
        value = int(f)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2^63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2^63), got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2^63), got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate, for example)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (a weight decay, for example)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a fraction in [0, 1) (the share of the data held out for validation)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def patience(text: str) -> int | None:
    """argparse type: epochs without improvement before early stopping, a positive integer or "none" (off)."""
    if text.strip().lower() == "none":
        return None
    return positive_int(text)


def schedule_name(text: str) -> str | None:
    """argparse type: a learning-rate schedule the Trainer knows, or "none" (constant learning rate)."""
    from qgen.train.optim import SCHEDULES

    names = [s for s in SCHEDULES if s is not None]
    if text.strip().lower() == "none":
        return None
    if text not in names:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(names)} or none, got {text!r}")
    return text


def _option_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for cast in (int, float):
        try:
            value = cast(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise CommandError(f"--option value {text!r} is not a finite number")
        return value
    return text


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """Model hyperparameters from KEY=VALUE words: integers, floats, true/false, none, else text.

    Example:
        >>> parse_options(["hidden_size=64", "dropout=0.1", "cell=gru", "bias=false"])
        {'hidden_size': 64, 'dropout': 0.1, 'cell': 'gru', 'bias': False}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"cannot read --option {item!r}: expected KEY=VALUE, e.g. hidden_size=64")
        if key in out:
            raise CommandError(f"--option {key} is given twice")
        out[key] = _option_value(value.strip())
    return out


def check_options(model: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Check --option keys and types against a model's hyperparameters (qgen.models.registry.options).

    An integer where the default is a float becomes a float; text where a number is expected, a fraction where
    an integer is expected, or anything but true/false where a flag is expected is refused with the option named.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise CommandError(
            f"model {model!r} has no option {', '.join(unknown)}; its options are {', '.join(defaults)} "
            f"(qgen train --model {model} --list-options)"
        )
    out = dict(given)
    for key, value in given.items():
        default = defaults[key]
        if default is None or value is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok:
                out[key] = float(value)
        else:
            ok = True
        if not ok:
            raise CommandError(
                f"--option {key}={value!r}: model {model!r} expects a {type(default).__name__} (default {default!r})"
            )
    return out


def passive_openmp() -> None:
    """Make idle OpenMP threads sleep instead of spin (unless the user chose a policy).

    libgomp (torch's OpenMP here) reads OMP_WAIT_POLICY once, when it is loaded, so this must run before torch is
    imported. With busy waiting, two threads on a machine where anything else runs made training 14-53 times
    slower than one thread (issue 13); with passive waiting an idle thread costs nothing.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_threads(n: int | None) -> int:
    """Use n threads for torch's intra-op pool (None: leave torch's default); returns the count in use."""
    import torch

    if n is not None:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, str | os.PathLike | None],
    *,
    force: bool = False,
    folders: Mapping[str, str | os.PathLike | None] | None = None,
) -> None:
    """Refuse, before any work, output files that cannot be written or that would replace an input.

    Args:
        outputs: option name -> file the command will write ("-o": "model.pt").
        inputs: option name -> file the command reads; an output that is the same file (same path, a link to
            it, or the same inode) is refused unless `force`.
        force: allow replacing an input.
        folders: option name -> folder the command will create or fill (--plots).

    Raises:
        CommandError: naming the option, the path and what is wrong.
    """
    sources = {name: (Path(p), _identity(Path(p))) for name, p in inputs.items() if p is not None}
    for name, p in outputs.items():
        if p is None:
            continue
        path = Path(p)
        folder = path.parent
        if path.is_dir():
            raise CommandError(f"{name} {path}: is a folder, expected a file name")
        if not folder.is_dir():
            raise CommandError(f"{name} {path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CommandError(f"{name} {path}: folder {folder} is not writable")
        ident = _identity(path)
        for source, (src_path, src_ident) in sources.items():
            same = ident is not None and ident == src_ident
            if same and not force:
                raise CommandError(
                    f"{name} {path} is the input {source} {src_path}: writing it would destroy the input "
                    "(choose another output name, or pass --force to replace it)"
                )
    for name, p in (folders or {}).items():
        if p is None:
            continue
        path = Path(p)
        if path.exists() and not path.is_dir():
            raise CommandError(f"{name} {path}: exists and is not a folder")
        parent = path if path.is_dir() else next((q for q in path.parents if q.exists()), Path("."))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CommandError(f"{name} {path}: {parent} is not writable")


def format_bytes(n: float) -> str:
    """A byte count for people: 1.5 GB, 320 MB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_disk(path: str | os.PathLike, needed: int, what: str, *, force: bool = False) -> None:
    """Refuse a write that cannot fit: `needed` bytes (an upper bound) against the free space of path's folder."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free and not force:
        raise CommandError(
            f"{what} needs up to {format_bytes(needed)} (uncompressed), but {folder} has {format_bytes(free)} free "
            "(write fewer samples, or pass --force to try anyway: compression may make it fit)"
        )


def check_device(device: str | None) -> None:
    """Refuse a CUDA device on a machine without one, up front and in one line."""
    if device is None or device in ("auto", "cpu"):
        return
    if not isinstance(device, str) or not (device == "cuda" or device.startswith("cuda:")):
        raise CommandError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise CommandError(f"--device {device}: CUDA is not available on this machine (use --device cpu or auto)")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise CommandError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


# --flag -> Trainer argument, passed only when given (the recipe of qgen.train.defaults, plain or conditional,
# fills in the rest).
_TRAINER_FLAGS = {"optimizer": "optimizer", "weight_decay": "weight_decay", "val_fraction": "val_fraction"}


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training flags given on the command line, as Trainer arguments; the flags left out are not there.

    Example:
        >>> trainer_options(argparse.Namespace(optimizer="adamw", weight_decay=None, val_fraction=0.2, patience=None))
        {'optimizer': 'adamw', 'val_fraction': 0.2, 'early_stopping_patience': None}
    """
    options = {name: getattr(args, flag, None) for flag, name in _TRAINER_FLAGS.items()}
    options = {k: v for k, v in options.items() if v is not None}
    # "none" is a value of its own for these two (no schedule, no early stopping): unset is argparse.SUPPRESS.
    if hasattr(args, "schedule"):
        options["schedule"] = args.schedule
    if hasattr(args, "patience"):
        options["early_stopping_patience"] = args.patience
    return options
