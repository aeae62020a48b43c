"""Code the detector's own work runs (finalizers of what it frees, the
garbage collector) calling back into the detector: never a deadlock, never
a crash; and the odd keys and objects programs use."""

from __future__ import annotations

import gc
import sys
import sysconfig
import threading
from collections.abc import Callable
from typing import Any

import pytest

from threadline.race import _detector
from threadline.race._detector import Detector, Race
from threadline.race._hooks import Hooks


def finishes(fn: Callable[[], None], seconds: float = 10.0) -> None:
    """Run *fn* in a thread; fail (instead of hanging) if it deadlocks."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlocked"
    if errors:
        raise errors[0]


def in_unordered_thread(d: Detector, fn: Callable[[], None]) -> None:
    """Run *fn* in a thread the detector sees start with an empty clock:
    nothing the caller did is ordered before it."""

    def run() -> None:
        d.begin_thread({}, ())
        fn()

    t = threading.Thread(target=run)
    t.start()
    t.join()


class Obj:
    pass


@pytest.fixture
def hooks() -> Hooks:
    return Hooks(Detector(lambda race: None))


def test_a_finalizer_of_what_forgetting_frees_can_use_the_detector(hooks: Hooks) -> None:
    # forgetting a dead dict frees the keys its locations named; a key's
    # finalizer that touches an instrumented attribute used to re-enter
    # the detector with its bookkeeping lock held
    ran: list[bool] = []

    class Key:
        def __del__(self) -> None:
            o = Obj()
            o.a = 1
            hooks.ra(o, "a")
            ran.append(True)

    class Map(dict[Any, Any]):  # weakly referenceable: watched, not kept
        pass

    def scenario() -> None:
        m = Map()
        hooks.wi(m, Key(), 1)
        others = [Obj() for _ in range(5)]
        for other in others:
            hooks.wa(other, "x", 1)
        del m, other, others  # their watches are queued; the next access forgets them
        o = Obj()
        o.x = 1
        hooks.ra(o, "x")

    finishes(scenario)
    assert ran == [True]


def test_a_finalizer_run_by_a_collection_inside_the_detector_is_harmless() -> None:
    # cyclic garbage with finalizers that use the detector, collected at
    # every allocation, while threads release, acquire and access
    d = Detector(lambda race: None)
    h = Hooks(d)
    locks = [threading.Lock() for _ in range(4)]
    shared = [Obj() for _ in range(4)]
    for s in shared:
        s.a = 0

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            o = Obj()
            o.a = 1
            h.wa(o, "a", 2)
            d.release(locks[0])
            d.acquire(locks[1])
            d._clock_of(locks[0])

    def work(k: int, clock: dict[int, int], where: Any) -> None:
        d.begin_thread(clock, where)
        for i in range(300):
            Cycle()
            lock = locks[i % 4]
            d.acquire(lock)
            h.wa(shared[(i + k) % 4], "a", i)
            d.release(lock)
            h.ra(Obj(), "__class__")
            if i % 50 == 0:  # a pool's job: a logical thread of its own
                previous = d.begin_task(lock, f"job {i}", ())
                h.wa(Obj(), "b", i)
                d.end_task(lock, previous)

    def scenario() -> None:
        threads = [threading.Thread(target=work, args=(k, *d.fork())) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        finishes(scenario, 30.0)
    finally:
        gc.set_threshold(*thresholds)
        gc.collect()


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


def held(lock: Any) -> bool:
    """Does this thread hold the detector lock?  (Single-threaded use.)"""
    owned = getattr(lock, "_is_owned", None)
    return bool(owned()) if owned is not None else bool(lock.locked())


@pytest.mark.skipif(
    bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="the free-threaded collector does not run at a set allocation count, "
    "which this test needs to place a collection inside the detector",
)
def test_a_release_by_a_finalizer_run_inside_the_detector_still_orders() -> None:
    # a correct program: a finalizer publishes the main thread's write (a
    # pooled resource's __del__ doing queue.put, say); the collection that
    # runs it happens inside the detector's own bookkeeping, whose locks
    # are held then.  Dropping that release would report a race.
    races: list[Race] = []
    d = Detector(races.append)
    x = Obj()
    released_inside: list[object] = []

    class Cycle:
        def __init__(self, sync: object) -> None:
            self.me = self
            self.sync = sync

        def __del__(self) -> None:
            if any(held(lock) for lock in [d._meta, *d._locks]):
                released_inside.append(self.sync)
            d.release(self.sync)

    d.access(x, "a", True, describe)
    thresholds = gc.get_threshold()
    targets = [Obj() for _ in range(400)]
    try:
        # collections at every point of an access, one after another,
        # until one runs inside a detector section
        for k, target in enumerate(targets):
            dead = Obj()
            d.access(dead, "a", True, describe)
            gc.collect()
            gc.disable()
            del dead  # queued: the next access forgets it, under _meta
            Cycle(object())  # each releases a sync object of its own
            gc.set_threshold(gc.get_count()[0] + k % 40 + 1)
            gc.enable()
            d.access(target, "b", True, describe)
            if released_inside:
                break
    finally:
        gc.set_threshold(*thresholds)
        gc.enable()
    assert released_inside, "no finalizer ran inside the detector: the test tests nothing"

    def other() -> None:
        d.acquire(released_inside[0])  # after that finalizer's release
        d.access(x, "a", False, describe)

    in_unordered_thread(d, other)
    assert races == []


def test_unhashable_item_keys_are_keyed_by_value_or_left_out() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    h = Hooks(d)

    class Grid:  # NumPy-style indexing: a[:, 0], a[[0, 1]]
        def __init__(self) -> None:
            self.cells: dict[Any, Any] = {}

        def __getitem__(self, key: Any) -> Any:
            return self.cells.get(repr(key), 0)

        def __setitem__(self, key: Any, value: Any) -> None:
            self.cells[repr(key)] = value

    grid = Grid()
    h.wi(grid, (slice(None), 0), 1)
    h.wi(grid, [0, 1], 2)
    assert h.ri(grid, (slice(None), 0)) == 1
    assert h.ri(grid, [0, 1]) == 2

    def other() -> None:  # not ordered with the main thread's writes
        h.wi(grid, (slice(None), 0), 3)  # the same column: a race
        h.wi(grid, (slice(None), 1), 4)  # another column: none
        h.wi(grid, [0, 1], 5)  # a list key: not recorded

    in_unordered_thread(d, other)
    # with the main thread's write and read of that column; nothing else
    assert len(races) == 2
    assert {race.current.what for race in races} == {"Grid[(slice(None, None, None), 0)]"}


def test_a_slice_key_is_not_the_tuple_of_its_parts() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    h = Hooks(d)

    class Table:
        def __init__(self) -> None:
            self.cells: dict[str, Any] = {}

        def __getitem__(self, key: Any) -> Any:
            return self.cells.get(repr(key))

        def __setitem__(self, key: Any, value: Any) -> None:
            self.cells[repr(key)] = value

    table = Table()
    h.wi(table, slice(1, 2), "rows 1..2")  # table[1:2] = ...

    def other() -> None:
        h.wi(table, (1, 2, None), "a cell")  # table[1, 2, None] = ...: another key

    in_unordered_thread(d, other)
    assert races == []


def test_an_unhashable_key_on_a_list_subclass_is_left_out() -> None:
    class Fancy(list[int]):  # NumPy-style fancy indexing
        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, list):
                return [list.__getitem__(self, i) for i in key]
            return list.__getitem__(self, key)

    h = Hooks(Detector(lambda race: None))
    assert h.ri(Fancy([10, 20]), [0, 1]) == [10, 20]


def test_the_c_objects_cannot_be_made_half_or_fed_bad_state() -> None:
    accel = _detector._accel
    if accel is None:
        pytest.skip("threadline.race._accel is not built here")
    for cls in (accel.Core, accel.Hooks, accel.Location, accel.ThreadInfo):
        with pytest.raises(TypeError):
            cls.__new__(cls)
    loc = accel.Location(("what",), None)
    with pytest.raises(TypeError, match=r"Location\.write"):
        loc.write = 5
    with pytest.raises(TypeError, match=r"Location\.reads"):
        loc.reads = {1: 5}
    loc.write = None
    loc.reads = {}


# -- collections at chosen points of the Python path's sections ------------------
# (the C path runs no collection under its locks; these use the Python path)


class Chain:
    """Garbage whose finalizer, run by a collection, makes one more link
    until *links* have run, then calls *last* (to land deeper in a call)."""

    def __init__(self, ran: list[str], links: int, last: Callable[[], None]) -> None:
        self.me = self
        self.ran, self.links, self.last = ran, links, last

    def __del__(self) -> None:
        if len(self.ran) >= self.links:
            return
        self.ran.append(sys._getframe(1).f_code.co_name)
        if len(self.ran) < self.links:
            Chain(self.ran, self.links, self.last)
        else:
            self.last()


def collecting_at_every_allocation(fn: Callable[[], None]) -> None:
    thresholds = gc.get_threshold()
    gc.set_threshold(1)
    try:
        fn()
    finally:
        gc.set_threshold(*thresholds)


@pytest.mark.parametrize("links", range(1, 8))
def test_a_release_publishes_what_a_finalizer_in_it_wrote(links: int) -> None:
    # a finalizer run midway through release(X) releases Y, then writes:
    # the write comes before the real release of X, so X must publish it
    races: list[Race] = []
    d = Detector(races.append, use_c=False)
    shared = Obj()
    syncs = [object() for _ in range(3)]

    def worker(i: int, clock: dict[int, int], where: Any) -> None:
        d.begin_thread(clock, where)
        d.release(syncs[i])

    workers = [threading.Thread(target=worker, args=(i, *d.fork())) for i in range(3)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for s in syncs:
        d.acquire(s)  # a clock of several entries to walk
    x, y = object(), object()
    ran: list[str] = []

    def last() -> None:
        d.release(y)
        d.access(shared, "a", True, describe)

    gc.collect()
    hold = [(i, -i) for i in range(5000)]  # no tuples left to reuse
    Chain(ran, links, last)
    collecting_at_every_allocation(lambda: d.release(x))
    del hold
    if ran[-1:] != ["_release"]:
        pytest.skip(f"no collection inside release here (ran in {ran[-1:]})")

    def other() -> None:
        d.acquire(x)
        d.access(shared, "a", False, describe)

    in_unordered_thread(d, other)
    assert races == []


def test_a_finalizer_in_begin_thread_is_ordered_with_the_thread() -> None:
    races: list[Race] = []
    d = Detector(races.append, use_c=False)
    shared = Obj()
    d.access(shared, "a", True, describe)
    ran: list[bool] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            if ran or sys._getframe().f_back is None:  # (collected at exit)
                return
            if sys._getframe(1).f_code.co_name != "_new_thread":
                Cycle()
                return
            ran.append(True)
            d.access(shared, "b", True, describe)

    def child(clock: dict[int, int], where: Any) -> None:
        Cycle()
        collecting_at_every_allocation(lambda: d.begin_thread(clock, where))
        d.access(shared, "b", True, describe)  # the same thread as the finalizer

    t = threading.Thread(target=child, args=d.fork())
    t.start()
    t.join()
    if not ran:
        pytest.skip("no collection inside begin_thread here")
    assert races == []
