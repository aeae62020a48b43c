"""Cancellation scopes: cooperative cancellation and deadlines.

A scope is a region of code (a ``with`` block, a task) whose blocking
operations can be cancelled.  Scopes form a tree: a scope entered while
another is current becomes its child, and cancelling a scope cancels every
descendant.  The current scope lives in a ``ContextVar``, so each thread and
each asyncio task has its own.

Invariants:
  * ``_cancelled`` (effective: this scope or an ancestor was cancelled) only
    goes from False to True; so does ``_cancel_called`` (this scope itself).
  * ``_propagated`` implies every waiter registered here was fired and
    every child propagated; a waiter that registers later sees
    ``_cancelled`` under the lock and does not park.
  * ``_eff_deadline`` is the earliest deadline of this scope and its
    ancestors; deadlines never change, so it is computed once at attach.

Locking:
  * ``_lock`` (a ``SafeLock``: no Ctrl-C can strand it, see ``_locks``)
    guards ``_children``, ``_waiters`` and the two flags' writes.
    Attach/detach and register/unregister take it; cancellation takes it to
    flip the flags and snapshot children and waiters, then releases it
    before firing waiters or recursing into children.  So no two scope locks
    are ever held at once, and firing (a waiter's leaf lock) happens with no
    scope lock held.
  * Readers check the flags without the lock; a stale False is harmless
    because registration re-checks under the lock.

Deadlines are enforced lazily but promptly: every blocking wait inside a
scope sleeps at most until the effective deadline, and whoever wakes there
(or reaches a checkpoint, or exits the scope) expires the scopes whose
deadline has passed.  No timer thread is needed.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Final

from .._errors import Cancelled
from ._aio import loop_running_here, running_loop
from ._deadlock import Record, parked_record, wait_for_good
from ._locks import SafeLock
from ._nocopy import NoCopy
from ._validate import check_timeout
from ._waiter import CANCELLED, INTERRUPTED, TIMEOUT, Waiter

if TYPE_CHECKING:
    import asyncio

_INF: Final = math.inf

_current: ContextVar[CancelScope | None] = ContextVar("threadline.scope", default=None)


class CancelScope(NoCopy):
    """A region of code whose blocking operations can be cancelled.

    ``with CancelScope() as scope: ...`` runs its body; ``scope.cancel()``
    (from any thread) makes every blocking threadline operation inside it,
    in this thread and in tasks started inside it, raise ``Cancelled``.  The
    scope catches its own cancellation on exit.  ``tl.move_on_after`` is a
    scope with a deadline; ``tl.timeout`` one that raises ``TimeoutError``
    when its deadline's cancellation reached its exit.
    """

    __slots__ = (
        "__weakref__",
        "_cancel_called",
        "_cancelled",
        "_cancelled_caught",
        "_children",
        "_deadline",
        "_deadline_fired",
        "_eff_deadline",
        "_lock",
        "_parent",
        "_propagated",
        "_raise_timeout",
        "_relative",
        "_state",
        "_token",
        "_waiters",
    )

    def __init__(self, *, timeout: float | None = None, _raise_timeout: bool = False) -> None:
        seconds = check_timeout(timeout, "timeout")
        self._lock = SafeLock()
        self._parent: CancelScope | None = None
        self._children: set[CancelScope] | None = None  # made when first needed
        self._waiters: set[Waiter] | None = None
        self._cancel_called = False
        self._cancelled = False
        self._cancelled_caught = False
        self._propagated = False
        self._deadline_fired = False
        self._relative = seconds
        self._deadline = _INF
        self._eff_deadline = _INF
        self._raise_timeout = _raise_timeout
        self._token: Token[CancelScope | None] | None = None
        self._state = "new"

    @classmethod
    def _unentered(cls) -> CancelScope:
        """``CancelScope()`` without a timeout, made cheaply: a task's scope,
        which is attached, never entered."""
        self = cls.__new__(cls)
        self._lock = SafeLock()
        self._parent = None
        self._children = self._waiters = None
        self._cancel_called = self._cancelled = self._cancelled_caught = False
        self._propagated = self._deadline_fired = self._raise_timeout = False
        self._relative = None
        self._deadline = self._eff_deadline = _INF
        self._token = None
        self._state = "new"
        return self

    # -- public surface -------------------------------------------------

    @property
    def deadline(self) -> float:
        """The absolute deadline on ``time.monotonic()``'s clock, or ``inf``."""
        return self._deadline

    @property
    def cancel_called(self) -> bool:
        """True once this scope was cancelled (by ``cancel()`` or its deadline)."""
        return self._cancel_called

    @property
    def cancelled_caught(self) -> bool:
        """True if the scope stopped a ``Cancelled`` meant for it on exit
        (for ``tl.timeout``: turned it into ``TimeoutError``).  False when the
        block finished its work, even if the deadline passed meanwhile."""
        return self._cancelled_caught

    def cancel(self) -> None:
        """Cancel this scope and all its descendants.  Idempotent, any thread."""
        self._cancel(by_deadline=False)

    def __enter__(self) -> CancelScope:
        if self._state != "new":
            raise RuntimeError("a CancelScope can be entered only once")
        parent = _current.get()
        try:
            self._attach(parent)
            self._token = _current.set(self)
            self._state = "entered"
        except BaseException:  # an interrupt cut it short: no __exit__ will run
            if _current.get() is self:
                _current.set(parent)
            self._detach()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._token is not None
        _current.reset(self._token)
        self._token = None
        self._state = "exited"
        self._detach()
        if not self._deadline_fired and time.monotonic() >= self._deadline:
            self._cancel(by_deadline=True)
        if isinstance(exc, Cancelled) and exc._scope is self:
            # Only a cancellation that reached the exit is a timeout: a block
            # that finished its work (or swallowed the Cancelled) returns
            # normally, so nothing it received is followed by TimeoutError.
            self._cancelled_caught = True
            if self._raise_timeout and self._deadline_fired:
                raise TimeoutError(self._timeout_message()) from exc
            return True
        return False

    def __repr__(self) -> str:
        state = "cancelled" if self._cancel_called else self._state
        if self._relative is None:
            return f"<CancelScope {state}>"
        return f"<CancelScope timeout={self._relative}s {state}>"

    # -- tree maintenance -------------------------------------------------

    def _attach(self, parent: CancelScope | None) -> None:
        """Link under *parent* and start the deadline clock."""
        if self._relative is not None:
            self._deadline = time.monotonic() + self._relative
        inherited = False
        if parent is None:
            self._eff_deadline = self._deadline
        else:
            with parent._lock:
                inherited = self._attach_locked(parent)
        if inherited:
            self._propagate()

    def _attach_locked(self, parent: CancelScope) -> bool:
        """``_attach`` (no timeout of its own) with *parent*'s lock held by
        the caller, who must call ``_propagate()`` after releasing it when
        this returns True (the parent was already cancelled)."""
        self._parent = parent
        self._eff_deadline = min(self._deadline, parent._eff_deadline)
        if parent._children is None:
            parent._children = set()
        parent._children.add(self)
        return parent._cancelled

    def _detach(self) -> None:
        parent = self._parent
        if parent is not None:
            with parent._lock:
                self._detach_locked()

    def _detach_locked(self) -> None:
        """``_detach`` with the parent's lock held by the caller."""
        parent = self._parent
        if parent is not None and parent._children is not None:
            parent._children.discard(self)

    # -- cancellation -------------------------------------------------------

    def _cancel(self, *, by_deadline: bool) -> None:
        with self._lock:
            if not self._cancel_called:
                self._cancel_called = True
                self._deadline_fired = by_deadline
        self._propagate()

    def _propagate(self) -> None:
        """Mark this subtree cancelled and wake everything parked in it.

        ``_propagated`` is set only once every waiter and child was reached,
        so a propagation cut short (a Ctrl-C in the middle) is redone by the
        next ``cancel()``; firing a fired waiter is a no-op."""
        with self._lock:
            if self._propagated:
                return
            self._cancelled = True
            waiters = list(self._waiters or ())
            children = list(self._children or ())
        for waiter in waiters:
            waiter.fire(CANCELLED)
        for child in children:
            child._propagate()
        self._propagated = True

    def _expire(self, now: float) -> None:
        """Cancel every scope on the path to the root whose deadline passed."""
        expired = []
        scope: CancelScope | None = self
        while scope is not None:
            if scope._deadline <= now:
                expired.append(scope)
            scope = scope._parent
        for scope in reversed(expired):  # outermost first
            scope._cancel(by_deadline=True)

    def _register(self, waiter: Waiter) -> bool:
        """Park *waiter* here; False (and not parked) if already cancelled."""
        with self._lock:
            if self._cancelled:
                return False
            if self._waiters is None:
                self._waiters = set()
            self._waiters.add(waiter)
            return True

    def _unregister(self, waiter: Waiter) -> None:
        with self._lock:
            if self._waiters is not None:
                self._waiters.discard(waiter)

    def _make_cancelled(self) -> Cancelled:
        """The ``Cancelled`` to raise here: it belongs to the outermost
        cancelled scope, which is the one that will stop it."""
        owner = self
        scope: CancelScope | None = self
        while scope is not None:
            if scope._cancel_called:
                owner = scope
            scope = scope._parent
        if owner._deadline_fired:
            message = f"cancelled: deadline of {owner._relative}s passed"
        else:
            message = "cancelled"
        return Cancelled(message, scope=owner)

    def _timeout_message(self) -> str:
        return f"timed out after {self._relative} seconds"


# -- blocking points ---------------------------------------------------------


def current_scope() -> CancelScope | None:
    return _current.get()


def checkpoint() -> None:
    """Raise ``Cancelled`` if the current scope was cancelled (or its
    deadline passed); otherwise return at once."""
    scope = _active_scope()
    if scope is None:
        return
    if not scope._cancelled and scope._eff_deadline != _INF:
        now = time.monotonic()
        if now >= scope._eff_deadline:
            scope._expire(now)
    if scope._cancelled:
        raise scope._make_cancelled()


def outcome_error(waiter: Waiter) -> BaseException:
    """The exception for a wait that ended without a partner."""
    if waiter.case == TIMEOUT:
        return TimeoutError("timed out")
    scope = _active_scope()
    if waiter.case == CANCELLED and scope is not None:
        return scope._make_cancelled()
    return Cancelled("cancelled")


def _active_scope() -> CancelScope | None:
    """The current scope; one whose ``with`` has ended (seen from a context
    copied inside it, e.g. a task created there) no longer applies."""
    scope = _current.get()
    if scope is not None and scope._state == "exited":
        return None
    return scope


def park(
    waiter: Waiter,
    timeout: float | None,
    *,
    what: str = "a blocking call",
    instead: str = "its async form",
    shield: bool = False,
    for_good: bool = False,
) -> None:
    """Block the calling thread until *waiter* is fired.

    On return ``waiter.case`` holds the outcome: a partner's case index, or
    TIMEOUT or CANCELLED when this thread settled it itself.  If the wait is
    interrupted (KeyboardInterrupt), the interrupt is re-raised with the
    outcome INTERRUPTED, or with the partner's outcome if it won the race.
    ``shield`` waits ignore cancellation (used where cleanup must finish).
    A wait with no time limit is noted for deadlock detection, and may
    raise ``DeadlockError`` (see ``_deadlock.wait_for_good``); one with
    ``for_good`` set (its timeout only paces a watcher) is noted too.

    A thread that runs an event loop must not block: unless a partner
    already completed the operation, *what* raises ``RuntimeError`` (with
    the outcome INTERRUPTED) naming the form to use *instead*.  Shielded
    waits (a task group's exit) are exempt.
    """
    if not shield and loop_running_here():
        if waiter.fire(INTERRUPTED):
            raise RuntimeError(
                f"{what} would block the event loop running in this thread; use {instead} instead"
            )
        return  # a partner completed it meanwhile: nothing to wait for
    scope = None if shield else _active_scope()
    limit = _INF if timeout is None else time.monotonic() + timeout
    record: Record | None = None  # this thread's, while it waits for good
    try:
        if scope is not None:
            if not scope._register(waiter):
                waiter.fire(CANCELLED)
            limit = min(limit, scope._eff_deadline)
        if for_good or limit == _INF:
            record = parked_record()
            record.waiter = waiter  # noted for deadlock detection
        while True:
            if record is not None and limit == _INF:
                fired = wait_for_good(waiter, record)  # (the main thread and owners watch)
            else:
                fired = waiter.wait_sync(limit - time.monotonic())
            if fired:
                return
            now = time.monotonic()
            if scope is not None and now >= scope._eff_deadline:
                scope._expire(now)
                waiter.fire(CANCELLED)
                return
            if now >= limit:
                waiter.fire(TIMEOUT)
                return
            # woke early (a capped wait): go on waiting
    except BaseException:
        waiter.fire(INTERRUPTED)  # loses if the outcome is already there
        raise
    finally:
        if record is not None:
            record.waiter = None
        if scope is not None:
            scope._unregister(waiter)


async def apark(waiter: Waiter, timeout: float | None) -> None:
    """``park`` for a coroutine: suspend the task until *waiter* is fired.

    asyncio cancellation always wins: the task's ``CancelledError`` is
    re-raised with the outcome INTERRUPTED, or, if a partner completed the
    operation in the same instant, with that outcome, which the caller then
    undoes where it can (a received value goes back to the channel).
    """
    scope = _active_scope()
    limit = _INF if timeout is None else time.monotonic() + timeout
    handle: asyncio.TimerHandle | None = None
    try:
        if scope is not None:
            if not scope._register(waiter):
                waiter.fire(CANCELLED)
            limit = min(limit, scope._eff_deadline)
        if limit != _INF and not waiter.fired:
            handle = running_loop().call_later(
                max(limit - time.monotonic(), 0.0), _on_async_limit, waiter, scope, limit
            )
        await waiter.future
    except BaseException:
        waiter.fire(INTERRUPTED)
        raise
    finally:
        if handle is not None:
            handle.cancel()
        if scope is not None:
            scope._unregister(waiter)


def _on_async_limit(waiter: Waiter, scope: CancelScope | None, limit: float) -> None:
    now = time.monotonic()
    if scope is not None and now >= scope._eff_deadline:
        scope._expire(now)
        waiter.fire(CANCELLED)
    elif now >= limit:
        waiter.fire(TIMEOUT)
    else:  # the loop's clock ran ahead of ours; try again shortly
        running_loop().call_later(limit - now, _on_async_limit, waiter, scope, limit)


def sleep(seconds: float) -> None:
    """Sleep for *seconds*, or until the current scope is cancelled."""
    if seconds is None:
        raise TypeError("seconds must be a number of seconds, got None")
    delay = check_timeout(seconds, "seconds")
    checkpoint()
    if delay == 0:
        return
    waiter = Waiter()
    park(waiter, delay, what="tl.sleep()", instead="await asyncio.sleep()")
    if waiter.case == CANCELLED:
        raise outcome_error(waiter)


def timeout(seconds: float | None) -> CancelScope:
    """A scope that cancels its body after *seconds*, and raises
    ``TimeoutError`` on exit if that cancellation reached the exit (as
    ``trio.fail_after`` and ``asyncio.timeout`` do): a block that finished
    its work returns normally.  ``None`` means no deadline."""
    check_timeout(seconds, "seconds")
    return CancelScope(timeout=seconds, _raise_timeout=True)


def move_on_after(seconds: float | None) -> CancelScope:
    """A scope that cancels its body after *seconds* and never raises: the
    block just ends early.  ``scope.cancelled_caught`` says whether the
    deadline cut it short.  ``None`` means no deadline."""
    check_timeout(seconds, "seconds")
    return CancelScope(timeout=seconds)
