"""``threadline race``: run a program with race detection.

    threadline race [options] SCRIPT [ARGS...]
    threadline race [options] -m MODULE [ARGS...]

Exit status: 66 when a race was found, else the program's own status.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import runpy
import sys
from typing import Any

from ._importer import instrument
from ._report import EXIT_RACE, Suppressions
from ._session import Session


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, as python -m")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="DIR",
        help="also instrument modules under DIR (default: the script's folder)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="never instrument these files",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the races as JSON")
    parser.add_argument(
        "--suppress", metavar="FILE", help="ignore races at these file:line or function patterns"
    )
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="SCRIPT [ARGS...]")


def run(args: argparse.Namespace) -> int:
    if args.module is None and not args.program:
        print("threadline race: error: give a SCRIPT or -m MODULE", file=sys.stderr)
        return 2
    try:
        suppress = Suppressions.load(args.suppress) if args.suppress else None
    except OSError as exc:
        print(f"threadline race: error: --suppress: {exc}", file=sys.stderr)
        return 2
    if args.module is not None:
        spec = importlib.util.find_spec(args.module)
        if spec is None or spec.origin is None:
            print(f"threadline race: error: no module named {args.module!r}", file=sys.stderr)
            return 2
        path, argv = spec.origin, [spec.origin, *args.program]
        root = _package_root(spec.origin, args.module)
    else:
        path, argv = args.program[0], list(args.program)
        if not os.path.isfile(path):
            print(f"threadline race: error: no such file: {path!r}", file=sys.stderr)
            return 2
        root = os.path.dirname(os.path.abspath(path))
    session = Session([root, *args.include], args.exclude, sys.stderr, suppress)
    status = _execute(session, path, argv, args.module)
    session.stop()
    reporter = session.reporter
    if args.json:
        reporter.write_json(args.json)
    if reporter.races:
        print(reporter.summary(), file=sys.stderr)
        return EXIT_RACE
    return status


def _package_root(origin: str, module: str) -> str:
    folder = os.path.dirname(os.path.abspath(origin))
    for _ in range(module.count(".") + (1 if origin.endswith("__init__.py") else 0)):
        folder = os.path.dirname(folder)
    return folder


def _execute(session: Session, path: str, argv: list[str], module: str | None) -> int:
    """Run the program as ``__main__``; its exit status."""
    with open(path, "rb") as f:
        source = f.read()
    main: dict[str, Any] = {
        "__name__": "__main__",
        "__file__": path,
        "__builtins__": __builtins__,
        "__package__": module.rpartition(".")[0] if module else None,
    }
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    fake_main = runpy._TempModule("__main__")
    session.start()
    try:
        with fake_main:
            namespace = fake_main.module.__dict__
            namespace.update(main)
            session.prepare(namespace)
            exec(instrument(source, path), namespace)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # the program's own failure: report it as python would
        import traceback  # noqa: PLC0415 (only now: start-up counts against the program)

        traceback.print_exc()
        return 1
    else:
        return 0
    finally:
        session.stop()
        sys.argv, sys.path[:] = saved_argv, saved_path
