"""Deadlock detection: are all threads asleep in threadline for good?

Go stops a program whose goroutines are all asleep.  threadline does the
same: if every live thread of the process is parked in a threadline
operation with no timeout and no deadline (or is an idle pool worker),
nobody is left to wake anybody.  A thread doing anything threadline cannot
see (running, I/O, a plain lock, ``time.sleep``, an asyncio loop, an idle
``ThreadPoolExecutor`` worker) counts as able to act, and so does a Python
signal handler (``_signal_handlers``), so it rules a deadlock out: no
false alarms, at the price of missing deadlocks that involve such threads.

Who looks (a *watcher*; everyone else just sleeps):
  * a group's owner waiting at the end of its block (``TaskGroup``);
  * a group's owner blocked for good inside the block's body, and the main
    thread blocked for good anywhere (``wait_for_good``, called by
    ``park``): each waits in slices, 20 ms doubling to 0.5 s, and checks
    between them.  A deadlock found inside a body cancels the innermost
    group this thread owns, which then raises ``DeadlockError``; one found
    by the main thread outside any group raises it from the operation.

Each thread has a ``Record`` (found through a ``threading.local``, but a
plain object, so that other threads can read it); ``park`` stores the
waiter there while it waits for good and clears it after, a plain
attribute store, and a group's owner lists the group there for as long as
it runs the body (``groups``; read and written by the owner only).
``_registry`` (guarded by ``_registry_lock``, a ``SafeLock``, taken only
when a thread needs its record for the first time, and by the detector)
maps thread idents to records.

The check is two passes over every live thread.  Waiters fire at most once
and a thread parked on a waiter stays parked until it fires, so if both
passes see every thread parked on the same unfired waiter, then at the
instant between the passes all threads were parked and none can ever be
woken (short of a signal handler or a thread that Python does not know).
The watcher itself counts as parked: while it checks, it does nothing that
could wake anybody, and if its own waiter is still unfired after the second
pass, nobody fired it at that instant either.
"""

from __future__ import annotations

import os
import signal
import sys
import sysconfig
import threading
from types import CodeType, FrameType
from typing import Any, NamedTuple

from .._errors import DeadlockError
from . import _workers
from ._locks import SafeLock
from ._waiter import INTERRUPTED, Waiter

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB = os.path.join(sysconfig.get_path("stdlib"), "")


class Record:
    """What one thread waits on for good (read by other threads; written by
    the thread only), and the task groups whose body it runs, innermost last."""

    __slots__ = ("groups", "ident", "waiter")

    def __init__(self) -> None:
        self.waiter: Waiter | None = None
        self.groups: list[Any] = []  # TaskGroup (no import cycle)
        self.ident = threading.get_ident()


_local = threading.local()
_registry_lock = SafeLock()
_registry: dict[int, Record] = {}
_main = [threading.main_thread().ident]  # the thread that runs signal handlers


def _after_fork() -> None:
    _main[0] = threading.get_ident()  # the forking thread is the child's main


os.register_at_fork(after_in_child=_after_fork)


def parked_record() -> Record:
    """This thread's record; ``park`` sets its ``waiter`` while it waits for
    good, and clears it after."""
    record: Record | None = getattr(_local, "record", None)
    if record is None:
        record = _local.record = Record()
        with _registry_lock:
            _registry[record.ident] = record
    return record


def enter_body(group: Any) -> None:
    """This thread now runs *group*'s body (it watches for deadlocks there)."""
    parked_record().groups.append(group)


def leave_body(group: Any) -> None:
    groups = parked_record().groups
    if group in groups:
        groups.remove(group)


FIRST_POLL = 0.02
MAX_POLL = 0.5


def wait_for_good(waiter: Waiter, record: Record) -> bool:
    """``waiter.wait_sync(None)`` for a thread parked for good (noted in its
    *record*).

    A watcher (see the top) waits in slices and looks for a deadlock in
    between: inside a group's body it reports it to the innermost group it
    owns (which cancels itself, and so this wait); in the main thread
    outside any group it raises ``DeadlockError``."""
    groups = record.groups
    if not groups and record.ident != _main[0]:
        return waiter.wait_sync(None)
    pause = FIRST_POLL
    while not waiter.wait_sync(pause):
        found = find_deadlock(include_me=True)
        if found is not None and not waiter.fired:
            if groups:
                groups[-1]._deadlocked_in_body(found)  # cancels this wait
            elif waiter.fire(INTERRUPTED):  # else a partner just completed it after all
                raise DeadlockError(
                    "deadlock: every thread is blocked for good, and nothing can wake them "
                    "(all goroutines are asleep):\n" + "\n".join(f"  {b}" for b in found),
                    found,
                )
        pause = min(pause * 2, MAX_POLL)
    return True


class Blocked(NamedTuple):
    """One thread found asleep for good."""

    thread: str
    operation: str
    # The caller's ``file:line``; None when the operation is a task's
    # function itself (``tg.go(ch.recv)``).
    location: str | None
    ident: int

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.thread} waits in {self.operation}{where}"


def _snapshot(skip: int) -> dict[int, Waiter] | None:
    idle = _workers.idle_idents()
    parked: dict[int, Waiter] = {}
    with _registry_lock:
        records = dict(_registry)
    for thread in threading.enumerate():
        ident = thread.ident
        if ident is None or ident == skip or ident in idle or not thread.is_alive():
            continue
        record = records.get(ident)
        waiter = record.waiter if record is not None else None
        if waiter is None or waiter.fired:
            return None
        parked[ident] = waiter
    return parked


def find_deadlock(*, include_me: bool = False) -> list[Blocked] | None:
    """If every other thread is parked for good, describe them (the calling
    thread first, with *include_me*); else None.  The calling thread is
    taken to be waiting for good too."""
    me = threading.get_ident()
    first = _snapshot(me)
    if first is None or _signal_handlers():
        return None
    second = _snapshot(me)
    if second is None or second != first:
        return None
    if any(waiter.fired for waiter in second.values()):
        return None
    frames = sys._current_frames()
    names = {t.ident: t.name for t in threading.enumerate()}
    found = []
    for ident in [me, *second] if include_me else second:
        operation, location = _where(frames.get(ident))
        name = names.get(ident) or f"thread {ident}"
        found.append(Blocked(name, operation, location, ident))
    _forget_dead_threads(set(names))
    return found


# Timer signals fire only once the program itself set a timer (pytest-timeout's
# SIGALRM, a profiler's SIGPROF): their handlers are not taken to feed channels.
_TIMER_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGALRM", "SIGVTALRM", "SIGPROF") if hasattr(signal, name)
)


def _signal_handlers() -> bool:
    """True if a Python signal handler is installed that could feed a channel:
    any but the defaults, Ctrl-C's KeyboardInterrupt and the timer signals'.
    The main thread can run it at any moment, even while parked, so it counts
    as able to act (as Go's ``signal.Notify`` keeps a goroutine awake)."""
    for number in signal.valid_signals():
        if number in _TIMER_SIGNALS:
            continue
        try:
            handler = signal.getsignal(number)
        except (OSError, ValueError):
            continue
        if handler in (None, signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler):
            continue
        return True
    return False


# Code objects that run user functions (Task._run): the stack walk stops there.
BOUNDARIES: set[CodeType] = set()


def _where(frame: FrameType | None) -> tuple[str, str | None]:
    """The threadline operation a thread waits in, and the caller's file:line."""
    operation = "?"
    while frame is not None:
        code = frame.f_code
        if code in BOUNDARIES:
            return operation, None
        if not code.co_filename.startswith(_PACKAGE_DIR):
            return operation, f"{code.co_filename}:{frame.f_lineno}"
        operation = _pretty(code.co_qualname)
        frame = frame.f_back
    return operation, None


def where_now(ident: int) -> str | None:
    """Where thread *ident* is now (for messages): the threadline operation
    it waits in, or the innermost line of the program's own code that it
    runs (with the standard library's line it is in, if any); None if the
    thread is gone."""
    frame = sys._current_frames().get(ident)
    if frame is None:
        return None
    operation, location = _where(frame)
    if operation != "?":
        return f"waits in {operation}" + (f" at {location}" if location else "")
    inner = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    while frame is not None and _in_stdlib(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None or frame.f_code in BOUNDARIES:
        return f"running at {inner}"
    mine = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return f"running at {mine}" + ("" if mine == inner else f" (in {inner})")


def _in_stdlib(filename: str) -> bool:
    return filename.startswith(_STDLIB) and "-packages" not in filename


# A channel's slow paths, as the operation the program called: with the
# compiled core (see _channel.py) the fast part of recv/send/iteration has
# no Python frame, and the outermost threadline frame is the slow path.
_CHANNEL_NAMES = {
    "_ChannelBase._recv_wait": "Channel.recv",
    "_ChannelBase._send_wait": "Channel.send",
    "_ChannelBase._next_wait": "Channel iteration",
}


def _pretty(qualname: str) -> str:
    qualname = _CHANNEL_NAMES.get(qualname, qualname)
    if qualname.startswith(("PyChannel.", "_ChannelBase.")):
        qualname = "Channel." + qualname.partition(".")[2]
    if qualname.endswith(".__next__"):
        return qualname.replace(".__next__", " iteration")
    return qualname


def _forget_dead_threads(alive: set[int | None]) -> None:
    with _registry_lock:
        for ident in [i for i in _registry if i not in alive]:
            del _registry[ident]
