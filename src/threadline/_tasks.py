"""Structured tasks: TaskGroup and Task.

    owner thread                     worker threads (_core._workers)
    with TaskGroup() as tg:   go()   ┌──────────────────────────────┐
        tg.go(fn, ...)  ───────────▶ │ task scope (child of group)  │
        ...                          │ fn(*args) / asyncio.run(...) │
    __exit__: wait ◀──── _task_done ─┴──────────────────────────────┘

A group owns a cancel scope that is entered in the owner's thread for the
body; every task runs in a child scope of it, so cancelling the group (a
failure, an exception in the body, ``tg.cancel()``, Ctrl-C, an enclosing
timeout) reaches the body and every task, and the tasks' own groups and
timeouts below them.

Locking: ``TaskGroup._lock`` guards the group's ``_running``, ``_errors``,
``_state`` and ``_owner_waiter``, and its tasks' outcomes and ``_waiters``
(``Task._lock`` is the group's lock), so a task finishing updates itself and
its group in one critical section.  It is also the lock of the group's
scope, so starting a task links the task's scope under the group's in that
same section, and finishing unlinks it: one lock round trip on each side
of a task, which matters because the owner and the workers take it.  (A
task with done callbacks takes a second one: they run with no lock held,
after its outcome is published and before the group counts it finished.)
Waiters are fired under it (leaf locks).  Cancelling a scope is done with
no lock held; so is any call that takes a scope's lock.

Ctrl-C in the owner: the first cancels the group and the owner goes on
waiting; a second one is raised at once (``_abandon``).  The owner watches
for deadlocks while it waits at the end and, through ``_core._deadlock``,
while it is blocked for good inside the body.
"""

from __future__ import annotations

import contextvars
import math
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from types import CoroutineType, FrameType, TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from ._core import _deadlock, _workers
from ._core._aio import running_loop
from ._core._convoy import acquire_politely
from ._core._deadlock import Blocked, enter_body, find_deadlock, leave_body, where_now
from ._core._nocopy import NoCopy
from ._core._scope import CancelScope, _current, apark, checkpoint, outcome_error, park
from ._core._validate import check_timeout
from ._core._waiter import TIMEOUT, Waiter
from ._errors import Cancelled, DeadlockError

T = TypeVar("T")
P = ParamSpec("P")


_named = threading.local()  # the function (and name) a worker thread was named after


def _describe(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


class Task(NoCopy, Generic[T]):
    """A function running on its own thread inside a ``TaskGroup``.

    Created by ``tg.go``; not constructed directly.  ``result()`` waits for
    it in a thread, ``await task`` in a coroutine; ``add_done_callback(fn)``
    calls ``fn(task)`` once it is done.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_callbacks",
        "_code",
        "_context",
        "_done",
        "_exception",
        "_fn",
        "_group",
        "_ident",
        "_kwargs",
        "_line",
        "_lock",
        "_number",
        "_result",
        "_scope",
        "_started",
        "_waiters",
    )

    def __init__(
        self,
        group: TaskGroup,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        caller: FrameType,
    ) -> None:
        # Few objects per task: a burst of go() calls keeps thousands of
        # pending tasks alive, and the garbage collector walks all of them.
        self._number = 0
        self._code = caller.f_code  # where go() was called, for DeadlockError
        self._line = caller.f_lineno
        self._group = group
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._lock = group._lock
        self._done = False
        self._started = False
        self._ident = 0
        self._result: Any = None
        self._exception: BaseException | None = None
        self._waiters: list[Waiter] | None = None
        self._callbacks: list[Callable[[Task[T]], object]] | None = None
        self._scope = CancelScope._unentered()
        self._context: contextvars.Context | None = None

    @property
    def name(self) -> str:
        """The function's name and the task's number in its group."""
        return f"{_describe(self._fn)}#{self._number}"

    def __repr__(self) -> str:
        state = "done" if self._done else "running" if self._started else "pending"
        return f"<Task {self.name} {state}>"

    @property
    def _origin(self) -> tuple[str, int]:
        """``(file, line)`` of the ``go()`` call that started the task."""
        return self._code.co_filename, self._line

    # -- in the worker thread --------------------------------------------------

    def _start(self) -> None:
        """The worker's job: run the task in the context copied by ``go()``."""
        context = self._context
        assert context is not None
        self._context = None
        context.run(self._run)

    def _run(self) -> None:
        result: Any = None
        error: BaseException | None = None
        token = _current.set(self._scope)
        self._ident = threading.get_ident()
        thread = threading.current_thread()
        if getattr(_named, "fn", None) is not self._fn:  # name the thread after fn
            _named.fn = self._fn
            _named.name = f"threadline-task:{_describe(self._fn)}"
        if thread.name is not _named.name:  # also after the pool renamed it idle
            thread.name = _named.name
        try:
            if self._scope._cancelled:
                error = self._scope._make_cancelled()  # cancelled before it started
            else:
                self._started = True
                result = self._fn(*self._args, **self._kwargs)
                if isinstance(result, CoroutineType):
                    result = _run_coroutine(result, self._scope)
        except BaseException as exc:
            error = exc
        finally:
            _current.reset(token)
            self._args = self._kwargs = None  # type: ignore[assignment]
        self._group._task_done(self, result, error)

    # -- public -----------------------------------------------------------------

    def done(self) -> bool:
        """True once the task finished (returned, raised or was cancelled)."""
        return self._done

    def cancel(self) -> bool:
        """Cancel the task (it sees ``tl.Cancelled`` at its next blocking
        point).  False if it had already finished."""
        if self._done:
            return False
        self._scope.cancel()
        return True

    def _wait(self, timeout: float | None, what: str) -> None:
        seconds = check_timeout(timeout)
        checkpoint()
        lock = self._lock  # a bare acquire, guarded as in _core._locks (result of a done task)
        try:
            lock.acquire()
            if self._done:
                lock.release()
                return
            if seconds == 0:
                raise TimeoutError(f"task {self.name} still running")
            waiter = Waiter()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            lock.release()
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            raise
        try:
            park(waiter, seconds, what=what, instead="await task")
        finally:
            if waiter.case is None or waiter.case < 0:
                with self._lock:
                    if self._waiters is not None and waiter in self._waiters:
                        self._waiters.remove(waiter)
        if waiter.case is not None and waiter.case < 0:
            if waiter.case == TIMEOUT:
                raise TimeoutError(f"task {self.name} still running after {seconds}s")
            raise outcome_error(waiter)

    def result(self, *, timeout: float | None = None) -> T:
        """Wait for the task; return its value or re-raise its exception."""
        self._wait(timeout, "Task.result()")
        return self._outcome()

    def _outcome(self) -> T:
        """The finished task's value, or its exception raised."""
        error = self._exception
        if error is not None:
            if isinstance(error, Cancelled):
                raise Cancelled(f"task {self.name} was cancelled", scope=error._scope) from error
            raise error
        return self._result  # type: ignore[no-any-return]

    def __await__(self) -> Generator[Any, None, T]:
        """``await task`` in a coroutine: ``result()`` without blocking the
        loop.  Cancelling the awaiting coroutine does not cancel the task
        (it belongs to its group); ``task.cancel()`` does."""
        return self._await().__await__()

    async def _await(self) -> T:
        checkpoint()
        waiter: Waiter | None = None
        with self._lock:
            if not self._done:
                waiter = Waiter(running_loop())
                if self._waiters is None:
                    self._waiters = []
                self._waiters.append(waiter)
        if waiter is not None:
            try:
                await apark(waiter, None)
            finally:
                if waiter.case is None or waiter.case < 0:
                    with self._lock:
                        if self._waiters is not None and waiter in self._waiters:
                            self._waiters.remove(waiter)
            if waiter.case is not None and waiter.case < 0:
                raise outcome_error(waiter)
        return self._outcome()

    def add_done_callback(self, fn: Callable[[Task[T]], object]) -> None:
        """Call ``fn(task)`` once the task is done: at once, in this thread,
        if it is; else in the worker thread that finishes it, before its
        group counts it finished (so before the group's ``with`` ends).
        An exception from *fn* is logged (logger ``threadline``), as
        ``concurrent.futures`` does; called at once, a ``BaseException``
        that is not an ``Exception`` (Ctrl-C) propagates."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        with self._lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        self._call_back(fn, Exception)

    def _call_back(
        self, fn: Callable[[Task[T]], object], catch: type[BaseException] = BaseException
    ) -> None:
        try:
            fn(self)
        except catch:
            import logging  # noqa: PLC0415  (rare: loaded only when a callback fails)

            logging.getLogger("threadline").exception("exception calling callback for %r", self)

    def exception(self, *, timeout: float | None = None) -> BaseException | None:
        """Wait for the task; return its exception, or None if it returned.
        Raises ``tl.Cancelled`` if the task was cancelled."""
        self._wait(timeout, "Task.exception()")
        error = self._exception
        if isinstance(error, Cancelled):
            raise Cancelled(f"task {self.name} was cancelled", scope=error._scope) from error
        return error


def _run_coroutine(coro: Coroutine[Any, Any, Any], scope: CancelScope) -> Any:
    """Run *coro* to completion on a new event loop in this thread; a
    cancelled *scope* cancels it (as ``tl.Cancelled``) even where it awaits
    plain asyncio."""
    import asyncio  # noqa: PLC0415  (deferred: see _core._aio)

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        this = asyncio.current_task()
        assert this is not None
        alarm = Waiter(loop)  # fired by the scope's cancellation
        alarm.future.add_done_callback(lambda _: this.cancel())
        if not scope._register(alarm):
            this.cancel()
        try:
            return await coro
        except asyncio.CancelledError:
            if scope._cancelled:
                raise scope._make_cancelled() from None
            raise
        finally:
            scope._unregister(alarm)

    return asyncio.run(main())


class TaskGroup(NoCopy):
    """Run functions concurrently, each on its own thread, and wait for all.

    ``with TaskGroup() as tg: tg.go(fn, *args, **kwargs)``.  Follows
    ``asyncio.TaskGroup``: leaving the block waits for every task; the first
    task that fails cancels the others and the body; failures come out as an
    ``ExceptionGroup``; an exception in the body cancels the group too.
    ``tg.cancel()`` cancels the group without that being an error.
    """

    __slots__ = (
        "_cancelled_out",
        "_deadlock",
        "_errors",
        "_lock",
        "_owner_waiter",
        "_running",
        "_scope",
        "_started",
        "_state",
    )

    def __init__(self) -> None:
        self._started = 0
        self._scope = CancelScope()
        self._lock = self._scope._lock
        self._running: set[Task[Any]] = set()
        self._errors: list[BaseException] = []
        self._cancelled_out = False  # a task ended with an enclosing scope's Cancelled
        self._state = "new"
        self._owner_waiter: Waiter | None = None
        self._deadlock: DeadlockError | None = None

    def __repr__(self) -> str:
        return f"<TaskGroup {self._state} running={len(self._running)}>"

    @property
    def cancel_called(self) -> bool:
        return self._scope.cancel_called

    def cancel(self) -> None:
        """Cancel the body and every task.  Not an error: the group's own
        cancellation is not raised out of the ``with`` block."""
        self._scope.cancel()

    # Typed like Executor.submit: the arguments are checked against fn's
    # parameters, and the task has fn's return type (a coroutine's result
    # for an ``async def`` function).
    @overload
    def go(
        self, fn: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[T]: ...
    @overload
    def go(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Task[T]: ...
    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Task[Any]:
        """Start ``fn(*args, **kwargs)`` on its own thread; an ``async def``
        function runs on an event loop of its own in that thread."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        task: Task[Any] = Task(self, fn, args, kwargs, sys._getframe(1))
        lock = self._lock  # a bare acquire (cheaper than with), guarded as in _core._locks
        try:
            lock.acquire()
            if self._state != "open":
                if self._state == "new":
                    raise RuntimeError("TaskGroup.go() called before entering the group's `with`")
                raise RuntimeError("TaskGroup.go() called after the group finished")
            self._started += 1
            task._number = self._started
            self._running.add(task)
            inherited = task._scope._attach_locked(self._scope)
            lock.release()
        except BaseException:
            try:
                lock.release()
            except RuntimeError:  # not held: already released, or never taken
                pass
            raise
        if inherited:
            task._scope._propagate()
        task._context = contextvars.copy_context()
        _workers.submit(task._start)
        return task

    # -- bookkeeping ------------------------------------------------------------

    def _task_done(self, task: Task[Any], result: Any, error: BaseException | None) -> None:
        failed = error is not None and not isinstance(error, Cancelled)
        lock = self._lock
        acquire_politely(lock)  # the owner may be starting tasks under it
        try:
            task._scope._detach_locked()
            task._result = result
            task._exception = error
            task._done = True
            for waiter in task._waiters or ():
                waiter.fire(0)
            task._waiters = None
            if failed:
                assert error is not None
                self._errors.append(error)
            elif isinstance(error, Cancelled) and error._scope is not self._scope:
                self._cancelled_out = True
            callbacks, task._callbacks = task._callbacks, None
            if callbacks is None:  # _finished_locked, inline (once per task)
                self._running.discard(task)
                if not self._running and self._owner_waiter is not None:
                    self._owner_waiter.fire(0)
        finally:
            lock.release()
        if callbacks is not None:  # run them while the task still counts as running
            for fn in callbacks:
                task._call_back(fn)
            with lock:
                self._finished_locked(task)
        if failed:
            self._scope.cancel()

    def _finished_locked(self, task: Task[Any]) -> None:
        self._running.discard(task)
        if not self._running and self._owner_waiter is not None:
            self._owner_waiter.fire(0)

    def _wait_for_tasks(self, interrupted: bool) -> BaseException | None:
        """Wait until no task is running.  Ctrl-C cancels the group and the
        wait goes on (the interrupt is returned, to be re-raised); a second
        one (or a first, if the body was *interrupted* already) is raised at
        once, leaving the tasks still running behind.  Every so often, look
        for a deadlock; and enforce enclosing deadlines."""
        interrupt: BaseException | None = None
        scope = self._scope
        deadline = scope._eff_deadline
        poll = _deadlock.FIRST_POLL
        while True:
            with self._lock:
                if not self._running:
                    self._owner_waiter = None
                    return interrupt
                waiter = self._owner_waiter = Waiter()
            pause = poll if deadline == math.inf else min(poll, deadline - time.monotonic())
            try:
                park(waiter, max(pause, 0.0), shield=True, for_good=deadline == math.inf)
            except (KeyboardInterrupt, SystemExit) as exc:
                if interrupt is not None or interrupted:
                    raise  # the user insists: give up waiting (see __exit__)
                interrupt = exc
                scope.cancel()
                continue
            if waiter.case != TIMEOUT:
                continue
            now = time.monotonic()
            if now >= deadline:
                scope._expire(now)
            elif deadline == math.inf and self._deadlock is None:
                self._check_deadlock()
            poll = min(poll * 2, _deadlock.MAX_POLL)

    def _check_deadlock(self) -> None:
        """At the end of the block: are the tasks and everyone else asleep?"""
        blocked = find_deadlock()
        if blocked:
            self._report_deadlock(blocked, None)

    def _deadlocked_in_body(self, blocked: list[Blocked]) -> None:
        """The owner, blocked for good inside the body, found everyone else
        asleep too (``_deadlock.wait_for_good``): cancel, and raise at the end."""
        owner, *others = blocked
        if self._deadlock is None:
            self._report_deadlock(others, owner)

    def _report_deadlock(self, blocked: list[Blocked], owner: Blocked | None) -> None:
        with self._lock:
            mine = {task._ident: task for task in self._running}
        blocked.sort(key=lambda b: (b.ident not in mine, getattr(mine.get(b.ident), "_number", 0)))
        lines = []
        if owner is not None:
            lines.append(f"  owner {owner} (in the group's body)")
        for b in blocked:
            task = mine.get(b.ident)
            if task is None:
                lines.append(f"  thread {b}")
            else:
                file, line = task._origin
                where = b.location or f"(its function; started at {file}:{line})"
                lines.append(f"  task {task.name} waits in {b.operation} at {where}")
        who = "the group's owner and tasks are" if owner is not None else "the group's tasks are"
        self._deadlock = DeadlockError(
            f"deadlock: {who} all blocked, and nothing can wake them:\n" + "\n".join(lines),
            blocked if owner is None else [owner, *blocked],
        )
        self._scope.cancel()

    def _abandon(self, interrupt: BaseException) -> None:
        """A second Ctrl-C while the owner waits: close the group without
        waiting, and name the tasks left behind on the interrupt.  They run
        on daemon threads, so they never keep the interpreter from exiting."""
        with self._lock:
            self._state = "closed"
            left = sorted(self._running, key=lambda task: task._number)
        lines = []
        for task in left:
            file, line = task._origin
            now = where_now(task._ident) if task._started else "not started"
            lines.append(f"  task {task.name} (started at {file}:{line}): {now or 'finishing'}")
        if lines:
            interrupt.add_note(
                f"threadline: interrupted again while the group waited for its cancelled "
                f"tasks; {len(lines)} left behind, still running:\n" + "\n".join(lines)
            )
        self._scope.__exit__(type(interrupt), interrupt, interrupt.__traceback__)

    # -- the with block ---------------------------------------------------------

    def __enter__(self) -> TaskGroup:
        if self._state != "new":
            raise RuntimeError("a TaskGroup can be entered only once")
        self._scope.__enter__()
        with self._lock:
            self._state = "open"
        enter_body(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        leave_body(self)
        if exc is not None:
            self._scope.cancel()
        try:
            interrupt = self._wait_for_tasks(isinstance(exc, KeyboardInterrupt | SystemExit))
        except (KeyboardInterrupt, SystemExit) as again:
            self._abandon(again)
            raise
        with self._lock:
            self._state = "closed"
            errors = list(self._errors)
            cancelled_out = self._cancelled_out
        base_error = interrupt
        if base_error is None and isinstance(exc, KeyboardInterrupt | SystemExit):
            base_error = exc
        if base_error is None:
            base_error = next((e for e in errors if not isinstance(e, Exception | Cancelled)), None)
        if base_error is not None:
            self._scope.__exit__(type(base_error), base_error, base_error.__traceback__)
            raise base_error
        if self._deadlock is not None and not errors:
            self._scope.__exit__(DeadlockError, self._deadlock, None)
            raise self._deadlock
        if exc is not None and not isinstance(exc, Cancelled):
            errors.insert(0, exc)
        if errors:
            group = BaseExceptionGroup("unhandled errors in a TaskGroup", errors)
            self._scope.__exit__(type(group), group, None)
            raise group from None
        outcome = exc
        if outcome is None and cancelled_out and self._scope._cancelled:
            # An enclosing scope's cancellation ended a task: it goes on out
            # (a timeout around the group raises).  If every task finished
            # its work, the group returns normally, deadline passed or not.
            outcome = self._scope._make_cancelled()
            if outcome._scope is self._scope:
                outcome = None
        if outcome is None:
            self._scope.__exit__(None, None, None)
            return False
        if self._scope.__exit__(type(outcome), outcome, outcome.__traceback__):
            return True
        if outcome is exc:
            return False
        raise outcome


_deadlock.BOUNDARIES.add(Task._run.__code__)
