"""Happens-before race detection with vector clocks (FastTrack's epochs).

Every thread has a vector clock ``vc`` (thread slot -> time); its own entry
is its current time.  Synchronisation moves clocks between threads:

    release(sync object s):  s.clock ⊔= t.vc; t.vc[t] += 1
    acquire(s):              t.vc ⊔= s.clock
    start of thread u by t:  u.vc = t.vc (u's own entry 1); t.vc[t] += 1
    join of u by t:          t.vc ⊔= u's clock at its end

A location (an object's attribute, a container's item or shape, a global,
a closure cell) keeps the epoch of its last write ``(slot, time, access,
atomic)`` and of its reads: one per thread whose read is not yet ordered
before a later one.  An access races with a previous one when that one is
not before it: ``prev.time > t.vc[prev.slot]``.  This does not depend on the
schedule: two unordered accesses are a race whether or not they overlapped
in time, so GIL builds report what free-threaded builds would suffer.

Locking: a thread's ``vc`` is read and written only by that thread, so it
needs no lock.  Location shadows and sync clocks are guarded by striped
locks (``_locks[id(obj) % STRIPES]``, one at a time); ``_meta`` guards the
thread registry, the per-object bookkeeping and the sweep.  Order: a
stripe lock, then ``_meta``; never the other way.  The detector
never holds a lock while calling the program, and the program's own locks
are never held by it, so it cannot deadlock with the program.
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
from types import CodeType
from typing import Any

# One frame of a stack: (file, line, function).
Frame = tuple[str, int, str]
Stack = tuple[Frame, ...]
RawStack = tuple[tuple[CodeType, int], ...]

STACK_DEPTH = 16  # frames walked (the detector's own included)
STRIPES = 64
_SWEEP_EVERY = 50_000  # new objects between sweeps of kept containers

_OWN_PREFIX = __file__.rsplit("/", 2)[0] + "/"  # the threadline package
_LIBRARY_KEYS = ("stdlib", "platstdlib", "purelib", "platlib")
_LIBRARY = (*{sysconfig.get_paths()[k] + os.sep for k in _LIBRARY_KEYS}, "<frozen ")


def raw_stack(skip: int) -> RawStack:
    """The caller's frames as (code, line)."""
    frame: Any = sys._getframe(skip + 1)
    frames = []
    for _ in range(STACK_DEPTH):
        if frame is None:
            break
        frames.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return tuple(frames)


def _is_own(code: CodeType) -> bool:
    own = _OWN_CODES.get(code)
    if own is None:
        own = _OWN_CODES[code] = code.co_filename.startswith(_OWN_PREFIX)
    return own


_OWN_CODES: dict[CodeType, bool] = {}
_get_ident = threading.get_ident


def program_stack(me: ThreadInfo, frame: Any) -> RawStack:
    """The stack from the first program frame at or above *frame*: its line,
    then its callers', which cannot change while it runs, so they are
    cached per thread for as long as the same frame keeps accessing."""
    while frame is not None and _is_own(frame.f_code):
        frame = frame.f_back
    if frame is None:
        return ()
    if me.cached_frame is not frame:
        callers = []
        up = frame.f_back
        for _ in range(STACK_DEPTH - 1):
            if up is None:
                break
            callers.append((up.f_code, up.f_lineno))
            up = up.f_back
        me.cached_frame = frame
        me.cached_callers = tuple(callers)
    return ((frame.f_code, frame.f_lineno), *me.cached_callers)


def render(raw: RawStack) -> Stack:
    """The program's stack, innermost first: threadline's frames are left
    out, the walk stops where the program was entered (a thread's run
    wrapper, the command), and outer frames of the library that called the
    program (threading, a test runner) are dropped."""
    frames: list[Frame] = []
    for code, line in raw:
        if code.co_filename.startswith(_OWN_PREFIX):
            if frames:
                break
        else:
            frames.append((code.co_filename, line, code.co_qualname))
    while len(frames) > 1 and frames[-1][0].startswith(_LIBRARY):
        frames.pop()
    return tuple(frames)


def capture_stack(skip: int) -> Stack:
    return render(raw_stack(skip + 1))


@dataclass(eq=False)
class ThreadInfo:
    slot: int
    name: str
    created_at: Stack  # where start() was called; () for threads we did not see start
    vc: dict[int, int] = field(default_factory=dict)
    cached_frame: Any = None  # see program_stack
    cached_callers: RawStack = ()


# What an access touched: describe(type, label, key) -> "Counter.count".
Describe = Callable[[type, Any, Any], str]


class Access:
    """One side of a race: what was accessed, how, by whom, where."""

    __slots__ = ("_raw", "_what", "thread", "write")

    def __init__(
        self, write: bool, what: tuple[Describe, type, Any, Any], thread: ThreadInfo, raw: RawStack
    ) -> None:
        self.write = write
        self._what = what
        self.thread = thread
        self._raw = raw

    @property
    def what(self) -> str:
        describe, typ, label, key = self._what
        return describe(typ, label, key)

    @property
    def stack(self) -> Stack:
        return render(self._raw)


class _Location:
    """The shadow of one location: what it is (for reports), its last write
    ``(slot, time, atomic, thread, stack)`` and its unordered reads
    ``slot -> (time, thread, stack)``."""

    __slots__ = ("reads", "what", "write")

    def __init__(self, what: tuple[Describe, type, Any, Any]) -> None:
        self.what = what
        self.write: tuple[int, int, bool, ThreadInfo, RawStack] | None = None
        self.reads: dict[int, tuple[int, ThreadInfo, RawStack]] = {}


@dataclass(frozen=True)
class Race:
    current: Access
    previous: Access


def label_of(obj: Any) -> Any:
    """What a description needs besides the type: a class's or module's name."""
    if isinstance(obj, type):
        return obj.__qualname__
    if isinstance(obj, dict):
        return obj.get("__name__")
    return getattr(obj, "__name__", None) if type(obj).__name__ == "module" else None


class Detector:
    def __init__(self, on_race: Callable[[Race], None]) -> None:
        self._on_race = on_race
        self._locks = [threading.Lock() for _ in range(STRIPES)]
        self._meta = threading.Lock()
        self._threads: dict[int, ThreadInfo] = {}  # by threading.get_ident()
        self._slots = 0
        self._shadow: dict[tuple[int, Any], _Location] = {}
        self._objects: dict[int, list[Any]] = {}  # id -> its location keys, for cleanup
        self._kept: dict[int, Any] = {}  # id -> object kept alive (not weakly referenceable)
        self._sync: dict[int, dict[int, int]] = {}  # id(sync object) -> clock
        self._sync_keep: dict[int, Any] = {}
        self._new_objects = 0
        self._dead: deque[int] = deque()

    # -- threads ----------------------------------------------------------

    def _thread(self) -> ThreadInfo:
        info = self._threads.get(_get_ident())
        if info is None:
            with self._meta:
                info = self._new_thread(
                    threading.get_ident(), threading.current_thread().name, (), {}
                )
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
        snapshot = dict(me.vc)
        me.vc[me.slot] += 1
        return snapshot, capture_stack(2)

    def begin_thread(self, parent_vc: dict[int, int], created_at: Stack) -> ThreadInfo:
        """Called first thing in a started thread."""
        with self._meta:
            return self._new_thread(
                threading.get_ident(), threading.current_thread().name, created_at, parent_vc
            )

    def begin_task(self, start: Any, name: str, created_at: Stack) -> ThreadInfo | None:
        """A task (a pool's job) starts on this thread as a logical thread of
        its own, ordered after whatever released *start*: two tasks that
        happen to share a worker thread are not ordered by that."""
        ident = threading.get_ident()
        with self._locks[id(start) % STRIPES]:
            clock = dict(self._sync.get(id(start), {}))
        with self._meta:
            previous = self._threads.get(ident)
            self._new_thread(ident, name, created_at, clock)
        return previous

    def end_task(self, done: Any, previous: ThreadInfo | None) -> None:
        self.release(done)
        ident = threading.get_ident()
        with self._meta:
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
        key = id(obj)
        with self._locks[key % STRIPES]:
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
        key = id(obj)
        with self._locks[key % STRIPES]:
            clock = self._sync.get(key)
            if not clock:
                return
            vc = me.vc
            for slot, time in clock.items():
                if vc.get(slot, 0) < time:
                    vc[slot] = time

    # -- accesses ---------------------------------------------------------

    def access(
        self, obj: Any, key: Any, write: bool, describe: Describe, atomic: bool = False
    ) -> None:
        """Record a read or write of location (obj, key) and report races.
        Two *atomic* writes (a builtin container's own method: ``append``,
        ``pop``, ``setdefault``...) do not race with each other; they do
        race with reads and plain writes."""
        me = self._threads.get(_get_ident()) or self._thread()
        vc = me.vc
        now = vc[me.slot]
        oid = id(obj)
        lkey = (oid, key)
        loc = self._shadow.get(lkey)
        if loc is not None:  # fast path: the same epoch as last time
            if write:
                last = loc.write
                if (
                    last is not None
                    and last[0] == me.slot
                    and last[1] == now
                    and last[2] == atomic
                    and not loc.reads
                ):
                    return
            else:
                seen = loc.reads.get(me.slot)
                if seen is not None and seen[0] == now:
                    return
        if self._dead:
            self._drain_dead()
        raw = program_stack(me, sys._getframe(1))
        slot = me.slot
        races = []
        with self._locks[oid % STRIPES]:
            loc = self._shadow.get(lkey)
            if loc is None:
                loc = self._shadow[lkey] = _Location((describe, type(obj), label_of(obj), key))
                self._track(obj, oid, key)
            last = loc.write
            if (
                last is not None
                and last[0] != slot
                and last[1] > vc.get(last[0], 0)
                and not (write and atomic and last[2])
            ):
                races.append((True, last[3], last[4]))
            if write:
                if loc.reads:
                    for other, (time, thread, stack) in loc.reads.items():
                        if other != slot and time > vc.get(other, 0):
                            races.append((False, thread, stack))
                    loc.reads = {}
                loc.write = (slot, now, atomic, me, raw)
            else:
                reads = loc.reads
                if reads and (len(reads) > 1 or slot not in reads):
                    # reads ordered before this one are covered by it
                    loc.reads = reads = {
                        other: epoch
                        for other, epoch in reads.items()
                        if other != slot and epoch[0] > vc.get(other, 0)
                    }
                reads[slot] = (now, me, raw)
        for was_write, thread, stack in races:
            self._on_race(
                Race(Access(write, loc.what, me, raw), Access(was_write, loc.what, thread, stack))
            )

    # -- shadow state that dies with its object -----------------------------

    def _track(self, obj: Any, oid: int, key: Any) -> None:  # under the stripe lock
        """Remember the location's key under its object; the first time, arrange
        to forget them all when the object dies (ids are reused)."""
        with self._meta:
            keys = self._objects.get(oid)
            if keys is not None:
                keys.append(key)
                return
            self._objects[oid] = [key]
            try:
                weakref.finalize(obj, self._dead.append, oid)
            except TypeError:  # not weakly referenceable: keep it alive, sweep later
                self._kept[oid] = obj
            self._new_objects += 1
            if self._new_objects >= _SWEEP_EVERY:
                self._new_objects = 0
                self._sweep_locked()

    def _drain_dead(self) -> None:
        """Forget the objects that died.  (Their finalizers only queue the
        id: a finalizer may run while this thread holds a detector lock.)"""
        with self._meta:
            while self._dead:
                self._forget_locked(self._dead.popleft())

    def _forget_locked(self, oid: int) -> None:
        for key in self._objects.pop(oid, ()):
            self._shadow.pop((oid, key), None)
        self._kept.pop(oid, None)

    def _sweep(self) -> None:
        with self._meta:
            self._sweep_locked()

    def _sweep_locked(self) -> None:
        """Forget kept containers that nothing but the detector refers to."""
        for oid in list(self._kept):
            # references: _kept's, getrefcount's argument
            if sys.getrefcount(self._kept[oid]) <= 2:
                self._forget_locked(oid)
