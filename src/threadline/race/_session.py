"""A detection session: the detector, the hooks, the reporter, the import
hook, and the patches on ``threading.Thread`` that give every thread
started while it runs its parent's clock (start) and hand its clock to
whoever joins it.  ``Thread`` is patched at class level, so threads started
by libraries (a ThreadPoolExecutor's workers) are covered too.

The started sessions (``active()``: the innermost) are kept for the pytest
plugin; sessions start and stop on the thread that runs the command or
pytest's configuration, one at a time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from . import _importer
from ._detector import Detector
from ._hooks import Hooks
from ._patches import Patches
from ._report import Reporter, Suppressions

_started: list[Session] = []


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
        self.finder = _importer.Finder(include, exclude, self.hooks)
        self.patches = Patches(self.detector)
        self._saved: dict[str, Any] = {}

    def start(self) -> None:
        detector = self.detector
        start, join = threading.Thread.start, threading.Thread.join
        self._saved = {"start": start, "join": join}

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
            if not thread.is_alive():
                detector.acquire(thread)

        threading.Thread.start = patched_start  # type: ignore[method-assign,assignment]
        threading.Thread.join = patched_join  # type: ignore[method-assign,assignment]
        self.patches.install()
        _importer.install(self.finder)
        _started.append(self)

    def stop(self) -> None:
        if self in _started:
            _started.remove(self)
        _importer.uninstall(self.finder)
        self.patches.restore()
        if self._saved:
            threading.Thread.start = self._saved["start"]  # type: ignore[method-assign]
            threading.Thread.join = self._saved["join"]  # type: ignore[method-assign]
            self._saved = {}

    def prepare(self, namespace: dict[str, Any]) -> None:
        _importer.prepare(namespace, self.hooks)
