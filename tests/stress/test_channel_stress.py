"""Channels under many threads: nothing lost, nothing duplicated, order kept.

Values are ``(sender, seq)`` pairs.  At the end every value a send reported
as delivered must have been received exactly once (counting what is still
buffered, drained at the end), no value whose send raised may show up, and
each receiver must see each sender's values in increasing ``seq`` order.
"""

from __future__ import annotations

import math
import random
import threading
import time

import pytest

import threadline as tl
from tests.helpers import check_exactly_once, drain, join_all, spawn

pytestmark = pytest.mark.timeout(60)

CAPACITIES = [0, 1, 16, math.inf]
SENDERS = 8
RECEIVERS = 8

Value = tuple[int, int]  # (sender, seq)


# -- many senders, many receivers -------------------------------------------------------


def send_all(ch: tl.Channel[Value], sender: int, count: int, mode: int) -> None:
    for seq in range(count):
        value = (sender, seq)
        if mode == 0:
            ch.send(value)
        elif mode == 1:  # short timeouts, retried: a timed-out send had no effect
            while True:
                try:
                    ch.send(value, timeout=0.001)
                    break
                except TimeoutError:
                    pass
        else:  # never block
            while not ch.try_send(value):
                time.sleep(0)


def recv_all(ch: tl.Channel[Value], mode: int) -> list[Value]:
    got: list[Value] = []
    if mode == 0:
        got.extend(ch)
    elif mode == 1:
        while True:
            try:
                got.append(ch.recv(timeout=0.001))
            except TimeoutError:
                pass
            except tl.ChannelClosed:
                break
    else:
        while True:
            try:
                value, ok = ch.try_recv()
            except tl.ChannelClosed:
                break
            if ok:
                got.append(value)
            else:
                time.sleep(0)
    return got


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_many_senders_many_receivers_every_value_once(capacity: float) -> None:
    per_sender = 2000
    ch: tl.Channel[Value] = tl.Channel(capacity)
    receivers = [spawn(recv_all, ch, i % 3, name=f"recv-{i}") for i in range(RECEIVERS)]
    senders = [spawn(send_all, ch, i, per_sender, i % 3, name=f"send-{i}") for i in range(SENDERS)]
    join_all(senders)
    ch.close()
    seen = join_all(receivers)
    expected = [(s, q) for s in range(SENDERS) for q in range(per_sender)]
    check_exactly_once(expected, seen)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_one_receiver_sees_every_sender_in_order(capacity: float) -> None:
    per_sender = 1000
    ch: tl.Channel[Value] = tl.Channel(capacity)
    receiver = spawn(recv_all, ch, 0)
    senders = [spawn(send_all, ch, i, per_sender, 0) for i in range(SENDERS)]
    join_all(senders)
    ch.close()
    (seen,) = join_all([receiver])
    expected = [(s, q) for s in range(SENDERS) for q in range(per_sender)]
    check_exactly_once(expected, [seen])
    for sender in range(SENDERS):
        assert [q for s, q in seen if s == sender] == list(range(per_sender))


# -- first come, first served ---------------------------------------------------------------


def wait_queued(queue: object, count: int) -> None:
    """Wait until *count* operations are parked in a channel's queue (an
    internal, read only to order the test's threads)."""
    deadline = time.monotonic() + 10
    while len(queue) < count:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, "threads did not park"
        time.sleep(0.0005)


@pytest.mark.parametrize("capacity", [0, 2])
def test_parked_receivers_are_served_in_arrival_order(capacity: int) -> None:
    for _ in range(5):
        ch: tl.Channel[Value] = tl.Channel(capacity)
        receivers = []
        for i in range(RECEIVERS):
            receivers.append(spawn(ch.recv, name=f"recv-{i}"))
            wait_queued(ch._recvq, i + 1)
        for seq in range(RECEIVERS):
            ch.send((0, seq))
        assert join_all(receivers) == [(0, seq) for seq in range(RECEIVERS)]


@pytest.mark.parametrize("capacity", [0, 2])
def test_parked_senders_are_served_in_arrival_order(capacity: int) -> None:
    for _ in range(5):
        ch: tl.Channel[Value] = tl.Channel(capacity)
        for seq in range(capacity):
            ch.send((-1, seq))
        senders = []
        for i in range(SENDERS):
            senders.append(spawn(ch.send, (i, 0)))
            wait_queued(ch._sendq, i + 1)
        got = [ch.recv() for _ in range(capacity + SENDERS)]
        join_all(senders)
        expected = [(-1, seq) for seq in range(capacity)] + [(i, 0) for i in range(SENDERS)]
        assert got == expected


# -- close racing with parked senders and receivers ---------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_races_with_senders_and_receivers(capacity: float) -> None:
    per_sender = 400  # an upper bound: close usually comes first
    for round_ in range(30):
        ch: tl.Channel[Value] = tl.Channel(capacity)
        threshold = (round_ % 5 + 1) * 60
        enough = threading.Event()
        lock = threading.Lock()
        total = [0]

        def sender(ch: tl.Channel[Value], me: int) -> tuple[list[Value], list[Value]]:
            sent: list[Value] = []
            refused: list[Value] = []
            for seq in range(per_sender):
                try:
                    ch.send((me, seq))
                except tl.ChannelClosed:
                    refused.append((me, seq))
                    break
                sent.append((me, seq))
            return sent, refused

        def receiver(ch: tl.Channel[Value], enough: threading.Event = enough) -> list[Value]:
            got: list[Value] = []
            while True:
                try:
                    got.append(ch.recv())
                except tl.ChannelClosed:
                    return got
                with lock:
                    total[0] += 1
                    if total[0] >= threshold:
                        enough.set()

        receivers = [spawn(receiver, ch) for _ in range(RECEIVERS)]
        senders = [spawn(sender, ch, i) for i in range(SENDERS)]
        assert enough.wait(30)
        ch.close()
        results = join_all(senders)
        seen = join_all(receivers)
        sent = [v for s, _ in results for v in s]
        refused = [v for _, r in results for v in r]
        assert drain(ch) == []  # receivers ran until closed *and* drained
        check_exactly_once(sent, seen)
        assert not set(refused) & {v for values in seen for v in values}
        with pytest.raises(tl.ChannelClosed):
            ch.send((-1, 0))


@pytest.mark.parametrize("buffered", [0, 5])
def test_close_wakes_every_parked_receiver(buffered: int) -> None:
    for _ in range(10):
        ch: tl.Channel[Value] = tl.Channel(16)
        for seq in range(buffered):
            ch.send((0, seq))
        receivers = [spawn(recv_all, ch, i % 3) for i in range(RECEIVERS)]
        time.sleep(0.001)  # let some of them park (either way is fine)
        ch.close()
        seen = join_all(receivers, timeout=10)
        check_exactly_once([(0, seq) for seq in range(buffered)], seen)
        with pytest.raises(tl.ChannelClosed):
            ch.try_recv()


@pytest.mark.parametrize("capacity", [0, 1, 16])
def test_close_wakes_every_parked_sender(capacity: int) -> None:
    for _ in range(10):
        ch: tl.Channel[Value] = tl.Channel(capacity)
        filler = [(-1, seq) for seq in range(capacity)]
        for value in filler:
            ch.send(value)

        def sender(ch: tl.Channel[Value], me: int) -> str:
            try:
                ch.send((me, 0))
            except tl.ChannelClosed:
                return "closed"
            return "sent"  # pragma: no cover - nobody receives

        senders = [spawn(sender, ch, i) for i in range(SENDERS)]
        time.sleep(0.001)  # let some of them park (either way is fine)
        ch.close()
        assert join_all(senders, timeout=10) == ["closed"] * SENDERS
        # What was buffered before the close is still delivered; nothing else.
        assert drain(ch) == filler
        with pytest.raises(tl.ChannelClosed):
            ch.recv()


# -- timeouts racing with partners ------------------------------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_timeouts_race_with_partners(capacity: float) -> None:
    per_sender = 2000
    ch: tl.Channel[Value] = tl.Channel(capacity)
    stop = threading.Event()

    def sender(me: int) -> tuple[list[Value], list[Value]]:
        rng = random.Random(me)
        sent: list[Value] = []
        dropped: list[Value] = []
        for seq in range(per_sender):
            try:
                ch.send((me, seq), timeout=rng.choice([0, rng.uniform(0, 0.001)]))
            except TimeoutError:
                dropped.append((me, seq))  # a timed-out send delivered nothing
            else:
                sent.append((me, seq))
        return sent, dropped

    def receiver(me: int) -> list[Value]:
        rng = random.Random(100 + me)
        got: list[Value] = []
        while not stop.is_set():
            try:
                got.append(ch.recv(timeout=rng.choice([0, rng.uniform(0, 0.001)])))
            except TimeoutError:
                pass
        return got

    receivers = [spawn(receiver, i) for i in range(RECEIVERS)]
    results = join_all([spawn(sender, i) for i in range(SENDERS)])
    stop.set()
    seen = join_all(receivers)
    left = drain(ch)  # a value that arrived as its receiver timed out stays here
    sent = [v for s, _ in results for v in s]
    dropped = {v for _, d in results for v in d}
    check_exactly_once(sent, [*seen, left])
    assert not dropped & {v for values in [*seen, left] for v in values}
    assert sent  # the test exercised deliveries at all
    if capacity == math.inf:
        assert not dropped  # an unbounded channel never makes a sender wait
