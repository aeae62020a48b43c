"""Cancellation scopes: ``tl.timeout``, ``tl.CancelScope``, ``tl.checkpoint``, ``tl.sleep``.

A few tests must know that a thread is really parked (not merely about to
park) before they cancel it; they poll the scope's set of registered waiters,
which every blocking wait inside a scope joins for as long as it sleeps.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join_all, spawn
from threadline._core._scope import CancelScope

HANG = 10.0  # generous guard: a wait this long means something is stuck


def wait_parked(scope: tl.CancelScope, timeout: float = HANG) -> None:
    """Wait until some thread is parked inside *scope*."""
    deadline = time.monotonic() + timeout
    while not scope._waiters:
        assert time.monotonic() < deadline, "nobody parked in the scope"
        time.sleep(0.001)


def full_channel() -> tl.Channel[str]:
    ch: tl.Channel[str] = tl.Channel(1)
    assert ch.try_send("filler")
    return ch


# Blocking operations that would wait forever (or for very long) if nobody
# cancelled them.  Each takes the channels it may use, fresh per test.
BLOCKING_OPS: dict[str, Callable[[], Any]] = {
    "recv": lambda: tl.Channel(0).recv(),
    "recv-with-timeout": lambda: tl.Channel(0).recv(timeout=HANG * 3),
    "send-unbuffered": lambda: tl.Channel(0).send("x"),
    "send-full-buffer": lambda: full_channel().send("x"),
    "select-recv": lambda: tl.select(tl.Channel(0), tl.Channel(3), None),
    "select-send": lambda: tl.select((tl.Channel(0), "x"), (full_channel(), "y")),
    "select-only-none": lambda: tl.select(None, timeout=HANG * 3),
    "sleep": lambda: tl.sleep(HANG * 3),
}


# -- tl.timeout ----------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("op", sorted(BLOCKING_OPS))
def test_timeout_cancels_blocking_op_and_raises_timeout_error(op: str) -> None:
    scope = tl.timeout(0.05)
    after_op = []

    def body() -> None:
        with scope:
            BLOCKING_OPS[op]()
            after_op.append(True)

    with pytest.raises(TimeoutError) as info:
        body()
    assert after_op == []
    assert isinstance(info.value.__cause__, tl.Cancelled)
    assert scope.cancel_called
    assert scope.cancelled_caught


@pytest.mark.timeout(30)
def test_timeout_cancels_busy_loop_of_checkpoints() -> None:
    rounds = []

    def body() -> None:
        with tl.timeout(0.05):
            while True:
                tl.checkpoint()
                rounds.append(1)

    with pytest.raises(TimeoutError) as info:
        body()
    assert rounds
    assert isinstance(info.value.__cause__, tl.Cancelled)


def test_timeout_not_reached_raises_nothing() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with tl.timeout(HANG) as scope:
        ch.send(1)
        assert ch.recv() == 1
        tl.sleep(0.001)
        tl.checkpoint()
    assert not scope.cancel_called
    assert not scope.cancelled_caught


@pytest.mark.parametrize("seconds", [None, math.inf])
def test_timeout_none_means_no_deadline(seconds: float | None) -> None:
    ch: tl.Channel[int] = tl.Channel(0)
    with tl.timeout(seconds) as scope:
        assert scope.deadline == math.inf
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0.01)  # the operation's own timeout, not the scope's
        tl.sleep(0.01)
        tl.checkpoint()
    assert not scope.cancel_called
    assert tl.CancelScope().deadline == math.inf


def test_timeout_deadline_is_set_on_enter() -> None:
    scope = tl.timeout(5.0)
    assert scope.deadline == math.inf  # the clock starts on enter
    before = time.monotonic()
    with scope:
        after = time.monotonic()
        assert before + 5.0 <= scope.deadline <= after + 5.0


@pytest.mark.parametrize(
    ("seconds", "error"), [(-1, ValueError), (math.nan, ValueError), ("1", TypeError)]
)
def test_timeout_rejects_bad_seconds(seconds: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seconds"):
        tl.timeout(seconds)  # type: ignore[arg-type]


def test_timeout_body_that_overran_without_blocking_returns_normally() -> None:
    # Nothing inside was cancelled: the block finished its work, so (as with
    # trio.fail_after and asyncio.timeout) there is no TimeoutError, though
    # the deadline passed and the scope counts as cancelled.
    with tl.timeout(0.01) as scope:
        time.sleep(0.05)  # not a threadline blocking point
    assert scope.cancel_called
    assert not scope.cancelled_caught


def test_timeout_body_that_swallowed_cancelled_returns_normally() -> None:
    with tl.timeout(0.02) as scope, pytest.raises(tl.Cancelled):
        tl.sleep(HANG)
    assert scope.cancel_called
    assert not scope.cancelled_caught


@pytest.mark.timeout(60)
def test_timeout_around_recv_loses_no_value() -> None:
    """Regression: the README's ``with tl.timeout(s): v = ch.recv()`` /
    ``except TimeoutError`` lost values.  With a producer sending every 0.5 ms
    and a 0.5 ms timeout, a value received just as the deadline passed was
    followed by TimeoutError (more than half of them were lost)."""
    ch: tl.Channel[int] = tl.Channel()
    count = 2000

    def produce() -> None:
        with ch:
            for i in range(count):
                ch.send(i)
                # mostly at the deadline's edge; now and then well past it
                # (a free-threaded build wakes receivers fast enough to beat
                # the 0.5 ms deadline almost every time)
                time.sleep(0.002 if i % 20 == 0 else 0.0005)

    producer = spawn(produce)
    got: list[int] = []
    caught: list[bool] = []  # scope.cancelled_caught of each TimeoutError
    try:
        while True:
            try:
                with tl.timeout(0.0005) as scope:
                    v = ch.recv()
            except TimeoutError:
                caught.append(scope.cancelled_caught)
                continue
            except tl.ChannelClosed:
                break
            got.append(v)
    finally:
        join_all([producer])
    assert len(got) == count, f"lost {count - len(got)} of {count} values"
    assert got == list(range(count))  # every value, once, in order
    assert caught  # the deadline did fire now and then
    assert all(caught)


@pytest.mark.timeout(30)
def test_move_on_after_cancels_and_never_raises() -> None:
    ch: tl.Channel[int] = tl.Channel()
    reached = []
    with tl.move_on_after(0.05) as scope:
        ch.recv()
        reached.append("after recv")  # pragma: no cover
    assert reached == []
    assert scope.cancel_called
    assert scope.cancelled_caught
    assert math.isfinite(scope.deadline)


def test_move_on_after_that_finished_in_time() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(1)
    with tl.move_on_after(HANG) as scope:
        assert ch.recv() == 1
    assert not scope.cancel_called
    assert not scope.cancelled_caught


@pytest.mark.parametrize("seconds", [None, math.inf])
def test_move_on_after_none_means_no_deadline(seconds: float | None) -> None:
    with tl.move_on_after(seconds) as scope:
        assert scope.deadline == math.inf
        tl.checkpoint()
    assert not scope.cancelled_caught


@pytest.mark.parametrize(
    ("seconds", "error"), [(-1, ValueError), (math.nan, ValueError), ("1", TypeError)]
)
def test_move_on_after_rejects_bad_seconds(seconds: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seconds"):
        tl.move_on_after(seconds)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_move_on_after_cancels_tasks_inside_and_the_group_returns() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with tl.move_on_after(0.05) as scope, tl.TaskGroup() as tg:
        task = tg.go(ch.recv)
    assert scope.cancelled_caught
    assert task.done()
    with pytest.raises(tl.Cancelled):
        task.result()


def test_timeout_zero_cancels_at_first_blocking_point() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    ch.send(7)
    with pytest.raises(TimeoutError), tl.timeout(0):
        ch.recv()  # a value is ready, but the scope is already past its deadline
    assert ch.try_recv() == (7, True)


def test_other_exceptions_pass_through_an_expired_timeout() -> None:
    def body() -> None:
        with tl.timeout(0.01):
            time.sleep(0.03)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        body()


def test_op_timeout_shorter_than_scope_deadline_is_the_ops_own() -> None:
    ch: tl.Channel[int] = tl.Channel(0)
    with tl.timeout(HANG) as scope:
        with pytest.raises(TimeoutError) as info:
            ch.recv(timeout=0.02)
        assert info.value.__cause__ is None
        tl.checkpoint()  # the scope was not cancelled
    assert not scope.cancel_called


@pytest.mark.timeout(30)
def test_scope_deadline_shorter_than_op_timeout_cancels_the_op() -> None:
    ch: tl.Channel[int] = tl.Channel(0)
    from_op: list[BaseException] = []

    def body() -> None:
        with tl.timeout(0.02):
            try:
                ch.recv(timeout=HANG * 3)
            except BaseException as exc:
                from_op.append(exc)
                raise

    with pytest.raises(TimeoutError):
        body()
    assert len(from_op) == 1
    assert isinstance(from_op[0], tl.Cancelled)


def test_timeout_scope_cancelled_by_hand_exits_quietly() -> None:
    with tl.timeout(HANG) as scope:
        scope.cancel()
        tl.checkpoint()
    assert scope.cancel_called
    assert scope.cancelled_caught


# -- nesting -------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_outer_deadline_first_outer_raises_inner_does_not() -> None:
    outer = tl.timeout(0.05)
    inner = tl.timeout(HANG * 3)
    from_inner: list[BaseException] = []

    def body() -> None:
        with outer:
            try:
                with inner:
                    tl.Channel(0).recv()
            except BaseException as exc:
                from_inner.append(exc)
                raise

    with pytest.raises(TimeoutError) as info:
        body()
    assert len(from_inner) == 1
    assert isinstance(from_inner[0], tl.Cancelled)  # not a TimeoutError from the inner one
    assert isinstance(info.value.__cause__, tl.Cancelled)
    assert outer.cancel_called
    assert outer.cancelled_caught
    assert not inner.cancel_called
    assert not inner.cancelled_caught


@pytest.mark.timeout(30)
def test_inner_deadline_first_inner_raises_outer_goes_on() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with tl.timeout(HANG) as outer:
        with pytest.raises(TimeoutError), tl.timeout(0.05) as inner:
            ch.recv()
        assert inner.cancelled_caught
        # The outer scope is untouched: its blocking points work.
        tl.checkpoint()
        ch.send(1)
        assert ch.recv() == 1
    assert not outer.cancel_called
    assert not outer.cancelled_caught


@pytest.mark.timeout(30)
def test_cancel_scope_does_not_catch_an_outer_timeout() -> None:
    with pytest.raises(TimeoutError), tl.timeout(0.05) as outer:
        with tl.CancelScope() as inner:
            tl.sleep(HANG * 3)
    assert outer.cancelled_caught
    assert not inner.cancel_called
    assert not inner.cancelled_caught


def test_cancelling_inner_scope_leaves_outer_alone() -> None:
    with tl.CancelScope() as outer:
        with tl.CancelScope() as inner:
            inner.cancel()
            tl.checkpoint()
            pytest.fail("checkpoint did not raise")  # pragma: no cover
        assert inner.cancelled_caught
        tl.checkpoint()
    assert not outer.cancel_called
    assert not outer.cancelled_caught


def test_cancelling_outer_scope_cancels_inner_and_outer_catches() -> None:
    reached = []
    with tl.CancelScope() as outer:
        with tl.CancelScope() as inner:
            outer.cancel()
            with tl.CancelScope() as innermost:  # entered after the cancel
                reached.append("innermost")
                tl.checkpoint()
            reached.append("after innermost")  # pragma: no cover
        reached.append("after inner")  # pragma: no cover
    assert reached == ["innermost"]
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert not inner.cancel_called
    assert not innermost.cancelled_caught


def test_both_cancelled_outermost_catches() -> None:
    with tl.CancelScope() as outer:
        with tl.CancelScope() as inner:
            inner.cancel()
            outer.cancel()
            tl.checkpoint()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught


# -- which Cancelled a scope catches -----------------------------------------------


def test_scope_catches_only_its_own_cancelled() -> None:
    with pytest.raises(tl.Cancelled), tl.CancelScope() as scope:
        raise tl.Cancelled("not from any scope")
    assert not scope.cancelled_caught

    with tl.CancelScope() as other:
        other.cancel()
        with pytest.raises(tl.Cancelled) as info:
            tl.checkpoint()
    with pytest.raises(tl.Cancelled), tl.CancelScope() as scope:
        raise info.value  # belongs to `other`, which is gone
    assert not scope.cancelled_caught


def test_other_exceptions_pass_through_a_cancelled_scope() -> None:
    scope = tl.CancelScope()

    def body() -> None:
        with scope:
            scope.cancel()
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        body()
    assert not scope.cancelled_caught


def test_cancelled_is_not_caught_by_except_exception() -> None:
    with tl.CancelScope() as scope:
        scope.cancel()
        try:
            tl.checkpoint()
        except Exception:  # pragma: no cover - must not happen
            pytest.fail("Cancelled was caught as an Exception")
    assert scope.cancelled_caught


def test_cancel_before_enter_cancels_the_body() -> None:
    scope = tl.CancelScope()
    scope.cancel()
    with scope:
        tl.checkpoint()
        pytest.fail("checkpoint did not raise")  # pragma: no cover
    assert scope.cancel_called
    assert scope.cancelled_caught


def test_cancel_is_idempotent_and_harmless_after_exit() -> None:
    with tl.CancelScope() as scope:
        pass
    scope.cancel()
    scope.cancel()
    assert scope.cancel_called
    assert not scope.cancelled_caught
    tl.checkpoint()  # no scope is current any more


def test_scope_can_be_entered_only_once() -> None:
    scope = tl.CancelScope()
    with scope:
        pass
    with pytest.raises(RuntimeError), scope:
        pass  # pragma: no cover


# -- level-triggered cancellation ----------------------------------------------------


def test_cancellation_is_level_triggered() -> None:
    ready: tl.Channel[int] = tl.Channel(4)
    ready.send(1)
    closed: tl.Channel[int] = tl.Channel(1)
    closed.close()
    # Every operation that may block raises Cancelled in a cancelled scope, even
    # when it could complete at once (it checks for cancellation before anything
    # else), and has no effect.
    ops: list[Callable[[], object]] = [
        tl.checkpoint,
        lambda: tl.sleep(0),
        lambda: tl.sleep(HANG),
        ready.recv,  # a value is ready
        lambda: ready.recv(timeout=0),
        lambda: ready.send(2),  # there is room
        lambda: ready.send(2, timeout=0),
        closed.recv,  # would raise ChannelClosed
        lambda: closed.send(1),
        lambda: tl.select(ready, (ready, 3)),
        lambda: tl.select(ready, timeout=0),
        lambda: tl.select(None, timeout=0),
        lambda: list(ready),
    ]
    with tl.CancelScope() as scope:
        scope.cancel()
        for op in ops:
            with pytest.raises(tl.Cancelled):
                op()
            with pytest.raises(tl.Cancelled):  # and again: the level stays
                op()
    assert scope.cancel_called
    assert not scope.cancelled_caught  # the body swallowed every Cancelled
    assert len(ready) == 1  # nothing was sent or received
    assert ready.try_recv() == (1, True)


def test_non_blocking_operations_work_in_a_cancelled_scope() -> None:
    # Documents the implementation: try_send / try_recv / try_select / close / len
    # never block, so they are not cancellation points.
    a: tl.Channel[int] = tl.Channel(2)
    with tl.CancelScope() as scope:
        scope.cancel()
        assert a.try_send(1)
        assert tl.try_select((a, 2)) == tl.Selected(0, None, True)
        assert len(a) == 2
        assert a.try_recv() == (1, True)
        assert tl.try_select(a) == tl.Selected(0, 2, True)
        a.close()
        assert a.closed
    assert not scope.cancelled_caught


@pytest.mark.timeout(30)
def test_later_blocking_ops_raise_after_a_parked_one_was_cancelled() -> None:
    scope = tl.CancelScope()
    outcomes: list[str] = []

    def body() -> None:
        with scope:
            for _ in range(3):
                try:
                    tl.Channel(0).recv()
                except tl.Cancelled:
                    outcomes.append("cancelled")
            tl.sleep(HANG)

    worker = spawn(body)
    wait_parked(scope)
    scope.cancel()
    join_all([worker])
    assert outcomes == ["cancelled"] * 3
    assert scope.cancelled_caught


# -- cancel() from another thread ------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("op", sorted(BLOCKING_OPS))
def test_cancel_from_another_thread_wakes_a_parked_op(op: str) -> None:
    scope = tl.CancelScope()
    reached: list[str] = []

    def body() -> None:
        with scope:
            try:
                BLOCKING_OPS[op]()
                reached.append("completed")
            except tl.Cancelled:
                reached.append("cancelled")
                raise

    worker = spawn(body)
    wait_parked(scope)
    canceller = spawn(scope.cancel)
    join_all([canceller, worker], timeout=HANG)
    assert reached == ["cancelled"]
    assert scope.cancel_called
    assert scope.cancelled_caught


@pytest.mark.timeout(30)
def test_cancelled_recv_and_send_leave_the_channel_consistent() -> None:
    ch: tl.Channel[str] = tl.Channel(0)
    scopes = [tl.CancelScope() for _ in range(4)]

    def receiver(scope: tl.CancelScope) -> None:
        with scope:
            ch.recv()
            pytest.fail("recv returned")  # pragma: no cover

    workers = [spawn(receiver, scope) for scope in scopes]
    for scope in scopes:
        wait_parked(scope)
    for scope in scopes:
        scope.cancel()
    join_all(workers)
    assert all(scope.cancelled_caught for scope in scopes)
    # No cancelled receiver is left to swallow a value.
    assert not ch.try_send("lost?")

    send_scope = tl.CancelScope()

    def sender() -> None:
        with send_scope:
            ch.send("unsent")

    worker = spawn(sender)
    wait_parked(send_scope)
    send_scope.cancel()
    join_all([worker])
    assert send_scope.cancelled_caught
    # The cancelled send delivered nothing and left nothing behind.
    assert ch.try_recv() == (None, False)

    # The channel still works.
    late = spawn(ch.send, "ok")
    assert ch.recv(timeout=HANG) == "ok"
    join_all([late])


# -- tl.checkpoint ------------------------------------------------------------------


def test_checkpoint_outside_any_scope_returns() -> None:
    tl.checkpoint()


def test_checkpoint_raises_only_after_cancel() -> None:
    with tl.CancelScope() as scope:
        tl.checkpoint()
        scope.cancel()
        with pytest.raises(tl.Cancelled):
            tl.checkpoint()
    assert not scope.cancelled_caught


def test_checkpoint_notices_a_passed_deadline() -> None:
    def body() -> None:
        with tl.timeout(0.01):
            tl.checkpoint()
            time.sleep(0.03)
            tl.checkpoint()
            pytest.fail("checkpoint did not raise")  # pragma: no cover

    with pytest.raises(TimeoutError) as info:
        body()
    assert isinstance(info.value.__cause__, tl.Cancelled)


def test_checkpoint_sees_a_cancel_from_another_thread() -> None:
    with tl.CancelScope() as scope:
        join_all([spawn(scope.cancel)])
        with pytest.raises(tl.Cancelled):
            tl.checkpoint()
    assert not scope.cancelled_caught


# -- tl.sleep ------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.02, 0.05])
def test_sleep_returns_after_its_time(seconds: float) -> None:
    start = time.monotonic()
    tl.sleep(seconds)
    assert time.monotonic() - start >= seconds


def test_sleep_inside_a_scope_returns_after_its_time() -> None:
    with tl.CancelScope() as scope:
        start = time.monotonic()
        tl.sleep(0.03)
        assert time.monotonic() - start >= 0.03
    assert not scope.cancel_called


def test_sleep_zero_returns() -> None:
    tl.sleep(0)
    tl.sleep(0.0)


@pytest.mark.parametrize(("seconds", "error"), [(-0.1, ValueError), ("1", TypeError)])
def test_sleep_rejects_bad_seconds(seconds: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seconds"):
        tl.sleep(seconds)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_sleep_raises_cancelled_when_cancelled() -> None:
    scope = tl.CancelScope()
    slept: list[str] = []

    def body() -> None:
        with scope:
            tl.sleep(HANG * 3)
            slept.append("returned")  # pragma: no cover

    worker = spawn(body)
    wait_parked(scope)
    scope.cancel()
    join_all([worker], timeout=HANG)
    assert slept == []
    assert scope.cancelled_caught


@pytest.mark.timeout(30)
def test_sleep_longer_than_timeout_is_cut_short() -> None:
    with pytest.raises(TimeoutError) as info, tl.timeout(0.03):
        tl.sleep(HANG * 3)
    assert isinstance(info.value.__cause__, tl.Cancelled)


def test_a_task_scope_made_cheaply_matches_a_plain_scope() -> None:
    """``CancelScope._unentered()`` (used for every task) must start in the
    same state as ``CancelScope()``, slot for slot, lock aside."""
    plain, cheap = CancelScope(), CancelScope._unentered()
    for name in CancelScope.__slots__:
        if name in ("__weakref__", "_lock"):
            continue
        assert getattr(cheap, name) == getattr(plain, name), name
    assert cheap._lock is not plain._lock
    assert not cheap._lock.locked()


class _SetThenInterrupted:
    """``_current`` whose first ``set()`` is followed by a Ctrl-C, as if one
    landed just as the call returned."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.armed = True

    def get(self) -> Any:
        return self.real.get()

    def set(self, value: Any) -> Any:
        token = self.real.set(value)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return token

    def reset(self, token: Any) -> None:
        self.real.reset(token)


@pytest.mark.parametrize("nested", [False, True])
def test_ctrl_c_while_a_scope_is_entered_leaves_no_scope_current(
    nested: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (the Ctrl-C storm left one current): an interrupt just
    after ``__enter__`` made the scope current, before the ``with`` block
    began, left it current for good, since no ``__exit__`` runs; every later
    operation in the thread then ran under a scope nobody had entered."""
    from threadline._core import _scope  # noqa: PLC0415

    real = _scope._current
    with CancelScope() if nested else contextlib.nullcontext() as outer:
        monkeypatch.setattr(_scope, "_current", _SetThenInterrupted(real))
        inner = CancelScope()
        with pytest.raises(KeyboardInterrupt), inner:
            pytest.fail("the block ran")
        monkeypatch.setattr(_scope, "_current", real)
        assert real.get() is outer
        if outer is not None:
            assert not outer._children, "the scope that never began is still a child"
    assert real.get() is None
