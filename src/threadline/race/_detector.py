"""Happens-before race detection with vector clocks (FastTrack's epochs).

Every thread has a vector clock ``vc`` (thread slot -> time); its own entry
is its current time.  Synchronisation moves clocks between threads:

    release(sync object s):  s.vc ⊔= t.vc; t.vc[t] += 1
    acquire(s):              t.vc ⊔= s.vc
    start of thread u by t:  u.vc = t.vc (u's own entry 1); t.vc[t] += 1
    join of u by t:          t.vc ⊔= u.vc

A location (an object's attribute, a container's item or shape, a global,
a closure cell) keeps the epoch of its last write ``(slot, time, access)``
and of its reads: one epoch while reads are ordered, a map slot -> epoch
once two threads read it concurrently.  An access races with a previous one
when that one is not before it: ``prev.time > t.vc[prev.slot]``.  This does
not depend on the schedule: two unordered accesses are a race whether or
not they overlapped in time, so GIL builds report what free-threaded builds
would suffer.

Locking: ``_lock`` guards the shadow table, sync clocks, thread registry
and reports.  A thread's own ``vc`` is written only by that thread, under
``_lock``.  Nothing here takes any other lock, so the detector cannot
deadlock with the program (the program's own locks are never held by us).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# One frame of a stack: (file, line, function).
Frame = tuple[str, int, str]
Stack = tuple[Frame, ...]

STACK_DEPTH = 10
_SWEEP_EVERY = 50_000  # new locations between sweeps of dead containers


def capture_stack(skip: int) -> Stack:
    """The program's stack, innermost first: threadline's frames are left
    out, and the walk stops where the program was entered (a thread's
    ``run`` wrapper, or the command that ran the script)."""
    frame: Any = sys._getframe(skip + 1)
    frames: list[Frame] = []
    while frame is not None and len(frames) < STACK_DEPTH:
        code = frame.f_code
        if code.co_filename.startswith(_OWN_PREFIX):
            if frames:
                break
        else:
            frames.append((code.co_filename, frame.f_lineno, code.co_qualname))
        frame = frame.f_back
    # drop the outer frames of the machinery that called the program: a
    # thread's run(), a test runner, an executor
    while len(frames) > 1 and frames[-1][0].startswith(_LIBRARY):
        frames.pop()
    return tuple(frames)


_OWN_PREFIX = __file__.rsplit("/", 2)[0] + "/"  # the threadline package
_LIBRARY_KEYS = ("stdlib", "platstdlib", "purelib", "platlib")
_LIBRARY = (*{sysconfig.get_paths()[k] + os.sep for k in _LIBRARY_KEYS}, "<frozen ")


@dataclass(eq=False)
class ThreadInfo:
    slot: int
    name: str
    created_at: Stack  # where start() was called; () for threads we did not see start
    vc: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Access:
    """One side of a race: what was accessed, how, by whom, where."""

    write: bool
    what: str
    thread: ThreadInfo
    stack: Stack


class _Location:
    """The shadow of one location.  ``keep`` holds the object alive when it
    cannot be weakly referenced (a list, a dict), until a sweep finds that
    nothing else refers to it."""

    __slots__ = ("keep", "reads", "write")

    def __init__(self) -> None:
        self.write: tuple[int, int, Access, bool] | None = None  # slot, time, access, atomic
        self.reads: dict[int, tuple[int, Access]] = {}
        self.keep: Any = None


@dataclass(frozen=True)
class Race:
    current: Access
    previous: Access


class Detector:
    def __init__(self, on_race: Callable[[Race], None]) -> None:
        self._lock = threading.Lock()
        self._on_race = on_race
        self._threads: dict[int, ThreadInfo] = {}  # by threading.get_ident()
        self._slots = 0
        self._shadow: dict[tuple[int, Any], _Location] = {}
        self._by_object: dict[int, list[Any]] = {}  # id -> keys, for cleanup
        self._sync: dict[int, dict[int, int]] = {}  # id(sync object) -> clock
        self._sync_keep: dict[int, Any] = {}
        self._new_locations = 0
        self._dead: deque[int] = deque()

    # -- threads ----------------------------------------------------------

    def _thread(self) -> ThreadInfo:
        ident = threading.get_ident()
        info = self._threads.get(ident)
        if info is None:
            with self._lock:
                info = self._new_thread(ident, threading.current_thread().name, (), {})
        return info

    def _new_thread(
        self, ident: int, name: str, created_at: Stack, parent_vc: dict[int, int]
    ) -> ThreadInfo:
        self._slots += 1
        info = ThreadInfo(self._slots, name, created_at, dict(parent_vc))
        info.vc[info.slot] = 1
        self._threads[ident] = info
        return info

    def fork(self) -> tuple[dict[int, int], Stack]:
        """Called by the parent at ``start()``: the child's starting clock."""
        me = self._thread()
        with self._lock:
            snapshot = dict(me.vc)
            me.vc[me.slot] += 1
        return snapshot, capture_stack(2)

    def begin_thread(self, parent_vc: dict[int, int], created_at: Stack) -> ThreadInfo:
        """Called first thing in a started thread."""
        with self._lock:
            return self._new_thread(
                threading.get_ident(), threading.current_thread().name, created_at, parent_vc
            )

    def begin_task(self, start: Any, name: str, created_at: Stack) -> ThreadInfo | None:
        """A task (a pool's job) starts on this thread as a logical thread of
        its own, ordered after whatever released *start*: two tasks that
        happen to share a worker thread are not ordered by that."""
        ident = threading.get_ident()
        with self._lock:
            previous = self._threads.get(ident)
            self._new_thread(ident, name, created_at, self._sync.get(id(start), {}))
        return previous

    def end_task(self, done: Any, previous: ThreadInfo | None) -> None:
        self.release(done)
        ident = threading.get_ident()
        with self._lock:
            if previous is None:
                self._threads.pop(ident, None)
            else:
                self._threads[ident] = previous

    def end_thread(self, holder: Any) -> None:
        """The thread is finishing: publish its clock on *holder* for joins."""
        self.release(holder)

    # -- synchronisation --------------------------------------------------

    def release(self, obj: Any) -> None:
        me = self._thread()
        with self._lock:
            key = id(obj)
            clock = self._sync.get(key)
            if clock is None:
                clock = self._sync[key] = {}
                self._sync_keep[key] = obj
            for slot, time in me.vc.items():
                if clock.get(slot, 0) < time:
                    clock[slot] = time
            me.vc[me.slot] += 1

    def acquire(self, obj: Any) -> None:
        me = self._thread()
        with self._lock:
            clock = self._sync.get(id(obj))
            if clock:
                vc = me.vc
                for slot, time in clock.items():
                    if vc.get(slot, 0) < time:
                        vc[slot] = time

    # -- accesses ---------------------------------------------------------

    def access(
        self,
        obj: Any,
        key: Any,
        write: bool,
        describe: Callable[[Any, Any], str],
        atomic: bool = False,
    ) -> None:
        """Record a read or write of location (obj, key) and report races;
        ``describe(obj, key)`` names the location, only when needed.  Two
        *atomic* writes (a builtin container's own method: ``append``,
        ``pop``, ``setdefault``...) do not race with each other; they do
        race with reads and plain writes."""
        me = self._thread()
        vc = me.vc
        now = vc[me.slot]
        lkey = (id(obj), key)
        loc = self._shadow.get(lkey)
        if loc is not None:  # fast path: the same epoch as last time
            if write:
                last = loc.write
                if (
                    last is not None
                    and last[0] == me.slot
                    and last[1] == now
                    and last[3] == atomic
                    and not loc.reads
                ):
                    return
            else:
                seen = loc.reads.get(me.slot)
                if seen is not None and seen[0] == now:
                    return
        stack = capture_stack(2)
        races = []
        with self._lock:
            self._drain_dead()
            loc = self._shadow.get(lkey)
            if loc is None:
                loc = self._shadow[lkey] = _Location()
                self._track(obj, lkey, loc)
            access = Access(write, describe(obj, key), me, stack)
            last = loc.write
            if (
                last is not None
                and last[0] != me.slot
                and last[1] > vc.get(last[0], 0)
                and not (write and atomic and last[3])
            ):
                races.append(Race(access, last[2]))
            if write:
                for slot, (time, prior) in loc.reads.items():
                    if slot != me.slot and time > vc.get(slot, 0):
                        races.append(Race(access, prior))
                loc.write = (me.slot, now, access, atomic)
                loc.reads = {}
            else:
                # reads ordered before this one are covered by it
                loc.reads = {
                    slot: epoch
                    for slot, epoch in loc.reads.items()
                    if slot != me.slot and epoch[0] > vc.get(slot, 0)
                }
                loc.reads[me.slot] = (now, access)
        for race in races:
            self._on_race(race)

    def _track(self, obj: Any, lkey: tuple[int, Any], loc: _Location) -> None:
        """Forget a location when its object dies (ids are reused)."""
        oid = lkey[0]
        keys = self._by_object.get(oid)
        if keys is None:
            keys = self._by_object[oid] = []
            try:
                weakref.finalize(obj, self._dead.append, oid)
            except TypeError:  # not weakly referenceable: keep it alive
                loc.keep = obj
        elif keys and self._shadow.get(keys[0]) is not None:
            loc.keep = self._shadow[keys[0]].keep
        keys.append(lkey[1])
        self._new_locations += 1
        if self._new_locations >= _SWEEP_EVERY:
            self._new_locations = 0
            self._sweep()

    def _drain_dead(self) -> None:
        """Forget the objects that died.  (Their finalizers only queue the
        id: a finalizer may run while this thread holds ``_lock``.)"""
        while self._dead:
            self._forget_locked(self._dead.popleft())

    def _forget_locked(self, oid: int) -> None:
        for key in self._by_object.pop(oid, ()):
            self._shadow.pop((oid, key), None)

    def _sweep(self) -> None:
        """Drop kept containers that only the shadow table refers to."""
        for oid, keys in list(self._by_object.items()):
            loc = self._shadow.get((oid, keys[0])) if keys else None
            # references: one per location of this object, one for `obj` here,
            # one for getrefcount's argument
            if loc is not None and loc.keep is not None:
                obj = loc.keep
                if sys.getrefcount(obj) <= len(keys) + 2:
                    del obj
                    self._forget_locked(oid)
