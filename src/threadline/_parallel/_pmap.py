"""pmap: a lazy, bounded, cancellable parallel map (the consumer's half).

The work happens in an ``Engine`` (see ``_engine``) run by a pool task; the
backend decides what its drivers do (``_backends``).  This module is the
iterator the caller holds: it receives ``(index, ok, value)`` results,
in lists,
puts them back in input order when ``ordered``, returns one credit to the
engine per result handed out, and turns the first failure into the
exception the caller sees.

``PMap`` is used by one consumer thread at a time (like any iterator) and
holds no lock; its finalizer only cancels (it must not block).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sized
from types import TracebackType
from typing import Any, Generic, TypeVar

from .._core import _workers
from .._errors import ChannelClosed
from . import _backends, _progress
from ._engine import Engine, Outcome

T = TypeVar("T")
R = TypeVar("R")


class PMap(Generic[R]):
    """The iterator that ``pmap`` returns: results, as they are taken.
    ``close()`` (or leaving a ``with`` block) stops the work."""

    def __init__(
        self,
        engine: Engine,
        ordered: bool,
        progress: _progress.Progress | None,
    ) -> None:
        self._engine = engine
        self._ordered = ordered
        self._progress = progress
        self._pending: dict[int, tuple[bool, Any]] = {}  # ordered: by index
        self._ready: deque[Outcome] = deque()  # unordered: as they came
        self._next = 0
        self._closed = False
        _workers.submit(engine.run)

    def __iter__(self) -> PMap[R]:
        return self

    def __next__(self) -> R:
        if self._closed:
            raise StopIteration
        while True:
            if self._ordered:
                if self._next in self._pending:
                    ok, value = self._pending.pop(self._next)
                    return self._hand_out(self._next, ok, value)
            elif self._ready:
                return self._hand_out(*self._ready.popleft())
            try:
                outcomes = self._engine.results.recv()
            except ChannelClosed:
                return self._finish()
            except BaseException:
                self.close()
                raise
            if self._ordered:
                for index, ok, value in outcomes:
                    self._pending[index] = (ok, value)
            else:
                self._ready.extend(outcomes)

    def _hand_out(self, index: int, ok: bool, value: Any) -> R:
        self._next = index + 1
        if not ok:
            self.close()
            raise value
        self._engine.credits.try_send(None)
        if self._progress is not None:
            self._progress.advance()
        return value  # type: ignore[no-any-return]

    def _finish(self) -> R:
        """The results channel is closed: every driver is done."""
        self._closed = True
        self._end_progress()
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
            raise RuntimeError(
                f"pmap lost the result of item {self._next} (a bug in threadline: please report it)"
            )
        raise StopIteration

    def _end_progress(self) -> None:
        progress, self._progress = self._progress, None
        if progress is not None:
            progress.close()

    def close(self) -> None:
        """Stop the work: no new call of ``fn`` starts, running calls are
        cancelled (threads: at their next blocking point; processes: the
        process is killed), and this returns once none is running."""
        self._closed = True
        self._engine.cancel()
        self._engine.finished.wait()
        self._end_progress()

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
        if engine is not None and not engine.finished.is_set():
            engine.request_cancel()


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
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    return window


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    ordered: bool = True,
    backend: Any = "auto",
    progress: bool = False,
    window: int | None = None,
) -> PMap[R]:
    """Map *fn* over *items* in parallel, lazily and bounded.

    ``backend`` is ``"auto"``, ``"threads"``, ``"processes"``,
    ``"interpreters"`` (Python 3.14+) or a ``concurrent.futures.Executor``.
    At most ``window`` (default ``4 * workers + 16``) items are taken from
    *items* ahead of the consumer.  ``progress=True`` draws a progress bar
    on stderr.
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
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if count is None:
        count = _backends.default_workers(backend)
    if size is None:
        size = 4 * count + 16
    runner = _backends.make_runner(fn, backend, count, size)
    bar = _progress.start(len(items) if isinstance(items, Sized) else None) if progress else None
    return PMap(Engine(source, size, runner), ordered, bar)
