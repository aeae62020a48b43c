"""``EDGES`` names every public method of threadline's primitives with the
happens-before edge it makes (or why it makes none), and each edge it
names is patched while a session runs: a method added to a primitive
without a decision about its edge fails here."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import threadline as tl
from threadline import _select
from threadline.race._detector import Detector
from threadline.race._patches import EDGES, Patches

CLASSES = {
    cls.__name__: cls
    for cls in (tl.Channel, tl.Task, tl.TaskGroup, tl.WaitGroup, tl.Once, tl.Guarded)
}
NOT_OPERATIONS = {
    "__init__",
    "__class_getitem__",
    "__init_subclass__",
    "__copy__",
    "__deepcopy__",
    "__reduce__",
    "__reduce_ex__",
}


def public_methods(cls: type) -> set[str]:
    names = set()
    for name, value in vars(cls).items():
        if name in NOT_OPERATIONS or (name.startswith("_") and not name.startswith("__")):
            continue
        if callable(value) or isinstance(value, property):
            names.add(name)
    return names


@pytest.fixture
def installed() -> Iterator[Patches]:
    patches = Patches(Detector(lambda race: None))
    patches.install()
    try:
        yield patches
    finally:
        patches.restore()


def test_every_primitive_is_listed() -> None:
    assert set(EDGES) == set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_public_method_has_a_decision(name: str) -> None:
    cls = CLASSES[name]
    missing = public_methods(cls) - set(EDGES[name])
    assert not missing, f"{name}: decide the happens-before edge of {sorted(missing)} in EDGES"
    unknown = [m for m in EDGES[name] if not hasattr(cls, m)]
    assert not unknown, f"{name}: EDGES lists {unknown}, which it does not have"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_edge_is_patched_and_restored(name: str, installed: Patches) -> None:
    cls = CLASSES[name]
    edges = [m for m, what in EDGES[name].items() if not what.startswith(("none", "calls "))]
    originals = {m: inspect.getattr_static(cls, m) for m in edges}
    patched = {m for m, fn in originals.items() if getattr(fn, "__wrapped__", None) is not None}
    assert patched == set(edges), f"{name}: not patched: {sorted(set(edges) - patched)}"
    installed.restore()
    after = {m: inspect.getattr_static(cls, m) for m in edges}
    assert not any(hasattr(fn, "__wrapped__") for fn in after.values())


def test_select_is_patched_where_users_find_it(installed: Patches) -> None:
    for owner in (tl, _select):
        for name in ("select", "try_select", "aselect"):
            assert getattr(getattr(owner, name), "__wrapped__", None) is not None


def test_calls_name_a_method_that_is_patched() -> None:
    for name, methods in EDGES.items():
        for what in methods.values():
            if what.startswith("calls "):
                target = what.removeprefix("calls ")
                assert target in methods
                assert not methods[target].startswith(("none", "calls "))


def test_values_in_transit_are_unwrapped_when_the_session_ends(installed: Patches) -> None:
    ch: tl.Channel[Any] = tl.Channel(3)
    ch.send(1)
    ch.try_send([2])
    installed.restore()
    assert ch.recv() == 1
    assert ch.recv() == [2]
