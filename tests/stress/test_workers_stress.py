"""The worker pool under a tiny switch interval: workers pop jobs without
the pool's lock while the monitor dispatches more; every job runs exactly
once, and blocked jobs never stop the others from starting."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from threadline._core import _workers

pytestmark = pytest.mark.timeout(60)


def test_every_job_runs_exactly_once_while_some_block() -> None:
    ran: Counter[int] = Counter()
    lock = threading.Lock()
    total = 3000
    blockers = 12  # more than EAGER: only the monitor can start the rest
    gate = threading.Event()
    all_done = threading.Event()

    def job(n: int) -> None:
        if n < blockers:
            gate.wait(30)
        with lock:
            ran[n] += 1
            if sum(ran.values()) == total:
                all_done.set()
        if n == total - 1:
            gate.set()  # the last quick job frees the blocked ones

    def submitter(start: int, stop: int) -> None:
        for n in range(start, stop):
            _workers.submit(lambda n=n: job(n))

    _workers.submit(lambda: None)
    threads = [threading.Thread(target=submitter, args=(0, blockers))]
    threads += [
        threading.Thread(target=submitter, args=(k, min(k + 500, total)))
        for k in range(blockers, total, 500)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all_done.wait(30), f"{total - sum(ran.values())} jobs never ran"
    assert ran == Counter(range(total))
