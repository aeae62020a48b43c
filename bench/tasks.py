"""Task benchmarks: the cost of starting and joining a task, in one run.

Scenarios (rates are tasks started and joined per second):

  vs-thread    TaskGroup.go of a trivial function, n at a time, joined by the
               group's exit, vs one threading.Thread per task (start all,
               join all).  Target: at least 5x cheaper.
  vs-executor  the same, vs ThreadPoolExecutor.submit + result() on an
               executor created once (default max_workers).  Target: no
               slower (ratio >= 1).
  one-by-one   one task at a time: go, then result(), vs one
               ThreadPoolExecutor.submit(...).result() at a time.

    python bench/tasks.py [--quick] [--json FILE]
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from _harness import RunFn, Scenario, run_cli

import threadline as tl


def noop() -> None:
    pass


def group_batch(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    with tl.TaskGroup() as tg:
        for _ in range(n):
            tg.go(noop)
    return n, time.perf_counter() - t0


def threads_batch(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    threads = [threading.Thread(target=noop) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n, time.perf_counter() - t0


_executor = ThreadPoolExecutor()


def executor_batch(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    futures = [_executor.submit(noop) for _ in range(n)]
    for f in futures:
        f.result()
    return n, time.perf_counter() - t0


def group_one_by_one(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    with tl.TaskGroup() as tg:
        for _ in range(n):
            tg.go(noop).result()
    return n, time.perf_counter() - t0


def executor_one_by_one(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    for _ in range(n):
        _executor.submit(noop).result()
    return n, time.perf_counter() - t0


def scenarios() -> list[Scenario]:
    batch: RunFn = group_batch
    return [
        Scenario(
            "vs-thread",
            "start n trivial tasks, then join them all",
            "TaskGroup.go",
            batch,
            "threading.Thread",
            threads_batch,
            ops=5_000,
            quick_ops=500,
            target=5.0,
        ),
        Scenario(
            "vs-executor",
            "start n trivial tasks, then join them all",
            "TaskGroup.go",
            batch,
            "ThreadPoolExecutor.submit+result",
            executor_batch,
            ops=20_000,
            quick_ops=2_000,
            target=1.0,
        ),
        Scenario(
            "one-by-one",
            "start one task and wait for its result, n times",
            "go().result()",
            group_one_by_one,
            "submit().result()",
            executor_one_by_one,
            ops=5_000,
            quick_ops=500,
            target=None,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    try:
        return run_cli(__doc__.split("\n\n")[0], scenarios(), argv)
    finally:
        _executor.shutdown()


if __name__ == "__main__":
    sys.exit(main())
