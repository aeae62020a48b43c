"""Deadlock detection in TaskGroup: reported when certain, never otherwise."""

from __future__ import annotations

import threading
import time

import pytest

import threadline as tl
from tests.helpers import join_all, spawn

pytestmark = pytest.mark.timeout(20)


def test_two_tasks_waiting_on_each_other() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()

    def left() -> None:
        a.send(b.recv())

    def right() -> None:
        b.send(a.recv())

    with pytest.raises(tl.DeadlockError) as info:
        with tl.TaskGroup() as tg:
            t1 = tg.go(left)
            t2 = tg.go(right)
    message = str(info.value)
    assert "deadlock" in message
    assert f"task {t1.name} waits in Channel.recv at {__file__}:" in message
    assert f"task {t2.name} waits in Channel.recv at {__file__}:" in message
    assert len(info.value.blocked) == 2
    assert "threading.py" not in message
    for task in (t1, t2):  # cancelled and finished
        assert task.done()
        with pytest.raises(tl.Cancelled):
            task.result()


@pytest.mark.parametrize("kind", ["recv", "send", "select", "iteration", "waitgroup", "result"])
def test_single_blocked_operation(kind: str) -> None:
    ch: tl.Channel[int] = tl.Channel()
    wg = tl.WaitGroup()
    wg.add(1)
    expected = {
        "recv": "Channel.recv",
        "send": "Channel.send",
        "select": "select",
        "iteration": "Channel iteration",
        "waitgroup": "WaitGroup.wait",
        "result": "Task.result",
    }[kind]

    with pytest.raises(tl.DeadlockError, match=expected):
        with tl.TaskGroup() as tg:
            if kind == "recv":
                tg.go(ch.recv)
            elif kind == "send":
                tg.go(ch.send, 1)
            elif kind == "select":
                tg.go(tl.select, ch, None, (tl.Channel[int](), 2))
            elif kind == "iteration":
                tg.go(list, ch)
            elif kind == "waitgroup":
                tg.go(wg.wait)
            else:
                stuck = tg.go(ch.recv)
                tg.go(stuck.result)


def test_no_alarm_while_a_task_sleeps_outside_threadline() -> None:
    ch: tl.Channel[int] = tl.Channel()

    def later() -> None:
        time.sleep(0.5)  # invisible to threadline: it could act afterwards
        ch.send(1)

    with tl.TaskGroup() as tg:
        got = tg.go(ch.recv)
        tg.go(later)
    assert got.result() == 1


def test_no_alarm_while_a_task_waits_on_a_plain_lock() -> None:
    ch: tl.Channel[int] = tl.Channel()
    lock = threading.Lock()
    lock.acquire()

    def locked_then_send() -> None:
        with lock:  # a plain lock: threadline cannot tell who will release it
            ch.send(7)

    releaser = threading.Timer(0.5, lock.release)
    releaser.start()
    try:
        with tl.TaskGroup() as tg:
            got = tg.go(ch.recv)
            tg.go(locked_then_send)
    finally:
        releaser.join()
    assert got.result() == 7


def test_no_alarm_while_an_outside_thread_can_feed() -> None:
    ch: tl.Channel[int] = tl.Channel()

    def feed() -> None:
        time.sleep(0.5)
        ch.send(3)

    feeder = spawn(feed)
    with tl.TaskGroup() as tg:
        got = tg.go(ch.recv)
    join_all([feeder])
    assert got.result() == 3


def test_no_alarm_for_waits_with_a_timeout() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(ExceptionGroup) as info:
        with tl.TaskGroup() as tg:
            tg.go(ch.recv, timeout=0.5)  # ends by itself: not a deadlock
    assert info.group_contains(TimeoutError)  # type: ignore[attr-defined]


def test_enclosing_deadline_wins_over_detection() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(TimeoutError):
        with tl.timeout(0.5):
            with tl.TaskGroup() as tg:
                tg.go(ch.recv)


def test_deadlock_in_a_nested_group() -> None:
    """Whichever owner notices first reports it: the outer group directly,
    or the inner one, whose error then fails the outer group."""
    ch: tl.Channel[int] = tl.Channel()

    def inner() -> None:
        with tl.TaskGroup() as tg:
            tg.go(ch.recv)

    def run() -> None:
        with tl.TaskGroup() as outer:
            outer.go(inner)

    with pytest.raises((tl.DeadlockError, ExceptionGroup)) as info:
        run()
    error = info.value
    if isinstance(error, ExceptionGroup):
        assert error.subgroup(tl.DeadlockError) is not None
    else:
        assert "TaskGroup.__exit__" in str(error)
        assert "Channel.recv" in str(error)
    assert "threading.py" not in str(error)


def test_group_is_usable_again_after_a_deadlock() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(tl.DeadlockError):
        with tl.TaskGroup() as tg:
            tg.go(ch.recv)
    with tl.TaskGroup() as tg:  # nothing left stuck in the pool or channel
        got = tg.go(ch.recv)
        tg.go(ch.send, 5)
    assert got.result() == 5


@pytest.mark.usefixtures("tiny_switch")
def test_busy_pipeline_never_reported() -> None:
    """Many short waits that always find a partner: no false alarm."""
    ch: tl.Channel[int] = tl.Channel()
    out: tl.Channel[int] = tl.Channel(4)

    def produce() -> None:
        with ch:
            for i in range(3000):
                ch.send(i)

    def relay() -> None:
        for v in ch:
            out.send(v)

    def consume() -> int:
        return sum(out.recv() for _ in range(3000))

    with tl.TaskGroup() as tg:
        tg.go(produce)
        tg.go(relay)
        total = tg.go(consume)
    assert total.result() == sum(range(3000))
