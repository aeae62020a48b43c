"""Import edges: the end of a module's body happens before every import
that returns that module, in any thread, as CPython's import system
guarantees (the per-module import lock, and the ``sys.modules`` lookup of
a module whose ``__spec__._initializing`` is false).

Recorded: the bodies that the import system runs for a first load
(``_load_unlocked`` sets ``__spec__._initializing`` around them) through
the detector's loader, i.e. the instrumented modules, whose bodies the
detector records.  ``begin`` forgets the module's earlier end (it is
loaded anew), ``end`` records the new one: ``(module, slot, time, clock)``,
the loading thread's clock at the end of the body (``Detector.snapshot``,
so the loader's later accesses are not covered).  A reload or an
``exec_module`` outside the import system (no ``_initializing``) records
nothing: no import waits for them.

Followed: ``builtins.__import__`` (import statements, ``__import__``) and
``importlib._bootstrap._gcd_import`` (``importlib.import_module``, also
when bound before the session started).  After an import returned, the
thread joins the recorded end of the module it named (the absolute name),
of the submodules its ``from`` list fetched, and, for ``import a.b.c``
(which returns ``a``), of the parents that were either finished or not yet
in ``sys.modules`` when it began (a parent that another thread is still
loading is returned partially initialised: CPython orders nothing then).
A partially initialised module never has a recorded end: its own thread's
circular imports, and a cross-thread circular import that CPython resolves
by handing out a partial module (the other thread then waits for a lock
this one holds, so the body cannot end before the check), join nothing.
A thread already ordered after an end (its clock has the end's
``time`` at ``slot``) skips the join: the usual import costs one wrapper
call and a few dict lookups.

Locking: ``_ends`` and ``_children`` are read without a lock; their values
are immutable and replaced whole.  ``_ends[name]`` is written by the thread
that loads *name*, under the import system's lock of that module;
``_children`` (a parent's recorded submodule names) under ``_lock``, which
guards nothing else and is never held while calling out; ``_parents`` is
a cache of values computed from the name alone, written without a lock.  Installed and
restored by the thread that starts and stops the session; a patch that the
program replaced meanwhile is left as it is, and ours then passes through.
"""

from __future__ import annotations

import builtins
import importlib._bootstrap
import sys
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from ._detector import Detector

_bootstrap: Any = importlib._bootstrap

# name -> (the module its import returns, slot, time, clock at the end of its body)
_End = tuple[Any, int, int, dict[int, int]]


class ImportEdges:
    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._ends: dict[str, _End] = {}
        self._children: dict[str, frozenset[str]] = {}  # parent -> submodule names in _ends
        self._parents: dict[str, tuple[str, ...]] = {}  # "a.b.c" -> ("a", "a.b") (cache)
        self._lock = threading.Lock()
        self._active = False
        self._saved: dict[str, Any] = {}

    # -- recording (the loader) --------------------------------------------

    def begin(self, module: ModuleType) -> str | None:
        """*module*'s body is about to run: its name when this is a first
        load by the import system (then call ``end`` once the body ran)."""
        spec = getattr(module, "__spec__", None)
        if not self._active or not getattr(spec, "_initializing", False):
            return None
        name: str = spec.name  # type: ignore[union-attr]
        self._ends.pop(name, None)
        return name

    def end(self, name: str, module: ModuleType) -> None:
        """The body of *name* ran to its end."""
        me: Any = self.detector._thread()
        slot = me.slot
        clock = self.detector.snapshot()
        self._ends[name] = (sys.modules.get(name, module), slot, clock[slot], clock)
        parent, _, child = name.rpartition(".")
        if parent:
            with self._lock:
                self._children[parent] = self._children.get(parent, frozenset()) | {child}

    # -- following (the imports) -------------------------------------------

    def _after(self, end: _End) -> None:
        """This thread is ordered after *end* (the wrappers inline this)."""
        if self.detector._thread().vc.get(end[1], 0) < end[2]:
            self.detector.join(end[3])

    def _fetched(self, module: Any, name: str, fromlist: Sequence[str]) -> None:
        """The submodules of *name* that ``from name import ...`` returned."""
        kids = self._children.get(name, ())
        for item in fromlist:
            if item in kids:
                end = self._ends.get(f"{name}.{item}")
                if end is not None and getattr(module, item, None) is end[0]:
                    self._after(end)

    def parents(self, name: str) -> tuple[str, ...]:
        found = self._parents.get(name)
        if found is None:
            bits = name.split(".")
            found = tuple(".".join(bits[:n]) for n in range(1, len(bits)))
            if len(self._parents) < 10_000:
                self._parents[name] = found
        return found

    def install(self) -> None:
        self._active = True
        ends, children = self._ends, self._children
        modules = sys.modules
        after, fetched = self._after, self._fetched
        thread_of, join = self.detector._thread, self.detector.join
        original = builtins.__import__

        def __import__(
            name: str,
            globals: Mapping[str, Any] | None = None,
            locals: Mapping[str, Any] | None = None,
            fromlist: Sequence[str] | None = (),
            level: int = 0,
        ) -> ModuleType:
            ready: list[str] | None = None
            if level == 0 and not fromlist and "." in name and ends:
                # `import a.b.c` returns `a`: parents finished before, or
                # that this import loads or waits for
                ready = [p for p in self.parents(name) if p in ends or p not in modules]
            try:
                module = original(name, globals, locals, fromlist, level)
            except BaseException as exc:
                _drop_own_frame(exc)
                raise
            if not ends or not self._active:
                return module
            full = name if level == 0 else _absolute(name, globals, level)
            if full is None:
                return module
            end = ends.get(full)
            if end is not None and thread_of().vc.get(end[1], 0) < end[2]:
                join(end[3])
            if fromlist:
                if full in children:
                    fetched(module, full, fromlist)
            elif ready:
                for parent in ready:
                    end = ends.get(parent)
                    if end is not None:
                        after(end)
            return module

        gcd_import = _bootstrap._gcd_import

        def _gcd_import(name: str, package: str | None = None, level: int = 0) -> ModuleType:
            try:
                module: ModuleType = gcd_import(name, package, level)
            except BaseException as exc:
                _drop_own_frame(exc)
                raise
            if ends and self._active:
                full = name if level == 0 else _resolve(name, package, level)
                end = ends.get(full) if full is not None else None
                if end is not None:
                    after(end)
            return module

        __import__.__wrapped__ = original  # type: ignore[attr-defined]
        _gcd_import.__wrapped__ = gcd_import  # type: ignore[attr-defined]
        self._saved = {"import": (original, __import__), "gcd": (gcd_import, _gcd_import)}
        builtins.__import__ = __import__
        _bootstrap._gcd_import = _gcd_import

    def restore(self) -> None:
        self._active = False
        if not self._saved:
            return
        original, ours = self._saved["import"]
        if builtins.__import__ is ours:
            builtins.__import__ = original
        original, ours = self._saved["gcd"]
        if _bootstrap._gcd_import is ours:
            _bootstrap._gcd_import = original
        self._saved = {}


def _drop_own_frame(exc: BaseException) -> None:
    """Leave the wrapper's frame out of *exc*'s traceback, as if the
    program had called the import system itself (a bare ``raise`` then
    adds no frame)."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        exc.__traceback__ = tb.tb_next


def _resolve(name: str, package: str | None, level: int) -> str | None:
    """The absolute name of a relative import (as the import system
    resolves it; the import succeeded, so *package* was right)."""
    if not isinstance(package, str):
        return None
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        return None
    return f"{bits[0]}.{name}" if name else bits[0]


def _absolute(name: str, globals: Mapping[str, Any] | None, level: int) -> str | None:
    """The module a relative import statement named, from the importing
    module's ``__package__`` (or its spec's parent)."""
    if globals is None:
        return None
    package = globals.get("__package__")
    if package is None:
        package = getattr(globals.get("__spec__"), "parent", None)
    return _resolve(name, package, level)
