"""The locations hooks report and how reports name them.

A location is (object, key): an attribute's name; ``("<item>", key)`` for
an item; ``("<global>", name)`` in a module's namespace; ``("<cell>",
name)`` for a closure variable; and for a builtin container, besides its
items, ``SHAPE`` (its length or key set), ``ALL`` (all its values at once:
what iteration and ``sum()`` read; every item write also writes it,
atomically) and ``MOVED`` (their positions: what ``sort()``, ``clear()``
and ``insert()`` change under every item read).  How a report names a
location (``describe``) is kept as names, never as the object's type, so
that a class made at run time can be collected.

Plain values and functions: no state, no locking.
"""

from __future__ import annotations

import collections
from typing import Any

SHAPE = "<shape>"
ALL = "<all>"
MOVED = "<moved>"
CLASS = "<class>"  # a description's label for a class: (CLASS, its qualname)
CONTAINERS = (list, dict, set, collections.deque)
EXACT_CONTAINERS = frozenset(CONTAINERS)
DICT_VIEWS: tuple[type, type] = (type({}.values()), type({}.items()))
SEQUENCES = (list, collections.deque)  # indexed: negative indexes and slices resolved


class SliceKey(tuple):  # type: ignore[type-arg]
    """A slice as (part of) a location key: slices cannot be hashed before
    Python 3.12 (``a[:, 0]`` on a NumPy array).  Equal only to another
    SliceKey, never to the tuple ``(start, stop, step)`` (``a[1, 2, None]``)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is SliceKey and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((SliceKey, tuple.__hash__(self)))

    def __repr__(self) -> str:
        return "slice({!r}, {!r}, {!r})".format(*self)


UNKEYABLE: Any = object()


def keyable(key: Any) -> Any:
    """*key* as a location key: itself if it can be hashed, slices and
    tuples of them made hashable; else UNKEYABLE (a list used as a NumPy
    index): that access is not recorded, which can miss a race but never
    invents one."""
    try:
        hash(key)
    except TypeError:
        pass
    else:
        return key
    if type(key) is slice:
        parts = [keyable(part) for part in (key.start, key.stop, key.step)]
        return UNKEYABLE if any(p is UNKEYABLE for p in parts) else SliceKey(parts)
    if type(key) is tuple:
        parts = [keyable(part) for part in key]
        return UNKEYABLE if any(p is UNKEYABLE for p in parts) else tuple(parts)
    return UNKEYABLE


def describe(kind: str, label: Any, key: Any) -> str:
    """How a report names location *key* of an object whose type is named
    *kind* (*label*: ``(CLASS, name)`` for a class, a module's name, or
    None: see ``label_of`` in ``_detector``)."""
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
    if type(label) is tuple and label[:1] == (CLASS,):
        return f"class attribute {label[1]}.{key}"
    return f"{kind}.{key}"
