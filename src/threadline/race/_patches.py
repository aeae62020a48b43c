"""Happens-before edges of APIs whose objects may live anywhere: futures of
thread pools and threadline's own primitives.  They are patched on their
classes for the length of a session, so calls from any code count, and
restored afterwards.

    submit(fn) → fn starts          fn finished → result(), wait(), as_completed()
    every task of a pool → its shutdown(wait=True) returning (``with`` exit)
    queues, barriers: see _queues
    Channel send/close → recv        select: its send cases → its recv case
    TaskGroup.go → task starts       task end → Task.result(), group exit
    WaitGroup.done → wait            Once: fn's end → every do() returning
    Guarded: like a lock

The session's token tables are guarded by ``_lock``.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
from collections.abc import Callable
from typing import Any

import threadline
from threadline import _channel, _select, _sync, _tasks

from . import _queues
from ._detector import Detector, capture_stack


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
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def install(self) -> None:
        self._futures()
        _queues.install(self)
        self._channels()
        self._tasks()
        self._sync()

    # -- concurrent.futures ------------------------------------------------

    def _futures(self) -> None:
        d = self.d

        def submit(original: Any) -> Any:
            def patched(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
                start, done = _Token(), _Token()
                every = executor.__dict__.get("_tl_race_every")
                if every is None:  # (setdefault: another thread may submit too)
                    every = executor.__dict__.setdefault("_tl_race_every", _Token())
                created_at = capture_stack(1)
                d.release(start)
                name = f"task {_name(fn)}"

                def call() -> Any:
                    previous = d.begin_task(start, name, created_at)
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        d.release(every)
                        d.end_task(done, previous)

                future = original(executor, call)
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
        cls = _channel.Channel

        releasing, acquiring = self._releasing, self._acquiring

        def try_recv(original: Any) -> Any:
            def patched(ch: Any) -> Any:
                value, ok = original(ch)
                if ok:
                    d.acquire(ch)
                return value, ok

            return patched

        def async_acquiring(original: Any) -> Any:
            async def patched(ch: Any, *args: Any, **kwargs: Any) -> Any:
                value = await original(ch, *args, **kwargs)
                d.acquire(ch)
                return value

            return patched

        def async_releasing(original: Any) -> Any:
            async def patched(ch: Any, *args: Any, **kwargs: Any) -> Any:
                d.release(ch)
                return await original(ch, *args, **kwargs)

            return patched

        for name in ("send", "try_send", "close"):
            self._patch(cls, name, releasing)
        self._patch(cls, "recv", acquiring)
        self._patch(cls, "__next__", acquiring)
        self._patch(cls, "try_recv", try_recv)
        self._patch(cls, "asend", async_releasing)
        self._patch(cls, "arecv", async_acquiring)
        self._patch(cls, "__anext__", async_acquiring)

        def received(cases: tuple[Any, ...], selected: Any) -> None:
            if selected is not None:
                case = cases[selected.index]
                if isinstance(case, _channel.Channel):
                    d.acquire(case)

        def sending(cases: tuple[Any, ...]) -> None:
            for case in cases:
                if isinstance(case, tuple) and case and isinstance(case[0], _channel.Channel):
                    d.release(case[0])

        def select(original: Any) -> Any:
            def patched(*cases: Any, **kwargs: Any) -> Any:
                sending(cases)
                selected = original(*cases, **kwargs)
                received(cases, selected)
                return selected

            return patched

        def aselect(original: Any) -> Any:
            async def patched(*cases: Any, **kwargs: Any) -> Any:
                sending(cases)
                selected = await original(*cases, **kwargs)
                received(cases, selected)
                return selected

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
                start, done = _Token(), _Token()
                created_at = capture_stack(1)
                d.release(start)
                name = f"task {_name(fn)}"

                @functools.wraps(fn)
                def call(*a: Any, **k: Any) -> Any:
                    previous = d.begin_task(start, name, created_at)
                    try:
                        return fn(*a, **k)
                    finally:
                        d.end_task(done, previous)

                task = original(group, call, *args, **kwargs)
                with patches._lock:
                    patches._task_done[id(task)] = (task, done)
                    entry = patches._group_done.setdefault(id(group), (group, []))
                    entry[1].append(done)
                return task

            return patched

        def result(original: Any) -> Any:
            def patched(task: Any, timeout: float | None = None) -> Any:
                try:
                    return original(task, timeout=timeout)
                finally:
                    with patches._lock:
                        entry = patches._task_done.get(id(task))
                    if entry is not None and task.done():
                        d.acquire(entry[1])

            return patched

        def group_exit(original: Any) -> Any:
            def patched(group: Any, *exc: Any) -> Any:
                try:
                    return original(group, *exc)
                finally:
                    with patches._lock:
                        entry = patches._group_done.pop(id(group), None)
                    for done in entry[1] if entry else ():
                        d.acquire(done)

            return patched

        self._patch(_tasks.TaskGroup, "go", go)
        self._patch(_tasks.Task, "result", result)
        self._patch(_tasks.TaskGroup, "__exit__", group_exit)

    # -- WaitGroup, Once, Guarded ------------------------------------------------

    def _sync(self) -> None:
        d = self.d
        before, after = self._releasing, self._acquiring

        def once_do(original: Any) -> Any:
            def patched(once: Any, fn: Any) -> Any:
                def call() -> Any:
                    value = fn()
                    d.release(once)
                    return value

                original(once, call)
                d.acquire(once)

            return patched

        self._patch(_sync.WaitGroup, "done", before)
        self._patch(_sync.WaitGroup, "wait", after)
        self._patch(_sync.Once, "do", once_do)
        self._patch(_sync.Guarded, "__enter__", after)
        self._patch(_sync.Guarded, "__exit__", before)
