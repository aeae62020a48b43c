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

What the hooks know lives beside them: the locations and how reports name
them in ``_locations``, what each method of a sync object or container
records in ``_methods``.  A method of theirs read as an attribute
(``w = ev.wait``, as pytest's assertion rewriting does, called later) is
wrapped by ``ra`` as ``m`` wraps it.  With the C core, the hottest hooks run their C
twins (``_accel.Hooks``, in ``_accel_hooks.c``; ``Hooks._IN_C``).
"""

from __future__ import annotations

import builtins
import collections
import operator
import threading
import types
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._core._convoy import acquire_politely
from ._detector import Detector, _accel
from ._locations import (
    ALL,
    CONTAINERS,
    DICT_VIEWS,
    EXACT_CONTAINERS,
    MOVED,
    SEQUENCES,
    SHAPE,
    UNKEYABLE,
    describe,
    keyable,
)
from ._methods import (
    METHOD_NAMES,
    TABLES,
    UNSEEN,
    WHOLE_READERS,
    reading,
    sync_of,
    table_for,
)
from ._rewrite import R

_weak = weakref.ref


def _records_itself(obj: Any, dunder: str) -> bool:
    """Is ``type(obj).<dunder>`` instrumented code (which records what it
    does itself, under whatever lock it takes)?  Builtin containers and
    classes that are not instrumented are recorded at the call site."""
    if type(obj) in EXACT_CONTAINERS:
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
            core=core,
            py=self,
            describe=describe,
            local_type=threading.local,
            deque_type=collections.deque,
            containers=CONTAINERS,
            lock_types=_LOCK_TYPES,
            plain_locks=_PLAIN_LOCKS,
            tables=TABLES,
            table_for=table_for,
            method_names=METHOD_NAMES,
            politely=acquire_politely,
            py_ri=Hooks.ri,
            py_wi=Hooks.wi,
            stack=self._stack,
            shape=SHAPE,
            all=ALL,
            moved=MOVED,
            readers=WHOLE_READERS,
            py_call=Hooks.call,
            rname=R,
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
            self.d.access(obj.__dict__, ("<global>", name), False, describe)
        elif not callable(value) or _own_callable(obj, name):
            if not isinstance(obj, threading.local):
                self.d.access(obj, name, False, describe)
                if self.d.handoff:  # reached through a handed object: handed over with it
                    self.d.fetched(value, obj, False)
        elif name in METHOD_NAMES and isinstance(value, _BOUND):
            # ``w = ev.wait``, called later: wrapped as ``m`` wraps it
            return self._wrapped(obj, name, value)
        return value

    def _attr(self, obj: Any, name: str, write: bool) -> None:
        """An access to ``obj.name``: a module's attributes are its globals
        (the same location either way); a ``threading.local``'s are per
        thread."""
        if type(obj) is ModuleType:
            self.d.access(obj.__dict__, ("<global>", name), write, describe)
        elif not isinstance(obj, threading.local):
            self.d.access(obj, name, write, describe)

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
        if issubclass(type(obj), SEQUENCES):  # by type, as the C path asks
            if isinstance(key, slice):
                return [("<item>", i) for i in range(*key.indices(len(obj)))]
            if isinstance(key, int) and key < 0:
                key += len(obj)
        if type(key) is not int and type(key) is not str:
            key = keyable(key)
            if key is UNKEYABLE:
                return []
        return [("<item>", key)]

    def ri(self, obj: Any, key: Any) -> Any:
        value = obj[key]
        if _records_itself(obj, "__getitem__"):
            return value
        container = isinstance(obj, CONTAINERS)
        seen = self.d.fetched(value, obj, container) if self.d.handoff else None
        for k in self._item_keys(obj, key):
            self.d.access(obj, k, False, describe, False, seen)
        if container:
            self.d.access(obj, MOVED, False, describe)
        return value

    def wi(self, obj: Any, key: Any, value: Any) -> None:
        if _records_itself(obj, "__setitem__"):
            obj[key] = value
            return
        keys = self._item_keys(obj, key)
        new_key = issubclass(type(obj), dict) and key not in obj
        handed = False
        if isinstance(obj, CONTAINERS):
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
        self._wrote(obj, keys, reshaped=True, moved=issubclass(type(obj), SEQUENCES))

    def ri_push(self, obj: Any, key: Any) -> Any:
        self._push((obj, key))
        return self.ri(obj, key)

    def wi_top(self, value: Any) -> None:
        obj, key = self._pop()
        self.wi(obj, key, value)

    def _wrote(self, obj: Any, keys: list[Any], *, reshaped: bool, moved: bool) -> None:
        for k in keys:
            self.d.access(obj, k, True, describe)
        if isinstance(obj, CONTAINERS):  # inserting or removing a key is atomic in itself
            self.d.access(obj, ALL, True, describe, True)
            if reshaped:
                self.d.access(obj, SHAPE, True, describe, True)
            if moved:
                self.d.access(obj, MOVED, True, describe, True)

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
        self.d.access(namespace, ("<global>", name), False, describe)

    def wg(self, namespace: dict[str, Any], name: str) -> None:
        self.d.access(namespace, ("<global>", name), True, describe)

    def rc(self, probe: Callable[[], Any], name: str) -> None:
        self.d.access(probe.__closure__[0], ("<cell>", name), False, describe)  # type: ignore[index]

    def wc(self, probe: Callable[[], Any], name: str) -> None:
        self.d.access(probe.__closure__[0], ("<cell>", name), True, describe)  # type: ignore[index]

    # -- whole containers ---------------------------------------------------

    def whole(self, obj: Any) -> None:
        """A read of every item and of the length (iteration, sum, sorted...)."""
        if isinstance(obj, CONTAINERS):
            self.d.access(obj, SHAPE, False, describe)
            self.d.access(obj, ALL, False, describe)

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
        elif isinstance(obj, DICT_VIEWS):
            holder = obj.mapping  # type: ignore[attr-defined]
        else:
            return
        if id(holder) in self.d.handoff:
            items = isinstance(obj, DICT_VIEWS[1])
            self.d.fetched(tuple(v for _, v in obj) if items else tuple(obj), holder, True)

    def isin(self, item: Any, container: Any) -> bool:
        if issubclass(type(container), (dict, set)):  # membership: the key set
            self.d.access(container, SHAPE, False, describe)
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
        if fn in WHOLE_READERS:
            return reading(self, fn)
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
        if isinstance(obj, CONTAINERS):
            self.d.access(obj, SHAPE, False, describe)
        return len(obj)

    # -- methods ------------------------------------------------------------

    def m(self, obj: Any, name: str) -> Any:
        """``obj.name(...)``: the method, wrapped when it synchronises or
        touches a builtin container."""
        try:
            method = getattr(obj, name)
        except AttributeError:  # as in ``ra``: a read of the absence
            self._attr(obj, name, False)
            raise
        if _own_callable(obj, name):  # obj.f() with f the object's own
            self._attr(obj, name, False)
        return self._wrapped(obj, name, method)

    def _wrapped(self, obj: Any, name: str, method: Any) -> Any:
        """*method* (``obj.name``), wrapped when its type's table has it."""
        cls = type(obj)
        table = TABLES.get(_weak(cls), UNSEEN)
        if table is UNSEEN:
            table = table_for(cls)
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


# What a sync object's or container's method read as an attribute is (a
# function's or a builtin's, bound): only these are looked up in the tables.
_BOUND = (types.MethodType, types.BuiltinMethodType)


def _own_callable(obj: Any, name: str) -> bool:
    """Is ``obj.name`` (a callable) the object's own, not its class's (a
    method)?  Then reading it is an access like any other: a callback
    stored on an object, six's ``moves``.  Modules and classes: no (their
    functions and methods; ``ra`` records a module's globals)."""
    if type(obj) is ModuleType or isinstance(obj, type):
        return False
    return not any(name in klass.__dict__ for klass in type(obj).__mro__)


class _Held:
    """A lock-like object in ``with``: HB edges around the real enter/exit,
    on the clock of ``sync_of(obj)``."""

    __slots__ = ("d", "obj", "sync")

    def __init__(self, detector: Detector, obj: Any) -> None:
        self.d = detector
        self.obj = obj
        self.sync = sync_of(obj)

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
