"""pmap: a lazy, bounded, cancellable parallel map (the consumers' half).

The work happens in an ``Engine`` (see ``_engine``) run by a pool task; the
backend decides what its drivers do (``_backends``).  This module is the
iterator the caller holds.  ``__next__`` pops the engine's ``ready`` deque
(atomic, so no lock on the common path) and asks the engine for the next
chunk when it is empty; so any number of threads may consume one ``PMap``
at once, each result going to exactly one of them, in input order across
them all when ``ordered``.  The first failure is raised once, to one
consumer, after every result before it; the others then see the end.

No lock of its own but the progress bar's; its finalizer only cancels (it
must not block).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sized
from types import TracebackType
from typing import Any, Generic, TypeVar

from .._core import _workers
from . import _backends, _progress
from ._engine import Engine

T = TypeVar("T")
R = TypeVar("R")


class PMap(Generic[R]):
    """The iterator that ``pmap`` returns: results, as they are taken.
    ``close()`` (or leaving a ``with`` block) stops the work."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ready = engine.ready
        _workers.submit(engine.run)

    def __iter__(self) -> PMap[R]:
        return self

    def __next__(self) -> R:
        try:
            return self._ready.popleft()  # type: ignore[no-any-return]
        except IndexError:
            pass
        except BaseException:  # Ctrl-C right after the pop: stop rather than lose it
            self.close()
            raise
        try:
            return self._engine.refill()  # type: ignore[no-any-return]
        except StopIteration:
            self._end()
            raise
        except BaseException:  # the failure, a timeout or Ctrl-C while waiting
            self.close()
            raise

    def _end(self) -> None:
        pass

    def close(self) -> None:
        """Stop the work: no new call of ``fn`` starts, running calls are
        cancelled (threads: at their next blocking point; processes: the
        process is killed), and this returns once none is running."""
        self._engine.close()
        self._end()

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
        # A finalizer must not block (nor take locks): cancel only.
        engine = getattr(self, "_engine", None)
        if engine is not None and not engine.finished.is_set():
            engine.request_cancel()


class _ProgressPMap(PMap[R]):
    """A ``PMap`` that advances a progress bar per result handed out."""

    def __init__(self, engine: Engine, progress: _progress.Progress) -> None:
        self._progress: _progress.Progress | None = progress
        self._progress_lock = threading.Lock()
        super().__init__(engine)

    def __next__(self) -> R:
        value = super().__next__()
        with self._progress_lock:
            if self._progress is not None:
                self._progress.advance()
        return value

    def _end(self) -> None:
        with self._progress_lock:
            progress, self._progress = self._progress, None
        if progress is not None:
            progress.close()


def check_workers(workers: object) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be a positive int or None, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return workers


def check_window(window: object) -> int | None:
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int):
        raise TypeError(f"window must be an int >= 1 or None, got {window!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    return window


def check_ordered(ordered: object) -> bool:
    if not isinstance(ordered, bool):
        raise TypeError(f"ordered must be True or False, got {ordered!r}")
    return ordered


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    ordered: bool = True,
    backend: Any = "threads",
    progress: bool = False,
    window: int | None = None,
) -> PMap[R]:
    """Map *fn* over *items* in parallel, lazily and bounded.

    ``backend`` is ``"threads"`` (the default), ``"processes"``,
    ``"interpreters"`` (Python 3.14+), a ``concurrent.futures.Executor``, or
    ``"auto"`` (threads where the GIL is disabled, else processes).
    ``workers`` defaults to ``min(32, CPUs + 4)`` on threads and to the CPU
    count otherwise.  At most ``window`` (default ``4 * workers + 16``)
    items (threads) or batches (the other backends) are taken from *items*
    ahead of the consumer.  ``progress=True`` draws a progress bar on
    stderr.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    try:
        source = iter(items)
    except TypeError:
        raise TypeError(f"items must be iterable, got {items!r}") from None
    count = check_workers(workers)
    _backends.check_backend(backend)
    size = check_window(window)
    check_ordered(ordered)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    chosen = _backends.resolve(fn, backend)
    if count is None:
        count = _backends.default_workers(chosen)
    if size is None:
        size = 4 * count + 16
    what = f"pmap(backend={backend!r})" if isinstance(backend, str) else "pmap"
    runner = _backends.make_runner(fn, chosen, count, size, what)
    engine = Engine(source, size, runner, ordered)
    if progress:
        bar = _progress.start(len(items) if isinstance(items, Sized) else None)
        return _ProgressPMap(engine, bar)
    return PMap(engine)
