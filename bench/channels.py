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
               ready channel; the target "select costs at most 3x a recv" is
               the rate ratio >= 1/3
  async        a thread sends, a coroutine consumes with ``async for`` over a
               Channel(128), vs the thread calling
               ``loop.call_soon_threadsafe(q.put_nowait, x)`` into an
               asyncio.Queue that a coroutine drains

Each scenario runs ``--repeats`` times per side (after a short warm-up) and
the **median** rate of each side is reported; the JSON file also keeps every
sample, the best and the worst.

    python bench/channels.py                 # full run, well under a minute
    python bench/channels.py --quick         # smoke test, a few seconds
    python bench/channels.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import threadline as tl

# A run function does the work for one sample and returns (operations, seconds).
RunFn = Callable[[int], tuple[int, float]]


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


# -- the harness ----------------------------------------------------------------------


@dataclass
class Side:
    label: str
    samples: list[float] = field(default_factory=list)  # rates, ops/s

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Result:
    scenario: str
    description: str
    ops: int
    threadline: Side
    baseline: Side
    target: float | None  # minimum rate ratio, or None for "report only"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.threadline.median / self.baseline.median

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        return "PASS" if self.ratio >= self.target else "MISS"


@dataclass
class Scenario:
    name: str
    description: str
    threadline_label: str
    threadline: RunFn
    baseline_label: str
    baseline: RunFn
    ops: int  # full-run size
    quick_ops: int
    target: float | None
    note: str = ""


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
            target=2.5,
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
            target=1.5,
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
            target=None,
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
            target=1 / 3,
            note="select costs <= 3x a recv, i.e. rate ratio >= 0.33",
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
            target=None,
        ),
    ]


def measure(sc: Scenario, ops: int, repeats: int) -> Result:
    tl_side = Side(sc.threadline_label)
    base_side = Side(sc.baseline_label)
    warm = max(ops // 20, 100)
    sc.threadline(warm)
    sc.baseline(warm)
    for i in range(repeats):
        # Alternate which side goes first, so slow drift hits both alike.
        order = [(sc.threadline, tl_side), (sc.baseline, base_side)]
        if i % 2:
            order.reverse()
        for fn, side in order:
            done, seconds = fn(ops)
            side.samples.append(done / seconds)
    return Result(sc.name, sc.description, ops, tl_side, base_side, sc.target, sc.note)


def gil_enabled() -> bool:
    return bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "build": sys.version,
        "gil_enabled": gil_enabled(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "switch_interval_s": sys.getswitchinterval(),
        "threadline": tl.__version__,
        "loadavg_1min_at_start": _loadavg(),
    }


def _loadavg() -> float | None:
    """The 1-minute load average, to flag runs on a busy machine."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def _rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M/s"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k/s"
    return f"{value:.0f} /s"


def print_table(results: list[Result]) -> None:
    header = ("scenario", "threadline", "baseline", "ratio", "target", "result")
    rows = [header]
    for r in results:
        target = "-" if r.target is None else f">= {r.target:.2f}x"
        rows.append(
            (
                r.scenario,
                _rate(r.threadline.median),
                _rate(r.baseline.median),
                f"{r.ratio:.2f}x",
                target,
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for r in results:
        print(f"{r.scenario}: {r.description}; {r.threadline.label} vs {r.baseline.label}", end="")
        print(f"; {r.ops} ops per sample" + (f"; {r.note}" if r.note else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--repeats", type=int, default=None, help="samples per side (default 7, quick 3)"
    )
    parser.add_argument(
        "--only", action="append", metavar="SCENARIO", help="run only this scenario (repeatable)"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")

    env = environment()
    print(
        f"threadline {env['threadline']} on {env['implementation']} {env['python']}, "
        f"GIL {'enabled' if env['gil_enabled'] else 'disabled'}, {env['cpus']} CPUs, "
        f"{env['platform']}"
    )
    print(
        f"{'quick' if args.quick else 'full'} run; median of {repeats} samples per side, "
        "ratio = threadline rate / baseline rate (higher is better)\n"
    )

    chosen = scenarios()
    if args.only:
        known = {sc.name for sc in chosen}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown scenario(s) {unknown}; choose from {sorted(known)}")
        chosen = [sc for sc in chosen if sc.name in args.only]

    results = []
    total = time.perf_counter()
    for sc in chosen:
        t0 = time.perf_counter()
        result = measure(sc, sc.quick_ops if args.quick else sc.ops, repeats)
        results.append(result)
        print(
            f"  {sc.name:<11} {result.ratio:5.2f}x  ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    elapsed = time.perf_counter() - total
    print()
    print_table(results)
    load = _loadavg()
    print(f"\ntotal time {elapsed:.1f} s", end="")
    if load is not None and env["loadavg_1min_at_start"] is not None:
        print(
            f"; load average {env['loadavg_1min_at_start']:.2f} at start, {load:.2f} at end", end=""
        )
        if env["loadavg_1min_at_start"] > (env["cpus"] or 1) / 2:  # before we ran
            print(" (a busy machine: expect noisy numbers)", end="")
    print()

    if args.json:
        doc = {
            "environment": env,
            "mode": "quick" if args.quick else "full",
            "repeats": repeats,
            "statistic": "median",
            "results": [
                {
                    **{k: v for k, v in asdict(r).items() if k not in ("threadline", "baseline")},
                    "ratio": r.ratio,
                    "verdict": r.verdict,
                    "threadline": {
                        "label": r.threadline.label,
                        "median": r.threadline.median,
                        "best": max(r.threadline.samples),
                        "worst": min(r.threadline.samples),
                        "samples": r.threadline.samples,
                    },
                    "baseline": {
                        "label": r.baseline.label,
                        "median": r.baseline.median,
                        "best": max(r.baseline.samples),
                        "worst": min(r.baseline.samples),
                        "samples": r.baseline.samples,
                    },
                }
                for r in results
            ],
            "total_seconds": elapsed,
            "loadavg_1min_at_end": load,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
