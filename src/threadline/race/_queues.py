"""Happens-before edges of the standard queues and of ``threading.Barrier``,
as Go's memory model gives them for channels:

    put(x) → the get() that returns x           (per message, not per queue)
    the k-th get() → the (k+maxsize)-th put() returning      (bounded queues)
    task_done() → the join() that returns after it
    Barrier: every party's wait() of a round → every party's return from it

``Queue``, ``LifoQueue`` and ``PriorityQueue`` (and their subclasses: each
class that defines ``_put``/``_get`` is patched when the session starts or
when its first queue is made) are patched on their classes for the
session, so calls from any code count.  ``_put`` and ``_get`` run under the
queue's mutex, in the queue's own order, so they see exactly which put a
get matches and how many gets came before a put.  A message is known by its
item's identity (the queue refers to the item meanwhile, so the id is not
reused); while the same object is in the queue more than once, its puts
share one clock (a get is then ordered after all of them: this can hide a
race, never invent one).  ``SimpleQueue`` is C and cannot be patched: it is
wrapped where instrumented code calls it (``simple_put``/``simple_get``,
in the method tables of ``_methods``).

A barrier's round has a token of its own, released by every party that
enters the round and acquired by each as it returns; the party that trips
the barrier starts a fresh one, so a fast party's next round never reaches
a slow party of the previous one.

Locking: a queue's state (its ``_tl_race_queue``) is changed under the
queue's mutex only (``_put``, ``_get``), except its ``done`` token, made
with it; states are made under ``_new_lock``.  SimpleQueue states are
guarded by ``_simple_lock`` (never held while calling the detector).  A
barrier's ``_tl_race_round`` is changed under the barrier's condition; the
round that this thread's ``wait()`` entered is in the thread-local
``_rounds`` until it returns.  Tokens made for one edge are forgotten by
the detector once acquired.
"""

from __future__ import annotations

import collections
import queue
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._detector import Detector

if TYPE_CHECKING:
    from ._hooks import Hooks
    from ._patches import Patches


class Token:
    """A sync object with no other meaning."""

    __slots__ = ("__weakref__",)


_STATE = "_tl_race_queue"
_STANDARD = (queue.Queue, queue.LifoQueue, queue.PriorityQueue)
_new_lock = threading.Lock()


class _QueueState:
    __slots__ = ("d", "done", "inside", "mutex", "pending", "puts", "slots")

    def __init__(self, d: Detector) -> None:
        self.d = d
        self.pending: dict[int, list[Any]] = {}  # id(item) -> [token, puts not yet got]
        self.puts = 0  # _put calls so far
        self.slots: collections.deque[Token] = collections.deque()  # gets no put waited for
        self.inside = False  # in a patched _put/_get (a subclass's calling its base's)
        self.done = Token()  # task_done → join
        self.mutex = Token()  # the order of _put/_get that run program code (see under_mutex)


def _state(q: Any, d: Detector) -> _QueueState:
    st: _QueueState | None = q.__dict__.get(_STATE)
    if st is None or st.d is not d:  # (a queue made in an earlier session)
        with _new_lock:
            st = q.__dict__.get(_STATE)
            if st is None or st.d is not d:
                st = q.__dict__[_STATE] = _QueueState(d)
    return st


def install(patches: Patches) -> None:
    """Patch the queue classes and ``threading.Barrier`` for the session."""
    d = patches.d
    done: set[type] = set()

    def under_mutex(q: Any, st: _QueueState, original: Any, *args: Any) -> Any:
        """Run a ``_put``/``_get`` that runs program code (PriorityQueue's
        comparisons, a subclass's own): after every earlier one of this
        queue, as its mutex orders them, but without ordering the thread
        after them once it returns."""
        previous = d.begin_task(st.mutex, None, ())
        try:
            return original(q, *args)
        finally:
            d.end_task(st.mutex, previous, merge=False)

    def put(original: Any, runs_program: bool) -> Any:
        def patched(q: Any, item: Any) -> Any:
            st = _state(q, d)
            if st.inside:
                return original(q, item)
            st.inside = True
            try:
                st.puts += 1
                if st.slots and 0 < q.maxsize < st.puts:
                    token = st.slots.popleft()  # the get that made room for this put
                    d.acquire(token)
                    d.forget(token)
                pending = st.pending
                if pending and type(q)._qsize in std_qsize and not q._qsize():
                    # emptied behind our back (q.queue.clear())
                    for stale in pending.values():
                        d.forget(stale[0])
                    pending.clear()
                entry = pending.get(id(item))
                if entry is None:
                    entry = pending[id(item)] = [Token(), 0]
                entry[1] += 1
                d.release(entry[0])
                if runs_program:
                    return under_mutex(q, st, original, item)
                return original(q, item)
            finally:
                st.inside = False

        return patched

    def get(original: Any, runs_program: bool) -> Any:
        def patched(q: Any) -> Any:
            st = _state(q, d)
            if st.inside:
                return original(q)
            st.inside = True
            try:
                item = under_mutex(q, st, original) if runs_program else original(q)
                entry = st.pending.get(id(item))
                if entry is not None:
                    d.acquire(entry[0])
                    entry[1] -= 1
                    if entry[1] <= 0:
                        del st.pending[id(item)]
                        d.forget(entry[0])
                if q.maxsize > 0:
                    token = Token()
                    d.release(token)
                    st.slots.append(token)
                return item
            finally:
                st.inside = False

        return patched

    def qsize(original: Any) -> Any:
        def patched(q: Any) -> Any:
            st = _state(q, d)
            if st.inside:
                return original(q)
            st.inside = True
            try:
                return under_mutex(q, st, original)
            finally:
                st.inside = False

        return patched

    def task_done(original: Any) -> Any:
        def patched(q: Any) -> Any:
            d.release(_state(q, d).done)
            return original(q)

        return patched

    def join(original: Any) -> Any:
        def patched(q: Any) -> Any:
            original(q)
            d.acquire(_state(q, d).done)

        return patched

    def cover(cls: type) -> None:
        """Patch *cls*'s own ``_put``/``_get`` (once per session)."""
        with patches._lock:
            if cls in done:
                return
            done.add(cls)
        runs_program = cls not in (queue.Queue, queue.LifoQueue)  # (theirs run C only)
        if "_put" in cls.__dict__:
            patches._patch(cls, "_put", lambda original: put(original, runs_program))
        if "_get" in cls.__dict__:
            patches._patch(cls, "_get", lambda original: get(original, runs_program))
        if "_qsize" in cls.__dict__ and cls.__dict__["_qsize"] not in std_qsize:
            patches._patch(cls, "_qsize", qsize)

    def init(original: Any) -> Any:
        def patched(q: Any, *args: Any, **kwargs: Any) -> Any:
            cls = type(q)
            if cls not in done:
                for klass in cls.__mro__:
                    if issubclass(klass, queue.Queue):
                        cover(klass)
            return original(q, *args, **kwargs)

        return patched

    std_qsize = {cls.__dict__["_qsize"] for cls in _STANDARD}  # len(self.queue): runs no program
    classes: list[type] = [queue.Queue]
    while classes:  # every subclass that exists now
        cls = classes.pop()
        cover(cls)
        classes.extend(cls.__subclasses__())
    patches._patch(queue.Queue, "__init__", init)
    patches._patch(queue.Queue, "task_done", task_done)
    patches._patch(queue.Queue, "join", join)
    _barrier(patches)


# -- SimpleQueue: wrapped at call sites -------------------------------------------

_simple_lock = threading.Lock()
_simple: weakref.WeakKeyDictionary[Any, tuple[Detector, dict[int, list[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _simple_pending(q: Any, d: Detector) -> dict[int, list[Any]]:
    """(Under _simple_lock.)"""
    entry = _simple.get(q)
    if entry is None or entry[0] is not d:
        entry = _simple[q] = (d, {})
    return entry[1]


def simple_put(h: Hooks, q: Any, method: Any) -> Any:
    d = h.d

    def call(item: Any, *args: Any, **kwargs: Any) -> Any:
        with _simple_lock:
            pending = _simple_pending(q, d)
            entry = pending.get(id(item))
            if entry is None:
                entry = pending[id(item)] = [Token(), 0]
            entry[1] += 1
        d.release(entry[0])  # before the item is in the queue
        return method(item, *args, **kwargs)

    return call


def simple_get(h: Hooks, q: Any, method: Any) -> Any:
    d = h.d

    def call(*args: Any, **kwargs: Any) -> Any:
        item = method(*args, **kwargs)
        last = False
        with _simple_lock:
            pending = _simple_pending(q, d)
            entry = pending.get(id(item))
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del pending[id(item)]
                    last = True
        if entry is not None:
            d.acquire(entry[0])
            if last:
                d.forget(entry[0])
        return item

    return call


# -- Barrier: per round --------------------------------------------------------

_ROUND = "_tl_race_round"
_rounds = threading.local()  # .entered: id(barrier) -> its round entered: [token, not yet back]
_round_lock = threading.Lock()  # guards the counts of returns (never held calling the detector)


def _barrier(patches: Patches) -> None:
    d = patches.d

    def enter(original: Any) -> Any:
        def patched(barrier: Any) -> Any:
            original(barrier)  # the barrier is filling a round now
            entry = barrier.__dict__.get(_ROUND)
            if entry is None:
                entry = barrier.__dict__[_ROUND] = [Token(), 0]
            entry[1] += 1
            d.release(entry[0])
            entered = getattr(_rounds, "entered", None)
            if entered is None:
                entered = _rounds.entered = {}
            entered[id(barrier)] = entry

        return patched

    def new_round(original: Any) -> Any:
        """_release (every party is in) and _break: the next round's token is new."""

        def patched(barrier: Any) -> Any:
            barrier.__dict__.pop(_ROUND, None)
            return original(barrier)

        return patched

    def wait(original: Any) -> Any:
        def patched(barrier: Any, timeout: float | None = None) -> Any:
            try:
                index = original(barrier, timeout)
            except BaseException:
                getattr(_rounds, "entered", {}).pop(id(barrier), None)
                raise
            entry = getattr(_rounds, "entered", {}).pop(id(barrier), None)
            if entry is None:  # entered before the session began
                return index
            d.acquire(entry[0])
            with _round_lock:
                entry[1] -= 1
                last = entry[1] == 0
            if last:  # every party of the round is back
                d.forget(entry[0])
            return index

        return patched

    patches._patch(threading.Barrier, "_enter", enter)
    patches._patch(threading.Barrier, "_release", new_round)
    patches._patch(threading.Barrier, "_break", new_round)
    patches._patch(threading.Barrier, "wait", wait)


Wrapper = Callable[["Hooks", Any, Any], Any]
SIMPLE_QUEUE: dict[str, Wrapper] = {
    "put": simple_put,
    "put_nowait": simple_put,
    "get": simple_get,
    "get_nowait": simple_get,
}
