"""The engine behind pmap: drivers that take batches from the input, run
them (each as its backend says) and deliver chunks of results that the
consumers hand out.

    consumer threads              background group (a pool task owns it)
    for r in pmap(fn, items):     ┌──────────────────────────────────────────────┐
        ◀── ready ◀── chunks ──── │ threads: N drivers, each in a loop:           │
        ── credits (window) ────▶ │   take (next(items), one reader at a time),   │
                                  │   run the batch, deliver its chunk            │
                                  │ batched: a feeder takes batches into ``jobs``; │
                                  │   N drivers send them to workers, two in      │
                                  │   flight each, and deliver the replies        │
                                  └──────────────────────────────────────────────┘

Intake: a batch is taken only with a credit (one per item on threads, one
per batch on the batched backends) and only while nobody else reads the
input, so ``next(items)`` is called by one thread at a time, outside the
lock.  A consumer returns a chunk's credits once every value of it has been
handed out (when it finds ``ready`` empty).  So at most ``window`` credits'
worth of input is taken ahead of the consumers, and an infinite input is
fine.  On the batched backends a feeder task is the only reader, so a
driver waiting for a worker's reply never waits for the input as well.

Results: a chunk is ``(first, values, error, cost)``: the results of items
``first``, ``first + 1``, ... and, if ``error`` is set, the exception of the
item after them.  Consumers pop values from ``ready`` (a deque: its pops are
atomic, so the common case takes no lock) and refill it under the lock with
the next chunk (the chunk at ``want``, when ordered), which keeps every
value delivered exactly once and in order across any number of consumers.

Waking: an idle driver waits for a credit or for its turn to read; the
reader wakes the next one when it is done, and a consumer wakes one when
half the window is free again or when it is about to wait itself (so the
drivers run in long stretches instead of one wake-up per item).  A driver
that delivers the chunk the consumers wait for wakes every one of them.

Failure: the first failing item's index is recorded in ``failed``; intake
stops, and every driver whose oldest batch in progress comes after it (and
the feeder) is cancelled through its scope.  Items before it still
complete.  Any exception raised by ``fn`` or the input is a failure, except
a ``Cancelled`` that pmap itself caused (the driver's scope was cancelled).

Locking: ``lock`` guards every field below it in ``__init__`` (and the
``first`` of each driver).  Waiters are fired under it (a waiter's lock is
a leaf); scopes are cancelled, tasks started and the input read with no
lock held.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from itertools import islice
from typing import Any, Protocol

from .._channel import Channel
from .._core._scope import CancelScope, checkpoint, outcome_error, park
from .._core._waiter import Waiter
from .._errors import ChannelClosed
from .._tasks import TaskGroup

# (first index, values, the exception of item first + len(values) or None, credits)
Chunk = tuple[int, list[Any], BaseException | None, int]


class Runner(Protocol):
    """A backend: how many drivers to start, what each does, and cleanup.
    ``per_item``: the window counts items (else batches)."""

    drivers: int
    per_item: bool

    def drive(self, engine: Engine, driver: Driver) -> None: ...

    def shutdown(self) -> None: ...


class Driver:
    """One driver's entry in the engine.  ``first`` (under the engine's
    lock) is the first index of its oldest batch in progress, ``inf`` when
    it has none; ``scope`` is cancelled when a failure before that batch
    (or ``close()``) makes its work useless."""

    __slots__ = ("first", "scope")

    def __init__(self, scope: CancelScope) -> None:
        self.first = math.inf
        self.scope = scope


class Engine:
    """The shared state of one pmap.  It holds no reference to the ``PMap``
    handle, so an abandoned handle is collected, and its finalizer cancels
    the engine."""

    def __init__(self, items: Iterator[Any], window: int, runner: Runner, ordered: bool) -> None:
        self.items = items
        self.window = window
        self.runner = runner
        self.ordered = ordered
        self.per_item = runner.per_item
        self.wake_at = max(1, window // 2)
        self.ready: deque[Any] = deque()  # values to hand out, in order; popped without the lock
        # batched backends: batches read ahead by the feeder (see _feed)
        self.jobs: Channel[tuple[int, list[Any]]] = Channel(runner.drivers)
        self.group: TaskGroup | None = None
        self.cancel_requested = False  # set by a finalizer, without the lock
        self.started = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None  # the group's own failure (a bug, a deadlock)
        self.lock = threading.Lock()
        # -- intake
        self.credits = window
        self.batch_size = 1  # batched backends: the feeder's, set by the drivers
        self.reading = False  # a driver is calling next(items)
        self.next_index = 0
        self.exhausted = False  # the input ended (or raised)
        self.failed = math.inf  # index of the first failing item
        self.closed = False
        self.idle: list[Waiter] = []  # drivers waiting for credits or their turn, LIFO
        self.drivers: list[Driver] = []
        # -- results
        self.results: Channel[Chunk] = Channel(math.inf)  # chunks not yet filed below
        self.chunks: dict[int, Chunk] = {}  # ordered: by first index
        self.fifo: deque[Chunk] = deque()  # unordered: as they came
        self.want = 0  # ordered: the index of the next value to hand out
        self.held = 0  # the credits of the chunk in ready, returned once it is empty
        self.failure: BaseException | None = None  # to raise once ready is empty
        self.consumers: list[Waiter] = []
        self.done = False  # every driver has returned

    # -- the group (a pool task) ------------------------------------------------

    def run(self) -> None:
        try:
            with TaskGroup() as group:
                self.group = group
                if self.cancel_requested:  # see request_cancel
                    group.cancel()
                self.started.set()
                if not self.per_item:
                    group.go(self._feed, self.jobs)
                for _ in range(self.runner.drivers):
                    group.go(self._drive)
        except BaseException as exc:  # a deadlock, or a bug: never lose it
            self.error = exc
        finally:
            self.started.set()
            try:
                self.runner.shutdown()
            except BaseException as exc:
                self.error = self.error or exc
            with self.lock:
                self.done = True
                self.results.close()
                self._wake_consumers_locked()
            self.finished.set()

    def _feed(self, jobs: Channel[tuple[int, list[Any]]]) -> None:
        """Batched backends: read the input into *jobs* ahead of the
        drivers, so a driver waiting for its replies never waits for the
        input too.  Cancelled (as the reader) by any failure."""
        with jobs, CancelScope() as scope:
            feeder = Driver(scope)
            with self.lock:
                if self.closed:
                    return
                self.drivers.append(feeder)
            while True:
                batch = self.take(feeder, register=False)
                if batch is None:
                    return
                jobs.send(batch)

    def begin(self, driver: Driver, first: int) -> bool:
        """Batched backends: a driver starts the batch at *first*; False if
        it comes after a failure (or after close)."""
        with self.lock:
            if first > self.failed or self.closed:
                return False
            if driver.first == math.inf:
                driver.first = first
            return True

    def _drive(self) -> None:
        with CancelScope() as scope:
            driver = Driver(scope)
            with self.lock:
                if self.closed:
                    return
                self.drivers.append(driver)
            self.runner.drive(self, driver)

    # -- for the drivers ----------------------------------------------------------

    def _stopping_locked(self) -> bool:
        return self.closed or self.exhausted or self.failed != math.inf or self.cancel_requested

    def take(
        self, driver: Driver, size: int | None = None, *, register: bool = True
    ) -> tuple[int, list[Any]] | None:
        """The next batch from the input: ``(first index, items)``, at most
        *size* items (default: ``batch_size``; fewer on threads when fewer
        credits are left), waiting for a credit and for the turn to read.
        None when intake has stopped.  The batch is registered as the
        driver's if it has none in progress (unless not *register*)."""
        waiter: Waiter | None = None
        while True:
            with self.lock:
                if self._stopping_locked():
                    return None
                if not self.reading and self.credits > 0:
                    self.reading = True
                    want = self.batch_size if size is None else size
                    count = min(want, self.credits) if self.per_item else want
                    self.credits -= count if self.per_item else 1
                    first = self.next_index
                    break
                waiter = Waiter()
                self.idle.append(waiter)
            try:
                park(waiter, None)
            finally:
                if waiter.case is None or waiter.case < 0:
                    with self.lock:
                        if waiter in self.idle:
                            self.idle.remove(waiter)
            if waiter.case is not None and waiter.case < 0:
                raise outcome_error(waiter)
        try:
            items, error = self._read(count)
        except BaseException:  # cancelled while reading: let the next driver see it
            with self.lock:
                self.reading = False
                self._wake_idle_locked()
            raise
        cancel: list[CancelScope] = []
        with self.lock:
            self.reading = False
            self.next_index = first + len(items)
            if len(items) < count:
                self.exhausted = True
                if self.per_item:
                    self.credits += count - len(items)
                elif not items:
                    self.credits += 1
            if items and self.failed < first:
                items = []  # a failure before them while they were read
            if items and register and driver.first == math.inf:
                driver.first = first
            if error is not None:
                index = first + len(items)
                self._store_locked((index, [], error, 0))
                cancel = self._fail_locked(index)
            self._wake_idle_locked()
        for scope in cancel:
            scope.cancel()
        return (first, items) if items else None

    def _read(self, count: int) -> tuple[list[Any], BaseException | None]:
        """Up to *count* items, and the exception the input raised, if any."""
        items: list[Any] = []
        try:
            if count == 1:
                items.append(next(self.items))
            else:
                for item in islice(self.items, count):
                    items.append(item)  # noqa: PERF402 - keeps those read before an exception
        except StopIteration:
            pass
        except BaseException as exc:  # the input failed: like a failing item
            checkpoint()  # unless it was this driver being cancelled
            return items, exc
        return items, None

    def _wake_idle_locked(self) -> None:
        """After reading: every idle driver if intake stopped (they
        return), else the next one while there are credits."""
        if self._stopping_locked():
            idle, self.idle = self.idle, []
            for waiter in idle:
                waiter.fire(0)
        elif self.credits > 0:
            self._wake_one_idle_locked()

    def _wake_one_idle_locked(self) -> None:
        while self.idle:
            if self.idle.pop().fire(0):
                return

    def deliver(
        self,
        driver: Driver,
        first: int,
        values: list[Any],
        error: BaseException | None = None,
        *,
        cost: int = 1,
        oldest: float = math.inf,
        next_size: int = 0,
    ) -> None:
        """Hand in the chunk of the batch at *first*.  *oldest*: the first
        index of the driver's oldest batch still in progress after this;
        *next_size*, if set, the size the feeder's next batches should be."""
        cancel: list[CancelScope] = []
        with self.lock:
            driver.first = oldest
            if next_size:
                self.batch_size = next_size
            if self.closed:
                return
            if error is not None:
                cancel = self._fail_locked(first + len(values))
            self._store_locked((first, values, error, cost))
        for scope in cancel:
            scope.cancel()

    def _store_locked(self, chunk: Chunk) -> None:
        """Send *chunk* to the consumers; wake them if it is the one they
        wait for.  (Through a channel, which never blocks here: its send and
        receive order the driver's work before the consumer's, also for
        ``threadline race``.)"""
        if self.closed:
            return
        self.results.try_send(chunk)
        if not self.ordered or chunk[0] == self.want:
            self._wake_consumers_locked()

    def _fail_locked(self, index: int) -> list[CancelScope]:
        """Item *index* failed: stop intake; the scopes to cancel (after
        releasing the lock) are those of the drivers busy after it."""
        if index >= self.failed:
            return []
        self.failed = index
        self._wake_idle_locked()
        return [driver.scope for driver in self.drivers if driver.first > index]

    def _wake_consumers_locked(self) -> None:
        consumers, self.consumers = self.consumers, []
        for waiter in consumers:
            waiter.fire(0)

    # -- for the consumers --------------------------------------------------------

    def refill(self) -> Any:
        """The next value, for a consumer that found ``ready`` empty: moves
        the next chunk into ``ready`` (returning its credits), or raises the
        failure, or ``StopIteration`` at the end; waits if need be."""
        while True:
            with self.lock:
                try:  # refilled by another consumer meanwhile?  (others pop without the lock)
                    return self.ready.popleft()
                except IndexError:
                    pass
                if self.closed:
                    raise StopIteration
                failure = self.failure
                if failure is not None:  # every value before it is handed out
                    self.failure = None
                    self.closed = True
                    raise failure
                self.credits += self.held  # ready is empty: that chunk is handed out
                self.held = 0
                self._collect_locked()
                chunk = self._next_chunk_locked()
                if chunk is not None:
                    first, values, error, self.held = chunk
                    self.want = first + len(values)
                    if self.idle and self.credits >= self.wake_at and not self.reading:
                        self._wake_one_idle_locked()
                    if error is not None:
                        self.failure = error
                    if not values:
                        continue
                    if len(values) > 1:
                        self.ready.extend(islice(values, 1, None))
                        if self.consumers:
                            self._wake_consumers_locked()  # more for the others
                    return values[0]
                if self.done:
                    self.closed = True
                    self._raise_end_locked()
                if self.idle and self.credits > 0 and not self.reading:
                    self._wake_one_idle_locked()  # nothing to hand out: they must run
                waiter = Waiter()
                self.consumers.append(waiter)
            try:
                park(waiter, None)
            finally:
                if waiter.case is None or waiter.case < 0:
                    with self.lock:
                        if waiter in self.consumers:
                            self.consumers.remove(waiter)
            if waiter.case is not None and waiter.case < 0:
                raise outcome_error(waiter)

    def _collect_locked(self) -> None:
        """File the chunks that have arrived."""
        try:
            while True:
                chunk, ok = self.results.try_recv()
                if not ok or chunk is None:
                    return
                if self.ordered:
                    self.chunks[chunk[0]] = chunk
                else:
                    self.fifo.append(chunk)
        except ChannelClosed:
            return

    def _next_chunk_locked(self) -> Chunk | None:
        if self.ordered:
            return self.chunks.pop(self.want, None)
        return self.fifo.popleft() if self.fifo else None

    def _raise_end_locked(self) -> None:
        error = self.error
        if error is not None:
            if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                raise error.exceptions[0]
            raise error
        if self.chunks or self.fifo:
            raise RuntimeError(
                f"pmap lost the result of item {self.want} (a bug in threadline: please report it)"
            )
        raise StopIteration

    # -- stopping -------------------------------------------------------------------

    def close(self) -> None:
        """Stop the work and wait until no driver runs."""
        with self.lock:
            self.closed = True
            self.results.close()
            self.ready.clear()
            self.chunks.clear()
            self.fifo.clear()
            self.failure = None
            self._wake_consumers_locked()
            idle, self.idle = self.idle, []
            for waiter in idle:
                waiter.fire(0)
            scopes = [driver.scope for driver in self.drivers]
        for scope in scopes:
            scope.cancel()
        self.started.wait()
        if self.group is not None:
            self.group.cancel()
        self.finished.wait()

    def request_cancel(self) -> None:
        """Cancel without waiting or locking (for a finalizer).  The flag is
        set before ``group`` is read, and ``run`` sets ``group`` before it
        reads the flag, so one of the two sides cancels."""
        self.cancel_requested = True
        group = self.group
        if group is not None:
            group.cancel()
