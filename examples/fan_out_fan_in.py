"""Fan-out / fan-in: a producer, a pool of workers, one collector.

::

                     +-> worker 0 -+
    producer -> jobs +-> worker 1 -+-> results -> collector (main thread)
                     +-> worker 2 -+
                     +-> worker 3 -+
            quit: closed by the collector to stop everybody early

The producer sends jobs on ``jobs``; four worker threads take them as they
become free (fan-out), hash the payload, and send a result on ``results``
(fan-in).  Every blocking step of the producer and the workers is a
``select`` that also watches ``quit``: when the collector closes ``quit``,
a receive from it becomes ready in every one of those selects, so each
thread stops at its next step, whatever it was waiting for.  The collector
itself waits with a ``timeout`` as a watchdog: if no result arrives for
a while, something is stuck, and it closes ``quit`` rather than hang.

Normal shutdown is by ``close``: the producer closes ``jobs`` when it has
sent everything; a worker returns when ``jobs`` is closed and drained; a
small closer thread joins the workers and then closes ``results``, which
ends the collector's loop.

Two runs:
  1. all jobs: the collected digests are checked against a sequential
     computation (output is the same every run);
  2. a search that stops early: the collector closes ``quit`` at the first
     digest with a given prefix.  Which worker finds it, and how much
     other work had finished by then, vary from run to run.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import threadline as tl

WORKERS = 4
ROUNDS = 200  # sha256 rounds per job: the simulated work


@dataclass(frozen=True)
class Job:
    id: int
    payload: bytes


@dataclass(frozen=True)
class Result:
    job_id: int
    worker: int
    digest: str


def work(payload: bytes) -> str:
    digest = payload
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def make_job(i: int) -> Job:
    return Job(i, f"job-{i}".encode())


def producer(jobs: tl.Channel[Job], quit: tl.Channel[None], count: int) -> None:
    """Send *count* jobs, or fewer if *quit* is closed; then close *jobs*."""
    with jobs:
        for i in range(count):
            if tl.select((jobs, make_job(i)), quit).index == 1:
                return  # quit: stop producing


def worker(
    k: int, jobs: tl.Channel[Job], results: tl.Channel[Result], quit: tl.Channel[None]
) -> None:
    """Process jobs until *jobs* is closed and drained, or *quit* is closed."""
    while True:
        sel = tl.select(jobs, quit)
        if sel.index == 1 or not sel.ok:  # quit, or no more jobs
            return
        job: Job = sel.value
        result = Result(job.id, k, work(job.payload))
        if tl.select((results, result), quit).index == 1:
            return  # nobody wants the result any more


@dataclass
class Run:
    results: list[Result]
    stopped_early: bool
    stalled: bool


def run_pipeline(
    count: int, stop_when: Callable[[Result], bool] | None = None, stall: float = 5.0
) -> Run:
    """Run the pipeline over *count* jobs and collect the results.

    *stop_when*: close ``quit`` as soon as a result satisfies it.
    *stall*: seconds without any result after which the collector gives up.
    """
    jobs: tl.Channel[Job] = tl.Channel(2 * WORKERS)
    results: tl.Channel[Result] = tl.Channel(2 * WORKERS)
    quit: tl.Channel[None] = tl.Channel()

    workers = [
        threading.Thread(target=worker, args=(k, jobs, results, quit), name=f"worker-{k}")
        for k in range(WORKERS)
    ]

    def close_results_when_workers_are_done() -> None:
        for w in workers:
            w.join()
        results.close()

    threads = [
        threading.Thread(target=producer, args=(jobs, quit, count), name="producer"),
        *workers,
        threading.Thread(target=close_results_when_workers_are_done, name="closer"),
    ]
    for t in threads:
        t.start()

    collected: list[Result] = []
    stopped_early = stalled = False
    while True:
        try:
            sel = tl.select(results, timeout=stall)
        except TimeoutError:  # the watchdog: nothing arrived for `stall` seconds
            stalled = True
            quit.close()
            continue  # keep draining until the closer closes results
        if not sel.ok:  # results closed: every worker has returned
            break
        result: Result = sel.value
        collected.append(result)
        if stop_when is not None and not stopped_early and stop_when(result):
            stopped_early = True
            quit.close()  # everybody stops at their next select

    for t in threads:
        t.join()
    return Run(collected, stopped_early, stalled)


def main() -> int:
    count = 400
    run = run_pipeline(count)
    by_id = sorted(run.results, key=lambda r: r.job_id)
    expected = [work(make_job(i).payload) for i in range(count)]
    combined = hashlib.sha256("".join(r.digest for r in by_id).encode()).hexdigest()
    print(f"run 1: {count} jobs, {WORKERS} workers, {ROUNDS} sha256 rounds each")
    print(f"  results collected:     {len(by_id)}")
    print(f"  every job exactly once: {[r.job_id for r in by_id] == list(range(count))}")
    print(f"  matches sequential:    {[r.digest for r in by_id] == expected}")
    print(f"  combined digest:       {combined[:16]}")
    print(f"  watchdog fired:        {run.stalled}")

    prefix = "000"
    search = run_pipeline(10_000, stop_when=lambda r: r.digest.startswith(prefix))
    hits = [r for r in search.results if r.digest.startswith(prefix)]
    print(f"run 2: search 10000 jobs for a digest starting with {prefix!r}, stop at the first")
    print(f"  stopped early:         {search.stopped_early}")
    if hits:
        first = hits[0]
        verified = work(make_job(first.job_id).payload) == first.digest
        print(f"  first hit:             job {first.job_id} (worker {first.worker}: varies)")
        print(f"  hit verified:          {verified}")
    print(f"  results before stop:   {len(search.results)} of 10000 (varies)")
    print("all threads joined")
    return 0 if run.results and not run.stalled else 1


if __name__ == "__main__":
    sys.exit(main())
