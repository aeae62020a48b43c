"""select: wait on several channel operations, and perform exactly one.

A case is a ``Channel`` (receive), a ``(channel, value)`` pair (send) or
``None`` (never ready).  The algorithm follows Go's ``selectgo``:

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
replay a schedule in tests.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any, NamedTuple

from ._channel import _CLOSED, _EMPTY, Channel, _Entry
from ._core._scope import apark, checkpoint, outcome_error, park
from ._core._validate import check_timeout
from ._core._waiter import Waiter
from ._errors import ChannelClosed

_rng = random.Random()

# Precomputed visiting orders for small selects: picking one is cheaper than
# shuffling a fresh list.
_PERMUTATIONS = [list(itertools.permutations(range(n))) for n in range(6)]


class Selected(NamedTuple):
    """The case that ``select`` performed."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, as the contract names it
    """Position of the case among the arguments (``None`` cases count)."""
    value: Any
    """The received value; ``None`` for a send or a closed channel."""
    ok: bool
    """False only for a receive from a closed and drained channel."""


# A parsed case: (index, channel, is_send, value).
_Op = tuple[int, Channel[Any], bool, Any]


def _parse(cases: tuple[object, ...]) -> list[_Op]:
    ops: list[_Op] = []
    for index, case in enumerate(cases):
        if case is None:
            continue
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
        return perms[int(_rng.random() * len(perms))]
    order = list(range(count))
    _rng.shuffle(order)
    return order


def _attempt_locked(op: _Op) -> Selected | None:
    """Perform *op* if it can proceed now.  Its channel's lock is held."""
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
    return Selected(index, received, True)


def _poll(ops: list[_Op]) -> Selected | None:
    for i in _order(len(ops)):
        op = ops[i]
        with op[1]._lock:
            done = _attempt_locked(op)
        if done is not None:
            return done
    return None


def _poll_or_enqueue(ops: list[_Op], waiter: Waiter) -> Selected | list[_Entry]:
    """With every channel locked: perform a ready case, or park them all."""
    channels = sorted({id(op[1]): op[1] for op in ops}.values(), key=id)
    locked: list[Channel[Any]] = []
    try:
        for channel in channels:
            channel._lock.acquire()
            locked.append(channel)
        for i in _order(len(ops)):
            done = _attempt_locked(ops[i])
            if done is not None:
                return done
        entries = []
        for index, channel, is_send, value in ops:
            entry = _Entry(waiter, index, value)
            (channel._sendq if is_send else channel._recvq).append(entry)
            entries.append(entry)
        return entries
    finally:
        for channel in reversed(locked):
            channel._lock.release()


def _unpark(ops: list[_Op], entries: list[_Entry], waiter: Waiter) -> None:
    """Remove the entries that did not fire; undo an interrupted receive."""
    fired = waiter.case
    for (index, channel, is_send, _), entry in zip(ops, entries, strict=True):
        if index != fired:
            channel._forget(channel._sendq if is_send else channel._recvq, entry)


def _abandon(ops: list[_Op], entries: list[_Entry], waiter: Waiter) -> None:
    _unpark(ops, entries, waiter)
    fired = waiter.case
    if fired is not None and fired >= 0 and waiter.ok:
        for index, channel, is_send, _ in ops:
            if index == fired and not is_send:
                channel._unrecv(waiter.value)


def _result(ops: list[_Op], waiter: Waiter) -> Selected:
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


def _prepare(cases: tuple[object, ...], timeout: object) -> tuple[list[_Op], float | None]:
    seconds = check_timeout(timeout)
    ops = _parse(cases)
    if not ops and seconds is None:
        raise ValueError("select needs at least one channel case, or a timeout")
    checkpoint()
    return ops, seconds


def select(*cases: object, timeout: float | None = None) -> Selected:
    """Block until one case can proceed, perform it, and say which.

    ``select(jobs, quit, (results, r), None, timeout=1.0)``: receive from
    ``jobs`` or ``quit``, or send ``r`` to ``results``; ``None`` is never
    ready.  Among ready cases one is chosen uniformly at random.
    """
    ops, seconds = _prepare(cases, timeout)
    done = _poll(ops) if ops else None
    if done is not None:
        return done
    if seconds == 0:
        raise TimeoutError("select timed out")
    waiter = Waiter()
    parked = _poll_or_enqueue(ops, waiter)
    if isinstance(parked, Selected):
        return parked
    try:
        park(waiter, seconds)
    except BaseException:
        _abandon(ops, parked, waiter)
        raise
    _unpark(ops, parked, waiter)
    return _result(ops, waiter)


async def aselect(*cases: object, timeout: float | None = None) -> Selected:
    """``select`` for coroutines: suspends the task instead of the thread."""
    ops, seconds = _prepare(cases, timeout)
    done = _poll(ops) if ops else None
    if done is not None:
        return done
    if seconds == 0:
        raise TimeoutError("select timed out")
    waiter = Waiter(asyncio.get_running_loop())
    parked = _poll_or_enqueue(ops, waiter)
    if isinstance(parked, Selected):
        return parked
    try:
        await apark(waiter, seconds)
    except BaseException:
        _abandon(ops, parked, waiter)
        raise
    _unpark(ops, parked, waiter)
    return _result(ops, waiter)


def try_select(*cases: object) -> Selected | None:
    """Perform one ready case, chosen at random; ``None`` if none is ready."""
    ops = _parse(cases)
    if not ops:
        raise ValueError("try_select needs at least one channel case")
    return _poll(ops)
