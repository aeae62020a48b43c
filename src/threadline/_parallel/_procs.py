"""The processes backend: one worker process per driver, over a pipe.

Each driver owns one process for the life of the pmap.  It sends a batch
and waits for the reply on the pipe and on the process's sentinel, 20 ms
at a time between cancellation checkpoints, so it notices cancellation and
the death of its process promptly.  The child records the index of the
item it is running in shared memory, so a death (killed, ``os._exit``, a
crash in C code) is reported naming that item.

A driver stops its process on every way out: politely when it is idle
(``None`` on the pipe), by SIGKILL when it is cancelled in the middle of a
batch or the process does not exit.  Processes are daemonic, and the
child ignores SIGINT: Ctrl-C reaches the parent, whose group cancels.

No lock: each process and pipe belongs to one driver.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any

from .._channel import Channel
from .._core._scope import checkpoint
from . import _batches
from ._batches import Reply
from ._engine import Engine, Job

_POLL = 0.02
_STOP_GRACE = 1.0


def context() -> BaseContext:
    """forkserver where there is one (fast starts, no fork of a threaded
    parent), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def pickled_fn(fn: Callable[[Any], Any], backend: str) -> bytes:
    """*fn* pickled, or a TypeError that names it and says what to do."""
    try:
        return pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"backend={backend!r} sends fn to other processes, but fn {fn!r} cannot be "
            f"pickled ({exc}); define it at module level (not a lambda or a nested "
            "function), or use backend='threads'"
        ) from None


class ProcessRunner:
    def __init__(self, fn: Callable[[Any], Any], workers: int, window: int) -> None:
        self.fn = fn
        self.fn_bytes = pickled_fn(fn, "processes")
        self.drivers = workers
        self.limit = _batches.batch_limit(window, workers)
        self.context = context()
        self.pids: list[int] = []  # for tests: every process this pmap started

    def drive(self, engine: Engine, jobs: Channel[Job]) -> None:
        worker = _Worker(self)
        try:
            _batches.drive_batches(engine, jobs, self.limit, worker.run)
        finally:
            worker.stop()

    def shutdown(self) -> None:
        pass


class _Worker:
    """One worker process, started on first use."""

    def __init__(self, runner: ProcessRunner) -> None:
        self.runner = runner
        self.process: Any = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.busy = False

    def start(self) -> None:
        ctx = self.runner.context
        parent, child = ctx.Pipe()
        current = ctx.RawValue("q", -1)
        process = ctx.Process(  # type: ignore[attr-defined]
            target=_child_main,
            args=(child, current, self.runner.fn_bytes),
            name="threadline-pmap-worker",
            daemon=True,
        )
        process.start()
        child.close()
        self.process, self.conn, self.current = process, parent, current
        self.pid = process.pid
        self.runner.pids.append(process.pid)

    def run(self, payload: list[tuple[int, bytes]]) -> tuple[float, list[Reply]]:
        if self.process is None:
            self.start()
        assert self.conn is not None
        self.busy = True
        try:
            self.conn.send(payload)
        except OSError:  # the process is gone already
            raise self._death(payload) from None
        reply = self._wait(payload)
        self.busy = False
        if isinstance(reply, str):  # fn could not be loaded in the child
            raise TypeError(reply)
        return reply  # type: ignore[no-any-return]

    def _wait(self, payload: list[tuple[int, bytes]]) -> Any:
        assert self.conn is not None
        sentinel = self.process.sentinel
        while True:
            ready = multiprocessing.connection.wait([self.conn, sentinel], _POLL)
            if self.conn in ready:
                try:
                    return self.conn.recv()
                except EOFError:
                    pass  # died after the wait: report below
                raise self._death(payload)
            if sentinel in ready:
                raise self._death(payload)
            checkpoint()

    def _death(self, payload: list[tuple[int, bytes]]) -> BrokenProcessPool:
        self.process.join(_STOP_GRACE)
        code = self.process.exitcode
        index = self.current.value
        if index < 0:
            index = payload[0][0]
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        data = dict(payload).get(index)
        item = "" if data is None else f" ({_describe(data)})"
        lost = len(payload) - 1
        extra = f"; the other {lost} item(s) of its batch were lost with it" if lost else ""
        self.busy = False
        self.process = None  # dead: nothing to stop
        return BrokenProcessPool(
            f"a pmap worker process (pid {self.pid}) died ({how}) "
            f"while running item {index}{item}{extra}"
        )

    def stop(self) -> None:
        process, conn = self.process, self.conn
        if process is None:
            if conn is not None:
                conn.close()
            return
        assert conn is not None
        if not self.busy:
            try:
                conn.send(None)
            except OSError:
                pass
            process.join(_STOP_GRACE)
        if process.is_alive():
            process.kill()
            process.join()
        conn.close()
        self.process = None


def _describe(data: bytes) -> str:
    try:
        return _batches._short(pickle.loads(data))
    except Exception:
        return "an item"


def _child_main(conn: multiprocessing.connection.Connection, current: Any, fn_bytes: bytes) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fn = pickle.loads(fn_bytes)
    except Exception as exc:
        fn = None
        problem = (
            f"fn could not be loaded in the pmap worker process ({type(exc).__name__}: {exc}); "
            "functions for backend='processes' must be importable from a module "
            "(a script's functions need the `if __name__ == '__main__':` guard)"
        )
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if payload is None:
            return
        if fn is None:
            conn.send(problem)
            continue
        conn.send(_batches.run_batch(fn, payload, current))
