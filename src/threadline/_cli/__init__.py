"""The ``threadline`` command (also ``python -m threadline``)."""

from __future__ import annotations

import argparse
import sys

from ..race import _command as race_command
from ..scale import _command as scale_command


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="threadline",
        description="Tools for free-threaded Python: find data races, measure scaling.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scale = commands.add_parser(
        "scale",
        help="how one unit of work scales with threads and processes, per interpreter",
        description="Measure how one unit of work scales with 1..N threads and processes, "
        "on this interpreter and any other named with --python.",
    )
    scale_command.add_arguments(scale)
    race = commands.add_parser(
        "race",
        help="run a program with data race detection on Python-level shared state",
        description="Run SCRIPT (or -m MODULE) with happens-before race detection; "
        "exit status 66 when a race was found.",
    )
    race_command.add_arguments(race)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "scale":
        return scale_command.run(args)
    if args.command == "race":
        return race_command.run(args)
    raise AssertionError(args.command)  # argparse allows no other
