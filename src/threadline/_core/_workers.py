"""A cached pool of worker threads: the threads that run tasks.

    submit(job) ── fewer than EAGER workers active? ──yes──▶ idle worker, or a new thread
                        │ no
                        ▼
                    _pending ◀── an active worker that finishes a job takes
                        │         the next one here before it goes idle
                        ▼
                    monitor: no job taken from _pending for a tick?
                             then dispatch 1, 2, 4, ... more workers

Starting a task costs a hand-off, not a thread start.  While fewer than
``EAGER`` workers (about one per CPU) are active, a job gets a worker at
once.  Beyond that, jobs queue in ``_pending`` and the active workers take
them back to back, like a fixed pool; this keeps bursts of short tasks from
waking hundreds of threads that would only queue for the interpreter.  But
a task may block for good, so progress must not depend on active workers
finishing: while jobs are pending, a monitor thread checks every ``TICK``
seconds whether any was taken, and if not, dispatches more workers
(idle ones first, else new threads), doubling each tick.  So any number of
tasks can be blocked at once, and each still starts within a few ticks.

A worker idle for ``IDLE_SECONDS`` retires.  Workers are daemon threads, so
an idle pool never delays interpreter exit; task groups guarantee that no
task outlives its group, so no work is cut off by that.

Locking: ``_lock`` (a ``SafeLock``, see ``_locks``: the owner thread
submits under it, and Ctrl-C lands there) guards ``_idle`` (a stack: the most recently idle worker
is reused first, the others age out), additions to ``_pending``,
``_active`` (workers that hold a job) and ``_monitoring``.  An active
worker pops its next job from ``_pending`` without the lock (deque pops are
atomic; only removals happen unlocked, so "non-empty implies monitoring"
still holds) and counts it in ``_taken``, a progress hint for the monitor.
Invariants: a worker is in ``_idle`` only while ``_pending`` is empty at
the time it went idle; ``_pending`` non-empty implies ``_monitoring``.  A
worker popped from ``_idle`` is handed exactly one job through its ``_job``
slot and ``_ready`` lock.  Only a worker removes itself from ``_idle`` to
retire, under ``_lock``, so a worker popped by a dispatcher always runs the
job it was given.

After ``fork()`` the child has none of the parent's threads, so the pool
starts empty there.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from ._locks import SafeLock

IDLE_SECONDS: Final = 10.0
IDLE_NAME: Final = "threadline-worker (idle)"
EAGER: Final = max(2, os.cpu_count() or 2)
TICK: Final = 0.001

Job = Callable[[], None]


class _Worker:
    __slots__ = ("_job", "_ready", "ident")

    def __init__(self) -> None:
        self.ident = 0
        self._ready = threading.Lock()
        self._ready.acquire()
        self._job: Job | None = None


_lock = SafeLock()
_idle: list[_Worker] = []
_pending: deque[Job] = deque()
_active = 0
_taken = 0
_monitoring = False


def submit(job: Job) -> None:
    """Run ``job()`` on a worker thread.  *job* must not raise; it may name
    the thread (the worker renames it when idle)."""
    global _active, _monitoring
    worker = None
    eager = monitor = False
    lock = _lock  # a bare acquire (cheaper than with), guarded as in _locks
    try:
        lock.acquire()
        if _active < EAGER:
            _active += 1
            eager = True
            worker = _idle.pop() if _idle else None
        else:
            _pending.append(job)
            if not _monitoring:
                _monitoring = monitor = True
        lock.release()
    except BaseException:
        try:
            lock.release()
        except RuntimeError:  # not held: already released, or never taken
            pass
        raise
    if eager:
        _dispatch(worker, job)
    elif monitor:
        _start_thread(_monitor, "threadline-pool-monitor", None)


def _dispatch(worker: _Worker | None, job: Job) -> None:
    """Give *job* (already counted in ``_active``) to *worker*, or to a new thread."""
    if worker is not None:
        worker._job = job
        worker._ready.release()
    else:
        _start_thread(_work, "threadline-worker", job)


def _start_thread(target: Callable[[Job | None], None], name: str, job: Job | None) -> None:
    thread = threading.Thread(target=target, args=(job,), name=name, daemon=True)
    thread._threadline_worker = True  # type: ignore[attr-defined]  # for leak checks
    thread.start()


def _work(job: Job | None) -> None:
    global _active, _taken
    worker = _Worker()
    worker.ident = threading.get_ident()
    thread = threading.current_thread()
    popleft = _pending.popleft
    while True:
        assert job is not None
        job()
        job = None  # drop what the job refers to while idle
        try:
            # Without the lock (the owner takes it for every submit; sharing
            # it per job made the threads queue on it): deque pops are atomic.
            job = popleft()
        except IndexError:
            pass
        else:
            _taken += 1  # a progress hint for the monitor; a lost update is harmless
            continue
        with _lock:
            try:  # (not "if _pending:": a worker pops without the lock)
                job = _pending.popleft()
            except IndexError:
                _active -= 1
                _idle.append(worker)
            else:
                _taken += 1
                continue
        thread.name = IDLE_NAME
        if not worker._ready.acquire(timeout=IDLE_SECONDS):
            with _lock:
                if worker in _idle:
                    _idle.remove(worker)
                    return  # retired
            worker._ready.acquire()  # popped just now: its job is on the way
        job, worker._job = worker._job, None


def _monitor(_: Job | None) -> None:
    global _active, _monitoring
    last = -1
    burst = 1
    while True:
        time.sleep(TICK)
        with _lock:
            if not _pending:
                _monitoring = False
                return
            if _taken != last:  # progress: the active workers keep up
                last = _taken
                burst = 1
                continue
            jobs: list[Job] = []
            with contextlib.suppress(IndexError):  # workers pop without the lock
                while len(jobs) < burst:
                    jobs.append(_pending.popleft())
            count = len(jobs)
            workers = [_idle.pop() for _ in range(min(count, len(_idle)))]
            _active += count
            burst *= 2
        for i, job in enumerate(jobs):
            _dispatch(workers[i] if i < len(workers) else None, job)


def idle_count() -> int:
    with _lock:
        return len(_idle)


def idle_idents() -> set[int]:
    """Threads waiting for a job: only a dispatcher (a running thread) can
    wake them."""
    with _lock:
        return {worker.ident for worker in _idle}


def _after_fork_in_child() -> None:
    global _lock, _active, _taken, _monitoring
    _lock = SafeLock()
    _idle.clear()
    _pending.clear()
    _active = _taken = 0
    _monitoring = False


os.register_at_fork(after_in_child=_after_fork_in_child)
