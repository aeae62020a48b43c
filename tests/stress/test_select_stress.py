"""select under many threads: no deadlock, exactly one case takes effect.

Selectors list the same channels in different (and opposite) orders and mix
send and receive cases; plain operations compete with them on the same
channels.  Values are ``(producer, seq)`` pairs, and at the end every value
whose send (plain or select) reported success was received exactly once,
counting what is still buffered.

Order: a producer's values on *one* channel arrive in order, so each receiver
keeps one list per channel and the order is checked per list.  (Across two
buffered channels a later value can overtake an earlier one, legitimately.)
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

import threadline as tl
from tests.helpers import check_exactly_once, drain, join_all, spawn

pytestmark = pytest.mark.timeout(60)

Value = tuple[int, int]  # (producer, seq)


def orders(count: int, n: int) -> list[list[int]]:
    """*n* case orders over *count* channels: forward, backward, then shuffled."""
    rng = random.Random(count * 1000 + n)
    result = [list(range(count)), list(reversed(range(count)))]
    while len(result) < n:
        order = list(range(count))
        rng.shuffle(order)
        result.append(order)
    return result[:n]


def select_recv_until_closed(channels: list[tl.Channel[Value]]) -> list[list[Value]]:
    """Receive with select from all *channels* until every one is closed and
    drained; a finished channel becomes a ``None`` case (keeping indexes).
    Returns what came from each channel, one list per channel."""
    cases: list[Any] = list(channels)
    got: list[list[Value]] = [[] for _ in channels]
    while any(case is not None for case in cases):
        sel = tl.select(*cases)
        assert cases[sel.index] is not None
        if sel.ok:
            got[sel.index].append(sel.value)
        else:
            assert sel.value is None
            cases[sel.index] = None
    return got


# -- selectors that receive ---------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 4])
def test_selectors_receive_in_different_orders(capacity: int) -> None:
    per_producer = 1500
    channels: list[tl.Channel[Value]] = [tl.Channel(capacity) for _ in range(3)]
    selectors = [
        spawn(select_recv_until_closed, [channels[i] for i in order])
        for order in orders(len(channels), 6)
    ]

    def producer(me: int) -> None:
        ch = channels[me % len(channels)]
        for seq in range(per_producer):
            ch.send((me, seq))

    producers = [spawn(producer, i) for i in range(6)]
    join_all(producers)
    for ch in channels:
        ch.close()
    seen = [per_channel for lists in join_all(selectors) for per_channel in lists]
    check_exactly_once([(p, s) for p in range(6) for s in range(per_producer)], seen)


# -- selectors that send ---------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 4])
def test_selectors_send_in_different_orders(capacity: int) -> None:
    per_producer = 1500
    channels: list[tl.Channel[Value]] = [tl.Channel(capacity) for _ in range(3)]
    took = Counter[int]()
    lock = threading.Lock()

    def producer(me: int, order: list[int]) -> None:
        mine = Counter[int]()
        for seq in range(per_producer):
            sel = tl.select(*[(channels[i], (me, seq)) for i in order])
            assert sel.ok
            assert sel.value is None
            mine[order[sel.index]] += 1
        with lock:
            took.update(mine)

    def receiver(ch: tl.Channel[Value]) -> list[Value]:
        return list(ch)

    receivers = [spawn(receiver, channels[i % 3]) for i in range(6)]
    producers = [spawn(producer, i, order) for i, order in enumerate(orders(3, 6))]
    join_all(producers)
    for ch in channels:
        ch.close()
    seen = join_all(receivers)
    check_exactly_once([(p, s) for p in range(6) for s in range(per_producer)], seen)
    # Each value went where select said it went.
    for i, ch in enumerate(channels):
        on_ch = sum(len(values) for r, values in enumerate(seen) if r % 3 == i)
        assert took[i] == on_ch, (i, ch)


# -- selectors that both send and receive, in opposite orders -------------------------------


@pytest.mark.parametrize("capacity", [0, 2])
def test_symmetric_selectors_exchange_without_deadlock(capacity: int) -> None:
    # Every worker offers its next value on both `a` and `b` and at the same
    # time receives from both, listing the cases in its own order (even
    # workers a-first, odd ones b-first, some reversed entirely), until all
    # values have been received; then `done` is closed and everybody leaves.
    workers_n = 8
    per_worker = 1000
    a: tl.Channel[Value] = tl.Channel(capacity)
    b: tl.Channel[Value] = tl.Channel(capacity)
    done: tl.Channel[Value] = tl.Channel(0)
    total = workers_n * per_worker
    received = [0]
    lock = threading.Lock()

    def worker(me: int) -> tuple[list[Value], dict[int, list[Value]]]:
        sent: list[Value] = []
        got: dict[int, list[Value]] = {id(a): [], id(b): []}
        seq = 0
        while True:
            value = (me, seq)
            cases: list[Any] = [(a, value), (b, value), a, b, done]
            if seq >= per_worker:
                cases[0] = cases[1] = None  # nothing left to send
            if me % 2:
                cases = [cases[1], cases[0], cases[3], cases[2], cases[4]]
            if me % 4 == 3:
                cases.reverse()
            sel = tl.select(*cases)
            case = cases[sel.index]
            if case is done:
                assert not sel.ok
                return sent, got
            if isinstance(case, tuple):
                assert sel == tl.Selected(sel.index, None, True)
                sent.append(value)
                seq += 1
            else:
                assert sel.ok
                got[id(case)].append(sel.value)
                with lock:
                    received[0] += 1
                    if received[0] == total:
                        done.close()

    results = join_all([spawn(worker, i) for i in range(workers_n)], timeout=45)
    sent = [v for s, _ in results for v in s]
    assert sorted(sent) == [(w, s) for w in range(workers_n) for s in range(per_worker)]
    check_exactly_once(sent, [values for _, got in results for values in got.values()])
    assert drain(a, b) == []


# -- select competing with plain operations ----------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, 8])
def test_select_and_plain_ops_compete(capacity: int) -> None:
    per_producer = 1500
    x: tl.Channel[Value] = tl.Channel(capacity)
    y: tl.Channel[Value] = tl.Channel(capacity)

    def plain_producer(me: int) -> None:
        for seq in range(per_producer):
            x.send((me, seq))

    def select_producer(me: int) -> None:
        for seq in range(per_producer):
            cases = [(x, (me, seq)), (y, (me, seq))]
            tl.select(*(cases if me % 2 else cases[::-1]))

    def plain_consumer(ch: tl.Channel[Value]) -> list[list[Value]]:
        return [list(ch)]

    consumers = [
        spawn(plain_consumer, x),
        spawn(plain_consumer, x),
        spawn(plain_consumer, y),
        spawn(select_recv_until_closed, [x, y]),
        spawn(select_recv_until_closed, [y, x]),
    ]
    producers = [spawn(plain_producer, i) for i in range(3)]
    producers += [spawn(select_producer, i) for i in range(3, 6)]
    join_all(producers)
    x.close()
    y.close()
    seen = [per_channel for lists in join_all(consumers) for per_channel in lists]
    check_exactly_once([(p, s) for p in range(6) for s in range(per_producer)], seen)


# -- select with timeouts racing partners ---------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, 8])
def test_select_timeouts_race_with_partners(capacity: int) -> None:
    per_producer = 1500
    a: tl.Channel[Value] = tl.Channel(capacity)
    b: tl.Channel[Value] = tl.Channel(capacity)
    stop = threading.Event()

    def producer(me: int) -> tuple[list[Value], list[Value]]:
        rng = random.Random(me)
        sent: list[Value] = []
        dropped: list[Value] = []
        for seq in range(per_producer):
            value = (me, seq)
            timeout = rng.choice([0, rng.uniform(0, 0.001)])
            try:
                if me % 2:
                    tl.select((a, value), (b, value), timeout=timeout)
                else:
                    (a if seq % 2 else b).send(value, timeout=timeout)
            except TimeoutError:
                dropped.append(value)  # a timed-out send (or select) had no effect
            else:
                sent.append(value)
        return sent, dropped

    def consumer(me: int) -> list[list[Value]]:
        rng = random.Random(100 + me)
        cases = [a, b] if me % 2 else [b, a]
        got: list[list[Value]] = [[], []]
        while not stop.is_set():
            timeout = rng.choice([0, rng.uniform(0, 0.001)])
            try:
                if me % 3 == 2:
                    got[0].append(cases[0].recv(timeout=timeout))
                else:
                    sel = tl.select(*cases, timeout=timeout)
                    assert sel.ok
                    got[sel.index].append(sel.value)
            except TimeoutError:
                pass
        return got

    consumers = [spawn(consumer, i) for i in range(6)]
    results = join_all([spawn(producer, i) for i in range(6)])
    stop.set()
    seen = [per_channel for lists in join_all(consumers) for per_channel in lists]
    left = [drain(a), drain(b)]  # a value that arrived as its receiver timed out stays here
    sent = [v for s, _ in results for v in s]
    dropped = {v for _, d in results for v in d}
    assert sent
    check_exactly_once(sent, [*seen, *left])
    assert not dropped & {v for values in [*seen, *left] for v in values}


# -- close during select ---------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, 8])
def test_close_during_select(capacity: int) -> None:
    for round_ in range(20):
        a: tl.Channel[Value] = tl.Channel(capacity)
        b: tl.Channel[Value] = tl.Channel(capacity)
        enough = threading.Event()
        lock = threading.Lock()
        total = [0]
        threshold = (round_ % 10 + 1) * 40

        def producer(me: int, a: tl.Channel[Value] = a, b: tl.Channel[Value] = b) -> Any:
            sent: list[Value] = []
            for seq in range(1000):
                value = (me, seq)
                try:
                    if me % 3 == 0:
                        a.send(value)
                    else:
                        cases = [(a, value), (b, value)]
                        tl.select(*(cases if me % 2 else cases[::-1]))
                except tl.ChannelClosed:
                    return sent, value  # the refused value was delivered nowhere
                sent.append(value)
            return sent, None

        def consumer(
            me: int,
            a: tl.Channel[Value] = a,
            b: tl.Channel[Value] = b,
            enough: threading.Event = enough,
        ) -> list[list[Value]]:
            cases: list[Any] = [a, b] if me % 2 else [b, a]
            got: list[list[Value]] = [[], []]
            while any(case is not None for case in cases):
                sel = tl.select(*cases)
                if not sel.ok:
                    cases[sel.index] = None
                    continue
                got[sel.index].append(sel.value)
                with lock:
                    total[0] += 1
                    if total[0] >= threshold:
                        enough.set()
            return got

        consumers = [spawn(consumer, i) for i in range(4)]
        producers = [spawn(producer, i) for i in range(6)]
        assert enough.wait(30)
        if round_ % 2:
            a.close()
            b.close()
        else:
            b.close()
            a.close()
        results = join_all(producers)
        seen = [per_channel for lists in join_all(consumers) for per_channel in lists]
        sent = [v for s, _ in results for v in s]
        refused = {r for _, r in results if r is not None}
        check_exactly_once(sent, seen)
        assert not refused & {v for values in seen for v in values}
        assert drain(a, b) == []


def test_close_wakes_parked_selectors() -> None:
    for _ in range(10):
        a: tl.Channel[Value] = tl.Channel(0)
        b: tl.Channel[Value] = tl.Channel(1)
        assert b.try_send((-1, 0))  # b is full: send cases on it must wait

        def recv_selector(a: tl.Channel[Value] = a) -> tl.Selected:
            return tl.select(None, a)

        def send_selector(me: int, a: tl.Channel[Value] = a, b: tl.Channel[Value] = b) -> str:
            try:
                tl.select((b, (me, 0)), (a, (me, 0)))
            except tl.ChannelClosed:
                return "closed"
            return "sent"

        receivers = [spawn(recv_selector) for _ in range(4)]
        senders = [spawn(send_selector, i) for i in range(4)]
        time.sleep(0.001)  # let some of them park (either way is fine)
        # Close only `a` first: the senders can still neither send on `a`
        # (closed: ChannelClosed) nor on `b` (full).  The receivers see `a`
        # closed and drained.
        a.close()
        seen_r = join_all(receivers, timeout=10)
        seen_s = join_all(senders, timeout=10)
        # Receivers and senders may have met on `a` before the close.
        handed = [r for r in seen_r if r.ok]
        assert seen_s.count("sent") == len(handed)
        for r in seen_r:
            assert r.index == 1
            if not r.ok:
                assert r.value is None
        assert drain(b) == [(-1, 0)]


# -- uniform choice among ready cases ------------------------------------------------------


def test_select_chooses_uniformly_among_ready_cases() -> None:
    # Not a stress test as such, but cheap: three receive cases and one send
    # case, all always ready.  The RNG is seeded per test, so this is exact.
    channels: list[tl.Channel[int]] = [tl.Channel(2) for _ in range(3)]
    sink: tl.Channel[int] = tl.Channel(1)
    counts = Counter[int]()
    rounds = 4000
    for ch in channels:
        ch.send(0)
    for _ in range(rounds):
        sel = tl.select(channels[0], None, channels[1], (sink, 1), channels[2])
        counts[sel.index] += 1
        if sel.index == 3:
            assert sink.try_recv() == (1, True)
        else:
            channels[[0, 2, 4].index(sel.index)].send(0)
    assert set(counts) == {0, 2, 3, 4}
    for index in (0, 2, 3, 4):
        assert abs(counts[index] - rounds / 4) < rounds / 10, counts
