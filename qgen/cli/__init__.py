"""The `qgen` command line: one module per group of subcommands; `main` is the entry point."""

from __future__ import annotations

from qgen.cli.args import CommandError
from qgen.cli.main import build_parser, main

__all__ = ["main", "build_parser", "CommandError"]
