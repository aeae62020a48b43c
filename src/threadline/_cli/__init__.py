"""The ``threadline`` command (also ``python -m threadline``)."""

from __future__ import annotations

import argparse
import sys

from ..scale import _command as scale_command


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="threadline",
        description="Tools for free-threaded Python: measure how your code scales.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scale = commands.add_parser(
        "scale",
        help="how one unit of work scales with threads and processes, per interpreter",
        description="Measure how one unit of work scales with 1..N threads and processes, "
        "on this interpreter and any other named with --python.",
    )
    scale_command.add_arguments(scale)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "scale":
        return scale_command.run(args)
    raise AssertionError(args.command)  # argparse allows no other
