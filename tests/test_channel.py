"""Unit tests of the Channel rules in the contract.

To know that a thread is parked (rather than sleeping and hoping), the tests
look at a channel's wait queues under its lock: that is the only private
state they touch.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import threadline as tl
from tests.helpers import join, parked, spawn, wait_parked

CAPACITIES = [0, 1, 3, math.inf]
HANG_GUARD = 10.0


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.001)


def fill(ch: tl.Channel[Any], values: list[Any]) -> None:
    for value in values:
        assert ch.try_send(value)


# -- capacity -----------------------------------------------------------------


def test_default_capacity_is_unbuffered() -> None:
    ch: tl.Channel[int] = tl.Channel()
    assert ch.capacity == 0
    assert not ch.try_send(1)
    assert len(ch) == 0


@pytest.mark.parametrize("capacity", [0, 1, 7, math.inf])
def test_capacity_property(capacity: float) -> None:
    assert tl.Channel(capacity).capacity == capacity
    assert tl.Channel(capacity=capacity).capacity == capacity


def test_buffered_channel_accepts_exactly_capacity_values() -> None:
    ch: tl.Channel[int] = tl.Channel(3)
    assert [ch.try_send(i) for i in range(3)] == [True, True, True]
    assert not ch.try_send(3)
    with pytest.raises(TimeoutError):
        ch.send(3, timeout=0)
    assert len(ch) == 3
    assert [ch.recv(timeout=0) for _ in range(3)] == [0, 1, 2]


def test_unbounded_channel_never_blocks_a_sender() -> None:
    ch: tl.Channel[int] = tl.Channel(math.inf)
    for i in range(10_000):
        ch.send(i, timeout=0)
    assert len(ch) == 10_000
    assert [ch.recv(timeout=0) for _ in range(10_000)] == list(range(10_000))


def test_generic_subscription() -> None:
    ch = tl.Channel[int]()
    assert isinstance(ch, tl.Channel)
    assert ch.capacity == 0
    buffered = tl.Channel[str](2)
    buffered.send("a")
    assert buffered.recv() == "a"


# -- try_send / try_recv --------------------------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_try_recv_on_empty_channel(capacity: float) -> None:
    assert tl.Channel(capacity).try_recv() == (None, False)


@pytest.mark.parametrize("capacity", [1, 3, math.inf])
def test_try_recv_returns_buffered_value(capacity: float) -> None:
    ch: tl.Channel[str] = tl.Channel(capacity)
    ch.send("x")
    assert ch.try_recv() == ("x", True)
    assert ch.try_recv() == (None, False)


def test_none_is_a_value_like_any_other() -> None:
    ch: tl.Channel[None] = tl.Channel(2)
    assert ch.try_send(None)
    assert ch.try_recv() == (None, True)
    assert ch.try_recv() == (None, False)


def test_values_are_passed_by_reference() -> None:
    ch: tl.Channel[object] = tl.Channel(1)
    value = object()
    ch.send(value)
    assert ch.recv() is value


def test_try_send_hands_value_to_parked_receiver() -> None:
    ch: tl.Channel[int] = tl.Channel()
    receiver = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=1)
    assert ch.try_send(5)
    assert join([receiver]) == [5]


def test_try_recv_takes_value_from_parked_sender() -> None:
    ch: tl.Channel[int] = tl.Channel()
    sender = spawn(ch.send, 6, timeout=HANG_GUARD)
    wait_parked(ch, senders=1)
    assert ch.try_recv() == (6, True)
    join([sender])


def test_timeout_zero_succeeds_when_a_partner_is_parked() -> None:
    ch: tl.Channel[int] = tl.Channel()
    sender = spawn(ch.send, 1, timeout=HANG_GUARD)
    wait_parked(ch, senders=1)
    assert ch.recv(timeout=0) == 1
    join([sender])
    receiver = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=1)
    ch.send(2, timeout=0)
    assert join([receiver]) == [2]


# -- blocking send and recv -------------------------------------------------------


def test_unbuffered_send_returns_only_after_receiver_took_value() -> None:
    ch: tl.Channel[str] = tl.Channel()
    log: list[str] = []

    def sender() -> None:
        ch.send("v", timeout=HANG_GUARD)
        log.append("sent")

    worker = spawn(sender)
    wait_parked(ch, senders=1)
    assert log == []
    assert len(ch) == 0
    assert ch.recv(timeout=HANG_GUARD) == "v"
    join([worker])
    assert log == ["sent"]


def test_unbuffered_send_without_receiver_does_not_complete() -> None:
    ch: tl.Channel[int] = tl.Channel()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0.05)


@pytest.mark.parametrize("capacity", [1, 3])
def test_send_blocks_while_buffer_is_full(capacity: int) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    fill(ch, list(range(capacity)))
    log: list[str] = []

    def sender() -> None:
        ch.send(capacity, timeout=HANG_GUARD)
        log.append("sent")

    worker = spawn(sender)
    wait_parked(ch, senders=1)
    assert log == []
    assert len(ch) == capacity
    assert ch.recv() == 0
    join([worker])
    assert log == ["sent"]
    assert len(ch) == capacity
    assert [ch.recv(timeout=0) for _ in range(capacity)] == list(range(1, capacity + 1))


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_recv_blocks_until_a_value_arrives(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    receiver = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=1)
    assert receiver.is_alive()
    ch.send(42, timeout=HANG_GUARD)
    assert join([receiver]) == [42]


# -- close ----------------------------------------------------------------------


def test_close_is_idempotent() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    assert not ch.closed
    ch.close()
    ch.close()
    assert ch.closed


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_send_after_close_raises_and_delivers_nothing(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    ch.close()
    with pytest.raises(tl.ChannelClosed):
        ch.send(1)
    with pytest.raises(tl.ChannelClosed):
        ch.send(1, timeout=0)
    with pytest.raises(tl.ChannelClosed):
        ch.try_send(1)
    assert len(ch) == 0
    with pytest.raises(tl.ChannelClosed):
        ch.recv(timeout=0)


@pytest.mark.parametrize("capacity", [2, 5, math.inf])
def test_buffered_values_are_received_after_close(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    fill(ch, [1, 2])
    ch.close()
    assert ch.closed
    assert len(ch) == 2
    assert ch.recv() == 1
    assert ch.try_recv() == (2, True)
    with pytest.raises(tl.ChannelClosed):
        ch.recv()
    with pytest.raises(tl.ChannelClosed):
        ch.try_recv()


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_recv_on_closed_drained_channel_raises_rather_than_timing_out(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    ch.close()
    for timeout in (None, 0, 0.01, HANG_GUARD):
        with pytest.raises(tl.ChannelClosed):
            ch.recv(timeout=timeout)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_wakes_every_parked_receiver(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)

    def receiver() -> str:
        try:
            ch.recv(timeout=HANG_GUARD)
        except tl.ChannelClosed:
            return "closed"
        return "received"

    workers = []
    for i in range(3):
        workers.append(spawn(receiver))
        wait_parked(ch, receivers=i + 1)
    ch.close()
    assert join(workers) == ["closed"] * 3
    wait_parked(ch)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", [0, 1, 2])
def test_close_wakes_parked_senders_whose_values_are_not_delivered(capacity: int) -> None:
    ch: tl.Channel[str] = tl.Channel(capacity)
    buffered = [f"b{i}" for i in range(capacity)]
    fill(ch, buffered)

    def sender(value: str) -> str:
        try:
            ch.send(value, timeout=HANG_GUARD)
        except tl.ChannelClosed:
            return "closed"
        return "sent"

    workers = []
    for i in range(3):
        workers.append(spawn(sender, f"s{i}"))
        wait_parked(ch, senders=i + 1)
    ch.close()
    assert join(workers) == ["closed"] * 3
    assert list(ch) == buffered


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", [0, 1, 4])
def test_close_under_load_loses_and_duplicates_nothing(capacity: int, tiny_switch: None) -> None:
    ch: tl.Channel[tuple[int, int]] = tl.Channel(capacity)

    def sender(k: int) -> list[tuple[int, int]]:
        sent: list[tuple[int, int]] = []
        for i in itertools.count():
            try:
                ch.send((k, i), timeout=HANG_GUARD)
            except tl.ChannelClosed:
                return sent
            sent.append((k, i))
        raise AssertionError("unreachable")

    senders = [spawn(sender, k) for k in range(3)]
    received = [ch.recv(timeout=HANG_GUARD) for _ in range(300)]
    ch.close()
    received += list(ch)
    sent = join(senders)
    assert sorted(received) == sorted(value for values in sent for value in values)


# -- timeouts -----------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 0.02])
def test_recv_timeout_raises_and_leaves_no_receiver_behind(timeout: float) -> None:
    ch: tl.Channel[int] = tl.Channel()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=timeout)
    assert time.monotonic() - start >= timeout
    assert not ch.try_send(1)
    wait_parked(ch)


@pytest.mark.parametrize("timeout", [0, 0.02])
def test_unbuffered_send_timeout_delivers_nothing(timeout: float) -> None:
    ch: tl.Channel[int] = tl.Channel()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=timeout)
    assert time.monotonic() - start >= timeout
    assert ch.try_recv() == (None, False)
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)


@pytest.mark.parametrize("timeout", [0, 0.02])
def test_buffered_send_timeout_delivers_nothing(timeout: float) -> None:
    ch: tl.Channel[int] = tl.Channel(2)
    fill(ch, [1, 2])
    with pytest.raises(TimeoutError):
        ch.send(3, timeout=timeout)
    assert len(ch) == 2
    assert [ch.recv(), ch.recv()] == [1, 2]
    assert ch.try_recv() == (None, False)


def test_recv_timed_out_does_not_steal_a_later_value() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)
    ch.send(7)
    assert len(ch) == 1
    assert ch.recv() == 7


def test_partner_before_timeout_wins() -> None:
    ch: tl.Channel[int] = tl.Channel()
    receiver = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=1)
    ch.send(3, timeout=HANG_GUARD)
    assert join([receiver]) == [3]


@pytest.mark.timeout(30)
def test_huge_finite_timeout_waits_like_none() -> None:
    ch: tl.Channel[int] = tl.Channel()
    receiver = spawn(ch.recv, timeout=1e12)
    wait_until(lambda: parked(ch) == (1, 0) or not receiver.is_alive(), "receiver parked")
    ch.try_send(1)
    assert join([receiver]) == [1]


@pytest.mark.timeout(30)
def test_timed_out_operations_deliver_nothing_under_contention(tiny_switch: None) -> None:
    ch: tl.Channel[tuple[int, int]] = tl.Channel()
    senders_done = threading.Event()

    def sender(k: int) -> list[tuple[int, int]]:
        sent = []
        for i in range(300):
            try:
                ch.send((k, i), timeout=0.0005)
            except TimeoutError:
                continue
            sent.append((k, i))
        return sent

    def receiver() -> list[tuple[int, int]]:
        got = []
        while not senders_done.is_set():
            try:
                got.append(ch.recv(timeout=0.0005))
            except TimeoutError:
                pass
        return got

    receivers = [spawn(receiver) for _ in range(2)]
    sent = join([spawn(sender, k) for k in range(3)])
    senders_done.set()
    received = join(receivers)
    assert sorted(v for vs in received for v in vs) == sorted(v for vs in sent for v in vs)


# -- ordering -------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_blocked_receivers_are_served_first_come_first_served(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)
    workers = []
    for i in range(4):
        workers.append(spawn(ch.recv, timeout=HANG_GUARD))
        wait_parked(ch, receivers=i + 1)
    for value in range(4):
        ch.send(value, timeout=HANG_GUARD)
    assert join(workers) == [0, 1, 2, 3]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", [0, 1, 2])
def test_blocked_senders_are_served_first_come_first_served(capacity: int) -> None:
    ch: tl.Channel[str] = tl.Channel(capacity)
    buffered = [f"b{i}" for i in range(capacity)]
    fill(ch, buffered)
    workers = []
    for i in range(4):
        workers.append(spawn(ch.send, f"s{i}", timeout=HANG_GUARD))
        wait_parked(ch, senders=i + 1)
    received = [ch.recv(timeout=HANG_GUARD) for _ in range(capacity + 4)]
    join(workers)
    assert received == [*buffered, "s0", "s1", "s2", "s3"]


@pytest.mark.timeout(30)
def test_sender_that_timed_out_loses_its_place_in_line() -> None:
    ch: tl.Channel[str] = tl.Channel(1)
    fill(ch, ["b"])
    first = spawn(ch.send, "s0", timeout=HANG_GUARD)
    wait_parked(ch, senders=1)
    quitter = spawn(ch.send, "s1", timeout=0.05)
    wait_parked(ch, senders=2)
    last = spawn(ch.send, "s2", timeout=HANG_GUARD)
    quitter.join(HANG_GUARD)
    assert isinstance(quitter.error, TimeoutError)
    wait_parked(ch, senders=2)
    assert [ch.recv(timeout=HANG_GUARD) for _ in range(3)] == ["b", "s0", "s2"]
    join([first, last])
    assert ch.try_recv() == (None, False)


@pytest.mark.timeout(30)
def test_receiver_that_timed_out_loses_its_place_in_line() -> None:
    ch: tl.Channel[str] = tl.Channel()
    first = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=1)
    quitter = spawn(ch.recv, timeout=0.05)
    wait_parked(ch, receivers=2)
    quitter.join(HANG_GUARD)
    assert isinstance(quitter.error, TimeoutError)
    last = spawn(ch.recv, timeout=HANG_GUARD)
    wait_parked(ch, receivers=2)
    ch.send("a", timeout=HANG_GUARD)
    ch.send("b", timeout=HANG_GUARD)
    assert join([first, last]) == ["a", "b"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_values_from_one_sender_arrive_in_order(capacity: float, tiny_switch: None) -> None:
    ch: tl.Channel[tuple[int, int]] = tl.Channel(capacity)
    count = 300

    def sender(k: int) -> None:
        for i in range(count):
            ch.send((k, i), timeout=HANG_GUARD)

    senders = [spawn(sender, k) for k in range(4)]
    received = [ch.recv(timeout=HANG_GUARD) for _ in range(4 * count)]
    join(senders)
    for k in range(4):
        assert [i for j, i in received if j == k] == list(range(count))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_each_value_is_received_exactly_once(capacity: float, tiny_switch: None) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)

    def sender(k: int) -> None:
        for i in range(250):
            ch.send(k * 1000 + i, timeout=HANG_GUARD)

    receivers = [spawn(list, ch) for _ in range(3)]
    join([spawn(sender, k) for k in range(4)])
    ch.close()
    received = [v for values in join(receivers) for v in values]
    assert sorted(received) == [k * 1000 + i for k in range(4) for i in range(250)]


# -- protocols and introspection --------------------------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_iteration_stops_when_closed_and_drained(capacity: float) -> None:
    ch: tl.Channel[int] = tl.Channel(capacity)

    def producer() -> None:
        with ch:
            for i in range(50):
                ch.send(i, timeout=HANG_GUARD)

    consumer = spawn(list, ch)
    join([spawn(producer), consumer])
    assert consumer.result == list(range(50))
    assert list(ch) == []


def test_with_closes_on_exit() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with ch as entered:
        assert entered is ch
        ch.send(1)
        assert not ch.closed
    assert ch.closed
    assert ch.recv() == 1


def test_with_closes_on_exception_and_does_not_swallow_it() -> None:
    ch: tl.Channel[int] = tl.Channel(1)
    with pytest.raises(KeyError), ch:
        raise KeyError("boom")
    assert ch.closed


def test_len_counts_buffered_values_only() -> None:
    unbuffered: tl.Channel[int] = tl.Channel()
    sender = spawn(unbuffered.send, 1, timeout=HANG_GUARD)
    wait_parked(unbuffered, senders=1)
    assert len(unbuffered) == 0
    assert unbuffered.recv() == 1
    join([sender])

    ch: tl.Channel[int] = tl.Channel(4)
    fill(ch, [1, 2, 3])
    assert len(ch) == 3
    ch.recv()
    assert len(ch) == 2
    ch.close()
    assert len(ch) == 2


def test_repr_shows_capacity_length_and_state() -> None:
    ch: tl.Channel[int] = tl.Channel(3)
    fill(ch, [1, 2])
    text = repr(ch)
    assert "Channel" in text
    assert "3" in text
    assert "2" in text
    assert "closed" not in text
    ch.close()
    assert "closed" in repr(ch)
    assert "inf" in repr(tl.Channel(math.inf))


# -- asyncio ---------------------------------------------------------------------------


def test_asend_and_arecv_between_tasks() -> None:
    async def main() -> list[int]:
        ch: tl.Channel[int] = tl.Channel()

        async def producer() -> None:
            with ch:
                for i in range(20):
                    await ch.asend(i)

        task = asyncio.create_task(producer())
        got = [v async for v in ch]
        await task
        return got

    assert asyncio.run(main()) == list(range(20))


@pytest.mark.timeout(30)
def test_arecv_woken_by_a_thread() -> None:
    ch: tl.Channel[str] = tl.Channel()

    async def main() -> str:
        return await ch.arecv(timeout=HANG_GUARD)

    def feeder() -> None:
        wait_parked(ch, receivers=1)
        ch.send("hi", timeout=HANG_GUARD)

    worker = spawn(feeder)
    assert asyncio.run(main()) == "hi"
    join([worker])


def test_async_operations_on_closed_and_full_channels() -> None:
    async def main() -> None:
        ch: tl.Channel[int] = tl.Channel(1)
        await ch.asend(1)
        with pytest.raises(TimeoutError):
            await ch.asend(2, timeout=0.01)
        ch.close()
        with pytest.raises(tl.ChannelClosed):
            await ch.asend(3)
        assert await ch.arecv() == 1
        with pytest.raises(tl.ChannelClosed):
            await ch.arecv()

    asyncio.run(main())


def test_an_empty_channel_is_still_true() -> None:
    """Regression: ``__len__`` alone made an empty channel false in ``if ch:``."""
    ch: tl.Channel[int] = tl.Channel(4)
    assert len(ch) == 0
    assert ch
    assert any([ch])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_child_forked_from_a_worker_thread_can_use_channels() -> None:
    """After fork() from a worker thread, the child's only thread (the one that
    forked) sends and receives as the main thread would."""
    status: list[int] = []

    def fork_and_check() -> None:
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            ch: tl.Channel[int] = tl.Channel(1)
            ch.send(7)
            os._exit(0 if ch.recv() == 7 and not ch._lock.locked() else 1)
        status.append(os.waitpid(pid, 0)[1])

    t = threading.Thread(target=fork_and_check)
    t.start()
    t.join(10)
    assert status == [0]


def test_a_channel_is_initialised_once() -> None:
    """A second ``__init__`` would rewrite the capacity under the feet of
    the threads using the channel (ThreadSanitizer saw it on the compiled
    core) and, on the pure path, dropped the buffer and reopened a closed
    channel: both paths refuse it and change nothing."""
    ch: tl.Channel[int] = tl.Channel(2)
    ch.send(1)
    ch.close()
    with pytest.raises(RuntimeError, match="initialised once"):
        ch.__init__(5)  # type: ignore[misc]
    assert ch.capacity == 2
    assert len(ch) == 1
    assert ch.closed
    assert ch.recv() == 1
