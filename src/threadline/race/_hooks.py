"""What instrumented code calls: ``__tl_race__.<hook>(...)``.

Each hook performs the original operation and records the accesses it
makes.  Expressions keep Python's evaluation order: loads become calls that
return the loaded value; stores receive the value already computed; an
augmented assignment pushes its target (``ra_push``/``ri_push``) and stores
through it after the operand is evaluated (``wa_top``/``wi_top``).

Sync objects are recognised by type when a method is called on them, or
when they are used in ``with``, so locks made before the detector started
work too, and the library's own internal locking (never instrumented)
creates no edges.  The per-thread stack for augmented assignments is a
``threading.local``; nothing else here holds state.

Builtin containers hand over what they hold (docs/race.md): a store into
one calls ``Detector.stored(value)`` before the operation and ``tick()``
after its records; a fetch (an item read, ``get``, ``pop``, ``popleft``,
iterating a handed container) calls ``Detector.fetched`` and passes what
it returns to the read of the item.  A class whose ``__getitem__``/
``__setitem__``/``__delitem__`` is instrumented code records its own
accesses (under its own locks): its call sites record none.
"""

from __future__ import annotations

import builtins
import collections
import operator
import queue
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._core._convoy import acquire_politely
from ._detector import Detector, _accel
from ._queues import SIMPLE_QUEUE
from ._rewrite import R

# The locations of a builtin container besides its items: its length (or
# key set), all its values at once (what iteration and sum() read; every
# item write also writes it, atomically), and their positions (what
# sort(), clear() and insert() change under every item read).
SHAPE = "<shape>"
ALL = "<all>"
MOVED = "<moved>"
_CONTAINERS = (list, dict, set, collections.deque)
_EXACT_CONTAINERS = frozenset(_CONTAINERS)
_DICT_VIEWS: tuple[type, type] = (type({}.values()), type({}.items()))
_SEQUENCES = (list, collections.deque)  # indexed: negative indexes and slices resolved


class _SliceKey(tuple):  # type: ignore[type-arg]
    """A slice as (part of) a location key: slices cannot be hashed before
    Python 3.12 (``a[:, 0]`` on a NumPy array).  Equal only to another
    _SliceKey, never to the tuple ``(start, stop, step)`` (``a[1, 2, None]``)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is _SliceKey and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((_SliceKey, tuple.__hash__(self)))

    def __repr__(self) -> str:
        return "slice({!r}, {!r}, {!r})".format(*self)


_UNKEYABLE: Any = object()


def _keyable(key: Any) -> Any:
    """*key* as a location key: itself if it can be hashed, slices and
    tuples of them made hashable; else _UNKEYABLE (a list used as a NumPy
    index): that access is not recorded, which can miss a race but never
    invents one."""
    try:
        hash(key)
    except TypeError:
        pass
    else:
        return key
    if type(key) is slice:
        parts = [_keyable(part) for part in (key.start, key.stop, key.step)]
        return _UNKEYABLE if any(p is _UNKEYABLE for p in parts) else _SliceKey(parts)
    if type(key) is tuple:
        parts = [_keyable(part) for part in key]
        return _UNKEYABLE if any(p is _UNKEYABLE for p in parts) else tuple(parts)
    return _UNKEYABLE


def _describe(typ: type, label: Any, key: Any) -> str:
    kind = typ.__name__
    if key == SHAPE:
        return f"the length of a {kind}"
    if key in (ALL, MOVED):
        return f"the items of a {kind}"
    if isinstance(key, tuple) and key[:1] == ("<item>",):
        return f"{kind}[{key[1]!r}]"
    if isinstance(key, tuple) and key[:1] == ("<global>",):
        return f"global {key[1]} (module {label or '?'})"
    if isinstance(key, tuple) and key[:1] == ("<cell>",):
        return f"closure variable {key[1]}"
    if issubclass(typ, type):
        return f"class attribute {label}.{key}"
    return f"{kind}.{key}"


def _records_itself(obj: Any, dunder: str) -> bool:
    """Is ``type(obj).<dunder>`` instrumented code (which records what it
    does itself, under whatever lock it takes)?  Builtin containers and
    classes that are not instrumented are recorded at the call site."""
    if type(obj) in _EXACT_CONTAINERS:
        return False
    code = getattr(getattr(type(obj), dunder, None), "__code__", None)
    return code is not None and R in code.co_names


class Hooks:
    """The object instrumented modules see as ``__tl_race__``."""

    iadd = staticmethod(operator.iadd)
    isub = staticmethod(operator.isub)
    imul = staticmethod(operator.imul)
    imatmul = staticmethod(operator.imatmul)
    itruediv = staticmethod(operator.itruediv)
    ifloordiv = staticmethod(operator.ifloordiv)
    imod = staticmethod(operator.imod)
    ipow = staticmethod(operator.ipow)
    ilshift = staticmethod(operator.ilshift)
    irshift = staticmethod(operator.irshift)
    ior = staticmethod(operator.ior)
    ixor = staticmethod(operator.ixor)
    iand = staticmethod(operator.iand)

    def __init__(self, detector: Detector) -> None:
        self.d = detector
        self._stack = threading.local()
        if detector.core is not None:
            self._use_c(detector.core)

    # Names of the methods that have a C twin in ``_accel.Hooks``: with the
    # detector's C core they are looked up in the instance dict, first.
    _IN_C = (
        "ra", "wa", "sa", "ra_push", "wa_top", "ri", "wi", "si", "ri_push", "wi_top",
        "rgv", "wgv", "rg", "wg", "it", "whole", "isin", "m", "cm", "call", "_len",
    )  # fmt: skip

    def _use_c(self, core: Any) -> None:
        assert _accel is not None
        fast = _accel.Hooks(
            core,
            self,
            _describe,
            threading.local,
            collections.deque,
            _CONTAINERS,
            _LOCK_TYPES,
            _PLAIN_LOCKS,
            _TABLES,
            _table_for,
            acquire_politely,
            Hooks.ri,
            Hooks.wi,
            self._stack,
            SHAPE,
            ALL,
            MOVED,
            _WHOLE_READERS,
            Hooks.call,
            R,
        )
        for name in self._IN_C:
            setattr(self, name, getattr(fast, name))

    # -- attributes ---------------------------------------------------------

    def ra(self, obj: Any, name: str) -> Any:
        try:
            value = getattr(obj, name)
        except AttributeError:  # still a read: of the attribute's absence
            self._attr(obj, name, False)
            raise
        if type(obj) is ModuleType:
            self.d.access(obj.__dict__, ("<global>", name), False, _describe)
        elif not callable(value) and not isinstance(obj, threading.local):
            self.d.access(obj, name, False, _describe)
            if self.d.handoff:  # reached through a handed object: handed over with it
                self.d.fetched(value, obj, False)
        return value

    def _attr(self, obj: Any, name: str, write: bool) -> None:
        """An access to ``obj.name``: a module's attributes are its globals
        (the same location either way); a ``threading.local``'s are per
        thread."""
        if type(obj) is ModuleType:
            self.d.access(obj.__dict__, ("<global>", name), write, _describe)
        elif not isinstance(obj, threading.local):
            self.d.access(obj, name, write, _describe)

    def wa(self, obj: Any, name: str, value: Any) -> None:
        setattr(obj, name, value)
        self._attr(obj, name, True)

    def da(self, obj: Any, name: str) -> None:
        delattr(obj, name)
        self._attr(obj, name, True)

    def ra_push(self, obj: Any, name: str) -> Any:
        self._push((obj, name))
        return self.ra(obj, name)

    def wa_top(self, value: Any) -> None:
        obj, name = self._pop()
        self.wa(obj, name, value)

    # -- items --------------------------------------------------------------

    def _item_keys(self, obj: Any, key: Any) -> list[Any]:
        if issubclass(type(obj), _SEQUENCES):  # by type, as the C path asks
            if isinstance(key, slice):
                return [("<item>", i) for i in range(*key.indices(len(obj)))]
            if isinstance(key, int) and key < 0:
                key += len(obj)
        if type(key) is not int and type(key) is not str:
            key = _keyable(key)
            if key is _UNKEYABLE:
                return []
        return [("<item>", key)]

    def ri(self, obj: Any, key: Any) -> Any:
        value = obj[key]
        if _records_itself(obj, "__getitem__"):
            return value
        container = isinstance(obj, _CONTAINERS)
        seen = self.d.fetched(value, obj, container) if self.d.handoff else None
        for k in self._item_keys(obj, key):
            self.d.access(obj, k, False, _describe, False, seen)
        if container:
            self.d.access(obj, MOVED, False, _describe)
        return value

    def wi(self, obj: Any, key: Any, value: Any) -> None:
        if _records_itself(obj, "__setitem__"):
            obj[key] = value
            return
        keys = self._item_keys(obj, key)
        new_key = issubclass(type(obj), dict) and key not in obj
        handed = False
        if isinstance(obj, _CONTAINERS):
            many = isinstance(key, slice) and type(value) in (list, tuple)
            handed = self.d.stored(tuple(value) if many else value)
        try:
            obj[key] = value
            self._wrote(obj, keys, reshaped=new_key or isinstance(key, slice), moved=False)
        finally:
            if handed:
                self.d.tick()

    def di(self, obj: Any, key: Any) -> None:
        if _records_itself(obj, "__delitem__"):
            del obj[key]
            return
        keys = self._item_keys(obj, key)
        del obj[key]
        self._wrote(obj, keys, reshaped=True, moved=issubclass(type(obj), _SEQUENCES))

    def ri_push(self, obj: Any, key: Any) -> Any:
        self._push((obj, key))
        return self.ri(obj, key)

    def wi_top(self, value: Any) -> None:
        obj, key = self._pop()
        self.wi(obj, key, value)

    def _wrote(self, obj: Any, keys: list[Any], *, reshaped: bool, moved: bool) -> None:
        for k in keys:
            self.d.access(obj, k, True, _describe)
        if isinstance(obj, _CONTAINERS):  # inserting or removing a key is atomic in itself
            self.d.access(obj, ALL, True, _describe, True)
            if reshaped:
                self.d.access(obj, SHAPE, True, _describe, True)
            if moved:
                self.d.access(obj, MOVED, True, _describe, True)

    def sa(self, value: Any, obj: Any, name: str) -> None:
        """``obj.name = value`` (value first: Python evaluates it first)."""
        self.wa(obj, name, value)

    def si(self, value: Any, obj: Any, key: Any) -> None:
        """``obj[key] = value``."""
        self.wi(obj, key, value)

    slice_ = slice

    # -- globals and closure cells ------------------------------------------

    def rgv(self, namespace: dict[str, Any], name: str, value: Any) -> Any:
        self.rg(namespace, name)
        return value

    def wgv(self, namespace: dict[str, Any], name: str, value: Any) -> Any:
        self.wg(namespace, name)
        return value

    def rcv(self, probe: Callable[[], Any], name: str, value: Any) -> Any:
        self.rc(probe, name)
        return value

    def wcv(self, probe: Callable[[], Any], name: str, value: Any) -> Any:
        self.wc(probe, name)
        return value

    def rg(self, namespace: dict[str, Any], name: str) -> None:
        self.d.access(namespace, ("<global>", name), False, _describe)

    def wg(self, namespace: dict[str, Any], name: str) -> None:
        self.d.access(namespace, ("<global>", name), True, _describe)

    def rc(self, probe: Callable[[], Any], name: str) -> None:
        self.d.access(probe.__closure__[0], ("<cell>", name), False, _describe)  # type: ignore[index]

    def wc(self, probe: Callable[[], Any], name: str) -> None:
        self.d.access(probe.__closure__[0], ("<cell>", name), True, _describe)  # type: ignore[index]

    # -- whole containers ---------------------------------------------------

    def whole(self, obj: Any) -> None:
        """A read of every item and of the length (iteration, sum, sorted...)."""
        if isinstance(obj, _CONTAINERS):
            self.d.access(obj, SHAPE, False, _describe)
            self.d.access(obj, ALL, False, _describe)

    def it(self, obj: Any) -> Any:
        """``for x in obj``: iterating reads the container (and, when it was
        handed to this thread, fetches what it holds)."""
        self.whole(obj)
        if self.d.handoff:
            self._fetch_all(obj)
        return obj

    def _fetch_all(self, obj: Any) -> None:
        """Iterating a container that was itself handed over (or reached
        through a handed object) fetches what it holds."""
        holder: Any
        if isinstance(obj, (list, set, collections.deque)):
            holder = obj
        elif isinstance(obj, _DICT_VIEWS):
            holder = obj.mapping  # type: ignore[attr-defined]
        else:
            return
        if id(holder) in self.d.handoff:
            items = isinstance(obj, _DICT_VIEWS[1])
            self.d.fetched(tuple(v for _, v in obj) if items else tuple(obj), holder, True)

    def isin(self, item: Any, container: Any) -> bool:
        if issubclass(type(container), (dict, set)):  # membership: the key set
            self.d.access(container, SHAPE, False, _describe)
        else:
            self.whole(container)
        return item in container

    def call(self, fn: Any) -> Any:
        """``len(x)``, ``sum(x)``, ``getattr(o, n)``...: builtins that read
        or write what instrumented code would have."""
        if fn is builtins.len:
            return self._len
        if fn is builtins.getattr:
            return self._getattr
        if fn is builtins.hasattr:
            return self._hasattr
        if fn is builtins.setattr:
            return self.wa
        if fn is builtins.delattr:
            return self.da
        if fn in _WHOLE_READERS:
            return _reading(self, fn)
        return fn

    def _getattr(self, obj: Any, name: str, *default: Any) -> Any:
        try:
            return self.ra(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise

    def _hasattr(self, obj: Any, name: str) -> bool:
        try:
            self.ra(obj, name)
        except AttributeError:
            return False
        return True

    def _len(self, obj: Any) -> int:
        if isinstance(obj, (list, dict, set, collections.deque)):
            self.d.access(obj, SHAPE, False, _describe)
        return len(obj)

    # -- methods ------------------------------------------------------------

    def m(self, obj: Any, name: str) -> Any:
        """``obj.name(...)``: the method, wrapped when it synchronises or
        touches a builtin container."""
        method = getattr(obj, name)
        cls = type(obj)
        table = _TABLES.get(cls, _UNSEEN)
        if table is _UNSEEN:
            table = _TABLES[cls] = _table_for(cls)
        if table is not None and name in table:
            return table[name](self, obj, method)
        return method

    def cm(self, obj: Any) -> Any:
        """``with obj:`` for a lock-like object: acquire after enter, release
        before exit."""
        if _is_lock_like(obj):
            return _Held(self.d, obj)
        return obj

    def _held(self, obj: Any) -> _Held:
        """``with obj:`` for a lock-like object other than a plain Lock or
        RLock (the C path's ``cm`` hands those over to this)."""
        return _Held(self.d, obj)

    # -- the aug-assign target stack ------------------------------------------

    def _push(self, entry: tuple[Any, Any]) -> None:
        stack = getattr(self._stack, "items", None)
        if stack is None:
            stack = self._stack.items = []
        stack.append(entry)

    def _pop(self) -> tuple[Any, Any]:
        return self._stack.items.pop()  # type: ignore[no-any-return]


_WHOLE_READERS = frozenset(
    [
        builtins.sum,
        builtins.sorted,
        builtins.list,
        builtins.tuple,
        builtins.set,
        builtins.frozenset,
        builtins.dict,
        builtins.min,
        builtins.max,
        builtins.any,
        builtins.all,
        builtins.enumerate,
        builtins.reversed,
    ]
)


def _reading(hooks: Hooks, fn: Any) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            hooks.whole(args[0])
        return fn(*args, **kwargs)

    return call


def _sync_of(obj: Any) -> Any:
    """The object whose clock *obj*'s acquire and release move: a
    Condition's is its lock's (two conditions on one lock, as ``queue.Queue``
    has, order what the lock orders); any other's is its own."""
    if isinstance(obj, threading.Condition):
        return obj._lock  # type: ignore[attr-defined]
    return obj


class _Held:
    """A lock-like object in ``with``: HB edges around the real enter/exit,
    on the clock of ``_sync_of(obj)``."""

    __slots__ = ("d", "obj", "sync")

    def __init__(self, detector: Detector, obj: Any) -> None:
        self.d = detector
        self.obj = obj
        self.sync = _sync_of(obj)

    def __enter__(self) -> Any:
        obj: Any = self.obj
        if obj.__class__ in _PLAIN_LOCKS:
            # What ``obj.__enter__()`` does, minus the convoys that
            # instrumented (long) critical sections would otherwise start.
            acquire_politely(obj)
            value = True
        else:
            value = obj.__enter__()
        self.d.acquire(self.sync)
        return value

    def __exit__(self, *exc: Any) -> Any:
        self.d.release(self.sync)
        return self.obj.__exit__(*exc)


_PLAIN_LOCKS: frozenset[Any] = frozenset([type(threading.Lock()), type(threading.RLock())])

_LOCK_TYPES: tuple[type, ...] = (
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Condition,
    threading.Semaphore,
)


def _is_lock_like(obj: Any) -> bool:
    return isinstance(obj, _LOCK_TYPES)


# -- method tables: type -> name -> wrapper(hooks, obj, bound method) -------------

Wrapper = Callable[[Hooks, Any, Any], Any]


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
    """*wrapper* for a Condition, on its lock's clock (see ``_sync_of``)."""

    def wrap(h: Hooks, obj: Any, method: Any) -> Any:
        return wrapper(h, _sync_of(obj), method)

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
                h.d.access(obj, ALL, True, _describe, True)
                h.d.access(obj, SHAPE, True, _describe, True)
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
    h.d.access(obj, MOVED, True, _describe, True)


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
                h.d.access(obj, ("<item>", k), True, _describe, True)
            h.d.access(obj, ALL, True, _describe, True)
            h.d.access(obj, SHAPE, True, _describe, True)
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
            h.d.access(obj, ALL, True, _describe, True)
            h.d.access(obj, SHAPE, True, _describe, True)
        finally:
            if handed:
                h.d.tick()

    return call


def _dict_key_reader(h: Hooks, obj: Any, method: Any) -> Any:
    """dict.get: a read of the key's item that returns what was stored."""

    def call(key: Any, *args: Any) -> Any:
        result = method(key, *args)
        seen = h.d.fetched(result, obj, True) if h.d.handoff else None
        h.d.access(obj, ("<item>", key), False, _describe, False, seen)
        h.d.access(obj, MOVED, False, _describe)
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
            h.d.access(obj, ("<item>", key), False, _describe, False, seen)
            return result
        handed = storing and len(args) == 1 and h.d.stored(args[0])
        try:
            result = method(key, *args)
            h.d.access(obj, ("<item>", key), True, _describe, True)
            h.d.access(obj, ALL, True, _describe, True)
            if had != (key in obj):
                h.d.access(obj, SHAPE, True, _describe, True)
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
                h.d.access(obj, ("<item>", key), True, _describe, True)
            h.d.access(obj, ALL, True, _describe, True)
            if len(obj) != before:
                h.d.access(obj, SHAPE, True, _describe, True)
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

_METHODS: dict[type, dict[str, Wrapper]] = {
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
_UNSEEN: Any = object()
_TABLES: dict[type, dict[str, Wrapper] | None] = {}  # per type, filled as types are seen


def _table_for(cls: type) -> dict[str, Wrapper] | None:
    table = _METHODS.get(cls)
    if table is None:
        for base, entries in _METHODS_BY_BASE:
            if issubclass(cls, base):
                return entries
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


_METHODS[str] = {"join": _join}
