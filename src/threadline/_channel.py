"""Channels: typed, optionally buffered, shared by threads and asyncio tasks.

Each channel has one lock, ``_lock``, which guards ``_buf``, ``_sendq``,
``_recvq`` and ``_closed``.  ``_sendq`` and ``_recvq`` hold ``_Entry``s of
parked operations (plain send/recv or one case of a select), first come
first served.

Invariants, with "live" meaning an entry whose waiter has not fired yet
(entries of waiters that fired elsewhere are skipped and dropped lazily):
  * a live receiver is parked only while ``_buf`` is empty;
  * a live sender is parked only while ``_buf`` is full (always, when
    unbuffered: ``_buf`` of an unbuffered channel stays empty);
  * so at most one of ``_sendq`` and ``_recvq`` has live entries;
  * once ``_closed`` is set both queues are empty and stay empty.

A partner completes a parked operation while holding ``_lock`` by firing
its waiter (a leaf lock, see ``_core._waiter``); the value moves in the same
critical section, so an operation either happens whole or not at all.  An
interrupt that cuts a ``fire`` short before it took effect puts the entry
back (``_pop_fired``); one after it took effect leaves the partner's
operation done, and a receive that fired a sender keeps the sender's value
in the buffer; ``close`` wakes every parked owner even when interrupted
(``_wake_closed``): no owner is left unqueued and unfired.
Lock order: several channels are locked only by ``select``, in ``id()``
order (see ``_select``); a waiter's lock may be taken under a channel lock,
never the other way round; scope locks are never held with a channel lock.

``_lock`` is a ``SafeLock`` (see ``_core._locks``): slow paths take it with
``with``; the fast paths (send/recv/iteration, the ``try_`` forms,
asend/arecv) take it with a bare ``acquire``/``release`` inside a ``try``
whose handler gives it back, so an interrupt (Ctrl-C in the main thread)
landing anywhere cannot strand it; a receive's handler also puts back the
value it had taken (``_interrupted``), so none is lost.  (It is never held across an ``await``.)

Two implementations share this file's slow paths (``_ChannelBase``:
parking, timeouts, cancellation, asend/arecv, iteration's end):
``PyChannel``, pure Python, the reference; and, where the optional C
extension ``_chancore`` was built, a class of the same name whose state
(buffer, closed flag) and fast paths (send, recv, the ``try_`` forms,
``__next__``, close, ``arecv`` up to parking, ``_send_locked``,
``_recv_locked``, ``_unrecv``) are compiled, with the same lock rules (see
``_chancore.c``).  ``Channel`` is the compiled one unless
``THREADLINE_PURE=1`` or it is not built (no compiler at install time).
"""

from __future__ import annotations

import math
import operator
import os
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypeVar

from ._core._aio import running_loop
from ._core._locks import SafeLock
from ._core._nocopy import NoCopy
from ._core._scope import _current, apark, checkpoint, outcome_error, park
from ._core._validate import check_timeout
from ._core._waiter import INTERRUPTED, Waiter
from ._errors import ChannelClosed

T = TypeVar("T")

# Results of _recv_locked besides a value.
_EMPTY: Final[Any] = object()
_CLOSED: Final[Any] = object()

_RECV_CLOSED: Final = "receive from a closed channel"


class _Entry:
    """A parked operation in a channel's queue (identity equality)."""

    __slots__ = ("case", "value", "waiter")

    def __init__(self, waiter: Waiter, case: int, value: Any) -> None:
        self.waiter = waiter
        self.case = case
        self.value = value


def _pop_fired(
    queue: deque[_Entry], value: Any, taken: Callable[[Any], object] | None = None
) -> _Entry | None:
    """Pop entries off *queue* until one's waiter takes *value* (its case
    completes): that entry, or None if none was live.  An interrupt that
    cuts a ``fire`` short before it took effect puts the entry back at the
    head, so that its owner stays reachable (by a partner, or ``close``);
    one that comes after it took effect leaves the partner's operation
    done, and hands the partner's value to *taken* (a receive's, which
    must not lose it).  Lock held."""
    while queue:
        entry = queue[0]  # popped in the try: an interrupt after the pop finds it
        try:
            queue.popleft()
            won = entry.waiter.fire(entry.case, value, True)
        except BaseException:
            waiter = entry.waiter
            if not waiter.fired:
                queue.appendleft(entry)
            elif taken is not None and waiter.case == entry.case and waiter.ok:
                taken(entry.value)  # (only this popper could complete this case)
            raise
        if won:
            return entry
    return None


def _wake_closed(entries: list[_Entry]) -> None:
    """Fire each entry (already unqueued) with the close.  An interrupt does
    not stop the others: every owner is woken, then it is raised."""
    error: BaseException | None = None
    for entry in entries:
        waiter = entry.waiter
        while not waiter.fired:
            try:
                waiter.fire(entry.case, None, False)
            except BaseException as exc:
                if error is None:
                    error = exc
    if error is not None:
        raise error


def _check_capacity(capacity: object) -> int | float:
    message = f"capacity must be an int >= 0 or math.inf, got {capacity!r}"
    if isinstance(capacity, float):
        if capacity == math.inf:
            return math.inf
        raise ValueError(message)
    if isinstance(capacity, bool):
        raise TypeError(message)
    try:
        size = operator.index(capacity)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(message) from None
    if size < 0:
        raise ValueError(message)
    return size


_DOC = """A channel of values of type ``T``.

    ``Channel(0)`` (the default) is unbuffered: ``send`` waits until a
    receiver has taken the value.  ``Channel(n)`` buffers up to *n* values;
    ``Channel(math.inf)`` never blocks senders.
    """


class _ChannelBase(NoCopy, Generic[T]):
    """What both implementations share: the slow paths and the protocols."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by PyChannel, or by the C core
        _lock: SafeLock
        _buf: deque[T]
        _sendq: deque[_Entry]
        _recvq: deque[_Entry]
        _closed: bool
        _capacity: int | float

        def _send_locked(self, value: T) -> bool: ...
        def _recv_locked(self) -> Any: ...
        def _unrecv(self, value: T) -> None: ...
        def close(self) -> None: ...

    # -- properties ---------------------------------------------------------

    @property
    def capacity(self) -> int | float:
        """The buffer size: an int, or ``math.inf``."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (values may still be buffered)."""
        return self._closed

    def __bool__(self) -> bool:
        """Always True: a channel is an object, not a container; an empty
        buffer must not make ``if ch:`` or ``any(channels)`` false."""
        return True

    def __repr__(self) -> str:
        cap = "inf" if self._capacity == math.inf else self._capacity
        state = "closed" if self._closed else "open"
        return f"<Channel capacity={cap} len={len(self._buf)} {state}>"

    def _forget(self, queue: deque[_Entry], entry: _Entry) -> None:
        """Drop a parked entry whose waiter fired elsewhere (if still queued)."""
        with self._lock:
            try:
                queue.remove(entry)
            except ValueError:
                pass

    def _check_invariants(self) -> None:
        """Assert the invariants at the top of this module (for tests)."""
        with self._lock:
            senders = [e for e in self._sendq if not e.waiter.fired]
            receivers = [e for e in self._recvq if not e.waiter.fired]
            assert not (senders and receivers), "live senders and receivers both parked"
            assert not receivers or not self._buf, "a receiver parked beside buffered values"
            assert not senders or len(self._buf) >= self._capacity, "a sender parked with room"
            if self._closed:
                assert not self._sendq, "closed with parked senders"
                assert not self._recvq, "closed with parked receivers"

    # -- send -----------------------------------------------------------------

    # A blocking operation queues an entry and parks on its waiter.  The
    # ``try`` begins before the lock is taken, so that an interrupt landing
    # anywhere after the entry was queued (even inside the ``with``) still
    # unqueues it: ``entry`` is None until then.

    def _send_wait(self, value: T, seconds: float | None) -> None:
        entry: _Entry | None = None
        try:
            with self._lock:
                if self._send_locked(value):
                    return
                if seconds == 0:
                    raise TimeoutError("send timed out")
                entry = _Entry(Waiter(), 0, value)
                self._sendq.append(entry)
            park(entry.waiter, seconds, what="Channel.send()", instead="await ch.asend(value)")
        except BaseException:
            if entry is not None:
                self._abandon_send(entry.waiter, entry)
            raise
        self._settle(self._sendq, entry.waiter, entry, "channel closed while sending")

    async def asend(self, value: T, *, timeout: float | None = None) -> None:
        """``send`` for coroutines: suspends the task instead of the thread."""
        seconds = check_timeout(timeout)
        checkpoint()
        loop = running_loop()
        entry: _Entry | None = None
        lock = self._lock  # taken bare, guarded as in _core._locks (once per item)
        try:
            lock.acquire()
            if self._send_locked(value):
                lock.release()
                return
            if seconds == 0:
                raise TimeoutError("send timed out")
            entry = _Entry(Waiter(loop), 0, value)
            self._sendq.append(entry)
            lock.release()
            await apark(entry.waiter, seconds)
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            if entry is not None:
                self._abandon_send(entry.waiter, entry)
            raise
        self._settle(self._sendq, entry.waiter, entry, "channel closed while sending")

    def _settle(self, queue: deque[_Entry], waiter: Waiter, entry: _Entry, closed: str) -> Any:
        """After a wait: the received value (None for a send), or the error."""
        case = waiter.case
        assert case is not None
        if case < 0:
            self._forget(queue, entry)
            raise outcome_error(waiter)
        if not waiter.ok:
            raise ChannelClosed(closed)
        return waiter.value

    def _abandon_send(self, waiter: Waiter, entry: _Entry) -> None:
        """The wait was interrupted; if the send did not happen, unqueue it.
        (If a receiver took the value first, the send stands.)"""
        waiter.fire(INTERRUPTED)  # settle it first, if nobody did
        case = waiter.case
        if case is None or case < 0:
            self._forget(self._sendq, entry)

    # -- recv -----------------------------------------------------------------

    def _recv_wait(self, seconds: float | None, what: str, instead: str) -> T:
        entry: _Entry | None = None
        try:
            with self._lock:
                value = self._recv_locked()
                if value is _CLOSED:
                    raise ChannelClosed(_RECV_CLOSED)
                if value is not _EMPTY:
                    return value  # type: ignore[no-any-return]
                if seconds == 0:
                    raise TimeoutError("receive timed out")
                entry = _Entry(Waiter(), 0, None)
                self._recvq.append(entry)
            park(entry.waiter, seconds, what=what, instead=instead)
            # (in the try: an interrupt here puts the value received back)
            return self._settle(self._recvq, entry.waiter, entry, _RECV_CLOSED)  # type: ignore[no-any-return]
        except BaseException:
            if entry is not None:
                self._abandon_recv(entry.waiter, entry)
            raise

    def arecv(self, *, timeout: float | None = None) -> Coroutine[Any, Any, T]:
        """``recv`` for coroutines: ``await ch.arecv()`` suspends the task
        instead of the thread.  The receive happens when awaited (a bad
        *timeout* raises at once)."""
        return self._arecv(check_timeout(timeout))

    async def _arecv(self, seconds: float | None) -> T:
        checkpoint()
        loop = running_loop()
        entry: _Entry | None = None
        lock = self._lock  # taken bare, guarded as in _core._locks (once per item)
        value: Any = _EMPTY
        try:
            lock.acquire()
            value = self._recv_locked()
            if value is _CLOSED:
                raise ChannelClosed(_RECV_CLOSED)
            if value is not _EMPTY:
                lock.release()
                return value  # type: ignore[no-any-return]
            if seconds == 0:
                raise TimeoutError("receive timed out")
            entry = _Entry(Waiter(loop), 0, None)
            self._recvq.append(entry)
            lock.release()
            await apark(entry.waiter, seconds)
            # (in the try: an interrupt here puts the value received back)
            return self._settle(self._recvq, entry.waiter, entry, _RECV_CLOSED)  # type: ignore[no-any-return]
        except BaseException:
            if entry is not None:
                try:
                    lock.release()
                except RuntimeError:  # not held: already released
                    pass
                self._abandon_recv(entry.waiter, entry)
            else:
                self._interrupted(value)
            raise

    def _interrupted(self, value: Any) -> None:
        """An interrupt (Ctrl-C) cut a fast path short: give the lock back,
        and the value it had taken (*value*), if any, to the channel."""
        try:
            self._lock.release()
        except RuntimeError:  # not held: already released, or never taken
            pass
        if value is not _EMPTY and value is not _CLOSED:
            self._unrecv(value)

    def _abandon_recv(self, waiter: Waiter, entry: _Entry) -> None:
        """The wait was interrupted; undo whatever half of it happened."""
        waiter.fire(INTERRUPTED)  # settle it first, if nobody did
        case = waiter.case
        if case is None or case < 0:
            self._forget(self._recvq, entry)
        elif waiter.ok:
            self._unrecv(waiter.value)

    # -- protocols ------------------------------------------------------------

    def __iter__(self) -> Self:
        return self

    def _next_wait(self) -> T:
        try:
            return self._recv_wait(None, "iterating over a Channel", "async for")
        except ChannelClosed:
            raise StopIteration from None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._arecv(None)
        except ChannelClosed:
            raise StopAsyncIteration from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PyChannel(_ChannelBase[T]):
    __doc__ = _DOC
    __slots__ = ("__weakref__", "_buf", "_capacity", "_closed", "_lock", "_recvq", "_sendq")

    def __init__(self, capacity: int | float = 0) -> None:
        capacity = _check_capacity(capacity)
        if getattr(self, "_lock", None) is not None:  # (as the compiled core)
            raise RuntimeError("Channel.__init__() called again: a channel is initialised once")
        self._capacity = capacity
        self._lock = SafeLock()
        self._buf: deque[T] = deque()
        self._sendq: deque[_Entry] = deque()
        self._recvq: deque[_Entry] = deque()
        self._closed = False

    def __len__(self) -> int:
        """The number of buffered values (a snapshot)."""
        with self._lock:
            return len(self._buf)

    # -- the operations under the lock ----------------------------------------

    def _send_locked(self, value: T) -> bool:
        """Deliver *value* now if possible.  Lock held."""
        if self._closed:
            raise ChannelClosed("send on a closed channel")
        if self._recvq and _pop_fired(self._recvq, value) is not None:
            return True
        if len(self._buf) < self._capacity:
            self._buf.append(value)
            return True
        return False

    def _recv_locked(self) -> Any:
        """Take a value now if possible, else _EMPTY or _CLOSED.  Lock held."""
        buf = self._buf
        sendq = self._sendq
        if buf:
            value: Any = _EMPTY
            try:
                value = buf[0]  # (then popped: an interrupt after it finds value set)
                buf.popleft()
                # Room made: move the first live sender in.  (The buffer can
                # hold more than its capacity after _unrecv; then there is no
                # room.)  An interrupt after its fire took effect still moves
                # its value in, behind the one that goes back.
                if sendq and len(buf) < self._capacity:
                    entry = _pop_fired(sendq, None, buf.append)
                    if entry is not None:
                        buf.append(entry.value)
            except BaseException:  # an interrupt in fire: the value goes back
                if value is not _EMPTY:
                    buf.appendleft(value)
                raise
            return value
        if sendq:  # unbuffered: take straight from a parked sender
            # (cut short after its fire took effect: the value is owed to the
            # next receiver, at the buffer's head, as _unrecv does)
            entry = _pop_fired(sendq, None, buf.appendleft)
            if entry is not None:
                return entry.value
        return _CLOSED if self._closed else _EMPTY

    def _unrecv(self, value: T) -> None:
        """Put back a value received by a wait that was then interrupted, so
        that it is not lost: to a parked receiver, else at the buffer's head
        (even past capacity, or into an unbuffered channel: it is owed to
        the next receiver).  A value from the same sender that another
        receiver took meanwhile stays ahead of it."""
        with self._lock:
            if self._recvq and _pop_fired(self._recvq, value) is not None:
                return
            self._buf.appendleft(value)

    # -- send -----------------------------------------------------------------

    def try_send(self, value: T) -> bool:
        """Send without blocking; False if the send would block."""
        lock = self._lock  # a bare acquire, guarded as in _core._locks (as in send)
        try:
            lock.acquire()
            sent = self._send_locked(value)
            lock.release()
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            raise
        return sent

    def send(self, value: T, *, timeout: float | None = None) -> None:
        """Send *value*, blocking until it is buffered or handed over."""
        seconds = None if timeout is None else check_timeout(timeout)
        if _current.get() is not None:
            checkpoint()
        # The common case of _send_locked, inline, with a bare acquire and
        # release (far cheaper than ``with``), guarded as _core._locks shows.
        lock = self._lock
        try:
            lock.acquire()
            if not self._recvq and len(self._buf) < self._capacity and not self._closed:
                self._buf.append(value)
                lock.release()
                return
            if self._recvq and self._send_locked(value):  # a parked receiver
                lock.release()
                return
            lock.release()
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            raise
        self._send_wait(value, seconds)

    # -- recv -----------------------------------------------------------------

    def try_recv(self) -> tuple[T | None, bool]:
        """``(value, True)`` if a value is ready, else ``(None, False)``.
        Raises ``ChannelClosed`` if the channel is closed and drained."""
        lock = self._lock  # a bare acquire, guarded as in _core._locks (as in send)
        value: Any = _EMPTY
        try:
            lock.acquire()
            value = self._recv_locked()
            lock.release()
        except BaseException:
            self._interrupted(value)
            raise
        if value is _EMPTY:
            return None, False
        if value is _CLOSED:
            raise ChannelClosed(_RECV_CLOSED)
        return value, True

    def recv(self, *, timeout: float | None = None) -> T:
        """Receive a value, blocking until one arrives."""
        seconds = None if timeout is None else check_timeout(timeout)
        if _current.get() is not None:
            checkpoint()
        lock = self._lock  # the common case of _recv_locked, inline (as in send)
        value: Any = _EMPTY
        try:
            lock.acquire()
            buf = self._buf
            if buf and not self._sendq:
                value = buf[0]  # (then popped: an interrupt after it finds value set)
                buf.popleft()
                lock.release()
                return value  # type: ignore[no-any-return]
            if self._sendq:  # a parked sender
                value = self._recv_locked()
                if value is not _EMPTY and value is not _CLOSED:
                    lock.release()
                    return value  # type: ignore[no-any-return]
            lock.release()
        except BaseException:
            self._interrupted(value)
            raise
        return self._recv_wait(seconds, "Channel.recv()", "await ch.arecv()")

    # -- close ----------------------------------------------------------------

    def close(self) -> None:
        """Close the channel.  Idempotent.

        Later sends raise ``ChannelClosed``; receivers get the buffered values,
        then ``ChannelClosed``.  Parked senders and receivers are woken with
        ``ChannelClosed``.
        """
        parked: list[_Entry] = []
        try:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                parked = [*self._recvq, *self._sendq]
                self._recvq.clear()
                self._sendq.clear()
        finally:  # (an interrupt after a clear() must not strand the parked)
            _wake_closed(parked)

    # -- iteration ------------------------------------------------------------

    def __next__(self) -> T:
        if _current.get() is not None:
            checkpoint()
        lock = self._lock  # the common case of _recv_locked, inline (as in send)
        value: Any = _EMPTY
        try:
            lock.acquire()
            buf = self._buf
            if buf and not self._sendq:
                value = buf[0]  # (then popped: an interrupt after it finds value set)
                buf.popleft()
                lock.release()
                return value  # type: ignore[no-any-return]
            if self._sendq:  # a parked sender
                value = self._recv_locked()
                if value is not _EMPTY and value is not _CLOSED:
                    lock.release()
                    return value  # type: ignore[no-any-return]
            lock.release()
        except BaseException:
            self._interrupted(value)
            raise
        return self._next_wait()


def _own_methods(cls: type[Any], *sources: type[Any]) -> None:
    """Copy the methods and properties *cls* inherits from *sources* into its
    own namespace: tools patch a channel's methods on its class (the race
    detector replaces ``Channel.__dict__[name]``, and restores it)."""
    for source in sources:
        for name, attr in vars(source).items():
            if name in vars(cls) or name in ("__init__", "__new__", "__doc__", "__module__"):
                continue
            if callable(attr) or isinstance(attr, property):
                setattr(cls, name, attr)


PyChannel.__name__ = PyChannel.__qualname__ = "Channel"
_own_methods(PyChannel, _ChannelBase)

# -- the compiled core --------------------------------------------------------

CChannel: type[Any] | None = None
"""The compiled channel class, where built (tests drive it beside PyChannel)."""

try:
    from . import _chancore
except ImportError:  # not built (no compiler at install time)
    _chancore = None  # type: ignore[assignment]

if _chancore is not None:

    class _CLock(_chancore.Lock):
        """The C channel lock, with ``SafeLock``'s interrupt-proof ``with``."""

        __slots__ = ()
        __enter__ = SafeLock.__enter__

    _chancore._setup(
        _current,
        checkpoint,
        check_timeout,
        _check_capacity,
        ChannelClosed,
        _EMPTY,
        _CLOSED,
        _CLock,
        deque,
        _wake_closed,
    )

    class _CompiledChannel(_chancore.ChannelCore, _ChannelBase[T]):
        __doc__ = _DOC
        __slots__ = ("__weakref__",)

        def __init__(self, capacity: int | float = 0) -> None:  # (for its signature)
            _chancore.ChannelCore.__init__(self, capacity)

    _CompiledChannel.__name__ = _CompiledChannel.__qualname__ = "Channel"
    _own_methods(_CompiledChannel, _chancore.ChannelCore, _ChannelBase)
    CChannel = _CompiledChannel

PURE: Final = CChannel is None or os.environ.get("THREADLINE_PURE", "") not in ("", "0")
"""True when ``Channel`` is the pure-Python implementation."""

Channel = PyChannel
if not TYPE_CHECKING and not PURE:
    Channel = CChannel
