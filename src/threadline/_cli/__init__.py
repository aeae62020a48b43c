"""The ``threadline`` command (also ``python -m threadline``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

import threadline

COMMANDS = ("scale", "race")


def _command(name: str) -> ModuleType:
    """A tool's command module, imported only when that tool runs (the race
    detector's start-up time counts against the program it checks)."""
    return importlib.import_module(f"threadline.{name}._command")


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with *only*, the other tool's options are left out
    (its module is not even imported)."""
    top = argparse.ArgumentParser(
        prog="threadline",
        description="Tools for free-threaded Python: find data races, measure scaling.",
    )
    top.add_argument("--version", action="version", version=f"threadline {threadline.__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scale = commands.add_parser(
        "scale",
        help="how one unit of work scales with threads and processes, per interpreter",
        description="Measure how one unit of work scales with 1..N threads and processes, "
        "on this interpreter and any other named with --python.",
    )
    if only in (None, "scale"):
        _command("scale").add_arguments(scale)
    race = commands.add_parser(
        "race",
        help="run a program with data race detection on Python-level shared state",
        description="Run SCRIPT (or -m MODULE) with happens-before race detection; "
        "exit status 66 when a race was found.",
    )
    if only in (None, "race"):
        _command("race").add_arguments(race)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = argv[0] if argv and argv[0] in COMMANDS else None
    top = parser(only)
    # a command that runs a program parses its own command line: what
    # follows the program's name is the program's
    custom = getattr(_command(only), "parse_args", None) if only else None
    args = custom(top, argv) if custom is not None else top.parse_args(argv)
    if args.command not in COMMANDS:
        raise AssertionError(args.command)  # argparse allows no other
    code: int = _command(args.command).run(args)
    return code
