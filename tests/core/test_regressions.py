"""Regression tests for bugs found in review, one test per bug.

Each test makes the bad interleaving happen on purpose instead of waiting for
it: a lock, a method or a module-level function is wrapped (``monkeypatch``)
so that a ``KeyboardInterrupt`` (standing for a Ctrl-C) or a partner's
operation lands at one exact point.  A ``KeyboardInterrupt`` is raised at a
point where CPython could really deliver one: at a call boundary, never
inside a C lock's ``acquire`` or in the middle of a ``with lock:`` entry.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import Worker, join_all, spawn
from threadline import _channel, _select
from threadline._channel import Channel
from threadline._core import _waiter
from threadline._core._scope import park as real_park

_RealLock = threading.Lock


def wait_until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


def parked_in(scope: tl.CancelScope) -> int:
    """How many waiters are registered in *scope* and its descendants."""
    children = list(scope._children or ())
    return len(scope._waiters or ()) + sum(parked_in(child) for child in children)


def send_when_parked(ch: Channel[Any], value: Any) -> None:
    """Send *value* once a receiver is parked on *ch*."""
    wait_until(lambda: ch._recvq, "a receiver parks")
    ch.send(value)


# -- Ctrl-C in the thread that fires a waiter ----------------------------------------


@pytest.mark.timeout(10)
def test_regression_ctrl_c_in_fire_wedges_the_waiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C in a partner's fire(), right after it claimed the waiter, left it claimed
    but never published nor woken: the owner hung past its timeout and the value was lost."""
    firing = threading.get_ident()
    armed = [False]

    def call_boundary() -> None:
        # The first point after the claim where the firing thread can take a Ctrl-C.
        if armed[0] and threading.get_ident() == firing:
            armed[0] = False
            raise KeyboardInterrupt

    class WaiterLock:
        """A waiter's lock; a Ctrl-C can land right after an explicit acquire()
        or release() returns (a call boundary), not inside ``with``'s entry."""

        def __init__(self) -> None:
            self._lock = _RealLock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            got = self._lock.acquire(blocking, timeout)
            if got:
                call_boundary()
            return got

        def release(self) -> None:
            self._lock.release()
            call_boundary()

        def locked(self) -> bool:
            return self._lock.locked()

        def __enter__(self) -> WaiterLock:
            self._lock.acquire()
            return self

        def __exit__(self, *exc_info: object) -> None:
            self._lock.release()

    monkeypatch.setattr(
        _waiter,
        "threading",
        types.SimpleNamespace(Lock=WaiterLock, TIMEOUT_MAX=threading.TIMEOUT_MAX),
    )
    ch: Channel[str] = tl.Channel()
    owner = spawn(ch.recv, timeout=2.0, name="owner")
    wait_until(lambda: ch._recvq, "the owner parks")
    armed[0] = True
    with pytest.raises(KeyboardInterrupt):
        ch.send("value")
    owner.join(3.0)
    assert not owner.is_alive(), "the owner of the interrupted fire() never woke"
    assert join_all([owner]) == ["value"]
    assert ch.try_recv() == (None, False)


# -- Ctrl-C just after a parked thread was woken ---------------------------------------


class _WakeThenCtrlC:
    """Stands in for a sync waiter's wake-up lock: right after its first
    successful wait (the thread was woken), a Ctrl-C lands.  Waiting for it
    again afterwards could never end (the wake-up was consumed): that fails
    the test at once instead of hanging."""

    def __init__(self, lock: Any, armed: list[bool]) -> None:
        self._lock = lock
        self._armed = armed
        self._interrupted = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._interrupted:
            if not self._lock.acquire(timeout=2.0 if timeout == -1 else min(timeout, 2.0)):
                raise AssertionError("waited again for a wake-up that was already consumed")
            return True
        got = self._lock.acquire(blocking, timeout)
        if got and self._armed[0]:
            self._armed[0] = False
            self._interrupted = True
            raise KeyboardInterrupt
        return bool(got)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return bool(self._lock.locked())


def _ctrl_c_after_wake(
    monkeypatch: pytest.MonkeyPatch, only: Callable[[_waiter.Waiter], bool] | None = None
) -> None:
    """Make the first wake-up of a sync waiter created on this thread (and
    accepted by *only*) be followed by a Ctrl-C."""
    me = threading.get_ident()
    armed = [True]
    real_init = _waiter.Waiter.__init__

    def init(self: _waiter.Waiter, loop: asyncio.AbstractEventLoop | None = None) -> None:
        real_init(self, loop)
        if self._sema is not None and threading.get_ident() == me:
            wrapped = _WakeThenCtrlC(self._sema, armed)
            if only is not None:
                wrapped = _OnlyFor(wrapped, self, only)  # type: ignore[assignment]
            self._sema = wrapped  # type: ignore[assignment]

    monkeypatch.setattr(_waiter.Waiter, "__init__", init)


class _OnlyFor:
    """Applies a _WakeThenCtrlC only while *only(waiter)* holds."""

    def __init__(
        self, wrapped: _WakeThenCtrlC, waiter: _waiter.Waiter, only: Callable[[Any], bool]
    ) -> None:
        self._wrapped = wrapped
        self._waiter = waiter
        self._only = only

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._only(self._waiter):
            return self._wrapped.acquire(blocking, timeout)
        return bool(self._wrapped._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._wrapped.release()

    def locked(self) -> bool:
        return self._wrapped.locked()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("op", ["recv", "select"])
def test_regression_ctrl_c_just_after_wake_hangs(monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    """A Ctrl-C landing just after a parked receive was woken by its partner made park()
    wait for the already consumed wake-up again: the thread hung forever."""
    _ctrl_c_after_wake(monkeypatch)
    ch: Channel[str] = tl.Channel()
    other: Channel[str] = tl.Channel()
    sender = spawn(send_when_parked, ch, "x")
    with pytest.raises(KeyboardInterrupt):
        if op == "recv":
            ch.recv()
        else:
            tl.select(ch, other)
    join_all([sender], timeout=5.0)
    assert ch.try_recv() == ("x", True)  # put back: not lost
    assert not ch._recvq
    assert not other._recvq


@pytest.mark.timeout(10)
def test_regression_ctrl_c_as_last_task_ends_hangs_group_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TaskGroup's exit catches a Ctrl-C while it waits for its tasks, but one landing
    just after the last task woke it made park() hang forever instead."""
    groups: list[tl.TaskGroup] = []
    _ctrl_c_after_wake(
        monkeypatch, only=lambda waiter: bool(groups) and groups[0]._owner_waiter is waiter
    )
    with pytest.raises(KeyboardInterrupt), tl.TaskGroup() as tg:
        groups.append(tg)
        task = tg.go(wait_until, lambda: tg._owner_waiter is not None, "the owner waits")
    assert task.done()
    assert task.result() is None


# -- put back into an unbuffered channel -------------------------------------------------


@pytest.mark.timeout(10)
def test_regression_put_back_value_lets_a_sender_into_unbuffered_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After an interrupted recv put its value back into an unbuffered channel, the next
    recv moved a parked sender's value into the buffer: that send returned with no receiver."""
    me = threading.get_ident()
    armed = [True]

    def park_then_ctrl_c(waiter: _waiter.Waiter, timeout: float | None, **kw: Any) -> None:
        real_park(waiter, timeout, **kw)
        if armed[0] and threading.get_ident() == me:
            armed[0] = False
            raise KeyboardInterrupt  # lands as recv is woken with "A"

    monkeypatch.setattr(_channel, "park", park_then_ctrl_c)
    ch: Channel[str] = tl.Channel()
    first = spawn(send_when_parked, ch, "A")
    with pytest.raises(KeyboardInterrupt):
        ch.recv()
    join_all([first], timeout=5.0)
    assert len(ch) == 1  # "A" is owed to the next receiver

    b_returned = threading.Event()

    def send_b() -> None:
        ch.send("B", timeout=5.0)
        b_returned.set()

    second = spawn(send_b)
    wait_until(lambda: ch._sendq, "the second sender parks")
    assert ch.try_send("C") is False  # no room made by the put-back value
    assert ch.recv() == "A"
    assert len(ch) == 0, "a parked sender's value went into an unbuffered channel's buffer"
    assert not b_returned.is_set(), "send() returned before a receiver took the value"
    assert ch.recv() == "B"
    join_all([second], timeout=5.0)
    assert b_returned.is_set()


# -- Ctrl-C while select holds channel locks ---------------------------------------------


class _ChannelLock:
    """A channel's lock that reports every time it is taken."""

    def __init__(self, on_take: Callable[[bool], None]) -> None:
        self._lock = _RealLock()
        self._on_take = on_take

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._on_take(True)
        return got

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> _ChannelLock:
        self._lock.acquire()
        self._on_take(False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


@pytest.mark.timeout(10)
def test_regression_ctrl_c_in_select_leaks_a_channel_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C right after select took a channel's lock (to park on every channel) left
    that lock held forever: every later operation on the channel blocked."""
    me = threading.get_ident()
    takes = [0]
    next_call_raises = [False]

    def on_take(explicit: bool) -> None:
        if threading.get_ident() != me:
            return
        takes[0] += 1
        if takes[0] == 2:  # the first was the quick poll; this is the all-locks step
            if explicit:
                raise KeyboardInterrupt  # at the call boundary after acquire() returned
            next_call_raises[0] = True  # ``with`` entry: at the next call instead

    def raise_at_call(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            if next_call_raises[0]:
                next_call_raises[0] = False
                raise KeyboardInterrupt
            return real(*args)

        return wrapper

    for name in ("_order", "_with_locks"):
        real = getattr(_select, name, None)
        if real is not None:
            monkeypatch.setattr(_select, name, raise_at_call(real))
    a: Channel[int] = tl.Channel()
    b: Channel[int] = tl.Channel()
    a._lock = _ChannelLock(on_take)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        tl.select(a, b, timeout=1.0)
    assert takes[0] >= 2  # interrupted at the second take (cleanup may take it again)
    assert not a._lock.locked(), "select left the channel's lock held"
    assert not b._lock.locked()
    assert not a._recvq
    assert not b._recvq
    assert a.try_send(1) is False  # the channel still works


# -- Ctrl-C while cancel() wakes the scope ------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("cut_at", ["waiter", "child"])
def test_regression_interrupted_cancel_is_never_finished(
    monkeypatch: pytest.MonkeyPatch, cut_at: str
) -> None:
    """A Ctrl-C while cancel() was waking a scope's waiters (or child scopes) left the rest
    parked, and every later cancel() returned early: they were never woken."""
    me = threading.get_ident()
    fires = [0]
    real_fire = _waiter.Waiter.fire

    def fire(self: _waiter.Waiter, case: int, value: Any = None, ok: bool = True) -> bool:
        if case == _waiter.CANCELLED and threading.get_ident() == me:
            fires[0] += 1
            if fires[0] == 2:
                raise KeyboardInterrupt  # at the call into the second fire()
        return real_fire(self, case, value, ok)

    monkeypatch.setattr(_waiter.Waiter, "fire", fire)
    ch: Channel[int] = tl.Channel()

    def parks(in_child: bool) -> str:
        try:
            if in_child:
                with tl.CancelScope():
                    ch.recv(timeout=3.0)
            else:
                ch.recv(timeout=3.0)
        except tl.Cancelled:
            return "cancelled"
        except TimeoutError:
            return "timed out"
        return "received"

    workers: list[Worker] = []
    with tl.CancelScope() as scope:
        # Direct waiters are fired before children, so the Ctrl-C hits the
        # second waiter, or the waiter in the child scope.
        for in_child in (False, cut_at == "child"):
            workers.append(spawn(contextvars.copy_context().run, parks, in_child))
        wait_until(lambda: parked_in(scope) == 2, "both workers park")
        with pytest.raises(KeyboardInterrupt):
            scope.cancel()
        scope.cancel()  # must finish the job
        assert join_all(workers, timeout=2.0) == ["cancelled", "cancelled"]
    assert fires[0] >= 2


# -- asyncio ---------------------------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("how", ["close", "throw"])
def test_regression_arecv_ended_without_cancellation_loses_a_value(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A parked arecv() ended by something other than CancelledError (coro.close(), as when
    a pending task is destroyed, or coro.throw()) cleaned up with its waiter still open:
    a partner could complete it meanwhile, and the value it was told it handed over was lost."""
    partner: list[bool] = []
    real_forget = Channel._forget

    def forget_with_partner(self: Channel[Any], queue: Any, entry: Any) -> None:
        if not partner:
            partner.append(self.try_send("V"))  # a partner thread gets in here
        real_forget(self, queue, entry)

    monkeypatch.setattr(Channel, "_forget", forget_with_partner)

    class Stop(Exception):
        pass

    async def main() -> Channel[str]:
        ch: Channel[str] = tl.Channel()
        coro = ch.arecv()
        coro.send(None)  # parked: awaiting the waiter's future
        if how == "close":
            coro.close()
        else:
            with pytest.raises(Stop):
                coro.throw(Stop())
        return ch

    ch = asyncio.run(main())
    assert len(partner) == 1
    sent = partner[0]
    assert not sent or ch.try_recv() == ("V", True), "try_send() succeeded but the value is gone"
    assert not ch._recvq


@pytest.mark.timeout(10)
@pytest.mark.parametrize("op", ["arecv", "aselect"])
def test_regression_value_lost_when_task_cancelled_as_partner_completes(op: str) -> None:
    """A value handed to a parked arecv()/aselect() whose task was cancelled in the same
    loop iteration was lost: the partner's send succeeded, the task ended cancelled."""

    async def main() -> tuple[bool, bool, tuple[Any, bool]]:
        ch: Channel[int] = tl.Channel()
        other: Channel[int] = tl.Channel()
        task: asyncio.Task[Any]
        if op == "arecv":
            task = asyncio.create_task(ch.arecv())
        else:
            task = asyncio.create_task(tl.aselect(ch, other))
        await asyncio.sleep(0)  # the task parks
        assert ch._recvq
        sent = ch.try_send(42)  # a partner completes the receive...
        task.cancel()  # ...and the task is cancelled before it resumes
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        return sent, cancelled, ch.try_recv()

    sent, cancelled, left = asyncio.run(main())
    assert sent
    assert cancelled  # asyncio cancellation wins...
    assert left == (42, True)  # ...and the value went back to the channel


@pytest.mark.timeout(10)
def test_regression_asyncio_timeout_leaks_a_spurious_cancellation() -> None:
    """An asyncio.timeout() expiring as a partner completed an arecv() inside it left a
    cancellation pending: the block ended normally and the task's next await raised
    CancelledError that nobody had asked for."""

    async def main() -> tuple[list[int], bool, tuple[Any, bool]]:
        ch: Channel[int] = tl.Channel()
        loop = asyncio.get_running_loop()
        got: list[int] = []
        timed_out = False
        try:
            async with asyncio.timeout(None) as cm:

                def partner_and_deadline() -> None:
                    ch.try_send(1)  # completes the parked arecv
                    cm.reschedule(loop.time())  # the deadline passes in the same iteration

                loop.call_soon(partner_and_deadline)
                got.append(await ch.arecv())
        except TimeoutError:
            timed_out = True
        await asyncio.sleep(0)  # must not raise CancelledError
        await asyncio.sleep(0)
        return got, timed_out, ch.try_recv()

    got, timed_out, left = asyncio.run(main())
    assert (got, timed_out, left) == ([], True, (1, True))


# -- scopes ----------------------------------------------------------------------------------


def test_regression_exited_scope_still_cancels_a_copied_context() -> None:
    """A context copied inside a CancelScope kept obeying it after its with block had
    exited: a later cancel() made checkpoint/sleep/recv there raise a Cancelled that
    no scope would ever catch."""
    ch: Channel[str] = tl.Channel(1)
    ch.send("v")
    with tl.CancelScope() as scope:
        ctx = contextvars.copy_context()
    scope.cancel()  # harmless after exit

    def body() -> str:
        tl.checkpoint()
        tl.sleep(0.001)
        return ch.recv(timeout=1.0)

    assert ctx.run(body) == "v"


@pytest.mark.timeout(10)
def test_regression_exited_timeout_cancels_a_task_created_inside() -> None:
    """An asyncio task created inside a tl.timeout kept its deadline after the with block
    had exited: the task's arecv() was cancelled with a Cancelled nothing could catch."""

    async def main() -> str:
        ch: Channel[str] = tl.Channel()
        with tl.timeout(0.01):
            task = asyncio.create_task(ch.arecv(timeout=5.0))
        await asyncio.sleep(0.1)  # well past the exited scope's deadline
        assert ch.try_send("v"), "the task no longer waits for a value"
        return await task

    assert asyncio.run(main()) == "v"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("op", ["recv", "send", "select", "sleep", "timeout"])
def test_regression_huge_timeout_raises_overflow_error(op: str) -> None:
    """A finite timeout above threading.TIMEOUT_MAX passed validation, then blocking raised
    OverflowError from the lock wait."""
    huge = 1e10
    assert huge > threading.TIMEOUT_MAX
    ch: Channel[int] = tl.Channel()

    def in_timeout() -> None:
        with tl.timeout(huge):
            ch.recv()

    ops: dict[str, Callable[[], object]] = {
        "recv": lambda: ch.recv(timeout=huge),
        "send": lambda: ch.send(1, timeout=huge),
        "select": lambda: tl.select(ch, None, timeout=huge),
        "sleep": lambda: tl.sleep(huge),
        "timeout": in_timeout,
    }
    done = threading.Event()

    def cancel_once_parked(scope: tl.CancelScope) -> None:
        deadline = time.monotonic() + 2.0
        while not parked_in(scope) and not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
        scope.cancel()

    try:
        with tl.CancelScope() as scope:
            canceller = spawn(cancel_once_parked, scope)
            ops[op]()
    finally:
        done.set()
    join_all([canceller], timeout=5.0)
    assert scope.cancelled_caught


# -- Ctrl-C right after an operation queued itself ---------------------------------------


class _InterruptAfterAppend(deque[Any]):
    """A wait queue whose first append raises KeyboardInterrupt just after
    appending: where a real signal can land, inside ``with lock:``."""

    armed = True

    def append(self, item: Any) -> None:
        super().append(item)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt


@pytest.mark.parametrize("op", ["recv", "send", "select"])
def test_regression_ctrl_c_after_queuing_leaves_a_live_entry(op: str) -> None:
    """An interrupt right after the entry was queued (before the ``try``
    around park) left it queued with a live waiter: a later partner handed it
    a value nobody would see, or took the value of a send that had failed."""
    ch: Channel[str] = tl.Channel()
    if op == "send":
        ch._sendq = _InterruptAfterAppend()
        with pytest.raises(KeyboardInterrupt):
            ch.send("S")
        assert ch.try_recv() == (None, False)  # the failed send delivered nothing
    else:
        ch._recvq = _InterruptAfterAppend()
        with pytest.raises(KeyboardInterrupt):
            if op == "recv":
                ch.recv()
            else:
                tl.select(ch, tl.Channel[str](), timeout=1.0)
        assert not ch.try_send("V")  # no ghost receiver takes (and loses) it
    assert not ch._sendq
    assert not ch._recvq


@pytest.mark.timeout(10)
def test_regression_interrupted_async_wake_strands_the_coroutine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An interrupt in the firing thread between an async waiter's claim and
    its loop's wake-up left the coroutine asleep past its own timeout."""
    ch: Channel[str] = tl.Channel()
    result: list[Any] = []
    parked = threading.Event()

    async def receive() -> None:
        task = asyncio.ensure_future(ch.arecv(timeout=0.3))
        while not ch._recvq:
            await asyncio.sleep(0.001)
        parked.set()
        try:
            result.append(await task)
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=lambda: asyncio.run(receive()))
    thread.start()
    assert parked.wait(5)
    real_suppress = _waiter.contextlib.suppress
    calls = [0]

    def interrupt_once(*exceptions: type[BaseException]) -> Any:
        calls[0] += 1
        if calls[0] == 1:  # the partner's wake-up: cut it short
            raise KeyboardInterrupt
        return real_suppress(*exceptions)

    monkeypatch.setattr(_waiter.contextlib, "suppress", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        ch.send("v")  # claims the waiter, then is interrupted before waking the loop
    monkeypatch.setattr(_waiter.contextlib, "suppress", real_suppress)
    thread.join(5)
    assert not thread.is_alive(), "the coroutine was never woken"
    assert result == ["v"]
