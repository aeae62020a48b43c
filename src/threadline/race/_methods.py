"""Method tables: what a method call on a sync object or builtin container
records (``Hooks.m`` looks the method up here: type -> name -> wrapper),
and the builtins that read a whole container (``Hooks.call``).

A wrapper ``wrapper(hooks, obj, bound_method)`` returns what the call site
calls instead of the method: it calls the method and records the accesses,
hand-offs and acquire/release edges the method makes, as the hooks do.

Locking: the tables are built at import and never change, except
``TABLES``, the cache of ``table_for`` per type, shared by the Python and C
hooks: any thread may fill an entry (a dict store, atomic), and every
thread computes the same value for a type.  ``TABLES`` holds its types
weakly (keyed by a weak reference whose callback drops the entry), so a
class made at run time can be collected; it is looked up with
``weakref.ref(type)``, which is equal to the key while the type lives.
"""

from __future__ import annotations

import builtins
import collections
import queue
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._locations import ALL, MOVED, SHAPE, describe
from ._queues import SIMPLE_QUEUE
from ._rewrite import WHOLE_READER_NAMES

if TYPE_CHECKING:
    from ._hooks import Hooks

# sum(x), sorted(x)...: a read of the whole first argument (Hooks.call);
# the list of names is the rewriter's, which sends their calls there.
WHOLE_READERS: frozenset[Any] = frozenset(getattr(builtins, name) for name in WHOLE_READER_NAMES)


def reading(hooks: Hooks, fn: Any) -> Callable[..., Any]:
    """*fn*, one of WHOLE_READERS, recording its read of its first argument."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            hooks.whole(args[0])
        return fn(*args, **kwargs)

    return call


def sync_of(obj: Any) -> Any:
    """The object whose clock *obj*'s acquire and release move: a
    Condition's is its lock's (two conditions on one lock, as ``queue.Queue``
    has, order what the lock orders); any other's is its own."""
    if isinstance(obj, threading.Condition):
        return obj._lock  # type: ignore[attr-defined]
    return obj


Wrapper = Callable[["Hooks", Any, Any], Any]


def _acquiring(h: Hooks, obj: Any, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        got = method(*args, **kwargs)
        if got or got is None:
            h.d.acquire(obj)
        return got

    return call


def _releasing(h: Hooks, obj: Any, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        h.d.release(obj)
        return method(*args, **kwargs)

    return call


def _waiting(h: Hooks, obj: Any, method: Any) -> Any:
    """Condition.wait: releases the lock while it waits, then re-acquires."""

    def call(*args: Any, **kwargs: Any) -> Any:
        h.d.release(obj)
        try:
            return method(*args, **kwargs)
        finally:
            h.d.acquire(obj)

    return call


def _waiting_for(h: Hooks, obj: Any, method: Any) -> Any:
    """Condition.wait_for: the predicate runs with the lock held, between
    waits, so each evaluation is an acquire (and a release if it waits on)."""

    def call(predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        def checked() -> Any:
            h.d.acquire(obj)
            result = predicate()
            if not result:
                h.d.release(obj)
            return result

        h.d.release(obj)
        try:
            return method(checked, timeout)
        finally:
            h.d.acquire(obj)

    return call


def _event_wait(h: Hooks, obj: Any, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        flag = method(*args, **kwargs)
        if flag:
            h.d.acquire(obj)
        return flag

    return call


def _on_its_lock(wrapper: Wrapper) -> Wrapper:
    """*wrapper* for a Condition, on its lock's clock (see ``sync_of``)."""

    def wrap(h: Hooks, obj: Any, method: Any) -> Any:
        return wrapper(h, sync_of(obj), method)

    return wrap


def _writes(
    *, items: bool, reads_all: bool = False, stores: bool = False, fetches: bool = False
) -> Wrapper:
    """A container method that changes its shape and, with *items*, may
    move or change every item; with *stores*, it stores its argument (or,
    for ``extend``, the items of a list or tuple given); with *fetches*,
    it takes out what it returns."""

    def wrap(h: Hooks, obj: Any, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if reads_all:
                h.whole(obj)
            handed = stores and len(args) == 1 and h.d.stored(_stored_value(method, args[0]))
            try:
                result = method(*args, **kwargs)
                if items:
                    _all_items_written(h, obj)
                h.d.access(obj, ALL, True, describe, True)
                h.d.access(obj, SHAPE, True, describe, True)
            finally:
                if handed:
                    h.d.tick()
            if fetches:
                h.d.fetched(result, obj, True)
            return result

        return call

    return wrap


def _stored_value(method: Any, arg: Any) -> Any:
    """What a storing method hands over: its argument, or the items of a
    list or tuple given to ``extend``/``update`` (an iterator is not read
    twice: what it yields is not handed over)."""
    if method.__name__ in ("extend", "extendleft", "update"):
        return tuple(arg) if type(arg) in (list, tuple) else None
    return arg


def _all_items_written(h: Hooks, obj: Any) -> None:
    """Every item may have moved or changed (sort, clear, popleft...)."""
    h.d.access(obj, MOVED, True, describe, True)


def _shifting(h: Hooks, obj: Any, method: Any) -> Any:
    """list.pop/insert/remove, deque.pop/insert/remove: the items from one
    index on move."""
    name = method.__name__

    def call(*args: Any) -> Any:
        size = len(obj)
        handed = False
        if name == "remove":
            h.whole(obj)
            start = obj.index(args[0])
        elif name == "insert":
            start = args[0] if args[0] >= 0 else max(size + args[0], 0)
            handed = len(args) == 2 and h.d.stored(args[1])
        else:  # pop
            start = args[0] if args else size - 1
            start = start + size if start < 0 else start
        try:
            result = method(*args)
            for k in range(min(start, size), max(size, len(obj))):
                h.d.access(obj, ("<item>", k), True, describe, True)
            h.d.access(obj, ALL, True, describe, True)
            h.d.access(obj, SHAPE, True, describe, True)
        finally:
            if handed:
                h.d.tick()
        if name == "pop":
            h.d.fetched(result, obj, True)
        return result

    return call


def _list_append(h: Hooks, obj: Any, method: Any) -> Any:
    def call(value: Any) -> None:
        handed = h.d.stored(value)
        try:
            method(value)
            h.d.access(obj, ALL, True, describe, True)
            h.d.access(obj, SHAPE, True, describe, True)
        finally:
            if handed:
                h.d.tick()

    return call


def _dict_key_reader(h: Hooks, obj: Any, method: Any) -> Any:
    """dict.get: a read of the key's item that returns what was stored."""

    def call(key: Any, *args: Any) -> Any:
        result = method(key, *args)
        seen = h.d.fetched(result, obj, True) if h.d.handoff else None
        h.d.access(obj, ("<item>", key), False, describe, False, seen)
        h.d.access(obj, MOVED, False, describe)
        return result

    return call


def _dict_key_writer(h: Hooks, obj: Any, method: Any) -> Any:
    """dict.setdefault and dict.pop: atomic writes of the key's item;
    setdefault stores its default when the key is missing (else it reads
    the item), and both return what the dict held."""
    storing = method.__name__ == "setdefault"

    def call(key: Any, *args: Any) -> Any:
        had = key in obj
        if storing and had:  # finds what is there: a read of the item
            result = method(key, *args)
            seen = h.d.fetched(result, obj, True) if h.d.handoff else None
            h.d.access(obj, ("<item>", key), False, describe, False, seen)
            return result
        handed = storing and len(args) == 1 and h.d.stored(args[0])
        try:
            result = method(key, *args)
            h.d.access(obj, ("<item>", key), True, describe, True)
            h.d.access(obj, ALL, True, describe, True)
            if had != (key in obj):
                h.d.access(obj, SHAPE, True, describe, True)
        finally:
            if handed:
                h.d.tick()
        h.d.fetched(result, obj, True)
        return result

    return call


def _dict_update(h: Hooks, obj: Any, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> None:
        before = len(obj)
        given = args[0] if len(args) == 1 else None
        values = tuple(given.values()) if type(given) is dict else ()
        handed = h.d.stored(values + tuple(kwargs.values()))
        try:
            method(*args, **kwargs)
            keys = list(dict(*args, **kwargs))
            for key in keys:
                h.d.access(obj, ("<item>", key), True, describe, True)
            h.d.access(obj, ALL, True, describe, True)
            if len(obj) != before:
                h.d.access(obj, SHAPE, True, describe, True)
        finally:
            if handed:
                h.d.tick()

    return call


def _reads_all(h: Hooks, obj: Any, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        h.whole(obj)
        return method(*args, **kwargs)

    return call


_LIST: dict[str, Wrapper] = {
    "append": _list_append,
    "extend": _writes(items=False, stores=True),
    "insert": _shifting,
    "pop": _shifting,
    "remove": _shifting,
    "clear": _writes(items=True),
    "sort": _writes(items=True, reads_all=True),
    "reverse": _writes(items=True, reads_all=True),
    "index": _reads_all,
    "count": _reads_all,
    "copy": _reads_all,
}
_DICT: dict[str, Wrapper] = {
    "get": _dict_key_reader,
    "setdefault": _dict_key_writer,
    "pop": _dict_key_writer,
    "update": _dict_update,
    "clear": _writes(items=True),
    "popitem": _writes(items=True, fetches=True),
    "keys": _reads_all,
    "values": _reads_all,
    "items": _reads_all,
    "copy": _reads_all,
}
_SET: dict[str, Wrapper] = {
    "add": _writes(items=False, stores=True),
    "discard": _writes(items=False),
    "remove": _writes(items=False),
    "pop": _writes(items=False, fetches=True),
    "clear": _writes(items=False),
    "update": _writes(items=False, stores=True),
    "difference_update": _writes(items=False),
    "intersection_update": _writes(items=False),
    "copy": _reads_all,
}
_DEQUE: dict[str, Wrapper] = {
    "append": _writes(items=False, stores=True),
    "appendleft": _writes(items=True, stores=True),
    "pop": _shifting,
    "popleft": _writes(items=True, fetches=True),
    "extend": _writes(items=False, stores=True),
    "extendleft": _writes(items=True, stores=True),
    "insert": _shifting,
    "clear": _writes(items=True),
    "rotate": _writes(items=True),
    "remove": _shifting,
}
_LOCK: dict[str, Wrapper] = {"acquire": _acquiring, "release": _releasing}
_COND: dict[str, Wrapper] = {
    "acquire": _on_its_lock(_acquiring),
    "release": _on_its_lock(_releasing),
    "wait": _on_its_lock(_waiting),
    "wait_for": _on_its_lock(_waiting_for),
}
_EVENT: dict[str, Wrapper] = {"set": _releasing, "wait": _event_wait, "is_set": _event_wait}

METHODS: dict[type, dict[str, Wrapper]] = {
    list: _LIST,
    dict: _DICT,
    set: _SET,
    collections.deque: _DEQUE,
    type(threading.Lock()): _LOCK,
    type(threading.RLock()): _LOCK,
    threading.Condition: _COND,
    threading.Semaphore: _LOCK,
    threading.BoundedSemaphore: _LOCK,
    threading.Event: _EVENT,
    # Queue, LifoQueue, PriorityQueue and Barrier: patched on their
    # classes (see _queues); SimpleQueue cannot be
    queue.SimpleQueue: SIMPLE_QUEUE,
}
UNSEEN: Any = object()
# per type, filled as types are seen: weakref.ref(type) -> its table (see the top)
TABLES: dict[weakref.ref[type], dict[str, Wrapper] | None] = {}


def _forget(ref: weakref.ref[type]) -> None:
    TABLES.pop(ref, None)


def table_for(cls: type) -> dict[str, Wrapper] | None:
    """*cls*'s method table (None: no method of it records anything),
    remembered in ``TABLES``."""
    table = METHODS.get(cls)
    if table is None:
        for base, entries in _METHODS_BY_BASE:
            if issubclass(cls, base):
                table = entries
                break
    # (an equal key already there, another thread's, stays, with its callback)
    TABLES[weakref.ref(cls, _forget)] = table
    return table


_METHODS_BY_BASE: list[tuple[type, dict[str, Wrapper]]] = [
    (threading.Condition, _COND),
    (threading.Semaphore, _LOCK),
    (threading.Event, _EVENT),
    (dict, _DICT),
    (list, _LIST),
]


def _join(h: Hooks, obj: Any, method: Any) -> Any:
    def call(parts: Any) -> Any:
        h.whole(parts)
        return method(parts)

    return call


METHODS[str] = {"join": _join}

# Every name in a table: ``Hooks.ra`` looks a method read as an attribute
# up in its type's table only when its name is one of these (a set lookup,
# cheaper than the table's).
METHOD_NAMES: frozenset[str] = frozenset(name for table in METHODS.values() for name in table)
