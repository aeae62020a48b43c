"""Waiters: the single parking mechanism behind every blocking operation.

A waiter is a one-shot slot that somebody *fires* exactly once with an
outcome: a partner (a channel operation that completes ours), ``close()``,
our own timeout, a cancelled scope, or an interrupt (Ctrl-C, asyncio
cancellation) in the waiting thread itself.  Whoever fires first wins; every
later ``fire`` returns False and has no effect.  This is what makes "exactly
one of partner / close / timeout / cancellation wins" true.

Locking:
  * ``_lock`` (a ``SafeLock``, see ``_core._locks``) guards the outcome
    (``case``, ``value``, ``ok``).  ``fire`` checks, publishes and wakes
    (releases ``_sema``) in one critical section, so a Ctrl-C in the firing
    thread can never leave a sync waiter claimed but unpublished or unwoken:
    no call runs between the claim and the wake-up.  So a ``fire`` that
    returns False has *seen* the outcome: the loser reads it at once and
    never waits for it.  An async waiter is woken through its loop after the
    critical section; the owner's own losing fires repeat that wake-up, so
    an interrupted winner cannot strand it.
  * ``_sema`` (sync waiters) starts acquired; the winner releases it.
  * Async waiters are woken through the owning loop (``call_soon_threadsafe``).
  * ``_lock`` is a leaf: ``fire`` may be called with channel or scope locks
    held, and takes no other lock.

Outcome: ``case`` >= 0 is the index of the case that completed (``ok`` False
when it completed because its channel was closed); negative values are the
reasons below, set only by the owner or its scope.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Final

from ._locks import SafeLock

if TYPE_CHECKING:
    import asyncio

TIMEOUT: Final = -1
CANCELLED: Final = -2
INTERRUPTED: Final = -3

_TIMEOUT_MAX: Final = threading.TIMEOUT_MAX


class Waiter:
    __slots__ = ("_future", "_lock", "_loop", "_sema", "case", "ok", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._lock = SafeLock()
        self.case: int | None = None  # the outcome; None until fired
        self.value: Any = None
        self.ok = False
        self._loop = loop
        if loop is None:
            self._sema: threading.Lock | None = threading.Lock()
            self._sema.acquire()
            self._future: asyncio.Future[None] | None = None
        else:
            self._sema = None
            self._future = loop.create_future()

    def fire(self, case: int, value: Any = None, ok: bool = True) -> bool:
        """Complete the wait with this outcome, unless somebody already did.

        A waiter whose event loop is closed cannot be woken: it refuses, so
        a partner skips it rather than hand it a value nobody will see."""
        loop = self._loop
        if loop is not None and loop.is_closed():
            return False
        lock = self._lock  # a bare acquire, guarded as in _core._locks
        try:
            lock.acquire()
            won = self.case is None
            if won:
                self.value = value
                self.ok = ok
                self.case = case
                if self._sema is not None:
                    self._sema.release()
                    lock.release()
                    return True
            lock.release()
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            raise
        if loop is not None and (won or case < 0):
            # Wake the loop.  The owner's side (case < 0) wakes it again even
            # when it lost: if an interrupt cut the winner short between the
            # claim and this call, the wake-up is made up for (it is
            # idempotent).
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, self._future)
        return won

    @property
    def fired(self) -> bool:
        return self.case is not None

    def wait_sync(self, timeout: float | None) -> bool:
        """Sleep until fired or *timeout*; True when fired.  Owner only.
        May return False early (long timeouts are capped); callers loop."""
        assert self._sema is not None
        if timeout is None:
            return self._sema.acquire()
        return self._sema.acquire(timeout=min(max(timeout, 0.0), _TIMEOUT_MAX))

    @property
    def future(self) -> asyncio.Future[None]:
        assert self._future is not None
        return self._future


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
