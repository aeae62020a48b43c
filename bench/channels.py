"""Channel benchmarks: threadline against the standard library, in one run.

Every scenario times threadline and its baseline in the same process, one
after the other (alternating, repeat by repeat), and reports the *ratio*.
Absolute rates depend on the machine; ratios measured side by side are what
this report is about.  Targets are printed as PASS/MISS and never fail the
run: the exit status is 0 whatever the numbers.

Scenarios (rates are items or operations per second):

  spsc         1 producer + 1 consumer thread, Channel(128) vs queue.Queue(128)
  unbuffered   1 producer + 1 consumer thread, Channel(0) vs queue.Queue(1)
  mpmc         4 producers + 4 consumers, Channel(128) vs queue.Queue(128)
  select4      one thread: select() over 4 ready channels vs one recv() on a
               ready channel; "select costs at most 2x a recv" is the rate
               ratio >= 1/2
  async        a thread sends, a coroutine consumes with ``async for`` over a
               Channel(128), vs the thread calling
               ``loop.call_soon_threadsafe(q.put_nowait, x)`` into an
               asyncio.Queue that a coroutine drains

Targets: those of the compiled channel core where it is in use (spsc >= 6x,
unbuffered >= 3x, select4 >= 1/2, async >= 5x), else those of the pure-Python
path (``THREADLINE_PURE=1``: spsc >= 2.5x, unbuffered >= 1.5x, select4 >= 1/3).

Each scenario runs ``--repeats`` times per side (after a short warm-up) and
the **median** rate of each side is reported; the JSON file also keeps every
sample, the best and the worst.

    python bench/channels.py                 # full run, well under a minute
    python bench/channels.py --quick         # smoke test, a few seconds
    python bench/channels.py --json out.json
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from _harness import RunFn, Scenario, run_cli

import threadline as tl
from threadline._channel import PURE

# scenario -> target ratio (None: reported, no target)
TARGETS: dict[str, float | None] = (
    {"spsc": 2.5, "unbuffered": 1.5, "mpmc": None, "select4": 1 / 3, "async": None}
    if PURE
    else {"spsc": 6.0, "unbuffered": 3.0, "mpmc": None, "select4": 1 / 2, "async": 5.0}
)

# -- threaded producer/consumer --------------------------------------------------


def _run_threads(targets: list[Callable[[], None]]) -> float:
    """Start one thread per target, release them together, return the elapsed
    time from the release until the last one finished."""
    barrier = threading.Barrier(len(targets) + 1)

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            fn()

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def channel_pc(capacity: int, producers: int, consumers: int) -> RunFn:
    """Producers send n items in total over one Channel; consumers ``for`` over
    it until the last producer closes it."""

    def run(n: int) -> tuple[int, float]:
        ch: tl.Channel[int] = tl.Channel(capacity)
        per = n // producers
        remaining = [producers]
        lock = threading.Lock()
        counts = [0] * consumers

        def produce() -> None:
            send = ch.send
            for i in range(per):
                send(i)
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                ch.close()

        def consume(k: int) -> Callable[[], None]:
            def go() -> None:
                got = 0
                for _ in ch:
                    got += 1
                counts[k] = got

            return go

        elapsed = _run_threads(
            [produce] * producers + [consume(k) for k in range(consumers)],
        )
        assert sum(counts) == per * producers, counts
        return per * producers, elapsed

    return run


def queue_pc(maxsize: int, producers: int, consumers: int) -> RunFn:
    """The queue.Queue equivalent: one ``None`` sentinel per consumer, sent
    once every producer is done."""

    def run(n: int) -> tuple[int, float]:
        q: queue.Queue[int | None] = queue.Queue(maxsize)
        per = n // producers
        remaining = [producers]
        lock = threading.Lock()
        counts = [0] * consumers

        def produce() -> None:
            put = q.put
            for i in range(per):
                put(i)
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                for _ in range(consumers):
                    put(None)

        def consume(k: int) -> Callable[[], None]:
            def go() -> None:
                get = q.get
                got = 0
                while get() is not None:
                    got += 1
                counts[k] = got

            return go

        elapsed = _run_threads(
            [produce] * producers + [consume(k) for k in range(consumers)],
        )
        assert sum(counts) == per * producers, counts
        return per * producers, elapsed

    return run


# -- select vs recv, single thread ---------------------------------------------------


def select_ready(n: int) -> tuple[int, float]:
    """``select`` over 4 channels that all hold values, n times."""
    chans: list[tl.Channel[int]] = [tl.Channel(n) for _ in range(4)]
    for ch in chans:
        for i in range(n):
            ch.try_send(i)
    a, b, c, d = chans
    select = tl.select
    start = time.perf_counter()
    for _ in range(n):
        select(a, b, c, d)
    elapsed = time.perf_counter() - start
    assert sum(len(ch) for ch in chans) == 3 * n
    return n, elapsed


def recv_ready(n: int) -> tuple[int, float]:
    """One ``recv`` on a channel that holds values, n times."""
    ch: tl.Channel[int] = tl.Channel(n)
    for i in range(n):
        ch.try_send(i)
    recv = ch.recv
    start = time.perf_counter()
    for _ in range(n):
        recv()
    elapsed = time.perf_counter() - start
    assert len(ch) == 0
    return n, elapsed


# -- thread -> asyncio handoff --------------------------------------------------------


def _run_loop_with_producer(
    consume: Callable[[], Any], produce: Callable[[asyncio.AbstractEventLoop], None]
) -> float:
    """Run the coroutine ``consume()`` on a fresh loop in this thread while
    ``produce(loop)`` runs on another thread; time both until done."""

    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = threading.Event()

        def producer() -> None:
            started.wait()
            produce(loop)

        t = threading.Thread(target=producer)
        t.start()
        start = time.perf_counter()
        started.set()
        await consume()
        elapsed = time.perf_counter() - start
        t.join()
        return elapsed

    return asyncio.run(main())


def channel_to_async(capacity: int | float) -> RunFn:
    def run(n: int) -> tuple[int, float]:
        ch: tl.Channel[int] = tl.Channel(capacity)
        got = [0]

        def produce(loop: asyncio.AbstractEventLoop) -> None:
            with ch:
                send = ch.send
                for i in range(n):
                    send(i)

        async def consume() -> None:
            count = 0
            async for _ in ch:
                count += 1
            got[0] = count

        elapsed = _run_loop_with_producer(consume, produce)
        assert got[0] == n
        return n, elapsed

    return run


def call_soon_to_async(n: int) -> tuple[int, float]:
    q: asyncio.Queue[int | None] = asyncio.Queue()
    got = [0]

    def produce(loop: asyncio.AbstractEventLoop) -> None:
        call = loop.call_soon_threadsafe
        put = q.put_nowait
        for i in range(n):
            call(put, i)
        call(put, None)

    async def consume() -> None:
        count = 0
        get = q.get
        while await get() is not None:
            count += 1
        got[0] = count

    elapsed = _run_loop_with_producer(consume, produce)
    assert got[0] == n
    return n, elapsed


def scenarios() -> list[Scenario]:
    return [
        Scenario(
            "spsc",
            "1 producer + 1 consumer thread",
            "Channel(128)",
            channel_pc(128, 1, 1),
            "queue.Queue(128)",
            queue_pc(128, 1, 1),
            ops=200_000,
            quick_ops=20_000,
            target=TARGETS["spsc"],
        ),
        Scenario(
            "unbuffered",
            "1 producer + 1 consumer thread, rendezvous",
            "Channel(0)",
            channel_pc(0, 1, 1),
            "queue.Queue(1)",
            queue_pc(1, 1, 1),
            ops=40_000,
            quick_ops=4_000,
            target=TARGETS["unbuffered"],
        ),
        Scenario(
            "mpmc",
            "4 producers + 4 consumers",
            "Channel(128)",
            channel_pc(128, 4, 4),
            "queue.Queue(128)",
            queue_pc(128, 4, 4),
            ops=200_000,
            quick_ops=20_000,
            target=TARGETS["mpmc"],
        ),
        Scenario(
            "select4",
            "one thread, 4 ready channels vs 1 ready channel",
            "select(a, b, c, d)",
            select_ready,
            "ch.recv()",
            recv_ready,
            ops=100_000,
            quick_ops=10_000,
            target=TARGETS["select4"],
            note="select costs <= 2x a recv (pure path: 3x), i.e. rate ratio >= 0.5 (0.33)",
        ),
        Scenario(
            "async",
            "thread sends, coroutine consumes",
            "Channel(128) async for",
            channel_to_async(128),
            "call_soon_threadsafe+asyncio.Queue",
            call_soon_to_async,
            ops=100_000,
            quick_ops=10_000,
            target=TARGETS["async"],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli(__doc__.split("\n\n")[0], scenarios(), argv)


if __name__ == "__main__":
    sys.exit(main())
