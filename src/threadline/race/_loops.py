"""Happens-before edge of asyncio's hand-off from a thread to an event loop:

    loop.call_soon_threadsafe(cb) → cb runs (in the loop's thread)

``BaseEventLoop.call_soon_threadsafe`` is patched on its class for the
session: the callback is wrapped so that it joins the calling thread's
clock as it was at the call (``Detector.snapshot``; a clock travels with
the callback, nothing is kept per call).  What the loop runs after the
callback (the task it wakes) follows in the loop's thread.

asyncio is not imported for this (start-up cost): the class is patched
when the session starts if ``asyncio.base_events`` is already loaded, and
otherwise right after its module body ran, by ``_Watcher``, a finder in
``sys.meta_path`` that claims no module: it finds the spec of
``asyncio.base_events`` through the finders after it and hooks that
loader's ``exec_module`` for the one load.  The watcher is removed at
restore (before the patch is undone).

Locking: the patch is made once per session, under ``Patches._lock``
(the module may be first imported by any thread), which also guards the
watcher's ``done`` (set at restore: a load that ends after it patches
nothing); ``sys.meta_path`` is changed by the thread that starts and
stops the session only.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._patches import Patches

_MODULE = "asyncio.base_events"


def install(patches: Patches) -> None:
    """Patch now if asyncio's event loops are loaded, else once they are."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        _patch_loop(patches, module)
        return
    watcher = _Watcher(patches)
    patches.watchers.append(watcher)
    sys.meta_path.insert(0, watcher)


def uninstall(patches: Patches) -> None:
    """Remove the watcher (before the patches are undone)."""
    for watcher in patches.watchers:
        with patches._lock:
            watcher.done = True
        if watcher in sys.meta_path:
            sys.meta_path.remove(watcher)
    patches.watchers.clear()


def _patch_loop(patches: Patches, module: Any, watcher: _Watcher | None = None) -> None:
    d = patches.d
    loop_class = getattr(module, "BaseEventLoop", None)
    if loop_class is None or "call_soon_threadsafe" not in loop_class.__dict__:
        return  # not the asyncio this was written for: no edge rather than an error

    def call_soon_threadsafe(original: Any) -> Any:
        def patched(loop: Any, callback: Any, *args: Any, **kwargs: Any) -> Any:
            if not callable(callback) or _is_coroutine(callback):
                return original(loop, callback, *args, **kwargs)  # its error
            clock = d.snapshot()

            @functools.wraps(callback)
            def call(*a: Any) -> Any:
                d.join(clock)
                return callback(*a)

            return original(loop, call, *args, **kwargs)

        return patched

    with patches._lock:
        if watcher is not None and watcher.done:
            return  # the session stopped meanwhile
        if any(owner is loop_class for owner, _, _ in patches._saved):
            return
        patches._patch(loop_class, "call_soon_threadsafe", call_soon_threadsafe)


def _is_coroutine(callback: Any) -> bool:
    """What asyncio refuses as a callback (it raises TypeError for it)."""
    coroutines = sys.modules.get("asyncio.coroutines")
    if coroutines is None:
        return False
    # (asyncio.iscoroutinefunction is deprecated from 3.14: inspect's is the same test)
    return bool(coroutines.iscoroutine(callback) or inspect.iscoroutinefunction(callback))


class _Watcher:
    """A ``sys.meta_path`` finder that claims no module: it patches
    ``asyncio.base_events`` once the module's body ran (see the top)."""

    def __init__(self, patches: Patches) -> None:
        self.patches = patches
        self.done = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _MODULE or self.done:
            return None
        after = False
        for finder in list(sys.meta_path):
            if finder is self:
                after = True
                continue
            find = getattr(finder, "find_spec", None)
            if not after or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is not None and hasattr(loader, "exec_module"):
                self._hook(loader)
            return spec
        return None

    def _hook(self, loader: Any) -> None:
        exec_module = loader.exec_module
        patches = self.patches

        def exec_then_patch(module: Any) -> None:
            try:
                exec_module(module)
            finally:
                loader.__dict__.pop("exec_module", None)  # for this load only
            _patch_loop(patches, module, self)

        try:
            loader.exec_module = exec_then_patch
        except (AttributeError, TypeError):
            pass  # a loader that takes no attributes: no edge
