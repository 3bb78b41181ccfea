"""The `qgen` command line: simulate, info, import, train, sample, evaluate, demo.

Each subcommand is one `_add_NAME(sub)` function (its arguments) and one `cmd_NAME(args)` function (one thin call
into the library); `_COMMANDS` lists them in the order `qgen --help` shows. Every subcommand takes `--threads`.
Bad arguments and bad files end with one line on stderr and exit code 2; outputs are checked (writable, not an
input, room on disk) before any long work starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from qgen.cli.args import (
    CommandError,
    passive_openmp,
    set_threads,
)
from qgen.cli.data_commands import _add_import, _add_info, _add_simulate
from qgen.cli.model_commands import _add_demo, _add_evaluate, _add_sample, _add_train
from qgen.cli.workflow_commands import _add_reproduce, _add_validate

__all__ = ["main", "build_parser", "CommandError"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): `qgen train: error: ... (see qgen train --help)`."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    previous = _install_interrupt_handler()
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
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _install_interrupt_handler() -> Any:
    """SIGINT -> `qgen.files.interrupt_handler` for the command's run (main thread only); the previous handler, or
    None when none was installed. Python can drop the KeyboardInterrupt of a Ctrl-C that lands in a weakref
    callback; the handler's record makes the writers stop and refuse to commit all the same."""
    import threading

    from qgen import files

    if threading.current_thread() is not threading.main_thread():
        return None
    files._INTERRUPTED.clear()  # a new command: an interrupt of an earlier one in this process is over
    return signal.signal(signal.SIGINT, files.interrupt_handler)


if __name__ == "__main__":
    sys.exit(main())
