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
locks (``_locks[(id(obj) >> 4) % STRIPES]``; ids are multiples of 16);
``_meta`` guards the thread registry, forgetting dead objects and the
sweep.  The detector's own code never holds two detector locks together
(a finalizer run under one may take another), and each is held
for as little as possible (a thread that blocks on a lock whose holder
lost the GIL waits a whole switch interval): a first access makes its
shadow without a lock (``dict.setdefault``), and the C path holds a stripe
lock across C code only.  The detector
never holds a lock while calling the program, and the program's own locks
are never held by it, so it cannot deadlock with the program (short of
the finalizer case below).

Re-entry: program code can still run while a thread holds a detector
lock, without the detector calling it: the finalizers the garbage
collector runs there (one that blocks on a program lock whose holder
waits for this detector lock deadlocks: see docs/race.md).  Their
accesses and sync operations count like any other (dropping a release
would invent races), so the locks are re-entrant, loops under them walk
copies, and forgetting a dead object removes only what is still that
object's (a finalizer can put a new object under its id meanwhile).
What forgetting frees (a location's key, a kept container) is freed after
``_meta`` is released.  The C path runs no collection under its stripe
locks at all.

Hand-offs through builtin containers (see docs/race.md, "Builtin
containers hand objects over"): ``stored(value)`` merges the storing
thread's clock into ``_handoff[id(value)] = (clock, fetches)`` and
``tick()`` then ends its epoch; ``fetched`` adds the fetching thread's
epoch to ``fetches``.  A thread is entitled to an object's hand-off clock
once it is ordered after one of its fetches; its accesses to that object's
own locations are then checked against ``vc ⊔ clock``; its clock itself
never changes, so the container's locations and everything else stay
unordered.  An entry is guarded by the stripe lock of its object's id (the
one its locations use) and dropped when the object's shadow is forgotten.

Lifetimes: the detector keeps no program object alive longer than python
would (a program's weakref-based cleanup must work under it), except sync
objects (``_sync_keep``, until ``forget``).  The per-thread stack cache
holds codes, never a frame (``program_stack``); descriptions hold names
(``Describe``); an item keyed by an object that hashes by identity holds
its key weakly (``_ItemKey``, forgotten through ``_dead`` when it dies);
kept containers are swept before every full collection (``_sweeper``);
and no per-type or per-code cache holds a type or a code (``_OWN_FILES``
is by file name; ``_methods.TABLES`` is weak).

``access``, ``acquire``, ``release``, ``stored``, ``tick`` and ``fetched``
have a C twin (``_accel.Core``, in ``_accel_core.c``) that works on the
same containers with stripe locks of its own (so a detector runs one or
the other, never both); it is used where it was built, unless
THREADLINE_RACE_PURE=1 asks for this file's code.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from ._locations import CLASS

if TYPE_CHECKING:
    from typing import Protocol

    class _Access(Protocol):
        def __call__(  # noqa: PLR0917 (the C twin takes positional arguments only)
            self,
            obj: Any,
            key: Any,
            write: bool,
            describe: Describe,
            atomic: bool = False,
            seen: dict[int, int] | None = None,
        ) -> None: ...


_accel: ModuleType | None
try:
    from . import _accel
except ImportError:  # not built (no compiler at install time), or a free-threaded build
    _accel = None

# One frame of a stack: (file, line, function).
Frame = tuple[str, int, str]
Stack = tuple[Frame, ...]
RawStack = tuple[tuple[CodeType, int], ...]

STACK_DEPTH = 16  # frames walked (the detector's own included)
STRIPES = 64
# Kept containers are swept when as many new objects were seen as the last
# sweep kept (at least _SWEEP_MIN): a sweep costs O(kept), so that is O(1)
# per new object, and kept dead containers stay fewer than the live ones.
_SWEEP_MIN = 4096

# What a container operation never hands over: values without locations.
_SCALARS = frozenset([int, float, complex, str, bytes, bool, type(None)])
_TUPLE_DEPTH = 3  # tuples are looked through this deep (``(key, obj)`` pairs)


def handed(value: Any, depth: int = 0) -> list[Any]:
    """The objects a container operation on *value* hands over: *value*
    itself, or the items of a tuple (looked through), never a scalar."""
    typ = type(value)
    if typ in _SCALARS:
        return []
    if typ is tuple and depth < _TUPLE_DEPTH:
        found: list[Any] = []
        for item in value:
            found.extend(handed(item, depth + 1))
        return found
    return [value]


def _entitled(entry: tuple[dict[int, int], dict[int, int]], vc: dict[int, int]) -> bool:
    """Is a thread with clock *vc* ordered after one of the entry's fetches?"""
    return any(time <= vc.get(slot, 0) for slot, time in entry[1].copy().items())


def join_clocks(into: dict[int, int], clock: dict[int, int]) -> None:
    """*into* ⊔= *clock* (walking a copy: a finalizer may add to it)."""
    for slot, time in clock.copy().items():
        if into.get(slot, 0) < time:
            into[slot] = time


_OWN_PREFIX = __file__.rsplit("/", 2)[0] + "/"  # the threadline package
_LIBRARY_KEYS = ("stdlib", "platstdlib", "purelib", "platlib")


@functools.cache
def _library() -> tuple[str, ...]:
    """Where the standard library and installed packages live (computed at
    the first report: sysconfig is slow to ask)."""
    import sysconfig  # noqa: PLC0415

    return (*{sysconfig.get_paths()[k] + os.sep for k in _LIBRARY_KEYS}, "<frozen ")


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
    own = _OWN_FILES.get(code.co_filename)
    if own is None:
        own = _OWN_FILES[code.co_filename] = code.co_filename.startswith(_OWN_PREFIX)
    return own


# by file name, not by code object: a cache keyed by code would keep the
# code of every function a program made at run time (exec, lambdas in eval)
_OWN_FILES: dict[str, bool] = {}
_get_ident = threading.get_ident


def program_stack(me: ThreadInfo, frame: Any) -> RawStack:
    """The stack from the first program frame at or above *frame*: its line,
    then its callers' up to threadline's first frame (where ``render``
    stops) or STACK_DEPTH frames in all.

    The callers are cached per thread in ``me.cached_stack``, a tuple
    (code, callers, chain, raws): the program frame's code, its callers
    as (code, line), the same as (code, instruction offset), and the
    stacks already made, by line.  The cache holds no frame (a frame holds
    its locals: a finished ``__init__``'s would keep ``self`` alive), so a
    hit is not told by frame identity but by walking the callers again:
    the same code at the same offset at every level, and the walk ending
    at the same place, make the same (code, line) pairs, whichever frames
    they are (a function called in a loop from one place hits; a frame
    freed and another made at its address with another caller misses)."""
    while frame is not None and _is_own(frame.f_code):
        frame = frame.f_back
    if frame is None:
        return ()
    code = frame.f_code
    cached: Any = me.cached_stack
    same = cached is not None and cached[0] is code
    if same:  # (the walk inlined: this runs at every recorded access)
        up = frame.f_back
        chain: Any = cached[2]
        for up_code, lasti in chain:
            if up is None or up.f_code is not up_code or up.f_lasti != lasti:
                same = False
                break
            up = up.f_back
        else:
            same = up is None or len(chain) == STACK_DEPTH - 1 or _is_own(up.f_code)
    if not same:
        callers: list[tuple[CodeType, int]] = []
        chain = []
        up = frame.f_back
        while up is not None and len(callers) < STACK_DEPTH - 1:
            up_code = up.f_code
            if _is_own(up_code):
                break
            callers.append((up_code, up.f_lineno))
            chain.append((up_code, up.f_lasti))
            up = up.f_back
        # one store: a finalizer that accesses meanwhile finds either cache whole
        cached = me.cached_stack = (code, tuple(callers), tuple(chain), {})
    raws: dict[int, RawStack] = cached[3]
    line = frame.f_lineno
    raw = raws.get(line)
    if raw is None:  # (one tuple per line: many locations keep it)
        raw = raws[line] = ((code, line), *cached[1])
    return raw


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
    while len(frames) > 1 and frames[-1][0].startswith(_library()):
        frames.pop()
    return tuple(frames)


def capture_stack(skip: int) -> Stack:
    return render(raw_stack(skip + 1))


class ThreadInfo:
    """A thread's (or a task's) slot, vector clock and stack caches.  (The
    C path has a twin, ``_accel.ThreadInfo``.)"""

    __slots__ = (
        "cached_stack",
        "created_at",
        "last_read",
        "last_write",
        "name",
        "slot",
        "vc",
    )

    def __init__(
        self, slot: int, name: str, created_at: Stack, vc: dict[int, int] | None = None
    ) -> None:
        self.slot = slot
        self.name = name
        self.created_at = created_at  # where start() was called; () if we did not see it
        self.vc: dict[int, int] = {} if vc is None else vc
        # (code, callers, chain, raws): see program_stack (the C path's raws
        # are by instruction offset, not line); holds no frame
        self.cached_stack: tuple[Any, RawStack, tuple[Any, ...], dict[int, RawStack]] | None = None
        self.last_read: Any = None  # the C path's last epoch tuples, reused while they fit
        self.last_write: Any = None

    def __repr__(self) -> str:
        return f"ThreadInfo(slot={self.slot!r}, name={self.name!r})"


# What an access touched: describe(kind, label, key) -> "Counter.count",
# *kind* the name of the object's type.  A location's description holds
# names, never the object's type: a class made at run time must be free to go.
Describe = Callable[[str, Any, Any], str]


class Access:
    """One side of a race: what was accessed, how, by whom, where."""

    __slots__ = ("_raw", "_what", "thread", "write")

    def __init__(
        self, write: bool, what: tuple[Describe, str, Any, Any], thread: ThreadInfo, raw: RawStack
    ) -> None:
        self.write = write
        self._what = what
        self.thread = thread
        self._raw = raw

    @property
    def what(self) -> str:
        describe, kind, label, key = self._what
        return describe(kind, label, key)

    @property
    def stack(self) -> Stack:
        return render(self._raw)


class _Location:
    """The shadow of one location: what it is (for reports), its last write
    ``(slot, time, atomic, thread, stack)`` and its unordered reads
    ``slot -> (time, thread, stack)``; ``owner`` is its object's watch."""

    __slots__ = ("owner", "reads", "what", "write")

    def __init__(self, what: tuple[Describe, str, Any, Any], owner: _Watch | None) -> None:
        self.what = what
        self.owner = owner
        self.write: tuple[int, int, bool, ThreadInfo, RawStack] | None = None
        self.reads: dict[int, tuple[int, ThreadInfo, RawStack]] = {}


class Race:
    """A race: the access that found it, and the earlier one it races with."""

    __slots__ = ("current", "previous")

    def __init__(self, current: Access, previous: Access) -> None:
        self.current = current
        self.previous = previous

    def __repr__(self) -> str:
        threads = f"{self.current.thread.name!r} / {self.previous.thread.name!r}"
        return f"Race({self.current.what!r}, {threads})"


def kind_of(obj: Any) -> str:
    """The name of *obj*'s type, as descriptions keep it (interned: many
    locations share it)."""
    return sys.intern(type(obj).__name__)


def label_of(obj: Any) -> Any:
    """What a description needs besides the type's name: a class's name as
    ``(CLASS, qualname)``, or a module's name."""
    if isinstance(obj, type):
        return (CLASS, obj.__qualname__)
    if issubclass(type(obj), dict):  # by type, and no method of a subclass runs
        return dict.get(obj, "__name__")
    return getattr(obj, "__name__", None) if type(obj).__name__ == "module" else None


class _Watch(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows its object's id (which outlives it)."""

    __slots__ = ("oid",)
    oid: int


class _ItemKey(weakref.ref):  # type: ignore[type-arg]
    """An object used as a dict key, as the key of its item's location:
    held weakly (the location must not keep the key alive), equal to the
    object while it lives and to nothing else once it died.  Only for
    objects that compare and hash by identity (``identity_keyed``): no
    other object can ever reach a dead one's item, so its location is
    forgotten when it dies (its callback queues it on ``_dead``).
    *oid*: the id of the container whose item it names."""

    __slots__ = ("hash", "oid")
    hash: int
    oid: int

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        obj = self()
        if type(other) is _ItemKey:  # another thread's, made at the same first access
            return obj is not None and obj is other()
        return obj is not None and obj is other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return self.hash

    def __repr__(self) -> str:
        obj = self()
        return repr(obj) if obj is not None else "<an object that died>"


def identity_keyed(key: Any) -> bool:
    """Does *key* compare and hash by identity (the default)?"""
    typ: Any = type(key)
    return typ.__hash__ is _OBJECT_HASH and typ.__eq__ is _OBJECT_EQ


_OBJECT_HASH: Any = object.__hash__
_OBJECT_EQ: Any = object.__eq__


def _owns(watch: _Watch | None, obj: Any) -> bool:
    """Is *watch* (a location's owner) *obj*'s?  None: a kept object, whose
    id cannot be reused while it is kept."""
    return watch is None or watch() is obj


def accelerated() -> bool:
    """Whether new detectors run the C hot path."""
    return _accel is not None and os.environ.get("THREADLINE_RACE_PURE", "") in ("", "0")


def _sweeper(ref: weakref.ref[Detector]) -> Callable[[str, dict[str, Any]], None]:
    """A ``gc.callbacks`` entry that sweeps *ref*'s detector before a full
    collection (holding it weakly: it is removed when the detector goes)."""

    def callback(phase: str, info: dict[str, Any]) -> None:
        detector = ref()
        if detector is not None and phase == "start" and info.get("generation") == 2:
            detector._sweep_before_collecting()

    return callback


def _remove_callback(callback: Callable[[str, dict[str, Any]], None]) -> None:
    try:
        gc.callbacks.remove(callback)
    except ValueError:
        pass


class Detector:
    access: _Access
    acquire: Callable[[Any], None]
    release: Callable[[Any], None]
    stored: Callable[[Any], bool]
    tick: Callable[[], None]
    fetched: Callable[[Any, Any, bool], dict[int, int] | None]

    def __init__(self, on_race: Callable[[Race], None], *, use_c: bool | None = None) -> None:
        """*use_c*: run the C hot path (default: where it is available, see
        ``accelerated``)."""
        self._on_race = on_race
        # re-entrant: see "Re-entry" at the top
        self._locks = [threading.RLock() for _ in range(STRIPES)]
        self._meta = threading.RLock()
        self._threads: dict[int, ThreadInfo] = {}  # by threading.get_ident()
        self._slots = 0
        self._shadow: dict[tuple[int, Any], Any] = {}  # -> _Location or _accel.Location
        self._objects: dict[int, list[Any]] = {}  # id -> [its watch, its location keys...]
        self._kept: dict[int, Any] = {}  # id -> object kept alive (not weakly referenceable)
        self._sync: dict[int, dict[int, int]] = {}  # id(sync object) -> clock
        self._sync_keep: dict[int, Any] = {}
        # id(object) -> (its hand-off clock, fetches: slot -> first time)
        self.handoff: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
        self._new_objects = 0
        self._sweep_every = _SWEEP_MIN
        self._dead: deque[_Watch | _ItemKey] = deque()
        # a full collection (gc.collect()) sweeps first: a kept container
        # nothing else refers to must not keep what it holds past it
        callback = _sweeper(weakref.ref(self))
        gc.callbacks.append(callback)
        weakref.finalize(self, _remove_callback, callback)
        self._dead_items: dict[int, int] = {}  # id(container) -> dead item keys in its list
        if accelerated() if use_c is None else use_c:
            if _accel is None:
                raise RuntimeError("use_c=True, but threadline.race._accel is not built")
            self._location: Callable[[Any, _Watch | None], Any] = _accel.Location
            self._thread_info: Callable[..., ThreadInfo] = _accel.ThreadInfo
            core = _accel.Core(
                detector=self,
                threads=self._threads,
                shadow=self._shadow,
                dead=self._dead,
                sync=self._sync,
                sync_keep=self._sync_keep,
                own_prefix=_OWN_PREFIX,
                stripes=STRIPES,
                objects=self._objects,
                kept=self._kept,
                watch_type=_Watch,
                sweep_every=_SWEEP_MIN,
                handoff=self.handoff,
            )
            self.core: Any = core  # for the C hooks (see _hooks.Hooks)
            self.access = core.access
            self.acquire = core.acquire
            self.release = core.release
            self.stored = core.stored
            self.tick = core.tick
            self.fetched = core.fetched
            self._clock_of: Callable[[Any], dict[int, int]] = core.clock_of
        else:
            self._location = _Location
            self._thread_info = ThreadInfo
            self.core = None
            self.access = self._access
            self.acquire = self._acquire
            self.release = self._release
            self.stored = self._stored
            self.tick = self._tick
            self.fetched = self._fetched
            self._clock_of = self._py_clock_of

    # -- threads ----------------------------------------------------------

    def _thread(self) -> ThreadInfo:
        """This thread's info, registering a thread never seen."""
        ident = _get_ident()
        info = self._threads.get(ident)
        if info is None:
            with self._meta:
                info = self._new_thread(ident, threading.current_thread().name, (), {})
        return info

    def _new_thread(
        self, ident: int, name: str, created_at: Stack, parent_vc: dict[int, int]
    ) -> ThreadInfo:
        before = self._threads.get(ident)
        self._slots += 1
        info = self._thread_info(self._slots, name, created_at, dict(parent_vc))
        info.vc[info.slot] = 1
        interloper = self._threads.get(ident)
        if interloper is not before and interloper is not None:
            # a finalizer run meanwhile registered this thread: what it did
            # comes before what the thread does from here on
            for slot, time in interloper.vc.copy().items():
                if info.vc.get(slot, 0) < time:
                    info.vc[slot] = time
        self._threads[ident] = info
        return info

    def fork(self) -> tuple[dict[int, int], Stack]:
        """Called by the parent at ``start()``: the child's starting clock."""
        me = self._thread()
        snapshot = dict(me.vc)
        me.vc[me.slot] += 1
        return snapshot, capture_stack(2)

    def forked(self) -> None:
        """Called first thing in a child made by ``os.fork()``: everything
        every thread did before the fork happens before what the child
        does (the other threads do not exist in it).  The Python path's
        locks are made anew: another thread may have held one at the fork."""
        if self.core is None:
            self._locks = [threading.RLock() for _ in range(STRIPES)]
            self._meta = threading.RLock()
        me = self._thread()
        for info in list(self._threads.values()):
            if info is not me:
                join_clocks(me.vc, info.vc)

    def begin_thread(self, parent_vc: dict[int, int], created_at: Stack) -> ThreadInfo:
        """Called first thing in a started thread."""
        with self._meta:
            return self._new_thread(
                threading.get_ident(), threading.current_thread().name, created_at, parent_vc
            )

    def begin_task(self, start: Any, name: str | None, created_at: Stack) -> ThreadInfo | None:
        """A task (a pool's job) starts on this thread: after whatever
        released *start*, and after what this thread did so far (its
        earlier tasks included: one thread runs its tasks one after
        another).  It goes on in the thread's slot, under a name and a
        creation stack of its own, for reports (None: the thread's).
        Returns the thread's info, for ``end_task``."""
        clock = self._clock_of(start)
        previous = self._thread()
        vc = previous.vc.copy()
        join_clocks(vc, clock)
        vc[previous.slot] += 1
        if name is None:
            name, created_at = previous.name, previous.created_at
        info = self._thread_info(previous.slot, name, created_at, vc)
        with self._meta:
            self._threads[threading.get_ident()] = info
        return previous

    def end_task(self, done: Any, previous: ThreadInfo | None, *, merge: bool = True) -> None:
        """The task ends: its clock goes to *done*, and the thread goes on
        after it (``previous``: what ``begin_task`` returned), ordered
        after what the task was ordered after unless *merge* is false:
        then only after the task itself (a section that saw more than
        its thread may, such as the program code a queue runs under its
        mutex: see _queues)."""
        self.release(done)
        ident = threading.get_ident()
        task = self._threads.get(ident)
        with self._meta:
            if previous is None:
                self._threads.pop(ident, None)
            else:
                self._threads[ident] = previous
        if previous is not None and task is not None and task is not previous:
            vc = previous.vc
            if merge:
                join_clocks(vc, task.vc)
            else:
                vc[previous.slot] = task.vc[previous.slot]

    def snapshot(self) -> dict[int, int]:
        """This thread's clock as a value, then a tick: a release into a
        value that travels with a message, instead of into an object the
        detector would have to keep (one per message)."""
        me = self._thread()
        clock = dict(me.vc)
        me.vc[me.slot] += 1
        return clock

    def join(self, clock: dict[int, int]) -> None:
        """Acquire a clock value made by ``snapshot``."""
        join_clocks(self._thread().vc, clock)

    def end_thread(self, holder: Any) -> None:
        """The thread is finishing: publish its clock on *holder* for joins."""
        self.release(holder)

    # -- synchronisation --------------------------------------------------

    def forget(self, obj: Any) -> None:
        """Drop *obj*'s sync clock: a sync object made for one edge (a queue
        message's) that nothing will acquire again.  (Lets *obj* go too.)"""
        key = id(obj)
        with self._locks[(key >> 4) % STRIPES]:
            clock = self._sync.pop(key, None)
            kept = self._sync_keep.pop(key, None)
        del clock, kept  # (freed outside the section)

    # The loops below walk copies (``dict.copy`` runs no collection midway):
    # a finalizer that runs inside (see the top) can add to the clock being
    # walked.

    def _py_clock_of(self, obj: Any) -> dict[int, int]:
        with self._locks[(id(obj) >> 4) % STRIPES]:
            return dict(self._sync.get(id(obj), {}))

    def _release(self, obj: Any) -> None:
        me = self._thread()
        key = id(obj)
        vc = me.vc
        with self._locks[(key >> 4) % STRIPES]:
            clock = self._sync.get(key)
            if clock is None:
                clock = self._sync[key] = {}
                self._sync_keep[key] = obj
            seen = None
            while seen != vc:  # again if a finalizer moved this thread's clock on
                seen = vc.copy()
                for slot, time in seen.items():
                    if clock.get(slot, 0) < time:
                        clock[slot] = time
        vc[me.slot] += 1

    def _acquire(self, obj: Any) -> None:
        me = self._thread()
        key = id(obj)
        with self._locks[(key >> 4) % STRIPES]:
            clock = self._sync.get(key)
            if not clock:
                return
            vc = me.vc
            for slot, time in clock.copy().items():
                if vc.get(slot, 0) < time:
                    vc[slot] = time

    # -- hand-offs through builtin containers ------------------------------

    def _stored(self, value: Any) -> bool:
        """*value* is about to be stored in a builtin container by this
        thread: what it did so far is ordered before the uses of *value* by
        whoever fetches it.  True when something was handed over: the
        caller then calls ``tick()`` once the store is recorded, so that
        this thread's later accesses are not."""
        objects = handed(value)
        if not objects:
            return False
        me = self._threads.get(_get_ident()) or self._thread()
        vc = me.vc
        handoff = self.handoff
        for obj in objects:
            oid = id(obj)
            with self._locks[(oid >> 4) % STRIPES]:
                entry = handoff.get(oid)
                if entry is None:
                    entry = handoff[oid] = ({}, {})
                join_clocks(entry[0], vc)
        return True

    def _tick(self) -> None:
        me = self._threads.get(_get_ident()) or self._thread()
        me.vc[me.slot] += 1

    def _fetched(
        self, value: Any, holder: Any = None, taken: bool = False
    ) -> dict[int, int] | None:
        """*value* was read from *holder*: with *taken*, fetched from a
        builtin container (this thread is entitled to its hand-off clock
        from now on); either way, when this thread is entitled to
        *holder*'s clock, *value* inherits it (what was reached through a
        handed object was handed over with it).  Returns, with *taken*,
        the clock of what *value* hands over (None if none): the read that
        returned it is ordered after its store."""
        handoff = self.handoff
        if not handoff or type(value) in _SCALARS:
            return None
        me = self._threads.get(_get_ident()) or self._thread()
        vc = me.vc
        inherited = None
        if holder is not None:
            hid = id(holder)
            with self._locks[(hid >> 4) % STRIPES]:
                entry = handoff.get(hid)
                if entry is not None and _entitled(entry, vc):
                    inherited = dict(entry[0])
        if inherited is None and not taken:
            return None
        seen: dict[int, int] | None = None
        slot, now = me.slot, vc[me.slot]
        for obj in handed(value):
            oid = id(obj)
            with self._locks[(oid >> 4) % STRIPES]:
                entry = handoff.get(oid)
                if entry is None:
                    if inherited is None:
                        continue
                    entry = handoff[oid] = ({}, {})
                if inherited is not None:
                    join_clocks(entry[0], inherited)
                entry[1].setdefault(slot, now)
                if taken:
                    if seen is None:
                        seen = {}
                    join_clocks(seen, entry[0])
        return seen

    # -- accesses ---------------------------------------------------------

    def _access(  # noqa: PLR0917 (as its C twin)
        self,
        obj: Any,
        key: Any,
        write: bool,
        describe: Describe,
        atomic: bool = False,
        seen: dict[int, int] | None = None,
    ) -> None:
        """Record a read or write of location (obj, key) and report races.
        Two *atomic* writes (a builtin container's own method: ``append``,
        ``pop``, ``setdefault``...) do not race with each other; they do
        race with reads and plain writes.  *seen*: the hand-off clock of
        the value this read returned (see ``fetched``), also before it."""
        me = self._threads.get(_get_ident()) or self._thread()
        vc = me.vc
        now = vc[me.slot]
        oid = id(obj)
        lkey = (oid, key)
        loc = self._shadow.get(lkey)
        if loc is not None and _owns(loc.owner, obj):  # fast path: the same epoch as last time
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
                mine = loc.reads.get(me.slot)
                if mine is not None and mine[0] == now:
                    return
        if self._dead:
            self._drain_dead()
        raw = program_stack(me, sys._getframe(1))
        slot = me.slot
        races: list[tuple[bool, ThreadInfo, RawStack]] = []
        loc = self._shadow.get(lkey)
        if loc is None or not _owns(loc.owner, obj):
            loc = self._new_location(obj, key, lkey, describe)
        with self._locks[(oid >> 4) % STRIPES]:
            # the epochs replaced here stay referenced (last, replaced)
            # until the lock is released: freeing one can free a
            # ThreadInfo and what it holds, and run a finalizer
            handoff = self.handoff
            if handoff:  # obj was handed over to this thread: vc ⊔ its clock
                entry = handoff.get(oid)
                if entry is not None and _entitled(entry, vc):
                    vc = dict(vc)
                    join_clocks(vc, entry[0])
            if seen is not None:
                vc = dict(vc)
                join_clocks(vc, seen)
            last = loc.write
            replaced = loc.reads
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
        del last, replaced
        if races:
            self._report(write, loc, me, raw, races)

    def _report(
        self,
        write: bool,
        loc: Any,
        me: ThreadInfo,
        raw: RawStack,
        races: list[tuple[bool, ThreadInfo, RawStack]],
    ) -> None:
        """Report the races of one access (no detector lock held)."""
        for was_write, thread, stack in races:
            self._on_race(
                Race(Access(write, loc.what, me, raw), Access(was_write, loc.what, thread, stack))
            )

    # -- shadow state that dies with its object -----------------------------

    # Ids are reused, so each location names its object's watch (a weak
    # reference; None for an object kept alive in ``_kept``) and is the
    # object's only while the watch still points at it.  ``_objects[id]``
    # is [watch, location keys...] of the object now under that id.  A dead
    # object's locations are forgotten when its watch is drained, or before
    # that by the first access to a new object under the same id.
    # A first access takes no lock (dict.setdefault and list.append are
    # atomic); ``_meta`` serialises forgetting, for a few dict operations:
    # a thread that lost the GIL while holding it would make others queue.

    def _new_location(self, obj: Any, key: Any, lkey: tuple[int, Any], describe: Describe) -> Any:
        """The shadow of location (obj, key) at its first access (or the
        first since its id was an object that died).  *obj* cannot die
        meanwhile: the caller refers to it."""
        oid = lkey[0]
        entry = self._objects.get(oid)
        if entry is None:
            entry = self._objects.setdefault(oid, [self._watch(obj, oid)])
            self._new_objects += 1  # (racy: only paces the sweep)
            if self._new_objects >= self._sweep_every:
                self._new_objects = 0
                self._sweep_every = self._sweep()
        if not _owns(entry[0], obj):  # what a dead object left under this id
            dropped: list[Any] = []
            with self._meta:
                entry = self._objects.get(oid)
                if entry is not None and not _owns(entry[0], obj):
                    self._forget_locked(oid, dropped)
                    entry = self._objects.get(oid)  # (a finalizer may have put obj's)
                if entry is None or not _owns(entry[0], obj):
                    entry = self._objects[oid] = [self._watch(obj, oid)]
            del dropped  # (finalizers run here, outside the section)
        key, lkey = self._held_key(oid, key, lkey)
        new = self._location((describe, kind_of(obj), label_of(obj), key), entry[0])
        loc = self._shadow.setdefault(lkey, new)
        if loc is not new and not _owns(loc.owner, obj):
            # a dead object's, left by a forgetting that a finalizer cut
            # into (see the top): never the new object's history
            loc = self._shadow[lkey] = new
        if loc is new:
            entry.append(key)
        return loc

    def _held_key(self, oid: int, key: Any, lkey: tuple[int, Any]) -> tuple[Any, tuple[int, Any]]:
        """The key and shadow key a new location is stored under: an item
        keyed by an object that hashes by identity names it weakly (see
        ``_ItemKey``).  (The C core sends such first accesses here.)"""
        if type(key) is tuple and len(key) == 2 and key[0] == "<item>":
            item = key[1]
            if type(item) not in _SCALARS and identity_keyed(item):
                try:
                    ref = _ItemKey(item, self._dead.append)
                except TypeError:  # not weakly referenceable: held, as before
                    return key, lkey
                ref.hash = _OBJECT_HASH(item)
                ref.oid = oid
                key = ("<item>", ref)
                lkey = (oid, key)
        return key, lkey

    def _watch(self, obj: Any, oid: int) -> _Watch | None:
        try:
            watch = _Watch(obj, self._dead.append)
        except TypeError:  # not weakly referenceable: keep it alive, sweep later
            self._kept[oid] = obj
            return None
        watch.oid = oid
        return watch

    def _drain_dead(self) -> None:
        """Forget the objects that died.  (Their watches only queue
        themselves: they fire wherever the object died, perhaps while
        that thread holds a detector lock.)"""
        dead = self._dead
        while dead:
            try:
                watch = dead.popleft()
            except IndexError:  # another thread drained it
                return
            dropped: list[Any] = []
            with self._meta:
                entry = self._objects.get(watch.oid)
                if type(watch) is _ItemKey:
                    self._forget_item_locked(watch, entry, dropped)
                elif entry is not None and entry[0] is watch:
                    self._forget_locked(watch.oid, dropped)
            del dropped, entry  # (finalizers run here, outside the section)

    def _forget_item_locked(
        self, ref: _ItemKey, entry: list[Any] | None, dropped: list[Any]
    ) -> None:
        """Forget the location of the item keyed by *ref*'s object, which
        died.  Its container's list of keys is compacted once dead keys
        are most of it (amortised O(1) per key)."""
        key = ("<item>", ref)
        dropped.append(self._shadow.pop((ref.oid, key), None))
        if entry is None:
            return
        dead = self._dead_items.get(ref.oid, 0) + 1
        if dead * 2 < len(entry):
            self._dead_items[ref.oid] = dead
            return
        self._dead_items.pop(ref.oid, None)
        # a first access appends without a lock: only what was there is replaced
        end = len(entry)
        entry[1:end] = [
            k
            for k in entry[1:end]
            if not (type(k) is tuple and len(k) == 2 and type(k[1]) is _ItemKey and k[1]() is None)
        ]

    def _forget_locked(self, oid: int, dropped: list[Any]) -> None:
        """Forget object *oid*; what that frees goes to *dropped*, for the
        caller to free once ``_meta`` is released (a location's key, a kept
        container and what they hold can have finalizers)."""
        # the locations first: once the entry is gone, a new object's first
        # access takes the lock-free path, which must find none of them
        # Only what is still this object's: a finalizer run meanwhile (see
        # the top) can have put a new object under the id.
        entry = self._objects.get(oid)
        if entry is not None:
            watch = entry[0]
            shadow = self._shadow
            for key in entry[1:]:
                loc = shadow.get((oid, key))
                if loc is not None and loc.owner is watch:
                    dropped.append(shadow.pop((oid, key), None))
            if self._objects.get(oid) is entry:
                del self._objects[oid]
            dropped.append(entry)
            dropped.append(self.handoff.pop(oid, None))
            self._dead_items.pop(oid, None)
        if entry is None or entry[0] is None:  # (a new object's may be kept there now)
            dropped.append(self._kept.pop(oid, None))

    def _sweep(self) -> int:
        """Sweep; return how many new objects to see before the next one."""
        dropped: list[Any] = []
        with self._meta:
            self._sweep_locked(dropped)
            every = max(_SWEEP_MIN, len(self._kept))
        del dropped  # (finalizers run here, outside the section)
        return every

    def _sweep_before_collecting(self) -> None:
        """A full collection is starting: sweep, unless this thread is in
        the middle of forgetting (the collection started there) or another
        thread is (it would be waited for inside the collection)."""
        if not self._kept or self._meta._is_owned():  # type: ignore[attr-defined]
            return
        if not self._meta.acquire(blocking=False):
            return
        dropped: list[Any] = []
        try:
            self._sweep_locked(dropped)
        finally:
            self._meta.release()
        del dropped  # (finalizers run here, outside the section)

    def _sweep_locked(self, dropped: list[Any]) -> None:
        """Forget kept containers that nothing but the detector refers to."""
        kept = self._kept
        for oid in list(kept):
            # references: _kept's, getrefcount's argument
            if sys.getrefcount(kept.get(oid)) <= 2:
                self._forget_locked(oid, dropped)
