"""Choosing and building pmap's backend: threads (the default),
processes, interpreters, or any ``concurrent.futures.Executor``.

``"auto"`` (opt-in) follows the interpreter: threads where the GIL is
disabled (they run Python code in parallel there); otherwise processes
when ``fn`` can be pickled, else threads with one ``RuntimeWarning`` saying
why that will not scale.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from .._channel import Channel
from .._core._scope import checkpoint
from . import _batches
from ._engine import Driver, Engine, Runner
from ._procs import ProcessRunner, pickled_fn

NAMES = ("threads", "processes", "interpreters", "auto")
THREAD_TARGET = 0.001  # seconds a batch of items takes on a thread, at most


def gil_enabled() -> bool:
    """False only on a free-threaded build running without the GIL."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


class ThreadRunner:
    """Each driver is a task that takes a few items at a time (the batch
    grows while items are cheap, so a batch takes about ``THREAD_TARGET``
    seconds, up to a share of the window) and calls ``fn`` on each in
    turn, in the driver's scope, which the engine cancels when an item
    before the batch fails."""

    per_item = True  # the window counts items

    def __init__(self, fn: Callable[[Any], Any], workers: int, window: int) -> None:
        self.fn = fn
        self.drivers = workers
        self.limit = max(1, window // (2 * workers))

    def drive(self, engine: Engine, driver: Driver) -> None:
        fn = self.fn
        scope = driver.scope
        size = 1
        while True:
            batch = engine.take(driver, size)
            if batch is None:
                return
            first, items = batch
            values: list[Any] = []
            append = values.append
            error = None
            start = time.perf_counter()
            try:
                for item in items:
                    if scope.cancel_called:
                        return  # close(), or a failure before this batch
                    append(fn(item))
            except BaseException as exc:  # any kind, KeyboardInterrupt too: the item's failure
                checkpoint()  # ... unless pmap cancelled this driver: then it stops here
                error = exc
            elapsed = time.perf_counter() - start
            engine.deliver(driver, first, values, error, cost=len(items))
            if error is not None:
                return
            size = _batches.next_size(elapsed, len(values), self.limit, target=THREAD_TARGET)

    def shutdown(self) -> None:
        pass


class ExecutorRunner:
    """Batches submitted to an Executor, two in flight per driver.
    A cancelled driver cancels its future; if the batch is already running
    it waits for it, so nothing keeps running after ``close()``."""

    per_item = False  # the window counts batches

    def __init__(
        self,
        fn: Callable[[Any], Any],
        executor: concurrent.futures.Executor,
        workers: int,
        *,
        owned: bool,
    ) -> None:
        self.fn = fn
        self.executor = executor
        self.drivers = workers
        self.owned = owned

    def drive(self, engine: Engine, driver: Driver) -> None:
        remote = _Futures(self)
        try:
            _batches.drive_batches(engine, driver, remote)
        finally:
            remote.abandon()

    def shutdown(self) -> None:
        if self.owned:
            self.executor.shutdown(wait=True, cancel_futures=True)


class _Futures:
    """One driver's batches in flight on the executor, oldest first."""

    def __init__(self, runner: ExecutorRunner) -> None:
        self.runner = runner
        self.pending: deque[concurrent.futures.Future[bytes]] = deque()

    def send(self, first: int, items: list[Any], payload: bytes) -> None:
        runner = self.runner
        self.pending.append(runner.executor.submit(_batches.run_batch, runner.fn, first, payload))

    def receive(self) -> bytes:
        future = self.pending[0]
        done: Channel[None] = Channel(1)
        future.add_done_callback(lambda _: done.try_send(None))
        done.recv()
        self.pending.popleft()
        return future.result()

    def abandon(self) -> None:
        """Cancel what has not started; wait for what has, so nothing keeps
        running after the driver."""
        running = [future for future in self.pending if not future.cancel()]
        self.pending.clear()
        if running:
            concurrent.futures.wait(running)


def default_workers(backend: object) -> int:
    """``ThreadPoolExecutor``'s default for threads (they mostly wait);
    the CPU count for processes and interpreters; an executor's own size."""
    cpus = os.cpu_count() or 1
    if isinstance(backend, concurrent.futures.Executor):
        count = getattr(backend, "_max_workers", None)
        return count if isinstance(count, int) and count > 0 else cpus
    if backend in ("processes", "interpreters"):
        return cpus
    return min(32, cpus + 4)


def check_backend(backend: object) -> None:
    if isinstance(backend, concurrent.futures.Executor):
        return
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be one of {NAMES} or a concurrent.futures.Executor, got {backend!r}"
        )
    if backend not in NAMES:
        raise ValueError(
            f"backend must be one of {NAMES} or a concurrent.futures.Executor, got {backend!r}"
        )
    if backend == "interpreters" and not hasattr(concurrent.futures, "InterpreterPoolExecutor"):
        version = ".".join(map(str, sys.version_info[:3]))
        raise RuntimeError(
            "backend='interpreters' needs Python 3.14 or later "
            f"(concurrent.futures.InterpreterPoolExecutor); this is Python {version}. "
            "Use backend='processes' or 'threads'"
        )


def resolve(fn: Callable[[Any], Any], backend: object) -> object:
    """*backend* with ``"auto"`` replaced by what it picks for *fn*."""
    return _choose(fn) if backend == "auto" else backend


def make_runner(
    fn: Callable[[Any], Any], backend: object, workers: int, window: int, what: str
) -> Runner:
    """The runner for a checked and resolved *backend*.  *what* names the
    call in messages (``pmap(backend='processes')``)."""
    if isinstance(backend, concurrent.futures.Executor):
        pickled_fn(fn, type(backend).__name__)
        return ExecutorRunner(fn, backend, workers, owned=False)
    if backend == "processes":
        return ProcessRunner(fn, workers, what)
    if backend == "interpreters":
        pickled_fn(fn, "interpreters")
        executor = concurrent.futures.InterpreterPoolExecutor(workers)  # type: ignore[attr-defined]
        return ExecutorRunner(fn, executor, workers, owned=True)
    return ThreadRunner(fn, workers, window)


def _choose(fn: Callable[[Any], Any]) -> str:
    if not gil_enabled():
        return "threads"
    try:
        pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling raises many types
        warnings.warn(
            f"pmap(backend='auto') runs fn {fn!r} on threads because it cannot be pickled "
            f"for worker processes ({exc}). The GIL is enabled in this interpreter, so "
            "threads will not run Python code in parallel. Define fn at module level to "
            "use processes, or pass backend='threads' to say threads are what you want.",
            RuntimeWarning,
            stacklevel=4,
        )
        return "threads"
    return "processes"
