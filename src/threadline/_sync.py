"""Small synchronisation helpers: WaitGroup, Once, Guarded.

Each object has one lock, ``_lock`` (a ``SafeLock``: no Ctrl-C can strand
it, see ``_core._locks``), guarding all of its fields.  Waiters
are listed in ``_waiters`` and fired with ``_lock`` held (a waiter's lock is
a leaf); a waiter that gives up (timeout, cancellation, Ctrl-C) unlists
itself under ``_lock``.  Waiting is a blocking point: it honours
``timeout=`` and the current scope's cancellation.
"""

from __future__ import annotations

import operator
from _thread import get_ident
from collections.abc import Callable
from typing import Generic, TypeVar

from ._core._locks import SafeLock
from ._core._nocopy import NoCopy
from ._core._scope import checkpoint, outcome_error, park
from ._core._validate import check_timeout
from ._core._waiter import Waiter

T = TypeVar("T")


def _park_listed(
    waiter: Waiter,
    waiters: list[Waiter],
    lock: SafeLock,
    timeout: float | None,
    *,
    what: str,
    instead: str,
) -> None:
    """Park *waiter*, already listed in *waiters*; unlist it if it gives up."""
    try:
        park(waiter, timeout, what=what, instead=instead)
    finally:
        if waiter.case is None or waiter.case < 0:
            with lock:
                if waiter in waiters:
                    waiters.remove(waiter)
    if waiter.case is not None and waiter.case < 0:
        raise outcome_error(waiter)


def _fire_all_locked(waiters: list[Waiter], value: object = None, ok: bool = True) -> None:
    for waiter in waiters:
        waiter.fire(0, value, ok)
    waiters.clear()


class WaitGroup(NoCopy):
    """Wait for a collection of work to finish, like Go's ``sync.WaitGroup``.

    ``add(n)`` before starting work, ``done()`` as each piece finishes,
    ``wait()`` until the counter is back to zero.
    """

    __slots__ = ("_count", "_lock", "_waiters")

    def __init__(self) -> None:
        self._lock = SafeLock()
        self._count = 0
        self._waiters: list[Waiter] = []

    @property
    def count(self) -> int:
        """The counter (a snapshot)."""
        return self._count

    def add(self, n: int = 1) -> None:
        """Add *n* (may be negative) to the counter; zero wakes the waiters."""
        if isinstance(n, bool):
            raise TypeError(f"n must be an int, got {n!r}")
        try:
            delta = operator.index(n)
        except TypeError:
            raise TypeError(f"n must be an int, got {n!r}") from None
        with self._lock:
            count = self._count + delta
            if count < 0:
                raise ValueError(
                    f"WaitGroup counter would go below zero: {self._count} + {delta} (n={n!r})"
                )
            self._count = count
            if count == 0:
                _fire_all_locked(self._waiters)

    def done(self) -> None:
        """Take one off the counter."""
        with self._lock:
            if self._count == 0:
                raise ValueError("WaitGroup.done() called more times than add()")
            self._count -= 1
            if self._count == 0:
                _fire_all_locked(self._waiters)

    def wait(self, *, timeout: float | None = None) -> None:
        """Block until the counter is zero."""
        seconds = check_timeout(timeout)
        checkpoint()
        with self._lock:
            if self._count == 0:
                return
            if seconds == 0:
                raise TimeoutError("WaitGroup.wait timed out")
            waiter = Waiter()
            self._waiters.append(waiter)
        _park_listed(
            waiter,
            self._waiters,
            self._lock,
            seconds,
            what="WaitGroup.wait()",
            instead="await asyncio.to_thread(wg.wait)",
        )

    def __repr__(self) -> str:
        return f"<WaitGroup count={self._count}>"


class Once(NoCopy):
    """Run a function once, like Go's ``sync.Once``.

    ``once.do(fn)``: the first caller runs ``fn``; callers arriving meanwhile
    wait for it to finish.  If ``fn`` raises, its caller and the callers
    waiting get the exception, and a later ``do`` runs ``fn`` again.  A
    ``do`` from inside ``fn`` (same thread) raises ``RuntimeError``: it would
    wait for itself forever.
    """

    __slots__ = ("_done", "_lock", "_runner", "_running", "_waiters")

    def __init__(self) -> None:
        self._lock = SafeLock()
        self._done = False
        self._running = False
        self._runner = 0  # the thread running fn, while _running
        self._waiters: list[Waiter] = []

    @property
    def done(self) -> bool:
        """True once a ``do`` has returned normally."""
        return self._done

    def do(self, fn: Callable[[], object]) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        checkpoint()
        with self._lock:
            if self._done:
                return
            run = not self._running
            if run:
                self._running = True
                self._runner = get_ident()
            elif self._runner == get_ident():
                raise RuntimeError(
                    f"Once.do() called again from inside the function it runs ({fn!r}): "
                    "it would wait for itself forever"
                )
            else:
                waiter = Waiter()
                self._waiters.append(waiter)
        if not run:
            _park_listed(
                waiter,
                self._waiters,
                self._lock,
                None,
                what="Once.do() (waiting for the first caller's fn)",
                instead="await asyncio.to_thread(once.do, fn)",
            )
            if not waiter.ok:
                raise waiter.value
            return
        try:
            fn()
        except BaseException as exc:
            with self._lock:
                self._running = False
                _fire_all_locked(self._waiters, exc, ok=False)
            raise
        with self._lock:
            self._running = False
            self._done = True
            _fire_all_locked(self._waiters)

    def __repr__(self) -> str:
        return f"<Once done={self._done}>"


class Guarded(NoCopy, Generic[T]):
    """A value that is only touched under its own (reentrant) lock.

    ``with g as d: d["k"] = 1`` holds the lock for the block;
    ``g.update(fn)`` replaces the value with ``fn(value)`` under the lock and
    returns the new value.
    """

    __slots__ = ("_lock", "_value")

    def __init__(self, value: T) -> None:
        self._value = value
        self._lock = SafeLock()

    def __enter__(self) -> T:
        self._lock.__enter__()  # takes the lock so that no interrupt can strand it
        return self._value

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def update(self, fn: Callable[[T], T]) -> T:
        """Replace the value with ``fn(value)`` under the lock; return it."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        with self._lock:
            self._value = fn(self._value)
            return self._value

    def get(self) -> T:
        """The current value.  For a mutable value this is a reference:
        change it only inside ``with``."""
        with self._lock:
            return self._value

    def __repr__(self) -> str:
        return f"<Guarded {type(self._value).__name__}>"
