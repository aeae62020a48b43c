"""``threadline race``: run a program with race detection, as python runs it.

    threadline race [options] SCRIPT [ARGS...]
    threadline race [options] DIR [ARGS...]          (DIR/__main__.py, as python DIR)
    threadline race [options] -m MODULE [ARGS...]

Everything after SCRIPT or -m MODULE is the program's.  The program runs as
``__main__`` with what python would give it: ``sys.argv``, ``sys.path[0]``
(the script's folder; the current directory for -m), ``__file__``,
``__spec__`` and ``__package__``.  When it ends, the command does what the
interpreter does at exit: it waits for the program's non-daemon threads,
then runs its atexit handlers; only then does it report.

Exit status: 66 when a race was found; 130 on Ctrl-C; else the program's
own (1 after an uncaught exception), or python's for a program that cannot
start (2: no such file; 1: no such module, or a folder without __main__.py).
"""

from __future__ import annotations

import argparse
import atexit
import builtins
import importlib.machinery
import importlib.util
import os
import sys
import threading
import warnings
from types import CodeType, ModuleType
from typing import Any, TextIO

from ._importer import Loader, instrument
from ._report import EXIT_RACE, Suppressions
from ._session import Session, strip_own_frames

EXIT_INTERRUPTED = 130  # as a shell reports a program that Ctrl-C ended
_VALUE_OPTIONS = ("--include", "--exclude", "--json", "--suppress")  # as add_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m", dest="module", metavar="MODULE", help="run a module, as python -m (ARGS are its)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="DIR",
        help="also instrument modules under DIR (default: the script's folder; "
        "with -m, the current directory)",
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


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """*argv* (``race`` and what follows it) parsed: the options up to SCRIPT
    or ``-m MODULE`` by *parser*; all after belongs to the program, however
    much it looks like ours (``-m pytest -x --json out``)."""
    start = _program_start(argv)
    program = argv[start:]
    module = None
    if program[:1] == ["--"]:
        program = program[1:]
    elif program and program[0].startswith("-m"):
        module = program[0][2:] or (program[1] if len(program) > 1 else None)
        if module is None:
            return parser.parse_args(argv)  # argparse's own error: -m needs a value
        program = program[1 if program[0] != "-m" else 2 :]
    args, extra = parser.parse_known_args(argv[:start])
    if extra:  # in race's own words (the top parser would show its usage)
        _race_parser(parser).error(f"unrecognized arguments: {' '.join(extra)}")
    args.module, args.program = module, program
    return args


def _race_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``race`` subcommand's parser inside the top-level *parser*."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and "race" in action.choices:
            found: argparse.ArgumentParser = action.choices["race"]
            return found
    return parser


def _program_start(argv: list[str]) -> int:
    """Where SCRIPT, ``--`` or ``-m`` is in *argv* (``len(argv)`` if nowhere)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-", "--") or arg.startswith("-m") or not arg.startswith("-"):
            return i
        takes_value = arg.startswith("--") and "=" not in arg
        i += 2 if takes_value and any(o.startswith(arg) for o in _VALUE_OPTIONS) else 1
    return len(argv)


def _bad_paths(args: argparse.Namespace) -> str | None:
    """What is wrong with the paths given as options, checked before the
    program runs (a run's races must not be lost to a typo)."""
    for folder in args.include:
        if not os.path.isdir(folder):
            return f"--include: no such folder: {folder!r}"
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json):
            return f"--json: {args.json!r} is a folder; give a file name"
        if not os.path.isdir(parent):
            return f"--json: no such folder: {parent!r}"
    return None


#: python sets ``__cached__`` on the main module before 3.15 only
_SETS_CACHED = sys.version_info < (3, 15)


class _CannotRun(Exception):
    """The program cannot start; the message is python's (exit status in
    ``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def run(args: argparse.Namespace, *, as_program: bool = True) -> int:
    """Run the program under the detector; the exit status.  *as_program*:
    this process exists to run it, so end like the interpreter (wait for its
    threads, run its atexit handlers) before reporting."""
    if args.module is None and not args.program:
        print("threadline race: error: give a SCRIPT or -m MODULE", file=sys.stderr)
        return 2
    problem = _bad_paths(args)
    if problem:
        print(f"threadline race: error: {problem}", file=sys.stderr)
        return 2
    try:
        suppress = Suppressions.load(args.suppress) if args.suppress else None
        program = _Program(args.module, args.program)
    except OSError as exc:
        print(f"threadline race: error: --suppress: {exc}", file=sys.stderr)
        return 2
    except _CannotRun as exc:
        print(f"threadline race: error: {exc}", file=sys.stderr)
        return exc.status
    out = _terminal()
    try:
        session = Session([program.path0, *args.include], args.exclude, out, suppress)
        status = program.execute(session, as_program)
        reporter = session.reporter
        if reporter.races:
            print(reporter.summary(), file=out)
            if status != EXIT_INTERRUPTED:
                status = EXIT_RACE
        if args.json:
            try:
                reporter.write_json(args.json)
            except OSError as exc:  # the report above stands; say why the file does not
                print(f"threadline race: error: --json: {exc}", file=sys.stderr)
                if status == 0:
                    status = 2
        return status
    finally:
        if out is not sys.stderr:
            out.close()


def _terminal() -> TextIO:
    """Where reports go: standard error as it is now, also while the program
    (pytest, say) captures its own file descriptor 2."""
    try:
        return open(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):  # no file descriptor behind it
        return sys.stderr


class _Program:
    """What python would run for ``python SCRIPT``, ``python DIR`` or
    ``python -m MODULE``, and how."""

    def __init__(self, module: str | None, program: list[str]) -> None:
        self.module = module
        self.args = program
        self.source: bytes | None = None  # a script's
        if module is not None:
            self.path0 = os.getcwd()
            return
        path = program[0]
        self.file = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
        if os.path.isdir(path):
            if not os.path.isfile(os.path.join(path, "__main__.py")):
                raise _CannotRun(
                    f"can't find '__main__' module in {self.file!r} "
                    "(a folder: give a script, a folder with __main__.py, or -m MODULE)",
                    1,
                )
            self.path0 = os.path.abspath(path)
            return
        try:
            with open(path, "rb") as f:
                self.source = f.read()
        except OSError as exc:
            raise _CannotRun(
                f"can't open file {self.file!r}: [Errno {exc.errno}] {exc.strerror}", 2
            ) from None
        self.path0 = os.path.dirname(os.path.realpath(path))

    def execute(self, session: Session, as_program: bool) -> int:
        """Run as ``__main__`` under *session*; the exit status."""
        main = ModuleType("__main__")
        namespace = main.__dict__
        namespace["__builtins__"] = builtins
        if sys.version_info < (3, 14):  # 3.14 makes module annotations lazily (PEP 649)
            namespace["__annotations__"] = {}
        saved = sys.argv, sys.path[:], sys.modules["__main__"]
        if not sys.flags.safe_path:  # python puts the program's folder first
            sys.path[:1] = [self.path0]
        sys.modules["__main__"] = main
        session.start()
        try:
            try:
                exec(self._code(namespace, session), namespace)
            except BaseException as exc:
                status = self._failed(exc)
            else:
                status = 0
            if as_program:
                try:
                    _finish()
                except BaseException as exc:
                    status = self._failed(exc, status)
        finally:
            session.stop()
            sys.argv, sys.path[:], sys.modules["__main__"] = saved
        return status

    def _code(self, namespace: dict[str, Any], session: Session) -> CodeType:
        """The program's code, with *namespace* and ``sys.argv`` set as
        python sets them for it."""
        if self.source is not None:  # a script
            namespace.update(
                __file__=self.file,
                __loader__=importlib.machinery.SourceFileLoader("__main__", self.file),
            )
            if _SETS_CACHED:
                namespace["__cached__"] = None
            sys.argv = list(self.args)
            session.prepare(namespace)
            return instrument(self.source, self.file)
        if self.module is None:  # a folder with __main__.py
            spec = session.finder.find_spec("__main__", [self.path0]) or (
                importlib.machinery.PathFinder.find_spec("__main__", [self.path0])
            )
            if spec is None:
                raise _CannotRun(f"can't find '__main__' module in {self.file!r}", 1)
            sys.argv = list(self.args)
        else:
            sys.argv = ["-m", *self.args]  # while parent packages import, as python
            spec = _main_spec(self.module)
            sys.argv = [spec.origin or "", *self.args]
        if spec.loader is None:
            raise _CannotRun(f"No code object available for {spec.name}", 1)
        namespace.update(
            __file__=spec.origin,
            __loader__=spec.loader,
            __package__=spec.parent,
            __spec__=spec,
        )
        if _SETS_CACHED:
            namespace["__cached__"] = spec.cached
        if isinstance(spec.loader, Loader):
            session.prepare(namespace)
        loader: Any = spec.loader
        code = loader.get_code(spec.name) if hasattr(loader, "get_code") else None
        if code is None:
            raise _CannotRun(f"No code object available for {spec.name}", 1)
        return code  # type: ignore[no-any-return]

    def _failed(self, exc: BaseException, status: int = 0) -> int:
        """The exit status python gives for *exc*, shown as python shows it."""
        if isinstance(exc, _CannotRun):
            print(f"threadline race: error: {exc}", file=sys.stderr)
            return exc.status
        if isinstance(exc, SystemExit):
            code = exc.code
            if code is None or isinstance(code, int):
                return code or 0
            print(code, file=sys.stderr)
            return 1
        strip_own_frames(exc)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        if isinstance(exc, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        return status or 1


def _main_spec(name: str) -> importlib.machinery.ModuleSpec:
    """The spec of what ``python -m name`` runs: the module, or a package's
    ``__main__``.  Parent packages are imported, as python does."""
    if name.startswith("."):
        raise _CannotRun("Relative module names not supported", 1)
    parent = name.rpartition(".")[0]
    if parent:
        try:
            __import__(parent)
        except ImportError as exc:
            # a missing parent is reported below; another import error is
            # the program's own failure
            if exc.name is None or not (exc.name == parent or parent.startswith(exc.name + ".")):
                raise
        existing = sys.modules.get(name)
        if existing is not None and not hasattr(existing, "__path__"):
            warnings.warn(
                f"{name!r} found in sys.modules after import of package {parent!r}, but "
                f"prior to execution of {name!r}; this may result in unpredictable behaviour",
                RuntimeWarning,
                stacklevel=1,
            )
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise _CannotRun(
            f"Error while finding module specification for {name!r} ({type(exc).__name__}: {exc})",
            1,
        ) from None
    if spec is None:
        raise _CannotRun(f"No module named {name}", 1)
    if spec.submodule_search_locations is not None:  # a package: run its __main__
        if name == "__main__" or name.endswith(".__main__"):
            raise _CannotRun("Cannot use package as __main__ module", 1)
        try:
            return _main_spec(name + ".__main__")
        except _CannotRun as exc:
            raise _CannotRun(
                f"{exc}; {name!r} is a package and cannot be directly executed", 1
            ) from None
    return spec


def _finish() -> None:
    """What the interpreter does once ``__main__`` is done: its threading
    exit hooks (executors' shutdown), waiting for non-daemon threads, then
    the atexit handlers (each runs once: the interpreter skips them later).
    The wait is an edge, as a join: the handlers run after those threads."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        waited = [
            t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
        ]
        shutdown()
        for thread in waited:
            thread.join()  # they have ended: this only records the edge
    atexit._run_exitfuncs()
