"""The processes backend: worker processes driven over pipes, reused
between pmap calls.

    driver thread (parent)                   worker process
    take a batch ── (fn?, first, items) ───▶ reader thread ─▶ inbox
                                             main: run_batch, one item at a
    deliver ◀──────── (elapsed, values, ─── time; the running item's index
                       error) ─────────────  in shared memory (``current``)

Each driver uses one worker process at a time.  It sends ``(fn, first,
items)`` messages (``fn`` only when the process does not have it yet; two
batches in flight, see ``_batches.drive_batches``) and waits for each reply
on the pipe and on the process's sentinel, 20 ms at a time between
cancellation checkpoints, so it notices cancellation and the death of its
process promptly.  A reader thread in the child takes every message off
the pipe as soon as it arrives, so a big batch sent while the child writes
a big reply never leaves both sides blocked on full pipes.  The child
records the index of the item it is running in shared memory, so a death
(killed, ``os._exit``, a crash in C code) is reported naming that item.

Starting a process costs a re-import of the program's main module (tens
to hundreds of ms), so a driver that ends with its process idle parks it
in ``_idle`` for the next pmap.  A process that is cancelled in the middle
of a batch, or whose owner disappears, is killed (SIGKILL) instead.
Parked processes retire on their own: the child exits after
``_IDLE_SECONDS`` without a message, and the parent reuses a process only
if it has been idle for less than ``_REUSE_SECONDS`` (smaller), so it
never sends work to one that is retiring.  Processes are daemonic and the
child ignores SIGINT: Ctrl-C reaches the parent, whose group cancels.

Start methods: workers start with ``forkserver`` (``spawn`` where there is
none: Windows), never ``fork`` (the parent has threads).  Both import the
main module in the child, so a script that starts processes from its top
level needs the ``if __name__ == "__main__":`` guard; ``check_main_guard``
says so before any process starts.

Locking: ``_pool_lock`` guards ``_idle`` only; it is never held while
joining or killing a process.  A ``_Process`` in use belongs to one driver.
"""

from __future__ import annotations

import ast
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from types import FrameType
from typing import Any

from .._core._scope import checkpoint
from . import _batches
from ._engine import Driver, Engine

_POLL = 0.02
_STOP_GRACE = 1.0
_IDLE_SECONDS = 10.0
_REUSE_SECONDS = 8.0

_pool_lock = threading.Lock()
_idle: list[_Process] = []

# What a backend sends fn to, for messages.
_DESTINATIONS = {
    "processes": "worker processes",
    "interpreters": "other interpreters",
}


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
        if backend in _DESTINATIONS:
            who = f"backend={backend!r} sends fn to {_DESTINATIONS[backend]}"
        else:
            who = f"a {backend} backend sends fn to its workers"
        raise TypeError(
            f"{who}, but fn {fn!r} cannot be pickled ({exc}); define it at module "
            "level (not a lambda or a nested function), or use backend='threads'"
        ) from None


# -- the __main__ guard ---------------------------------------------------------

_parsed: dict[tuple[str, float], ast.Module | None] = {}


def check_main_guard(ctx: BaseContext, what: str) -> None:
    """Raise if worker processes of *ctx* would re-run the caller's work.

    spawn and forkserver start a worker by importing the main script, which
    runs its top-level code again there.  If that code is what starts the
    workers (the current or the main thread is executing a top-level line of
    ``__main__`` that is not under ``if __name__ == "__main__":``), every
    worker would start the work again: say so, and how to fix it, before any
    process starts.  A main module without a file (``python -c``, a REPL)
    is not imported by the workers, so it needs no guard."""
    if ctx.get_start_method() == "fork":
        return
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str):
        return
    frames = [sys._getframe(1)]
    main_frame = sys._current_frames().get(threading.main_thread().ident or 0)
    if main_frame is not None:
        frames.append(main_frame)
    for frame in frames:
        line = _top_level_line(frame, main.__dict__)
        if line is not None and not _guarded(path, line):
            raise RuntimeError(
                f"{what} was started by line {line} of {path}, which is not under "
                '`if __name__ == "__main__":`. Its worker processes start by importing '
                f"that script (start method {ctx.get_start_method()!r}), so each of them "
                "would run that line again. Put the code that starts the work under the "
                "guard, for example:\n\n"
                "    def main():\n"
                "        ...  # the code that calls pmap or pipeline\n\n"
                '    if __name__ == "__main__":\n'
                "        main()\n\n"
                'or use backend="threads" (the default), which needs no guard.'
            )


def _top_level_line(frame: FrameType | None, namespace: dict[str, Any]) -> int | None:
    """The line of ``__main__``'s top-level code in *frame*'s stack, if any."""
    while frame is not None:
        if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
            return frame.f_lineno
        frame = frame.f_back
    return None


def _guarded(path: str, line: int) -> bool:
    """Whether *line* of the script at *path* is under an ``if __name__ ==
    "__main__":`` (True when the source cannot be read: no false alarms)."""
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return True
    if key not in _parsed:
        try:
            with open(path, "rb") as f:
                _parsed[key] = ast.parse(f.read(), path)
        except (OSError, SyntaxError, ValueError):
            _parsed[key] = None
    tree = _parsed[key]
    return tree is None or _under_guard(tree.body, line)


def _under_guard(body: list[ast.stmt], line: int) -> bool:
    for stmt in body:
        end = stmt.end_lineno or stmt.lineno
        if not stmt.lineno <= line <= end:
            continue
        if isinstance(stmt, ast.If):
            equal = _main_test(stmt.test)
            if equal is not None:
                guarded = stmt.body if equal else stmt.orelse
                return any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in guarded)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner:
                blocks = [inner] if isinstance(inner[0], ast.stmt) else [b.body for b in inner]
                if any(_under_guard(block, line) for block in blocks):
                    return True
        return False
    return False


def _main_test(test: ast.expr) -> bool | None:
    """True for ``__name__ == "__main__"``, False for ``!=``, else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    if not (names and mains):
        return None
    if isinstance(test.ops[0], ast.Eq):
        return True
    if isinstance(test.ops[0], ast.NotEq):
        return False
    return None


# -- worker processes -----------------------------------------------------------


class _Process:
    """A live worker process, its pipe and its shared "current item"."""

    def __init__(self, ctx: BaseContext) -> None:
        self.context = ctx
        self.conn, child = ctx.Pipe()
        self.current = ctx.RawValue("q", -1)
        self.process: Any = ctx.Process(  # type: ignore[attr-defined]
            target=_child_main,
            args=(child, self.current, _IDLE_SECONDS),
            name="threadline-pmap-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.pid: int = self.process.pid
        self.last_used = time.monotonic()
        self.fn_bytes: bytes | None = None  # the fn the child has loaded

    def reusable(self, ctx: BaseContext, now: float) -> bool:
        return (
            self.context is ctx
            and now - self.last_used < _REUSE_SECONDS
            and self.process.is_alive()
        )

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _acquire(ctx: BaseContext) -> _Process:
    """A parked process that is still fresh, else a new one."""
    now = time.monotonic()
    stale = []
    found = None
    with _pool_lock:
        while _idle:
            proc = _idle.pop()  # the most recently used first
            if proc.reusable(ctx, now):
                found = proc
                break
            stale.append(proc)
    for proc in stale:
        proc.kill()
    return found if found is not None else _Process(ctx)


def _park(proc: _Process) -> None:
    with _pool_lock:
        _idle.append(proc)


def retire_idle() -> None:
    """Stop every parked process now (tests; also safe at any time)."""
    with _pool_lock:
        parked = _idle[:]
        _idle.clear()
    for proc in parked:
        proc.kill()


def idle_pids() -> set[int]:
    with _pool_lock:
        return {proc.pid for proc in _idle}


def _after_fork_in_child() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class ProcessRunner:
    per_item = False  # the window counts batches

    def __init__(self, fn: Callable[[Any], Any], workers: int, what: str) -> None:
        self.fn = fn
        self.fn_bytes = pickled_fn(fn, "processes")
        self.drivers = workers
        self.context = context()
        check_main_guard(self.context, what)
        self.pids: list[int] = []  # for tests: every process this pmap used

    def drive(self, engine: Engine, driver: Driver) -> None:
        worker = _Worker(self)
        try:
            _batches.drive_batches(engine, driver, worker)
        finally:
            worker.stop()

    def shutdown(self) -> None:
        pass


class _Worker:
    """A driver's hold on one process at a time, and its batches in flight
    there, oldest first."""

    def __init__(self, runner: ProcessRunner) -> None:
        self.runner = runner
        self.proc: _Process | None = None
        self.pending: deque[tuple[int, list[Any]]] = deque()

    def send(self, first: int, items: list[Any], payload: bytes) -> None:
        proc = self.proc
        if not self.pending and (
            proc is None or not proc.reusable(self.runner.context, time.monotonic())
        ):
            if proc is not None:
                proc.kill()  # idle too long inside this pmap: it may be retiring
            proc = self.proc = _acquire(self.runner.context)
            self.runner.pids.append(proc.pid)
        assert proc is not None
        fn_bytes = self.runner.fn_bytes
        fresh = None if proc.fn_bytes == fn_bytes else fn_bytes  # sent once per fn
        self.pending.append((first, items))
        try:
            proc.conn.send_bytes(pickle.dumps((fresh, first, payload), pickle.HIGHEST_PROTOCOL))
        except OSError:  # the process is gone already
            raise self._death(proc) from None
        proc.fn_bytes = fn_bytes

    def receive(self) -> bytes:
        proc = self.proc
        assert proc is not None
        reply = self._wait(proc)
        proc.last_used = time.monotonic()
        self.pending.popleft()
        if reply[:1] == b"!":  # fn could not be loaded in the child
            raise TypeError(reply[1:].decode("utf-8", "replace"))
        return reply

    def _wait(self, proc: _Process) -> bytes:
        sentinel = proc.process.sentinel
        while True:
            ready = multiprocessing.connection.wait([proc.conn, sentinel], _POLL)
            if proc.conn in ready:
                try:
                    return proc.conn.recv_bytes()
                except (EOFError, OSError):  # EOF, or a reset with data unread
                    pass  # died after the wait: report below
                raise self._death(proc)
            if sentinel in ready:
                raise self._death(proc)
            checkpoint()

    def _death(self, proc: _Process) -> BrokenProcessPool:
        proc.process.join(_STOP_GRACE)
        code = proc.process.exitcode
        index = proc.current.value
        if index < 0:
            index = self.pending[0][0]
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        item = ""
        for first, items in self.pending:
            if first <= index < first + len(items):
                item = f" ({_batches._short(items[index - first])})"
        lost = sum(len(items) for _, items in self.pending) - 1
        extra = (
            f"; the {lost} other item(s) sent to it, finished or not, were lost with it"
            if lost
            else ""
        )
        return BrokenProcessPool(
            f"a pmap worker process (pid {proc.pid}) died ({how}) "
            f"while running item {index}{item}{extra}"
        )

    def stop(self) -> None:
        """Park the process if it is idle and healthy, else kill it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if self.pending or not proc.process.is_alive():
            proc.kill()
        else:
            _park(proc)
        self.pending.clear()


def _child_main(
    conn: multiprocessing.connection.Connection, current: Any, idle_seconds: float
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    slot = memoryview(current).cast("B").cast("q")
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_child_reader, args=(conn, inbox), daemon=True).start()
    fn: Any = None  # the function, or why it could not be loaded
    while True:
        try:
            message = inbox.get(timeout=idle_seconds)
        except queue.Empty:
            return  # retire: the parent no longer reuses this process
        if message is None:
            return  # the parent is gone
        fn_bytes, first, payload = pickle.loads(message)
        if fn_bytes is not None:  # a new fn; otherwise the one loaded before
            fn = _load(fn_bytes)
        if isinstance(fn, str):
            reply = b"!" + fn.encode()
        else:
            reply = _batches.run_batch(fn, first, payload, slot)
        try:
            conn.send_bytes(reply)
        except OSError:
            return  # the parent is gone


def _child_reader(
    conn: multiprocessing.connection.Connection, inbox: queue.SimpleQueue[bytes | None]
) -> None:
    """Take every message off the pipe as it arrives (see the module notes)."""
    try:
        while True:
            inbox.put(conn.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


def _load(fn_bytes: bytes) -> Any:
    """The function, or a message saying why it could not be loaded."""
    try:
        return pickle.loads(fn_bytes)
    except Exception as exc:
        return (
            f"fn could not be loaded in the pmap worker process ({type(exc).__name__}: {exc}); "
            "functions for backend='processes' must be importable from a module "
            "(a script's functions need the `if __name__ == '__main__':` guard)"
        )
