"""Waiters: the single parking mechanism behind every blocking operation.

A waiter is a one-shot slot that somebody *fires* exactly once with an
outcome: a partner (a channel operation that completes ours), ``close()``,
our own timeout, a cancelled scope, or an interrupt (Ctrl-C, asyncio
cancellation) in the waiting thread itself.  Whoever fires first wins; every
later ``fire`` returns False and has no effect.  This is what makes "exactly
one of partner / close / timeout / cancellation wins" true.

Locking:
  * ``_claim`` is a lock used as an atomic test-and-set: the one caller whose
    non-blocking acquire succeeds owns the outcome.  It is never released.
  * ``_sema`` (sync waiters) starts acquired; the winner releases it *after*
    publishing the outcome, so the owner that acquires it sees the outcome.
  * Async waiters publish, then wake the owning loop with
    ``call_soon_threadsafe``; the loop's thread reads the outcome.
  * A waiter's locks are leaves: ``fire`` may be called with channel or
    scope locks held, and takes no other lock.

Outcome: ``case`` >= 0 is the index of the case that completed (``ok`` False
when it completed because its channel was closed); negative values are the
reasons below, set only by the owner or its scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Final

TIMEOUT: Final = -1
CANCELLED: Final = -2
INTERRUPTED: Final = -3


class Waiter:
    __slots__ = ("_claim", "_future", "_loop", "_sema", "case", "ok", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._claim = threading.Lock()
        self.case: int | None = None  # published outcome, None until fired
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
        """Complete the wait with this outcome, unless somebody already did."""
        if not self._claim.acquire(blocking=False):
            return False
        self.value = value
        self.ok = ok
        self.case = case
        if self._sema is not None:
            self._sema.release()
        else:
            assert self._loop is not None
            # The loop may be closed if its owner is gone; nobody to wake then.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_resolve, self._future)
        return True

    @property
    def fired(self) -> bool:
        return self._claim.locked()

    # -- the owner's side -------------------------------------------------

    def wait_sync(self, timeout: float | None) -> bool:
        """Sleep until fired or *timeout*; True when fired.  Owner only."""
        assert self._sema is not None
        if timeout is None:
            return self._sema.acquire()
        return self._sema.acquire(timeout=max(timeout, 0.0))

    def await_published(self) -> None:
        """After losing the claim race: wait until the winner has published.

        The winner publishes right after claiming and never blocks in
        between, so this wait is short.
        """
        if self._sema is not None:
            self._sema.acquire()
            return
        while self.case is None:
            time.sleep(0)

    @property
    def future(self) -> asyncio.Future[None]:
        assert self._future is not None
        return self._future


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
