"""``Hooks.ra`` of a sync object's or container's method (``w = ev.wait``,
as pytest's assertion rewriting writes ``assert ev.wait()``) returns the
method wrapped as ``Hooks.m`` wraps it: the call made later makes the same
edges.  On both paths (tests/race/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from threadline.race._detector import Detector, Race
from threadline.race._hooks import Hooks

pytestmark = pytest.mark.timeout(60)


class Obj:
    def method(self) -> int:
        return 1


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


def hooks() -> tuple[Hooks, list[Race]]:
    races: list[Race] = []
    return Hooks(Detector(races.append)), races


def unordered(h: Hooks, *fns: Callable[[], None]) -> None:
    """Run each of *fns*, one after another, in a thread that the detector
    sees as new and unordered with any other."""
    for fn in fns:

        def work(fn: Callable[[], None] = fn) -> None:
            h.d.begin_thread({}, ())
            fn()

        t = threading.Thread(target=work)
        t.start()
        t.join(30)


def test_other_methods_are_returned_as_they_are() -> None:
    h, _ = hooks()
    obj = Obj()
    assert h.ra(obj, "method") == obj.method
    ev = threading.Event()
    assert h.ra(ev, "clear") == ev.clear  # not in the table
    assert h.ra(ev, "wait") != ev.wait
    assert h.ra(Obj, "method") is Obj.method


@pytest.mark.parametrize("timeout", [5.0, 0.0])
def test_a_bound_event_wait_is_the_edge_only_when_it_returns_true(timeout: float) -> None:
    h, races = hooks()
    obj, ev = Obj(), threading.Event()

    def setter() -> None:
        h.d.access(obj, "x", True, describe)
        if timeout:
            h.m(ev, "set")()

    def waiter() -> None:
        wait = h.ra(ev, "wait")
        assert wait(timeout) is bool(timeout)
        h.d.access(obj, "x", False, describe)

    unordered(h, setter, waiter)
    assert len(races) == (0 if timeout else 1)


def test_a_bound_acquire_and_release_order_what_they_guard() -> None:
    h, races = hooks()
    obj, lock = Obj(), threading.Lock()

    def locked() -> None:
        acquire, release = h.ra(lock, "acquire"), h.call(getattr)(lock, "release")
        acquire()
        h.d.access(obj, "x", True, describe)
        release()

    unordered(h, locked, locked)
    assert races == []


def test_a_bound_list_append_is_a_write_of_the_list() -> None:
    h, races = hooks()
    items: list[int] = []
    unordered(h, lambda: h.ra(items, "append")(1), lambda: h.call(len)(items))
    assert items == [1]
    assert len(races) == 1
