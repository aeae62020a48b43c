"""A cached pool of worker threads: the threads that run tasks.

A job goes to an idle worker if there is one, else to a new thread; so
starting a task costs a hand-off, not a thread start, and any number of
tasks can be blocked at once.  A worker that stays idle for
``IDLE_SECONDS`` retires.  Workers are daemon threads, so an idle pool never
delays interpreter exit; task groups guarantee that no task outlives its
group, so no work is cut off by that.

Locking: ``_lock`` guards ``_idle`` (a stack: the most recently idle worker
is reused first, the others age out).  A worker is handed exactly one job
through its ``_job`` slot and ``_ready`` lock (released once per job, by the
submitter that popped it from ``_idle``).  Only a worker removes itself from
``_idle`` to retire, under ``_lock``, so a worker popped by a submitter
always runs the job it was given.

After ``fork()`` the child has none of the parent's threads, so the pool
starts empty there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Final

IDLE_SECONDS: Final = 10.0
IDLE_NAME: Final = "threadline-worker (idle)"

Job = Callable[[], None]


class _Worker:
    __slots__ = ("_job", "_ready", "ident")

    def __init__(self) -> None:
        self.ident = 0
        self._ready = threading.Lock()
        self._ready.acquire()
        self._job: tuple[Job, str] | None = None


_lock = threading.Lock()
_idle: list[_Worker] = []


def submit(job: Job, name: str) -> None:
    """Run ``job()`` on a worker thread named *name*.  *job* must not raise."""
    with _lock:
        worker = _idle.pop() if _idle else None
    if worker is not None:
        worker._job = (job, name)
        worker._ready.release()
        return
    thread = threading.Thread(target=_work, args=(_Worker(), job, name), name=name, daemon=True)
    thread._threadline_worker = True  # type: ignore[attr-defined]  # for leak checks
    thread.start()


def _work(worker: _Worker, job: Job, name: str) -> None:
    thread = threading.current_thread()
    worker.ident = threading.get_ident()
    while True:
        thread.name = name
        job()
        del job  # drop what the job refers to while idle
        thread.name = IDLE_NAME
        with _lock:
            _idle.append(worker)
        if not worker._ready.acquire(timeout=IDLE_SECONDS):
            with _lock:
                if worker in _idle:
                    _idle.remove(worker)
                    return  # retired
            worker._ready.acquire()  # popped just now: its job is on the way
        assert worker._job is not None
        (job, name), worker._job = worker._job, None


def idle_count() -> int:
    with _lock:
        return len(_idle)


def idle_idents() -> set[int]:
    """Threads waiting for a job: only a submitter (a running thread) can
    wake them."""
    with _lock:
        return {worker.ident for worker in _idle}


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
