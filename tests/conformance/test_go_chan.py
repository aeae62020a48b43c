"""Go's channel tests (src/runtime/chan_test.go, go/test/chan/*.go), rewritten.

The ideas are Go's; the code is written against threadline's API: a closed
and drained channel raises ``ChannelClosed`` where Go returns the zero value,
a send on a closed channel raises where Go panics, and ``try_select`` or
``timeout=0`` plays the part of a ``select`` with a ``default`` case.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest

import threadline as tl
from tests.helpers import Worker, join, spawn, wait_parked

HANG_GUARD = 10.0
CAPACITIES = [0, 1, 2, 7, math.inf]

pytestmark = pytest.mark.timeout(60)


# -- TestChan -----------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_receive_from_empty_channel_blocks(capacity: float) -> None:
    """TestChan: a receive from an empty channel blocks; a non-blocking one fails."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    receivers = [spawn(ch.recv, timeout=HANG_GUARD) for _ in range(2)]
    wait_parked(ch, receivers=2)
    assert all(worker.is_alive() for worker in receivers)
    assert tl.try_select(ch) is None
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)
    ch.send(0, timeout=HANG_GUARD)
    ch.send(0, timeout=HANG_GUARD)
    assert join(receivers) == [0, 0]


@pytest.mark.parametrize("capacity", [0, 1, 2, 7])
def test_send_to_full_channel_blocks(capacity: int) -> None:
    """TestChan: a send to a full channel blocks; a non-blocking one fails."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    for i in range(capacity):
        ch.send(i)
    sender = spawn(ch.send, -1, timeout=HANG_GUARD)
    wait_parked(ch, senders=1)
    assert sender.is_alive()
    assert tl.try_select((ch, -2)) is None
    assert not ch.try_send(-2)
    received = [ch.recv(timeout=HANG_GUARD) for _ in range(capacity + 1)]
    join([sender])
    assert received == [*range(capacity), -1]


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_closed_channel_drains_then_reports_closed(capacity: float) -> None:
    """TestChan: a closed channel yields its buffered values, then "zero, not ok"."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    count = int(min(capacity, 10))
    for i in range(count):
        ch.send(i)
    ch.close()
    assert [ch.recv() for _ in range(count)] == list(range(count))
    with pytest.raises(tl.ChannelClosed):
        ch.recv()
    assert tl.select(ch) == (0, None, False)
    assert tl.select(ch) == (0, None, False)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_unblocks_receiver(capacity: float) -> None:
    """TestChan: close wakes a blocked receiver, which sees "zero, not ok"."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    receiver = spawn(lambda: tl.select(ch, timeout=HANG_GUARD))
    wait_parked(ch, receivers=1)
    ch.close()
    assert join([receiver]) == [(0, None, False)]


@pytest.mark.parametrize("capacity", CAPACITIES)
@pytest.mark.parametrize("form", ["recv", "select"])
def test_fifo_from_one_sender(capacity: float, form: str) -> None:
    """TestChan: 100 integers from one sender arrive intact and in order."""
    ch: tl.Channel[int] = tl.Channel(capacity)

    def take() -> int:
        if form == "recv":
            return ch.recv(timeout=HANG_GUARD)
        sel = tl.select(ch, timeout=HANG_GUARD)
        assert sel.ok
        return int(sel.value)

    def send_all() -> None:
        for i in range(100):
            ch.send(i, timeout=HANG_GUARD)

    sender = spawn(send_all)
    assert [take() for _ in range(100)] == list(range(100))
    join([sender])


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_many_senders_and_receivers(capacity: float, tiny_switch: None) -> None:
    """TestChan: 4 senders and 4 receivers; every value arrives once per sender."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    senders, length = 4, 300

    def send_all() -> None:
        for i in range(length):
            ch.send(i, timeout=HANG_GUARD)

    def receive_some() -> Counter[int]:
        return Counter(ch.recv(timeout=HANG_GUARD) for _ in range(length))

    receivers = [spawn(receive_some) for _ in range(senders)]
    join([spawn(send_all) for _ in range(senders)])
    total: Counter[int] = sum(join(receivers), Counter())
    assert total == Counter(dict.fromkeys(range(length), senders))


@pytest.mark.parametrize("capacity", [0, 1, 2, 7, math.inf])
def test_len_and_capacity(capacity: float) -> None:
    """TestChan: len and cap of an empty and of a full channel."""
    ch: tl.Channel[int] = tl.Channel(capacity)
    assert (len(ch), ch.capacity) == (0, capacity)
    count = int(min(capacity, 20))
    for i in range(count):
        ch.send(i)
    assert (len(ch), ch.capacity) == (count, capacity)


# -- non-blocking operations racing with close -----------------------------------------------


def _run_race(
    iterations: int,
    make: Callable[[], list[tl.Channel[int]]],
    probe: Callable[[list[tl.Channel[int]]], bool],
    disturb: Callable[[list[tl.Channel[int]]], None],
) -> list[int]:
    """Per iteration: a worker runs *probe* while this thread runs *disturb*.

    Returns the iterations where the probe failed.
    """
    jobs: tl.Channel[list[tl.Channel[int]]] = tl.Channel()
    results: tl.Channel[bool] = tl.Channel()

    def worker() -> None:
        for channels in jobs:
            results.send(probe(channels), timeout=HANG_GUARD)

    runner = spawn(worker)
    failures = []
    try:
        for i in range(iterations):
            channels = make()
            jobs.send(channels, timeout=HANG_GUARD)
            disturb(channels)
            if not results.recv(timeout=HANG_GUARD):
                failures.append(i)
    finally:
        jobs.close()
        join([runner])
    return failures


def test_nonblocking_receive_races_with_close(tiny_switch: None) -> None:
    """TestNonblockRecvRace: a channel holding a value, then closed, is always ready."""

    def make() -> list[tl.Channel[int]]:
        ch: tl.Channel[int] = tl.Channel(1)
        ch.send(1)
        return [ch]

    def disturb(channels: list[tl.Channel[int]]) -> None:
        [ch] = channels
        ch.close()
        tl.select(ch, timeout=HANG_GUARD)

    failures = _run_race(3000, make, lambda chs: tl.try_select(*chs) is not None, disturb)
    assert failures == []


def test_nonblocking_select_races_with_sends(tiny_switch: None) -> None:
    """TestNonblockSelectRace: one of two channels always holds a value."""

    def make() -> list[tl.Channel[int]]:
        c1: tl.Channel[int] = tl.Channel(1)
        c1.send(1)
        return [c1, tl.Channel(1)]

    def disturb(channels: list[tl.Channel[int]]) -> None:
        c1, c2 = channels
        c2.send(1, timeout=HANG_GUARD)
        c1.try_recv()

    failures = _run_race(5000, make, lambda chs: tl.try_select(*chs) is not None, disturb)
    assert failures == []


def test_nonblocking_select_races_with_close(tiny_switch: None) -> None:
    """TestNonblockSelectRace2: one channel holds a value until the other is closed."""

    def make() -> list[tl.Channel[int]]:
        c1: tl.Channel[int] = tl.Channel(1)
        c1.send(1)
        return [c1, tl.Channel()]

    def disturb(channels: list[tl.Channel[int]]) -> None:
        c1, c2 = channels
        c2.close()
        c1.try_recv()

    failures = _run_race(5000, make, lambda chs: tl.try_select(*chs) is not None, disturb)
    assert failures == []


# -- many consumers --------------------------------------------------------------------------


def test_multi_consumer(tiny_switch: None) -> None:
    """TestMultiConsumer: workers drain a queue into a results channel; sums match."""
    workers, iterations = 11, 4000
    weights = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31]
    queue: tl.Channel[int] = tl.Channel(workers * 3)
    results: tl.Channel[int] = tl.Channel(workers * 3)

    def work(w: int) -> None:
        for v in queue:
            if weights[w % len(weights)] == v:
                time.sleep(0)
            results.send(v, timeout=HANG_GUARD)

    def feed() -> int:
        expect = 0
        with queue:
            for i in range(iterations):
                v = weights[i % len(weights)]
                expect += v
                queue.send(v, timeout=HANG_GUARD)
        return expect

    def feed_and_close() -> int:
        pool = [spawn(work, w) for w in range(workers)]
        expect = feed()
        with results:
            join(pool)
        return expect

    consumer = spawn(list, results)
    expect, received = join([spawn(feed_and_close), consumer])
    assert (len(received), sum(received)) == (iterations, expect)


# -- go/test/chan ------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, 1, 8])
def test_nonblocking_ops_succeed_once_a_partner_is_there(capacity: int) -> None:
    """nonblock.go: retry a non-blocking send or receive until the partner shows up."""
    ch: tl.Channel[int] = tl.Channel(capacity)

    def retry(op: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + HANG_GUARD
        while (result := op()) is None:
            assert time.monotonic() < deadline, "the partner never became ready"
            time.sleep(0)
        return result

    receiver = spawn(ch.recv, timeout=HANG_GUARD)
    assert retry(lambda: ch.try_send(7) or None)
    assert join([receiver]) == [7]

    sender = spawn(ch.send, 8, timeout=HANG_GUARD)
    assert retry(lambda: ch.try_recv()[0]) == 8
    join([sender])

    sender = spawn(ch.send, 9, timeout=HANG_GUARD)
    assert retry(lambda: tl.try_select(None, ch)) == (1, 9, True)
    join([sender])


@pytest.mark.parametrize("capacity", [0, 1, 10])
def test_synchronous_fifo(capacity: int) -> None:
    """fifo.go: a relay of threads, each sending its number once its turn comes."""
    count = 60
    out: tl.Channel[int] = tl.Channel(capacity)
    turns: list[tl.Channel[None]] = [tl.Channel() for _ in range(count + 1)]

    def take_turn(i: int) -> None:
        turns[i].recv(timeout=HANG_GUARD)
        out.send(i, timeout=HANG_GUARD)
        turns[i + 1].send(None, timeout=HANG_GUARD)

    relay = [spawn(take_turn, i) for i in range(count)]
    turns[0].send(None, timeout=HANG_GUARD)
    assert [out.recv(timeout=HANG_GUARD) for _ in range(count)] == list(range(count))
    turns[count].recv(timeout=HANG_GUARD)
    join(relay)


def test_asynchronous_fifo() -> None:
    """fifo.go: a buffered channel as a queue keeps order."""
    ch: tl.Channel[int] = tl.Channel(100)
    for i in range(100):
        ch.send(i, timeout=0)
    assert [ch.recv(timeout=0) for _ in range(100)] == list(range(100))


def test_daisy_chain(tiny_switch: None) -> None:
    """goroutines.go / "whispers": a value passes down a chain of threads, +1 per hop."""
    hops = 150
    channels: list[tl.Channel[int]] = [tl.Channel() for _ in range(hops + 1)]

    def whisper(left: tl.Channel[int], right: tl.Channel[int]) -> None:
        left.send(right.recv(timeout=HANG_GUARD) + 1, timeout=HANG_GUARD)

    chain = [spawn(whisper, channels[i], channels[i + 1]) for i in range(hops)]
    channels[hops].send(1, timeout=HANG_GUARD)
    assert channels[0].recv(timeout=HANG_GUARD) == hops + 1
    join(chain)


def test_prime_sieve() -> None:
    """sieve1.go: the concurrent prime sieve, one filter thread per prime."""
    limit = 250
    threads: list[Worker] = []

    def generate(out: tl.Channel[int]) -> None:
        with out:
            for n in range(2, limit):
                out.send(n, timeout=HANG_GUARD)

    def keep_if_not_divisible(inp: tl.Channel[int], out: tl.Channel[int], prime: int) -> None:
        with out:
            for n in inp:
                if n % prime:
                    out.send(n, timeout=HANG_GUARD)

    ch: tl.Channel[int] = tl.Channel()
    threads.append(spawn(generate, ch))
    primes = []
    while True:
        try:
            prime = ch.recv(timeout=HANG_GUARD)
        except tl.ChannelClosed:
            break
        primes.append(prime)
        filtered: tl.Channel[int] = tl.Channel()
        threads.append(spawn(keep_if_not_divisible, ch, filtered, prime))
        ch = filtered
    join(threads)
    assert primes == [n for n in range(2, limit) if all(n % d for d in range(2, n))]


# -- power series (powser1.go) -----------------------------------------------------------------

Series = tl.Channel[Fraction]


class _Streams:
    """Power series as channels of coefficients, each operator a thread."""

    def __init__(self, terms: int) -> None:
        self.terms = terms
        self.threads: list[Worker] = []

    def _go(self, fn: Callable[[Series], None], out: Series | None = None) -> Series:
        if out is None:
            out = tl.Channel()

        def run() -> None:
            with out:
                fn(out)

        self.threads.append(spawn(run))
        return out

    def const(self, *coefficients: int) -> Series:
        def produce(out: Series) -> None:
            for i in range(self.terms):
                out.send(Fraction(coefficients[i] if i < len(coefficients) else 0))

        return self._go(produce)

    def ones(self) -> Series:
        return self.const(*[1] * self.terms)

    def add(self, f: Series, g: Series) -> Series:
        def produce(out: Series) -> None:
            for a, b in zip(f, g, strict=False):
                out.send(a + b)
            for rest in (f, g):
                for _ in rest:
                    pass

        return self._go(produce)

    def mul(self, f: Series, g: Series) -> Series:
        def produce(out: Series) -> None:
            fs: list[Fraction] = []
            gs: list[Fraction] = []
            for a, b in zip(f, g, strict=False):
                fs.append(a)
                gs.append(b)
                out.send(sum((x * y for x, y in zip(fs, reversed(gs), strict=True)), Fraction()))

        return self._go(produce)

    def deriv(self, f: Series) -> Series:
        def produce(out: Series) -> None:
            for n, a in enumerate(f):
                if n:
                    out.send(n * a)

        return self._go(produce)

    def integ(self, constant: Fraction, f: Series, out: Series | None = None) -> Series:
        def produce(out: Series) -> None:
            out.send(constant)
            for n, a in enumerate(f, start=1):
                if n < self.terms:
                    out.send(a / n)

        return self._go(produce, out)

    def split(self, f: Series) -> tuple[Series, Series]:
        """Two copies of *f*; the second one is unbounded, for feedback loops."""
        feedback: Series = tl.Channel(math.inf)

        def produce(out: Series) -> None:
            with feedback:
                for a in f:
                    feedback.send(a)
                    out.send(a)

        return self._go(produce), feedback

    def exp(self, f: Series) -> Series:
        """x = exp(f) solves x' = x * f', x(0) = 1: a stream defined by itself."""
        x: Series = tl.Channel()
        x_out, x_back = self.split(x)
        self.integ(Fraction(1), self.mul(x_back, self.deriv(f)), out=x)
        return x_out


@pytest.fixture
def streams() -> Iterator[_Streams]:
    s = _Streams(terms=10)
    yield s
    join(s.threads)


def test_power_series_product(streams: _Streams) -> None:
    """powser1.go: 1/(1-x) squared is the sum of (n+1) x^n."""
    square = streams.mul(streams.ones(), streams.ones())
    assert list(square) == [n + 1 for n in range(10)]


def test_power_series_sum_and_derivative(streams: _Streams) -> None:
    """powser1.go: d/dx of 1/(1-x) plus 1/(1-x), term by term, as far as both go."""
    total = streams.add(streams.deriv(streams.ones()), streams.ones())
    assert list(total) == [n + 2 for n in range(9)]


def test_power_series_exponential_by_recursion(streams: _Streams) -> None:
    """powser1.go: exp(x) from a stream equation that feeds back into itself."""
    x = streams.const(0, 1)
    assert list(streams.exp(x)) == [Fraction(1, math.factorial(n)) for n in range(10)]
