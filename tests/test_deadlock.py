"""Deadlock detection in TaskGroup: reported when certain, never otherwise."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join_all, spawn
from threadline._core import _deadlock


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


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


# -- the owner blocked inside the body ---------------------------------------------------------


def test_owner_blocked_in_the_body_on_a_channel_nobody_closes() -> None:
    """Regression: the classic forgotten ``close()``: the producer task returned,
    the owner iterates over its output for good.  Nothing was reported (only an
    owner waiting at the end of the block was watched): the program hung."""
    out: tl.Channel[int] = tl.Channel()

    def produce() -> None:
        for i in range(3):
            out.send(i)  # ...and no out.close()

    got: list[int] = []
    with pytest.raises(tl.DeadlockError) as info:
        with tl.TaskGroup() as tg:
            tg.go(produce)
            got.extend(out)  # blocks for good after three values
    assert got == [0, 1, 2]
    message = str(info.value)
    assert "the group's owner and tasks are all blocked" in message
    assert f"owner MainThread waits in Channel iteration at {__file__}:" in message
    assert info.value.blocked[0].thread == "MainThread"
    assert not out._recvq  # the owner's receive was withdrawn


def test_owner_blocked_in_the_body_while_its_tasks_wait_on_each_other() -> None:
    a: tl.Channel[int] = tl.Channel()
    b: tl.Channel[int] = tl.Channel()
    results: tl.Channel[int] = tl.Channel()
    with pytest.raises(tl.DeadlockError) as info:
        with tl.TaskGroup() as tg:
            t1 = tg.go(lambda: a.send(b.recv()))
            t2 = tg.go(lambda: b.send(a.recv()))
            results.recv()
    message = str(info.value)
    assert f"owner MainThread waits in Channel.recv at {__file__}:" in message
    assert f"task {t1.name} waits in Channel.recv" in message
    assert f"task {t2.name} waits in Channel.recv" in message
    assert len(info.value.blocked) == 3
    for task in (t1, t2):
        assert task.done()
        with pytest.raises(tl.Cancelled):
            task.result()


def test_owner_blocked_in_a_nested_groups_body_reports_to_the_inner_group() -> None:
    """The innermost group this thread owns reports; its error is then an
    exception in the outer group's body."""
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(ExceptionGroup) as info:
        with tl.TaskGroup() as outer:
            outer.go(ch.recv)
            with tl.TaskGroup():
                ch.recv()  # two receivers, no sender
    [error] = info.value.exceptions
    assert isinstance(error, tl.DeadlockError)
    assert "owner MainThread waits in Channel.recv" in str(error)


def test_no_alarm_while_the_owner_waits_in_the_body_for_a_slow_task() -> None:
    out: tl.Channel[int] = tl.Channel()

    def slow() -> None:
        time.sleep(0.5)  # invisible to threadline: it could act afterwards
        out.send(1)
        out.close()

    with tl.TaskGroup() as tg:
        tg.go(slow)
        assert list(out) == [1]


def test_no_alarm_for_an_owner_waiting_in_the_body_with_a_timeout() -> None:
    ch: tl.Channel[int] = tl.Channel()
    other: tl.Channel[int] = tl.Channel()
    with tl.TaskGroup() as tg:
        got = tg.go(ch.recv)  # blocked for good...
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.5)  # ...but the owner's wait ends by itself
        ch.send(2)
    assert got.result() == 2


# -- the program's only thread ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["recv", "send", "iteration", "select", "waitgroup", "once"])
def test_only_thread_blocked_for_good_raises_deadlock_error(kind: str) -> None:
    """Regression: ``tl.Channel().recv()`` with no other thread hung for ever;
    Go says "all goroutines are asleep"."""
    ch: tl.Channel[int] = tl.Channel()
    wg = tl.WaitGroup()
    wg.add(1)
    expected = {
        "recv": "Channel.recv",
        "send": "Channel.send",
        "iteration": "Channel iteration",
        "select": "select",
        "waitgroup": "WaitGroup.wait",
        "once": "Once.do",
    }[kind]
    with pytest.raises(tl.DeadlockError) as info:
        if kind == "recv":
            ch.recv()
        elif kind == "send":
            ch.send(1)
        elif kind == "iteration":
            next(ch)
        elif kind == "select":
            tl.select(ch, (tl.Channel[int](), 1), None)
        elif kind == "waitgroup":
            wg.wait()
        else:
            once = tl.Once()
            once.do(lambda: once_in_thread(once))
    message = str(info.value)
    assert "all goroutines are asleep" in message
    if kind == "once":  # the main thread runs fn (blocked); another waits for it
        assert f"MainThread waits in Channel.recv at {__file__}:" in message
        assert "waits in Once.do" in message
    else:
        assert f"MainThread waits in {expected} at {__file__}:" in message
    assert info.value.blocked[0].thread == "MainThread"
    assert (ch._recvq, ch._sendq) == (deque(), deque())  # withdrawn: no effect
    ch.close()


def once_in_thread(once: tl.Once) -> None:
    """Run ``once.do`` in another thread, which waits for this one for good."""
    waiting = spawn(once.do, lambda: None)  # parks until the first do returns
    wait_until(lambda: once._waiters)
    ch: tl.Channel[int] = tl.Channel()
    try:
        ch.recv()  # ...and the first do never returns
    finally:
        waiting.join(0)


def test_deadlock_error_lists_every_thread_blocked_for_good() -> None:
    ch: tl.Channel[int] = tl.Channel()
    other = spawn(ch.send, 1, name="plain-sender")  # a plain thread, blocked for good
    wait_until(lambda: ch._sendq)
    with pytest.raises(tl.DeadlockError) as info:
        tl.Channel[int]().recv()
    assert "plain-sender waits in Channel.send" in str(info.value)
    assert ch.recv() == 1
    join_all([other])


def test_no_alarm_for_the_main_thread_while_another_thread_can_act() -> None:
    ch: tl.Channel[int] = tl.Channel()

    def later() -> None:
        time.sleep(0.5)
        ch.send(4)

    feeder = spawn(later)
    assert ch.recv() == 4
    join_all([feeder])


def test_no_alarm_for_a_thread_that_is_not_the_main_thread() -> None:
    """Only the main thread and groups' owners watch; a plain thread blocked for
    good while the main thread runs (or sleeps outside threadline) is left alone."""
    ch: tl.Channel[int] = tl.Channel()
    blocked = spawn(ch.recv)
    time.sleep(0.3)
    assert blocked.is_alive()
    ch.send(5)
    assert join_all([blocked]) == [5]


def test_a_script_whose_only_thread_blocks_for_good_gets_deadlock_error(tmp_path: Any) -> None:
    script = tmp_path / "stuck.py"
    script.write_text("import threadline as tl\nch = tl.Channel()\nch.recv()\n")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1
    assert "threadline.DeadlockError: deadlock: every thread is blocked for good" in done.stderr
    assert f"MainThread waits in Channel.recv at {script}:3" in done.stderr


# -- signal handlers ----------------------------------------------------------------------------


def test_no_alarm_while_a_signal_handler_may_feed_the_channel(tmp_path: Any) -> None:
    """The shutdown pattern: idle workers and a main thread that waits for a
    SIGTERM handler to say stop.  The handler can run at any moment (as Go's
    signal.Notify keeps a goroutine awake): no deadlock."""
    script = tmp_path / "serve.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, sys
            import threadline as tl

            jobs = tl.Channel()
            stop = tl.Channel(1)
            signal.signal(signal.SIGTERM, lambda *_: stop.try_send("stop"))

            def worker():
                for job in jobs:
                    pass

            with tl.TaskGroup() as tg:
                for _ in range(3):
                    tg.go(worker)
                print("ready", flush=True)
                print(stop.recv(), flush=True)  # every thread parked; only SIGTERM helps
                jobs.close()
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(1.0)  # long enough for the watcher to look several times
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert (out, child.returncode) == ("stop\n", 0), err


def test_a_signal_handler_counts_as_able_to_act() -> None:
    ch: tl.Channel[int] = tl.Channel()
    parked = spawn(ch.recv, name="parked")
    wait_until(lambda: ch._recvq)
    time.sleep(0.05)
    try:
        assert _deadlock.find_deadlock() is not None  # only timer signals' handlers (pytest's)
        old = signal.signal(signal.SIGUSR1, lambda *_: ch.try_send(1))
        try:
            assert _deadlock.find_deadlock() is None
        finally:
            signal.signal(signal.SIGUSR1, old)
        assert _deadlock.find_deadlock() is not None
    finally:
        ch.send(0)
        join_all([parked])
