"""The engine behind pmap: a feeder, N drivers and the group that owns them.

    consumer thread                 background group (a pool task owns it)
    for r in pmap(fn, items):       ┌───────────────────────────────────────┐
        ◀── results (unbounded) ────│ N drivers: run items (a backend each)  │
        ── credits (window) ──────▶ │ feeder: next(items) per credit → jobs  │
                                    └───────────────────────────────────────┘

The feeder takes an item from the input only after taking a credit; the
consumer returns a credit for each result it hands out.  So at most
``window`` items are taken from the input ahead of the consumer, and an
infinite input is fine.  ``jobs`` holds ``(index, item)`` pairs in input
order (FIFO), so every item still in ``jobs`` comes after every item a
driver has taken.  Drivers send lists of ``(index, ok, value)`` to
``results`` (a whole batch in one message, so the consumer wakes once).

Failure: the first failing item's index is recorded (``failed``); the
feeder stops, items after it are skipped, and calls already running after
it are cancelled through their scopes.

Locking: ``lock`` guards ``failed`` and ``running`` (the scopes of calls in
progress, keyed by their first item's index); a call is registered only
after checking ``failed`` under the lock, so ``fail`` cancels every call
after the failing item.  Everything else moves through channels.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from .._channel import Channel
from .._core._scope import CancelScope
from .._errors import ChannelClosed
from .._tasks import TaskGroup

Job = tuple[int, Any]
Outcome = tuple[int, bool, Any]  # (index, ok, value or exception)


class Runner(Protocol):
    """A backend: how many drivers to start, what each does, and cleanup."""

    drivers: int

    def drive(self, engine: Engine, jobs: Channel[Job]) -> None: ...

    def shutdown(self) -> None: ...


class Engine:
    """The background half of a pmap.  It holds no reference to the
    ``PMap`` handle, so an abandoned handle is collected, and its finalizer
    cancels the engine."""

    def __init__(self, items: Iterator[Any], window: int, runner: Runner) -> None:
        self.items = items
        self.window = window
        self.runner = runner
        self.results: Channel[list[Outcome]] = Channel(math.inf)
        self.credits: Channel[None] = Channel(window)
        for _ in range(window):
            self.credits.send(None)
        self.lock = threading.Lock()
        self.failed = math.inf  # index of the first failing item
        self.running: dict[int, CancelScope] = {}
        self.group: TaskGroup | None = None
        self.cancel_requested = False  # set by a finalizer, before the group may exist
        self.started = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with TaskGroup() as group:
                self.group = group
                if self.cancel_requested:  # see request_cancel
                    group.cancel()
                self.started.set()
                jobs: Channel[Job] = Channel(self.window)
                group.go(self.feed, jobs)
                for _ in range(self.runner.drivers):
                    group.go(self.runner.drive, self, jobs)
        except BaseException as exc:  # a deadlock, or a bug: never lose it
            self.error = exc
        finally:
            self.started.set()
            try:
                self.runner.shutdown()
            except BaseException as exc:
                self.error = self.error or exc
            self.results.close()
            self.finished.set()

    # -- for the feeder and the drivers ----------------------------------

    def fail(self, index: int) -> None:
        """Item *index* failed: stop intake and cancel the calls after it."""
        with self.lock:
            if index >= self.failed:
                return
            self.failed = index
            later = [scope for i, scope in self.running.items() if i > index]
        for scope in later:
            scope.cancel()

    def feed(self, jobs: Channel[Job]) -> None:
        with jobs:
            index = 0
            while True:
                self.credits.recv()
                if index > self.failed:
                    return
                try:
                    item = next(self.items)
                except StopIteration:
                    return
                except Exception as exc:  # the input failed: like a failing item
                    self.deliver(index, False, exc)
                    return
                jobs.send((index, item))
                index += 1

    def take(self, jobs: Channel[Job], limit: int, *, block: bool = True) -> list[Job] | None:
        """Up to *limit* jobs that are not skipped: the first waited for (if
        *block*), the rest only if ready.  None once ``jobs`` is closed and
        drained.  (``failed`` is read without the lock here: a stale value
        only lets a job through to ``begin``, which checks again.)"""
        batch: list[Job] = []
        try:
            if block:
                while not batch:
                    job = jobs.recv()
                    if job[0] < self.failed:
                        batch.append(job)
            while len(batch) < limit:
                ready, ok = jobs.try_recv()
                if not ok:
                    break
                assert ready is not None
                if ready[0] < self.failed:
                    batch.append(ready)
        except ChannelClosed:
            return batch or None
        return batch

    def begin(self, index: int, scope: CancelScope) -> bool:
        """Register the call starting at *index*; False if it is skipped."""
        with self.lock:
            if index > self.failed:
                return False
            self.running[index] = scope
            return True

    def end(self, index: int) -> None:
        with self.lock:
            del self.running[index]

    def deliver(self, index: int, ok: bool, value: Any) -> None:
        self.deliver_all([(index, ok, value)])

    def deliver_all(self, outcomes: list[Outcome]) -> None:
        """Send *outcomes* in one message, after recording the first failure."""
        for index, ok, _ in outcomes:
            if not ok:
                self.fail(index)
                break
        self.results.send(outcomes)

    def cancel(self) -> None:
        self.started.wait()
        if self.group is not None:
            self.group.cancel()

    def request_cancel(self) -> None:
        """Cancel without waiting or locking (for a finalizer).  The flag is
        set before ``group`` is read, and ``run`` sets ``group`` before it
        reads the flag, so one of the two sides cancels."""
        self.cancel_requested = True
        group = self.group
        if group is not None:
            group.cancel()
