"""Data parallelism with pmap: count primes in ranges, in parallel.

backend="auto" runs this CPU-bound work in threads on a free-threaded build
(the GIL disabled) and in worker processes otherwise (pmap's default,
threads, would not run it in parallel with the GIL); the same call can run on a
dask cluster with backend=client.get_executor().  Results come in input
order, lazily, with a progress bar on stderr.

    python examples/parallel_map.py
"""

from __future__ import annotations

import sys
import time

import threadline as tl

CHUNK = 20_000


def count_primes(start: int) -> int:
    """How many primes lie in [start, start + CHUNK): pure-Python CPU work."""
    count = 0
    for n in range(max(start, 2), start + CHUNK):
        if n % 2 == 0:
            count += n == 2
            continue
        f = 3
        while f * f <= n:
            if n % f == 0:
                break
            f += 2
        else:
            count += 1
    return count


def main() -> None:
    starts = range(0, 40 * CHUNK, CHUNK)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"GIL {'enabled: worker processes' if gil else 'disabled: threads'} (backend='auto')")

    t0 = time.perf_counter()
    serial = [count_primes(s) for s in starts]
    loop = time.perf_counter() - t0

    t0 = time.perf_counter()
    parallel = list(tl.pmap(count_primes, starts, backend="auto", progress=True))
    mapped = time.perf_counter() - t0

    assert parallel == serial
    print(f"{sum(parallel)} primes below {starts[-1] + CHUNK:,}")
    print(f"plain loop {loop:.2f} s, pmap {mapped:.2f} s: {loop / mapped:.2f}x")

    # A failure stops the work and is raised after every earlier result.
    results = tl.pmap(check_small, range(100), workers=2)
    total = 0
    try:
        for r in results:
            total += r
    except ValueError as exc:
        print(f"the sum of the 42 results before it: {total}; then {exc!r}")


def check_small(x: int) -> int:
    if x == 42:
        raise ValueError(f"item {x} is too large")
    return x


if __name__ == "__main__":
    main()
