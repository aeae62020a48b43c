"""Choosing and building pmap's backend: threads, processes, interpreters,
or any ``concurrent.futures.Executor``.

``"auto"`` follows the interpreter: threads where the GIL is disabled (they
run Python code in parallel there); otherwise processes when ``fn`` can be
pickled, else threads with one ``RuntimeWarning`` saying why that will not
scale.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import sys
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from .._channel import Channel
from .._core import _workers
from .._core._scope import CancelScope
from . import _batches
from ._engine import Engine, Job, Runner
from ._procs import ProcessRunner, pickled_fn

NAMES = ("auto", "threads", "processes", "interpreters")


def gil_enabled() -> bool:
    """False only on a free-threaded build running without the GIL."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


class ThreadRunner:
    """Each driver is a task calling ``fn`` on one item at a time, in a
    scope of its own, so a failure before it cancels it."""

    def __init__(self, fn: Callable[[Any], Any], workers: int) -> None:
        self.fn = fn
        self.drivers = workers

    def drive(self, engine: Engine, jobs: Channel[Job]) -> None:
        fn = self.fn
        for index, item in jobs:
            with CancelScope() as scope:
                if not engine.begin(index, scope):
                    continue
                try:
                    value = fn(item)
                except Exception as exc:
                    engine.deliver(index, False, exc)
                else:
                    engine.deliver(index, True, value)
                finally:
                    engine.end(index)

    def shutdown(self) -> None:
        pass


class ExecutorRunner:
    """Batches submitted to an Executor, two in flight per driver.
    A cancelled driver cancels its future; if the batch is already running
    it waits for it, so nothing keeps running after ``close()``."""

    def __init__(
        self,
        fn: Callable[[Any], Any],
        executor: concurrent.futures.Executor,
        workers: int,
        window: int,
        *,
        owned: bool,
    ) -> None:
        self.fn = fn
        self.executor = executor
        self.drivers = workers
        self.limit = _batches.batch_limit(window, workers)
        self.owned = owned

    def drive(self, engine: Engine, jobs: Channel[Job]) -> None:
        remote = _Futures(self)
        try:
            _batches.drive_batches(engine, jobs, self.limit, remote)
        finally:
            remote.abandon()

    def shutdown(self) -> None:
        if self.owned:
            self.executor.shutdown(wait=True, cancel_futures=True)


class _Futures:
    """One driver's batches in flight on the executor, oldest first."""

    def __init__(self, runner: ExecutorRunner) -> None:
        self.runner = runner
        self.pending: deque[concurrent.futures.Future[Any]] = deque()

    def send(self, payload: list[tuple[int, bytes]]) -> None:
        runner = self.runner
        self.pending.append(runner.executor.submit(_batches.run_batch, runner.fn, payload))

    def receive(self) -> tuple[float, list[_batches.Reply]]:
        future = self.pending[0]
        done: Channel[None] = Channel(1)
        future.add_done_callback(lambda _: done.try_send(None))
        done.recv()
        self.pending.popleft()
        return future.result()  # type: ignore[no-any-return]

    def abandon(self) -> None:
        """Cancel what has not started; wait for what has, so nothing keeps
        running after the driver."""
        running = [future for future in self.pending if not future.cancel()]
        self.pending.clear()
        if running:
            concurrent.futures.wait(running)


def default_workers(backend: object) -> int:
    if isinstance(backend, concurrent.futures.Executor):
        count = getattr(backend, "_max_workers", None)
        return count if isinstance(count, int) and count > 0 else _workers.EAGER
    if backend in ("processes", "interpreters"):
        return os.cpu_count() or 1
    return _workers.EAGER


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


def make_runner(fn: Callable[[Any], Any], backend: object, workers: int, window: int) -> Runner:
    """The runner for a checked *backend* (see ``check_backend``)."""
    if isinstance(backend, concurrent.futures.Executor):
        pickled_fn(fn, type(backend).__name__)
        return ExecutorRunner(fn, backend, workers, window, owned=False)
    if backend == "auto":
        backend = _choose(fn)
    if backend == "processes":
        return ProcessRunner(fn, workers, window)
    if backend == "interpreters":
        pickled_fn(fn, "interpreters")
        executor = concurrent.futures.InterpreterPoolExecutor(workers)  # type: ignore[attr-defined]
        return ExecutorRunner(fn, executor, workers, window, owned=True)
    return ThreadRunner(fn, workers)


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
