"""A detection session: the detector, the hooks, the reporter, the import
hook, the import edges (``_imports``: a module's body → the imports that
return it), and the patches on ``threading.Thread`` that give every thread
started while it runs its parent's clock (start) and hand its clock to
whoever joins it.  ``Thread`` is patched at class level, so threads started
by libraries (a ThreadPoolExecutor's workers) are covered too; and
``threading.excepthook``, so a thread's uncaught exception is printed
without the detector's frames.  ``Thread.is_alive()`` returning False is a
join; a child made by ``os.fork()`` is ordered after what every thread did
before the fork (``Detector.forked``).

The started sessions (``active()``: the innermost) are kept for the pytest
plugin; sessions start and stop on the thread that runs the command or
pytest's configuration, one at a time.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TextIO

from . import _importer
from ._detector import Detector
from ._hooks import Hooks
from ._imports import ImportEdges
from ._patches import Patches
from ._report import Reporter, Suppressions

_started: list[Session] = []
_OWN_FILES = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MACHINERY = ("<frozen importlib._bootstrap", ast.__file__)  # frames between the program and ours


def active() -> Session | None:
    """The session started last and not yet stopped, if any."""
    return _started[-1] if _started else None


class Session:
    def __init__(
        self,
        include: Sequence[str],
        exclude: Sequence[str] = (),
        out: TextIO | None = None,
        suppress: Suppressions | None = None,
    ) -> None:
        self.reporter = Reporter(out or sys.stderr, suppress)
        self.detector = Detector(self.reporter)
        self.hooks = Hooks(self.detector)
        self.imports = ImportEdges(self.detector)
        self.finder = _importer.Finder(include, exclude, self.hooks, self.imports)
        self.patches = Patches(self.detector)
        self._saved: dict[str, Any] = {}

    def start(self) -> None:
        detector = self.detector
        start, join = threading.Thread.start, threading.Thread.join
        is_alive = threading.Thread.is_alive
        self._saved = {"start": start, "join": join, "is_alive": is_alive}

        def patched_start(thread: threading.Thread) -> None:
            clock, created_at = detector.fork()
            run = thread.run

            def run_tracked() -> None:
                detector.begin_thread(clock, created_at)
                try:
                    run()
                finally:
                    detector.end_thread(thread)

            thread.run = run_tracked  # type: ignore[method-assign]
            start(thread)

        def patched_join(thread: threading.Thread, timeout: float | None = None) -> None:
            join(thread, timeout)
            if not is_alive(thread):
                detector.acquire(thread)

        def patched_is_alive(thread: threading.Thread) -> bool:
            """False once the thread's run() returned (its end is published
            before): as good as a join."""
            alive = is_alive(thread)
            if not alive:
                detector.acquire(thread)
            return alive

        excepthook = threading.excepthook

        def excepthook_plain(args: Any) -> None:
            """A thread's uncaught exception, as printed without the detector
            (``run_tracked`` is not a frame of the program's)."""
            if args.exc_value is not None:
                strip_own_frames(args.exc_value)
                args = threading.ExceptHookArgs(
                    [args.exc_type, args.exc_value, args.exc_value.__traceback__, args.thread]
                )
            excepthook(args)

        self._saved["excepthook"] = (excepthook, excepthook_plain)
        threading.Thread.start = patched_start  # type: ignore[method-assign,assignment]
        threading.Thread.join = patched_join  # type: ignore[method-assign,assignment]
        threading.Thread.is_alive = patched_is_alive  # type: ignore[method-assign,assignment]
        _watch_forks()
        threading.excepthook = excepthook_plain
        self.patches.install()
        self.imports.install()
        _importer.install(self.finder)
        _started.append(self)

    def stop(self) -> None:
        if self in _started:
            _started.remove(self)
        _importer.uninstall(self.finder)
        self.imports.restore()
        self.patches.restore()
        if self._saved:
            threading.Thread.start = self._saved["start"]  # type: ignore[method-assign]
            threading.Thread.join = self._saved["join"]  # type: ignore[method-assign]
            threading.Thread.is_alive = self._saved["is_alive"]  # type: ignore[method-assign]
            excepthook, ours = self._saved["excepthook"]
            if threading.excepthook is ours:  # else the program set its own
                threading.excepthook = excepthook
            self._saved = {}

    def prepare(self, namespace: dict[str, Any]) -> None:
        _importer.prepare(namespace, self.hooks)


_fork_watched = False


def _watch_forks() -> None:
    """Once per process: a child made by ``os.fork()`` is ordered after
    everything every thread did before it (an at-fork handler cannot be
    removed, so it serves whichever session is active)."""
    global _fork_watched
    if not _fork_watched and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forked)
        _fork_watched = True


def _forked() -> None:
    for session in _started:
        session.detector.forked()


def strip_own_frames(exc: BaseException, seen: set[int] | None = None) -> None:
    """Leave the detector's frames out of *exc*'s traceback (and those of
    the exceptions chained to it), so it reads as without the detector: a
    run of frames of the detector, the import system and ``ast`` goes when
    it holds one of the detector's (the import system leaves its own out
    where no frame of the detector is between)."""
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return
    seen.add(id(exc))
    kept: list[TracebackType] = []
    run: list[TracebackType] = []
    own = False
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(_OWN_FILES) or filename.startswith(_MACHINERY):
            run.append(tb)
            own = own or filename.startswith(_OWN_FILES)
        else:
            kept += [] if own else run
            kept.append(tb)
            run, own = [], False
        tb = tb.tb_next
    kept += [] if own else run
    new = None
    for tb in reversed(kept):
        new = TracebackType(new, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    exc.__traceback__ = new
    for other in (exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())):
        if isinstance(other, BaseException):
            strip_own_frames(other, seen)
