"""pmap benchmarks: per-item overhead, many small items, CPU-bound
speedup, memory, scaling.

Scenarios (ratios of rates measured alternately in one run):

  overhead-W   a trivial function over 20,000 items on W = 2, 4, 8 threads:
               pmap (backend="threads") vs ThreadPoolExecutor(W).map, each
               side creating its pool inside the timing.  Target: pmap no
               slower (ratio >= 1) at every W.
  small-items  a trivial function over 60,000 items, 2 worker processes:
               pmap(backend="processes") vs multiprocessing.Pool(2).map (the
               pool is made in the timing, with the platform's default start
               method; pmap's workers are parked between calls).  Target:
               within 2x of Pool.map's time (ratio >= 0.5).
  cpu-loop     pure-Python CPU work (~2 ms an item), 2 workers: pmap
               (backend="processes") vs a plain loop.  Target >= 1.8x on
               2 cores.  pmap parks its worker processes for reuse by the
               next call (as joblib does), so their start-up falls in the
               warm-up.
  cpu-pool     the same vs multiprocessing.Pool(2).imap (the pool is made
               in the timing: fork start-up is a few ms).  Target >= 1.
  cpu-joblib   the same vs joblib.Parallel(n_jobs=2) (its workers stay up
               between calls).  Target >= 1.

  --memory N   pmap over N items (default 10 million; quick: 500,000),
               reporting the resident set size as it goes: it must stay
               flat (no input or result accumulates).
  --scaling    throughput of the CPU work for 1, 2, 4 ... workers, threads
               vs processes (and interpreters on 3.14+; the curve in
               docs/parallel.md).

    python bench/parallel.py [--quick] [--json FILE] [--memory [N]] [--scaling]
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import resource
import subprocess
import sys
import time

from _harness import RunFn, Scenario, run_cli

import threadline as tl

CPU_UNIT = 40_000  # loop steps per item: about 2 ms of pure Python here


def identity(x: int) -> int:
    return x


def square(x: int) -> int:
    return x * x


def burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


# -- overhead ----------------------------------------------------------------------------


def pmap_trivial(workers: int) -> RunFn:
    def run(n: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        for _ in tl.pmap(identity, range(n), workers=workers, backend="threads"):
            pass
        return n, time.perf_counter() - t0

    return run


def executor_trivial(workers: int) -> RunFn:
    def run(n: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as executor:
            for _ in executor.map(identity, range(n)):
                pass
        return n, time.perf_counter() - t0

    return run


# -- many small items on processes -------------------------------------------------------


def pmap_small(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    for _ in tl.pmap(square, range(n), workers=2, backend="processes"):
        pass
    return n, time.perf_counter() - t0


def pool_map_small(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        for _ in pool.map(square, range(n)):
            pass
    return n, time.perf_counter() - t0


# -- CPU-bound ---------------------------------------------------------------------------


def pmap_cpu(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    for _ in tl.pmap(burn, [CPU_UNIT] * n, workers=2, backend="processes"):
        pass
    return n, time.perf_counter() - t0


def loop_cpu(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    for x in [CPU_UNIT] * n:
        burn(x)
    return n, time.perf_counter() - t0


def pool_cpu(n: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        for _ in pool.imap(burn, [CPU_UNIT] * n):
            pass
    return n, time.perf_counter() - t0


def joblib_cpu(n: int) -> tuple[int, float]:
    import joblib  # noqa: PLC0415 - a benchmark-only dependency

    t0 = time.perf_counter()
    for _ in joblib.Parallel(n_jobs=2, return_as="generator")(
        joblib.delayed(burn)(x) for x in [CPU_UNIT] * n
    ):
        pass
    return n, time.perf_counter() - t0


def scenarios() -> list[Scenario]:
    overhead = [
        Scenario(
            f"overhead-{workers}",
            f"a trivial function over n items, {workers} threads (pools made in the timing)",
            'pmap(backend="threads")',
            pmap_trivial(workers),
            f"ThreadPoolExecutor({workers}).map",
            executor_trivial(workers),
            ops=20_000,
            quick_ops=5_000,
            target=1.0,
        )
        for workers in (2, 4, 8)
    ]
    return [
        *overhead,
        Scenario(
            "small-items",
            "a trivial function over n items, 2 worker processes",
            'pmap(backend="processes")',
            pmap_small,
            "multiprocessing.Pool(2).map",
            pool_map_small,
            ops=60_000,
            quick_ops=60_000,
            target=0.5,
        ),
        Scenario(
            "cpu-loop",
            "pure-Python CPU work (~2 ms an item), 2 workers",
            'pmap(backend="processes")',
            pmap_cpu,
            "plain loop",
            loop_cpu,
            ops=400,
            quick_ops=60,
            target=1.8,
        ),
        Scenario(
            "cpu-pool",
            "pure-Python CPU work (~2 ms an item), 2 workers",
            'pmap(backend="processes")',
            pmap_cpu,
            "multiprocessing.Pool.imap",
            pool_cpu,
            ops=400,
            quick_ops=60,
            target=1.0,
        ),
        Scenario(
            "cpu-joblib",
            "pure-Python CPU work (~2 ms an item), 2 workers",
            'pmap(backend="processes")',
            pmap_cpu,
            "joblib.Parallel(n_jobs=2)",
            joblib_cpu,
            ops=400,
            quick_ops=60,
            target=1.0,
        ),
    ]


# -- memory ------------------------------------------------------------------------------


def rss_mib() -> float:
    """The current resident set size (Linux), else the peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(n: int) -> None:
    step = max(n // 10, 1)
    t0 = time.perf_counter()
    print(f"  {'items':>12}  {'RSS MiB':>8}  {'s':>6}", flush=True)
    for i, _ in enumerate(tl.pmap(identity, range(n), workers=2, backend="threads"), 1):
        if i % step == 0:
            print(f"  {i:>12,}  {rss_mib():8.1f}  {time.perf_counter() - t0:6.1f}", flush=True)


def memory(n: int) -> int:
    print(f"\nmemory: pmap(identity, range({n:,})) on 2 threads; resident set size as it goes")
    done = subprocess.run([sys.executable, __file__, "--memory-child", str(n)], check=False)
    return done.returncode


# -- scaling -----------------------------------------------------------------------------


def scaling(quick: bool) -> None:
    items = 40 if quick else 200
    counts = [1, 2, 4] if quick else sorted({1, 2, 4, 8, os.cpu_count() or 1})
    # interpreters: Python 3.14+ (concurrent.futures.InterpreterPoolExecutor)
    backends = ["threads", "processes"]
    if sys.version_info >= (3, 14):
        backends.append("interpreters")
    print(f"\nscaling: {items} items of ~2 ms pure-Python work, items/s (speedup vs 1 worker)")
    print("  " + "  ".join([f"{'workers':>7}", *(f"{b:>16}" for b in backends)]))
    base: dict[str, float] = {}
    list(tl.pmap(burn, [1] * 100, workers=max(counts), backend="processes"))  # start them
    for count in counts:
        cells = []
        for backend in backends:
            t0 = time.perf_counter()
            for _ in tl.pmap(burn, [CPU_UNIT] * items, workers=count, backend=backend):
                pass
            rate = items / (time.perf_counter() - t0)
            base.setdefault(backend, rate)
            cells.append(f"{rate:7.0f} ({rate / base[backend]:.2f}x)")
        print("  " + "  ".join([f"{count:>7}", *(f"{c:>16}" for c in cells)]), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--memory-child"]:
        memory_child(int(args[1]))
        return 0
    quick = "--quick" in args
    memory_items = None
    if "--memory" in args:
        at = args.index("--memory")
        value = args[at + 1] if at + 1 < len(args) and args[at + 1].isdigit() else None
        memory_items = int(value) if value else (500_000 if quick else 10_000_000)
        del args[at : at + (2 if value else 1)]
    do_scaling = "--scaling" in args
    if do_scaling:
        args.remove("--scaling")
    status = run_cli(__doc__.split("\n\n")[0], scenarios(), args)
    if memory_items is not None:
        status = status or memory(memory_items)
    if do_scaling:
        scaling(quick)
    return status


if __name__ == "__main__":
    sys.exit(main())
