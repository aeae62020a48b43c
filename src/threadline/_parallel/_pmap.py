"""pmap: a lazy, bounded, cancellable parallel map.

    consumer thread                 background group (a pool task owns it)
    for r in pmap(fn, items):       ┌─────────────────────────────────────┐
        ◀── results (unbounded) ────│ N workers: fn(item) in an item scope │
        ── credits (window) ──────▶ │ feeder: next(items) per credit      │
                                    └─────────────────────────────────────┘

The feeder takes an item from the input only after taking a credit; the
consumer returns a credit for each result it hands out.  So at most
``window`` items are taken from the input ahead of the consumer, and an
infinite input is fine.  Workers receive ``(index, item)`` on an unbuffered
channel and send ``(index, ok, value)`` back.

Failure: the first failing item's index is recorded (``_Engine.failed``);
the feeder stops, items after it are skipped, and those already running
after it are cancelled through their item scopes.  With ``ordered=True``
the consumer still yields every result before the failing item, then
raises its exception.  Leaving early (``close()``, ``break``, garbage
collection) cancels the group; ``close()`` also waits until no call of
``fn`` is running.

Locking: ``_Engine.lock`` guards ``failed`` and ``running`` (the item
scopes of calls in progress); an item is registered in ``running`` only
after checking ``failed`` under the lock, so ``fail`` cancels every call
after the failing item.  Everything else moves through channels.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from .._channel import Channel
from .._core import _workers
from .._core._scope import CancelScope
from .._errors import ChannelClosed
from .._tasks import TaskGroup

T = TypeVar("T")
R = TypeVar("R")

_BACKENDS = ("auto", "threads")


class _Engine:
    """The background half: feeder, workers and the group that owns them.
    It holds no reference to the ``PMap`` handle, so an abandoned handle is
    collected, and its finalizer cancels the engine."""

    def __init__(self, fn: Callable[[Any], Any], items: Iterator[Any], window: int) -> None:
        self.fn = fn
        self.items = items
        self.results: Channel[tuple[int, bool, Any]] = Channel(math.inf)
        self.credits: Channel[None] = Channel(window)
        for _ in range(window):
            self.credits.send(None)
        self.lock = threading.Lock()
        self.failed = math.inf  # index of the first failing item
        self.running: dict[int, CancelScope] = {}
        self.group: TaskGroup | None = None
        self.started = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def run(self, workers: int) -> None:
        try:
            with TaskGroup() as group:
                self.group = group
                self.started.set()
                jobs: Channel[tuple[int, Any]] = Channel(0)
                group.go(self.feed, jobs)
                for _ in range(workers):
                    group.go(self.work, jobs)
        except BaseException as exc:  # a deadlock, or a bug: never lose it
            self.error = exc
        finally:
            self.started.set()
            self.results.close()
            self.finished.set()

    def fail(self, index: int) -> None:
        """Item *index* failed: stop intake and cancel the calls after it."""
        with self.lock:
            if index >= self.failed:
                return
            self.failed = index
            later = [scope for i, scope in self.running.items() if i > index]
        for scope in later:
            scope.cancel()

    def feed(self, jobs: Channel[tuple[int, Any]]) -> None:
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
                    self.fail(index)
                    self.results.send((index, False, exc))
                    return
                jobs.send((index, item))
                index += 1

    def work(self, jobs: Channel[tuple[int, Any]]) -> None:
        for index, item in jobs:
            with CancelScope() as scope:
                with self.lock:
                    if index > self.failed:
                        continue
                    self.running[index] = scope
                try:
                    value = self.fn(item)
                except Exception as exc:
                    self.fail(index)
                    self.results.send((index, False, exc))
                else:
                    self.results.send((index, True, value))
                finally:
                    with self.lock:
                        del self.running[index]

    def cancel(self) -> None:
        self.started.wait()
        if self.group is not None:
            self.group.cancel()


class PMap(Generic[R]):
    """The iterator that ``pmap`` returns: results, as they are taken.
    ``close()`` (or leaving a ``with`` block) stops the work."""

    def __init__(
        self, fn: Callable[[T], R], items: Iterable[T], workers: int, ordered: bool, window: int
    ) -> None:
        self._engine = _Engine(fn, iter(items), window)
        self._ordered = ordered
        self._pending: dict[int, tuple[bool, Any]] = {}
        self._next = 0
        self._closed = False
        engine = self._engine
        _workers.submit(lambda: engine.run(workers))

    def __iter__(self) -> PMap[R]:
        return self

    def __next__(self) -> R:
        if self._closed:
            raise StopIteration
        while True:
            if self._ordered and self._next in self._pending:
                ok, value = self._pending.pop(self._next)
                return self._hand_out(self._next, ok, value)
            try:
                index, ok, value = self._engine.results.recv()
            except ChannelClosed:
                return self._finish()
            except BaseException:
                self.close()
                raise
            if not self._ordered:
                return self._hand_out(index, ok, value)
            self._pending[index] = (ok, value)

    def _hand_out(self, index: int, ok: bool, value: Any) -> R:
        self._next = index + 1
        if not ok:
            self.close()
            raise value
        self._engine.credits.try_send(None)
        return value  # type: ignore[no-any-return]

    def _finish(self) -> R:
        """The results channel is closed: every worker is done."""
        self._closed = True
        error = self._engine.error
        if error is not None:
            if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                raise error.exceptions[0]
            raise error
        if self._pending:  # ordered: only results after a failure can be left
            index = min(self._pending)
            ok, value = self._pending.pop(index)
            if not ok:
                return self._hand_out(index, ok, value)
        raise StopIteration

    def close(self) -> None:
        """Stop the work: no new call of ``fn`` starts, running calls are
        cancelled (at their next blocking point), and this returns once
        none is running."""
        self._closed = True
        self._engine.cancel()
        self._engine.finished.wait()

    def __enter__(self) -> PMap[R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A finalizer must not block (nor take channel locks): cancel only.
        engine = getattr(self, "_engine", None)
        if engine is not None and not engine.finished.is_set() and engine.group is not None:
            engine.group.cancel()


def _check_workers(workers: object) -> int:
    if workers is None:
        return _workers.EAGER
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be a positive int or None, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return workers


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    ordered: bool = True,
    backend: str = "auto",
    progress: bool = False,
    window: int | None = None,
) -> PMap[R]:
    """Map *fn* over *items* in parallel, lazily; see the module docstring."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    count = _check_workers(workers)
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if window is None:
        window = 4 * count + 16
    elif isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    if progress:
        raise ValueError("progress=True is not available yet")
    return PMap(fn, items, count, ordered, window)
