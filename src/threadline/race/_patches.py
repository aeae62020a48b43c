"""Happens-before edges of APIs whose objects may live anywhere: futures of
thread pools and threadline's own primitives.  They are patched on their
classes for the length of a session, so calls from any code count, and
restored afterwards.  ``EDGES`` lists every public method of threadline's
primitives with the edge it makes, or why it makes none; a test keeps it
complete.

    submit(fn) → fn starts          fn finished → result(), wait(), as_completed()
    every task of a pool → its shutdown(wait=True) returning (``with`` exit)
    queues, barriers: see _queues
    loop.call_soon_threadsafe(cb) → cb runs: see _loops

Channels follow Go's memory model, per message: a sent value travels
inside a ``_Msg`` with its sender's clock, so a receive is ordered after
the send of *that* value only.  The other direction (a receive before the
completion of the send that its room lets in: unbuffered hand-off, the
semaphore idiom) goes through one clock per channel, which receivers
release into before they take a value and senders acquire once their
send completed; closing has a clock of its own, acquired by the receives
that end because of it.  Values still in a channel when the session
stops are unwrapped.

``_lock`` guards the session's tables (tasks, closes, wrapped channels),
and ``_saved`` where a patch is made after ``install`` (``_loops``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
from collections.abc import Callable
from typing import Any

import threadline
from threadline import _channel, _select, _sync, _tasks
from threadline._errors import ChannelClosed
from threadline._parallel import _engine

from . import _loops, _queues
from ._detector import Detector, capture_stack, join_clocks


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class _Token:
    """A sync object with no other meaning."""

    __slots__ = ("__weakref__",)


class Patches:
    def __init__(self, detector: Detector) -> None:
        self.d = detector
        self._saved: list[tuple[Any, str, Any]] = []
        self._lock = threading.Lock()
        self._task_done: dict[int, tuple[Any, _Token]] = {}
        self._group_done: dict[int, tuple[Any, list[_Token]]] = {}
        self._closes: dict[int, tuple[Any, dict[int, int]]] = {}  # id(channel) -> clock
        self._carrying: dict[int, Any] = {}  # id -> channel that got a _Msg
        self.watchers: list[Any] = []  # _loops: import watchers in sys.meta_path

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__[name]
        self._saved.append((owner, name, original))
        replacement = make(original)
        functools.update_wrapper(replacement, original)
        setattr(owner, name, replacement)

    def _releasing(self, original: Any) -> Any:
        """A method that releases its object before it runs (send, done)."""
        d = self.d

        def patched(obj: Any, *args: Any, **kwargs: Any) -> Any:
            d.release(obj)
            return original(obj, *args, **kwargs)

        return patched

    def _acquiring(self, original: Any) -> Any:
        """A method that acquires its object once it returns (recv, wait)."""
        d = self.d

        def patched(obj: Any, *args: Any, **kwargs: Any) -> Any:
            value = original(obj, *args, **kwargs)
            d.acquire(obj)
            return value

        return patched

    def restore(self) -> None:
        _loops.uninstall(self)
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()
        with self._lock:
            carrying = list(self._carrying.values())
            self._carrying.clear()
        for ch in carrying:  # the values still in transit: as they were sent
            with ch._lock:
                ch._buf = type(ch._buf)(map(_unwrap, ch._buf))
                for entry in ch._sendq:
                    entry.value = _unwrap(entry.value)

    def _join_clock_of(self, table: dict[int, tuple[Any, dict[int, int]]], obj: Any) -> None:
        with self._lock:
            entry = table.get(id(obj))
        if entry is not None and entry[0] is obj:
            self.d.join(entry[1])

    def _as_task(
        self, fn: Any, name: str, created_at: Any, done: _Token, every: _Token | None = None
    ) -> Callable[..., Any]:
        """*fn* run as a task (an executor's or a group's): ordered after
        what the caller did until now, its end released into *done* (and
        *every*, the executor's shutdown token, first)."""
        d = self.d
        start = _Token()
        d.release(start)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            previous = d.begin_task(start, name, created_at)
            try:
                return fn(*args, **kwargs)
            finally:
                if every is not None:
                    d.release(every)
                d.end_task(done, previous)

        return call

    def install(self) -> None:
        self._futures()
        _queues.install(self)
        _loops.install(self)
        self._channels()
        self._tasks()
        self._sync()

    # -- concurrent.futures ------------------------------------------------

    def _futures(self) -> None:
        d = self.d

        def submit(original: Any) -> Any:
            def patched(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
                done = _Token()
                every = executor.__dict__.get("_tl_race_every")
                if every is None:  # (setdefault: another thread may submit too)
                    every = executor.__dict__.setdefault("_tl_race_every", _Token())
                call = self._as_task(fn, f"task {_name(fn)}", capture_stack(1), done, every)
                future = original(executor, call, *args, **kwargs)
                future._tl_race_done = done
                return future

            return patched

        def finished(original: Any) -> Any:
            def patched(future: Any, timeout: float | None = None) -> Any:
                try:
                    return original(future, timeout)
                finally:
                    done = getattr(future, "_tl_race_done", None)
                    if done is not None and future.done():
                        d.acquire(done)

            return patched

        def completed(future: Any) -> None:
            done = getattr(future, "_tl_race_done", None)
            if done is not None and future.done():
                d.acquire(done)

        def wait(original: Any) -> Any:
            def patched(fs: Any, *args: Any, **kwargs: Any) -> Any:
                result = original(fs, *args, **kwargs)
                for future in result.done:
                    completed(future)
                return result

            return patched

        def as_completed(original: Any) -> Any:
            def patched(fs: Any, *args: Any, **kwargs: Any) -> Any:
                for future in original(fs, *args, **kwargs):
                    completed(future)
                    yield future

            return patched

        def shutdown(original: Any) -> Any:
            def patched(executor: Any, wait: bool = True, **kwargs: Any) -> Any:
                result = original(executor, wait, **kwargs)
                every = executor.__dict__.get("_tl_race_every")
                if wait and every is not None:  # every task has ended
                    d.acquire(every)
                return result

            return patched

        self._patch(concurrent.futures.ThreadPoolExecutor, "submit", submit)
        self._patch(concurrent.futures.ThreadPoolExecutor, "shutdown", shutdown)
        self._patch(concurrent.futures.Future, "result", finished)
        self._patch(concurrent.futures.Future, "exception", finished)
        for owner in (concurrent.futures, concurrent.futures._base):
            self._patch(owner, "wait", wait)
            self._patch(owner, "as_completed", as_completed)

    # -- channels and select ---------------------------------------------------

    def _channels(self) -> None:
        d = self.d
        patches = self
        cls = _channel.Channel

        def carrying(ch: Any) -> None:
            """*ch* gets wrapped values: unwrap what is left at the end."""
            if id(ch) not in patches._carrying:
                with patches._lock:
                    patches._carrying[id(ch)] = ch

        def wrap(ch: Any, value: Any) -> _Msg:
            carrying(ch)
            return _Msg(value, d.snapshot())

        def got(ch: Any, value: Any) -> Any:
            """A value received from *ch*: join its sender's clock."""
            if value.__class__ is _Msg:
                d.join(value.clock)
                return value.value
            return value  # sent before the session started

        def closed(ch: Any) -> None:
            """A receive that ends because *ch* was closed."""
            patches._join_clock_of(patches._closes, ch)

        def send(original: Any) -> Any:
            def patched(ch: Any, value: Any, **kwargs: Any) -> None:
                original(ch, wrap(ch, value), **kwargs)
                d.acquire(ch)

            return patched

        def try_send(original: Any) -> Any:
            def patched(ch: Any, value: Any) -> bool:
                sent: bool = original(ch, wrap(ch, value))
                if sent:
                    d.acquire(ch)
                return sent

            return patched

        def asend(original: Any) -> Any:
            async def patched(ch: Any, value: Any, **kwargs: Any) -> None:
                await original(ch, wrap(ch, value), **kwargs)
                d.acquire(ch)

            return patched

        def receiving(stop: type[BaseException]) -> Callable[[Any], Any]:
            def make(original: Any) -> Any:
                def patched(ch: Any, **kwargs: Any) -> Any:
                    d.release(ch)  # before the value is taken: its room lets a sender in
                    try:
                        value = original(ch, **kwargs)
                    except stop:
                        closed(ch)
                        raise
                    return got(ch, value)

                return patched

            return make

        def areceiving(stop: type[BaseException]) -> Callable[[Any], Any]:
            def make(original: Any) -> Any:
                async def patched(ch: Any, **kwargs: Any) -> Any:
                    d.release(ch)
                    try:
                        value = await original(ch, **kwargs)
                    except stop:
                        closed(ch)
                        raise
                    return got(ch, value)

                return patched

            return make

        def try_recv(original: Any) -> Any:
            def patched(ch: Any) -> Any:
                d.release(ch)
                try:
                    value, ok = original(ch)
                except ChannelClosed:
                    closed(ch)
                    raise
                return (got(ch, value), True) if ok else (value, False)

            return patched

        def close(original: Any) -> Any:
            def patched(ch: Any) -> None:
                clock = d.snapshot()
                with patches._lock:  # before the close takes effect
                    entry = patches._closes.get(id(ch))
                    if entry is None or entry[0] is not ch:
                        patches._closes[id(ch)] = (ch, clock)
                    else:
                        join_clocks(entry[1], clock)
                original(ch)

            return patched

        self._patch(cls, "send", send)
        self._patch(cls, "try_send", try_send)
        self._patch(cls, "asend", asend)
        self._patch(cls, "recv", receiving(ChannelClosed))
        self._patch(cls, "__next__", receiving(StopIteration))
        self._patch(cls, "arecv", areceiving(ChannelClosed))
        self._patch(cls, "__anext__", areceiving(StopAsyncIteration))
        self._patch(cls, "try_recv", try_recv)
        self._patch(cls, "close", close)

        def cases_out(cases: tuple[Any, ...]) -> tuple[Any, ...]:
            """The cases with each sent value carrying this thread's clock."""
            clock: dict[int, int] | None = None
            out = []
            for case in cases:
                if isinstance(case, tuple) and len(case) == 2 and isinstance(case[0], cls):
                    if clock is None:
                        clock = d.snapshot()
                    carrying(case[0])
                    out.append((case[0], _Msg(case[1], clock)))
                else:
                    out.append(case)
            return tuple(out)

        def chosen(cases: tuple[Any, ...], selected: Any) -> Any:
            """Only the case that took effect makes an edge."""
            if selected is None:
                return None
            case = cases[selected.index]
            if isinstance(case, cls):  # a receive
                if not selected.ok:
                    closed(case)
                    return selected
                value = got(case, selected.value)
                d.release(case)  # after the fact: select parks on several channels
                return selected._replace(value=value)
            if isinstance(case, tuple) and case and isinstance(case[0], cls):
                d.acquire(case[0])  # a send: after the receives that made room
            return selected

        def select(original: Any) -> Any:
            def patched(*cases: Any, **kwargs: Any) -> Any:
                return chosen(cases, original(*cases_out(cases), **kwargs))

            return patched

        def aselect(original: Any) -> Any:
            async def patched(*cases: Any, **kwargs: Any) -> Any:
                return chosen(cases, await original(*cases_out(cases), **kwargs))

            return patched

        for owner in (_select, threadline):
            self._patch(owner, "select", select)
            self._patch(owner, "try_select", select)
            self._patch(owner, "aselect", aselect)

    # -- tasks ----------------------------------------------------------------

    def _tasks(self) -> None:
        d = self.d
        patches = self

        def go(original: Any) -> Any:
            def patched(group: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
                done = _Token()
                origin = getattr(getattr(fn, "__self__", None), "_tl_race_origin", None)
                if origin is None:
                    name, created_at = f"task {_name(fn)}", capture_stack(1)
                else:  # a pmap's worker: named after the user's call
                    name, created_at = origin
                task = original(group, self._as_task(fn, name, created_at, done), *args, **kwargs)
                with patches._lock:
                    patches._task_done[id(task)] = (task, done)
                    entry = patches._group_done.setdefault(id(group), (group, []))
                    entry[1].append(done)
                return task

            return patched

        def ended(task: Any) -> None:
            """*task* is done: what it did happens before what follows."""
            with patches._lock:
                entry = patches._task_done.get(id(task))
            if entry is not None and entry[0] is task and task._done:
                d.acquire(entry[1])

        def waiting(original: Any) -> Any:
            def patched(task: Any, **kwargs: Any) -> Any:
                try:
                    return original(task, **kwargs)
                finally:
                    ended(task)

            return patched

        def awaiting(original: Any) -> Any:
            async def patched(task: Any) -> Any:
                try:
                    return await original(task)
                finally:
                    ended(task)

            return patched

        def done(original: Any) -> Any:
            def patched(task: Any) -> bool:
                finished: bool = original(task)
                if finished:
                    ended(task)
                return finished

            return patched

        def add_done_callback(original: Any) -> Any:
            def patched(task: Any, fn: Any) -> None:
                if not callable(fn):
                    original(task, fn)  # its error
                    return

                @functools.wraps(fn)
                def call(t: Any) -> Any:
                    ended(t)
                    return fn(t)

                original(task, call)

            return patched

        def group_exit(original: Any) -> Any:
            def patched(group: Any, *exc: Any) -> Any:
                try:
                    return original(group, *exc)
                finally:
                    with patches._lock:
                        entry = patches._group_done.pop(id(group), None)
                    for token in entry[1] if entry else ():
                        d.acquire(token)

            return patched

        def engine_init(original: Any) -> Any:
            def patched(engine: Any, *args: Any, **kwargs: Any) -> None:
                original(engine, *args, **kwargs)
                fn = getattr(engine.runner, "fn", None)
                engine._tl_race_origin = (f"pmap of {_name(fn)}", capture_stack(1))

            return patched

        self._patch(_tasks.TaskGroup, "go", go)
        self._patch(_engine.Engine, "__init__", engine_init)
        self._patch(_tasks.Task, "result", waiting)
        self._patch(_tasks.Task, "exception", waiting)
        self._patch(_tasks.Task, "_await", awaiting)
        self._patch(_tasks.Task, "done", done)
        self._patch(_tasks.Task, "add_done_callback", add_done_callback)
        self._patch(_tasks.TaskGroup, "__exit__", group_exit)

    # -- WaitGroup, Once, Guarded ------------------------------------------------

    def _sync(self) -> None:
        d = self.d
        after = self._acquiring

        def add(original: Any) -> Any:
            def patched(wg: Any, n: int = 1) -> None:
                if isinstance(n, int) and n < 0:  # done() is add(-1)
                    d.release(wg)
                original(wg, n)

            return patched

        def once_do(original: Any) -> Any:
            def patched(once: Any, fn: Any) -> Any:
                if not callable(fn):
                    return original(once, fn)  # its error

                def call() -> Any:
                    value = fn()
                    d.release(once)
                    return value

                original(once, call)
                d.acquire(once)
                return None

            return patched

        def once_done(original: Any) -> Any:
            def patched(once: Any) -> bool:
                finished: bool = original(once)
                if finished:
                    d.acquire(once)
                return finished

            return patched

        def critical(original: Any) -> Any:
            """A Guarded method that holds its lock throughout."""

            def patched(guarded: Any, *args: Any) -> Any:
                d.acquire(guarded)
                try:
                    return original(guarded, *args)
                finally:
                    d.release(guarded)

            return patched

        self._patch(_sync.WaitGroup, "add", add)
        self._patch(_sync.WaitGroup, "done", self._releasing)
        self._patch(_sync.WaitGroup, "wait", after)
        self._patch(_sync.Once, "do", once_do)
        self._patch(_sync.Once, "done", once_done)
        self._patch(_sync.Guarded, "__enter__", after)
        self._patch(_sync.Guarded, "__exit__", self._releasing)
        self._patch(_sync.Guarded, "update", critical)
        self._patch(_sync.Guarded, "get", critical)


class _Msg:
    """A value in a channel during a session, with its sender's clock."""

    __slots__ = ("clock", "value")

    def __init__(self, value: Any, clock: dict[int, int]) -> None:
        self.value = value
        self.clock = clock


def _unwrap(value: Any) -> Any:
    return value.value if value.__class__ is _Msg else value


#: Every public method of threadline's primitives: the edge it makes, or
#: why it makes none.  ``tests/race/test_edges.py`` checks that it names
#: each public method and that each edge named here is patched.
EDGES: dict[str, dict[str, str]] = {
    "Channel": {
        "send": "the value's clock goes with it; after: the receives that made room",
        "try_send": "as send, when it sent",
        "asend": "as send",
        "recv": "before: into the channel's room; after: the value's sender, or the close",
        "try_recv": "as recv",
        "arecv": "as recv",
        "__next__": "as recv (StopIteration: the close)",
        "__anext__": "as recv (StopAsyncIteration: the close)",
        "close": "before the receives that end because of it",
        "__exit__": "calls close",
        "__iter__": "none: returns the channel",
        "__aiter__": "none: returns the channel",
        "__enter__": "none: returns the channel",
        "__len__": "none: a snapshot of the buffer, as len() of a queue.Queue",
        "__bool__": "none: always True",
        "__repr__": "none",
        "capacity": "none: fixed at creation",
        "closed": "none: a snapshot, as Go's len(ch); receive to learn of the close",
    },
    "Task": {
        "result": "after: the task's end",
        "exception": "after: the task's end",
        "__await__": "calls _await",
        "_await": "after: the task's end (await task)",
        "done": "after: the task's end, when True",
        "add_done_callback": "the callback runs after the task's end",
        "cancel": "none: a request; the task sees it at a blocking point",
        "name": "none: fixed at creation",
        "__repr__": "none",
    },
    "TaskGroup": {
        "go": "before: the task's start",
        "__exit__": "after: the end of every task",
        "__enter__": "none: the body runs in the owner's thread",
        "cancel": "none: a request",
        "cancel_called": "none: a flag",
        "__repr__": "none",
    },
    "WaitGroup": {
        "done": "before: the wait that it releases",
        "add": "as done when n < 0; none when n > 0 (it only counts)",
        "wait": "after: every done",
        "count": "none: a snapshot",
        "__repr__": "none",
    },
    "Once": {
        "do": "after: the end of the call that ran fn",
        "done": "after: the end of fn, when True",
        "__repr__": "none",
    },
    "Guarded": {
        "__enter__": "acquires the lock",
        "__exit__": "releases the lock",
        "update": "holds the lock",
        "get": "holds the lock",
        "__repr__": "none",
    },
}
