"""select: wait on several channel operations, and perform exactly one.

A case is a ``Channel`` (receive), a ``(channel, value)`` pair (send) or
``None`` (never ready; so is ``(None, value)``, as with Go's nil channel).
The algorithm follows Go's ``selectgo``:

  1. Poll: visit the cases in a random order, each under its own channel's
     lock, and perform the first one that can proceed.  (Cheap: no waiter.)
  2. Park: lock every distinct channel, in ascending ``id()`` order (the one
     global lock order for several channels, so two selects over the same
     channels never deadlock), poll again in a random order, and if nothing
     is ready enqueue one entry per case, all sharing a single waiter.
     Unlock in reverse order and sleep.
  3. Whoever fires the waiter first (a partner on one of the channels,
     ``close()``, the timeout, or cancellation) decides the outcome; the
     other entries are then removed, each under its own channel's lock.

Because all entries share one waiter, and a waiter fires once, exactly one
case takes effect.  The random order makes the choice among ready cases
uniform; ``_rng`` can be seeded (``threadline._select._rng.seed(n)``) to
replay a schedule in tests (it seeds the compiled fast path's generator too).
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeAlias, TypeVar, overload

from ._channel import _CLOSED, _EMPTY, PURE, Channel, _Entry
from ._core._aio import running_loop
from ._core._scope import _current, apark, checkpoint, outcome_error, park
from ._core._validate import check_timeout
from ._core._waiter import INTERRUPTED, Waiter
from ._errors import ChannelClosed

if not PURE:
    from . import _chancore


class _Random(random.Random):
    """select's random source.  Seeding it also seeds the compiled core's
    generator (see _chancore.c), which picks the visiting orders where the
    core is in use, on its fast path and here alike."""

    def seed(self, a: Any = None, version: int = 2) -> None:
        super().seed(a, version)
        if not PURE:
            _chancore._seed(self.getrandbits(64))


_rng = _Random()

if PURE:

    def _pick(n: int) -> int:
        """A random index below *n*."""
        return int(_rng.random() * n)

else:  # the compiled fast path's generator, so that both paths choose alike
    _pick = _chancore._pick

# Precomputed visiting orders for small selects: picking one is cheaper than
# shuffling a fresh list.
_PERMUTATIONS = [list(itertools.permutations(range(n))) for n in range(6)]


_T = TypeVar("_T")
_S = TypeVar("_S")


class Selected(NamedTuple, Generic[_T]):
    """The case that ``select`` performed.  ``Selected[T]``: ``T`` is the
    union of the value types of the receive cases."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, as the contract names it
    """Position of the case among the arguments (``None`` cases count)."""
    value: _T | None
    """The received value; ``None`` for a send or a closed channel."""
    ok: bool
    """False only for a receive from a closed and drained channel."""


# -- typing ------------------------------------------------------------------
# A case is a receive (Channel[T]: its values are T), a send ((Channel[S], S):
# the value must suit the channel) or None (also (None, value)).  The
# overloads give the result the union of the receive cases' value types (a
# send case or a None case adds nothing: its value is None); beyond 5 cases,
# the same for cases of one type (``select(*cases)``), else Any.

T0 = TypeVar("T0")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
S0 = TypeVar("S0")
S1 = TypeVar("S1")
S2 = TypeVar("S2")
S3 = TypeVar("S3")
S4 = TypeVar("S4")
_Case: TypeAlias = Channel[_T] | tuple[Channel[_S], _S] | tuple[None, Any] | None
_AnyCase: TypeAlias = Channel[Any] | tuple[Channel[Any] | None, Any] | None


# A parsed case: (index, channel, is_send, value).
_Op = tuple[int, Channel[Any], bool, Any]
# What a poll received, with its channel, kept until the caller has it.
_Taken: TypeAlias = "list[tuple[Channel[Any], Any]]"
_new_selected = tuple.__new__  # Selected(...) without its Python __new__


def _parse(cases: tuple[object, ...]) -> list[_Op]:
    ops: list[_Op] = []
    for index, case in enumerate(cases):
        if case is None:
            continue
        if type(case) is tuple and len(case) == 2 and case[0] is None:
            continue  # a send on no channel: never ready, like Go's nil channel
        if isinstance(case, Channel):
            ops.append((index, case, False, None))
        elif type(case) is tuple and len(case) == 2 and isinstance(case[0], Channel):
            ops.append((index, case[0], True, case[1]))
        else:
            raise TypeError(
                f"select case {index} must be a Channel (receive), a (channel, value) "
                f"pair (send) or None, got {case!r}"
            )
    return ops


def _order(count: int) -> tuple[int, ...] | list[int]:
    if count < len(_PERMUTATIONS):
        perms = _PERMUTATIONS[count]
        return perms[_pick(len(perms))]
    order = list(range(count))
    _rng.shuffle(order)
    return order


def _attempt_locked(op: _Op, taken: _Taken) -> Selected[Any] | None:
    """Perform *op* if it can proceed now.  Its channel's lock is held.  A
    value received is also put in *taken* at once, so that an interrupt
    before the caller has the result can give it back (a send cannot be
    undone)."""
    index, channel, is_send, value = op
    if is_send:
        if channel._send_locked(value):
            return Selected(index, None, True)
        return None
    received = channel._recv_locked()
    if received is _EMPTY:
        return None
    if received is _CLOSED:
        return Selected(index, None, False)
    taken.append((channel, received))
    return _new_selected(Selected, (index, received, True))


def _interrupted(channel: Channel[Any], taken: _Taken) -> None:
    """An interrupt cut a poll short: the lock goes back to *channel*, and
    so does the value a receive case had taken (a send cannot be undone)."""
    channel._interrupted(taken[0][1] if taken else _EMPTY)


def _poll(ops: list[_Op]) -> Selected[Any] | None:
    for i in _order(len(ops)):
        op = ops[i]
        lock = op[1]._lock  # a bare acquire, guarded as in _core._locks
        done = None
        taken: _Taken = []
        try:
            lock.acquire()
            done = _attempt_locked(op, taken)
            lock.release()
        except BaseException:
            _interrupted(op[1], taken)
            raise
        if done is not None:
            return done
    return None


def _poll_or_enqueue(ops: list[_Op], entries: list[_Entry] | None) -> Selected[Any] | None:
    """With every channel locked: perform a ready case, or queue *entries*
    (one per case) on their channels (with no *entries*, just poll)."""
    channels = sorted({id(op[1]): op[1] for op in ops}.values(), key=id)
    taken: _Taken = []
    try:
        return _with_locks(channels, 0, ops, entries, taken)
    except BaseException:  # (the locks are free again here)
        for channel, value in taken:
            channel._unrecv(value)
        raise


def _with_locks(
    channels: list[Channel[Any]],
    i: int,
    ops: list[_Op],
    entries: list[_Entry] | None,
    taken: _Taken,
) -> Selected[Any] | None:
    # Nested ``with`` blocks, one per channel (``SafeLock``s): a Ctrl-C
    # landing anywhere leaves no lock taken but not yet due for release.
    if i < len(channels):
        with channels[i]._lock:
            return _with_locks(channels, i + 1, ops, entries, taken)
    order = _order(len(ops))
    for k in order:
        done = _attempt_locked(ops[k], taken)
        if done is not None:
            return done
    if entries is not None:
        # Enqueue in the same random order: when several cases wait on one
        # channel, which of them a partner meets first is random too.
        for k in order:
            _, channel, is_send, _ = ops[k]
            (channel._sendq if is_send else channel._recvq).append(entries[k])
    return None


def _unpark(ops: list[_Op], entries: list[_Entry], waiter: Waiter) -> None:
    """Remove the entries that did not fire; undo an interrupted receive."""
    fired = waiter.case
    for (index, channel, is_send, _), entry in zip(ops, entries, strict=True):
        if index != fired:
            channel._forget(channel._sendq if is_send else channel._recvq, entry)


def _abandon(ops: list[_Op], entries: list[_Entry], waiter: Waiter) -> None:
    waiter.fire(INTERRUPTED)  # settle it first, if nobody did
    _unpark(ops, entries, waiter)
    fired = waiter.case
    if fired is not None and fired >= 0 and waiter.ok:
        for index, channel, is_send, _ in ops:
            if index == fired and not is_send:
                channel._unrecv(waiter.value)


def _result(ops: list[_Op], waiter: Waiter) -> Selected[Any]:
    fired = waiter.case
    assert fired is not None
    if fired < 0:
        raise outcome_error(waiter)
    for index, _, is_send, _ in ops:
        if index == fired:
            if is_send:
                if not waiter.ok:
                    raise ChannelClosed("send on a closed channel")
                return Selected(index, None, True)
            return Selected(index, waiter.value, waiter.ok)
    raise AssertionError("fired case is not among the select's cases")


_FAST_MAX = len(_PERMUTATIONS)


def _fast_poll(cases: tuple[object, ...], count: int) -> Selected[Any] | None:
    """``_poll`` for the common case, kept lean: a few receive cases (or
    None).  Anything else returns None, and the general path (which also
    reports bad cases) takes over.  Same random order, same choice."""
    for case in cases:
        if case.__class__ is not Channel and case is not None:
            return None
    perms = _PERMUTATIONS[count]
    if not PURE:  # the compiled core: one call takes the lock, polls, lets go
        for i in perms[_pick(len(perms))]:
            polled: Any = cases[i]
            if polled is None:
                continue
            received = polled._recv_now()
            if received is not _EMPTY:
                if received is _CLOSED:
                    return Selected(i, None, False)
                return _new_selected(Selected, (i, received, True))
        return None
    for i in perms[_pick(len(perms))]:
        channel: Any = cases[i]
        if channel is None:
            continue
        lock = channel._lock  # a bare acquire, guarded as in _core._locks
        done: Selected[Any] | None = None
        taken: _Taken = []
        try:
            lock.acquire()
            buf = channel._buf
            if buf and not channel._sendq:
                taken.append((channel, buf[0]))  # (then popped: see _attempt_locked)
                buf.popleft()
                done = _new_selected(Selected, (i, taken[0][1], True))
            else:
                done = _attempt_locked((i, channel, False, None), taken)
            lock.release()
        except BaseException:
            _interrupted(channel, taken)
            raise
        if done is not None:
            return done
    return None


def _prepare(cases: tuple[object, ...], timeout: object) -> tuple[list[_Op], float | None]:
    seconds = check_timeout(timeout)
    if not cases:
        raise ValueError("select needs at least one case, got none")
    ops = _parse(cases)
    if not ops and seconds is None:
        raise ValueError("select has only None cases and no timeout: it would block forever")
    checkpoint()
    return ops, seconds


def _poll_now(ops: list[_Op]) -> Selected[Any] | None:
    """Perform a ready case, if any.  A quick pass takes one channel lock at
    a time; if it finds nothing, a second pass looks at all channels at
    once, so a case that was ready throughout is never missed."""
    if not ops:
        return None
    done = _poll(ops)
    if done is None and len(ops) > 1:
        done = _poll_or_enqueue(ops, None)
    return done


def _first_poll(ops: list[_Op], seconds: float | None) -> Selected[Any] | None:
    """Perform a ready case, if any, without parking (TimeoutError for a
    select with ``timeout=0`` that finds none)."""
    done = _poll(ops) if seconds != 0 else _poll_now(ops)
    if done is None and seconds == 0:
        raise TimeoutError("select timed out")
    return done


# select and aselect park like Channel.send: the ``try`` covers queuing the
# entries, so an interrupt landing right after one was queued unqueues it.


@overload
def select(c0: _Case[T0, S0], /, *, timeout: float | None = None) -> Selected[T0]: ...
@overload
def select(
    c0: _Case[T0, S0], c1: _Case[T1, S1], /, *, timeout: float | None = None
) -> Selected[T0 | T1]: ...
@overload
def select(
    c0: _Case[T0, S0], c1: _Case[T1, S1], c2: _Case[T2, S2], /, *, timeout: float | None = None
) -> Selected[T0 | T1 | T2]: ...
@overload
def select(
    c0: _Case[T0, S0],
    c1: _Case[T1, S1],
    c2: _Case[T2, S2],
    c3: _Case[T3, S3],
    /,
    *,
    timeout: float | None = None,
) -> Selected[T0 | T1 | T2 | T3]: ...
@overload
def select(
    c0: _Case[T0, S0],
    c1: _Case[T1, S1],
    c2: _Case[T2, S2],
    c3: _Case[T3, S3],
    c4: _Case[T4, S4],
    /,
    *,
    timeout: float | None = None,
) -> Selected[T0 | T1 | T2 | T3 | T4]: ...
@overload
def select(*cases: _Case[T0, S0], timeout: float | None = None) -> Selected[T0]: ...
@overload
def select(
    c0: _AnyCase,
    c1: _AnyCase,
    c2: _AnyCase,
    c3: _AnyCase,
    c4: _AnyCase,
    c5: _AnyCase,
    /,
    *more: _AnyCase,
    timeout: float | None = None,
) -> Selected[Any]: ...
def select(*cases: object, timeout: float | None = None) -> Selected[Any]:
    """Block until one case can proceed, perform it, and say which.

    ``select(jobs, quit, (results, r), None, timeout=1.0)``: receive from
    ``jobs`` or ``quit``, or send ``r`` to ``results``; ``None`` is never
    ready.  Among ready cases one is chosen uniformly at random.
    """
    count = len(cases)
    if count < _FAST_MAX and timeout is None and _current.get() is None:
        done = _fast_poll(cases, count)
        if done is not None:
            return done
    ops, seconds = _prepare(cases, timeout)
    done = _first_poll(ops, seconds)
    if done is not None:
        return done
    waiter = Waiter()
    entries = [_Entry(waiter, index, value) for index, _, _, value in ops]
    try:
        done = _poll_or_enqueue(ops, entries)
        if done is not None:
            return done
        park(waiter, seconds, what="tl.select()", instead="await tl.aselect()")
        # (in the try: an interrupt from here on gives a value received back)
        _unpark(ops, entries, waiter)
        return _result(ops, waiter)
    except BaseException:
        _abandon(ops, entries, waiter)
        raise


_select_py = select  # the reference

if not TYPE_CHECKING and not PURE:
    # The compiled fast path of select (see _chancore.c), which hands every
    # other call to the Python select above.
    _chancore._setup_select(Channel, Selected, _PERMUTATIONS, _select_py)
    select = _chancore.select
    select.__module__ = __name__


@overload
async def aselect(c0: _Case[T0, S0], /, *, timeout: float | None = None) -> Selected[T0]: ...
@overload
async def aselect(
    c0: _Case[T0, S0], c1: _Case[T1, S1], /, *, timeout: float | None = None
) -> Selected[T0 | T1]: ...
@overload
async def aselect(
    c0: _Case[T0, S0], c1: _Case[T1, S1], c2: _Case[T2, S2], /, *, timeout: float | None = None
) -> Selected[T0 | T1 | T2]: ...
@overload
async def aselect(
    c0: _Case[T0, S0],
    c1: _Case[T1, S1],
    c2: _Case[T2, S2],
    c3: _Case[T3, S3],
    /,
    *,
    timeout: float | None = None,
) -> Selected[T0 | T1 | T2 | T3]: ...
@overload
async def aselect(
    c0: _Case[T0, S0],
    c1: _Case[T1, S1],
    c2: _Case[T2, S2],
    c3: _Case[T3, S3],
    c4: _Case[T4, S4],
    /,
    *,
    timeout: float | None = None,
) -> Selected[T0 | T1 | T2 | T3 | T4]: ...
@overload
async def aselect(*cases: _Case[T0, S0], timeout: float | None = None) -> Selected[T0]: ...
@overload
async def aselect(
    c0: _AnyCase,
    c1: _AnyCase,
    c2: _AnyCase,
    c3: _AnyCase,
    c4: _AnyCase,
    c5: _AnyCase,
    /,
    *more: _AnyCase,
    timeout: float | None = None,
) -> Selected[Any]: ...
async def aselect(*cases: object, timeout: float | None = None) -> Selected[Any]:
    """``select`` for coroutines: suspends the task instead of the thread."""
    ops, seconds = _prepare(cases, timeout)
    done = _first_poll(ops, seconds)
    if done is not None:
        return done
    waiter = Waiter(running_loop())
    entries = [_Entry(waiter, index, value) for index, _, _, value in ops]
    try:
        done = _poll_or_enqueue(ops, entries)
        if done is not None:
            return done
        await apark(waiter, seconds)
        # (in the try: an interrupt from here on gives a value received back)
        _unpark(ops, entries, waiter)
        return _result(ops, waiter)
    except BaseException:
        _abandon(ops, entries, waiter)
        raise


@overload
def try_select(c0: _Case[T0, S0], /) -> Selected[T0] | None: ...
@overload
def try_select(c0: _Case[T0, S0], c1: _Case[T1, S1], /) -> Selected[T0 | T1] | None: ...
@overload
def try_select(
    c0: _Case[T0, S0], c1: _Case[T1, S1], c2: _Case[T2, S2], /
) -> Selected[T0 | T1 | T2] | None: ...
@overload
def try_select(
    c0: _Case[T0, S0], c1: _Case[T1, S1], c2: _Case[T2, S2], c3: _Case[T3, S3], /
) -> Selected[T0 | T1 | T2 | T3] | None: ...
@overload
def try_select(
    c0: _Case[T0, S0], c1: _Case[T1, S1], c2: _Case[T2, S2], c3: _Case[T3, S3], c4: _Case[T4, S4], /
) -> Selected[T0 | T1 | T2 | T3 | T4] | None: ...
@overload
def try_select(*cases: _Case[T0, S0]) -> Selected[T0] | None: ...
@overload
def try_select(
    c0: _AnyCase,
    c1: _AnyCase,
    c2: _AnyCase,
    c3: _AnyCase,
    c4: _AnyCase,
    c5: _AnyCase,
    /,
    *more: _AnyCase,
) -> Selected[Any] | None: ...
def try_select(*cases: object) -> Selected[Any] | None:
    """Perform one ready case, chosen at random; ``None`` if none is ready."""
    if not cases:
        raise ValueError("try_select needs at least one case, got none")
    ops = _parse(cases)
    if not ops:
        raise ValueError("try_select needs at least one channel case, got only None")
    return _poll_now(ops)
