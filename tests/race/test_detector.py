"""The detector on its own: happens-before edges, atomic container writes,
and shadow state that dies with its object (ids get reused)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable

import pytest

import threadline
from threadline.race import _detector
from threadline.race._detector import Detector, Race


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


class Obj:
    pass


def in_thread(fn: object, *, detector: Detector) -> None:
    """Run *fn* in a thread started and joined with the detector's edges."""
    clock, where = detector.fork()

    def run() -> None:
        detector.begin_thread(clock, where)
        try:
            fn()  # type: ignore[operator]
        finally:
            detector.end_thread(thread)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    detector.acquire(thread)


def test_unordered_writes_race_and_ordered_ones_do_not() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    obj = Obj()
    d.access(obj, "x", True, describe)
    in_thread(lambda: d.access(obj, "x", True, describe), detector=d)  # after fork: ordered
    d.access(obj, "x", False, describe)  # after join: ordered
    assert races == []

    other = Obj()
    clock, where = d.fork()
    d.access(other, "y", True, describe)  # after the fork: not ordered with the thread's write

    def run() -> None:
        d.begin_thread(clock, where)
        d.access(other, "y", True, describe)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert len(races) == 1
    assert races[0].current.what == "Obj.y"
    assert races[0].current.write
    assert races[0].previous.write


def test_release_acquire_orders() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    obj, lock = Obj(), object()
    clock, where = d.fork()

    def run() -> None:
        d.begin_thread(clock, where)
        d.acquire(lock)
        d.access(obj, "v", True, describe)
        d.release(lock)

    d.acquire(lock)
    d.access(obj, "v", True, describe)
    d.release(lock)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert races == []


def test_atomic_writes_race_with_reads_not_with_each_other() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    box: list[int] = []
    clock, where = d.fork()
    d.access(box, "<shape>", True, describe, True)

    def run() -> None:
        d.begin_thread(clock, where)
        d.access(box, "<shape>", True, describe, True)  # another append: fine

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert races == []
    clock, where = d.fork()
    d.access(box, "<shape>", True, describe, True)

    def reader() -> None:
        d.begin_thread(clock, where)
        d.access(box, "<shape>", False, describe)  # len(): races with that append

    t = threading.Thread(target=reader)
    t.start()
    t.join()
    assert len(races) == 1


def test_shadow_dies_with_its_object() -> None:
    d = Detector(lambda race: None)
    obj = Obj()
    d.access(obj, "x", True, describe)
    oid = id(obj)
    assert (oid, "x") in d._shadow
    del obj
    gc.collect()
    d.access(Obj(), "unrelated", False, describe)  # drains the dead
    assert (oid, "x") not in d._shadow


def test_kept_containers_are_swept_when_only_the_detector_holds_them() -> None:
    d = Detector(lambda race: None)
    items = [1, 2, 3]
    d.access(items, ("<item>", 0), True, describe)
    d.access(items, ("<item>", 1), True, describe)
    oid = id(items)
    del items
    d._sweep()
    assert (oid, ("<item>", 0)) not in d._shadow
    assert (oid, ("<item>", 1)) not in d._shadow
    kept = [4]
    d.access(kept, ("<item>", 0), True, describe)
    d._sweep()
    assert (id(kept), ("<item>", 0)) in d._shadow


def test_dead_kept_containers_stay_fewer_than_the_sweep_pace() -> None:
    # a program that makes and drops many lists (not weakly referenceable)
    # must not have the detector keep them all until a distant sweep
    d = Detector(lambda race: None)
    for n in range(6 * _detector._SWEEP_MIN):
        d.access([n], ("<item>", 0), True, describe)
        assert len(d._kept) <= 2 * _detector._SWEEP_MIN
    # live ones are never swept, and they pace the sweeps: O(1) per new object
    sweeps = []
    sweep = d._sweep

    def counted() -> int:
        sweeps.append(len(d._kept))
        return sweep()

    d._sweep = counted  # type: ignore[method-assign]
    live = [[n] for n in range(8 * _detector._SWEEP_MIN)]
    for items in live:
        d.access(items, ("<item>", 0), True, describe)
    for n in range(8 * _detector._SWEEP_MIN):
        d.access([n], ("<item>", 0), True, describe)
    assert all((id(items), ("<item>", 0)) in d._shadow for items in live)
    assert len(d._kept) <= 2 * len(live) + _detector._SWEEP_MIN
    # at a fixed pace: 16 sweeps of up to 8 x _SWEEP_MIN kept; paced: 5
    assert len(sweeps) <= 6, sweeps


def test_stacks_leave_out_threadline() -> None:
    """Threadline's own frames (its package folder, wherever the checkout
    is and whatever it is called) never appear; the test's own does."""
    stack = _detector.capture_stack(0)
    assert stack[0][2].endswith("test_stacks_leave_out_threadline")
    package = os.path.dirname(os.path.abspath(threadline.__file__)) + os.sep
    assert all(not os.path.abspath(frame[0]).startswith(package) for frame in stack)


def test_detector_runs_the_path_asked_for(detector_path: str) -> None:
    d = Detector(lambda race: None)
    assert (type(d.access).__name__ == "builtin_function_or_method") == (detector_path == "c")


def test_asking_for_the_c_path_where_it_is_not_built_names_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_detector, "_accel", None)
    assert not _detector.accelerated()
    with pytest.raises(RuntimeError, match=r"threadline\.race\._accel"):
        Detector(lambda race: None, use_c=True)


def _same_id_twice(first: Callable[[], object]) -> tuple[Obj, int]:
    """A new Obj under the id of the one *first* hands over, which then dies
    (CPython reuses a freed object's memory for the next of its size)."""
    dying = first()
    oid = id(dying)
    del dying
    spare = []  # kept alive, so that each try takes another free block
    for _ in range(10_000):
        second = Obj()
        if id(second) == oid:
            return second, oid
        spare.append(second)
    pytest.skip("the allocator did not reuse an id")


def test_a_dead_objects_shadow_is_not_taken_for_a_new_objects_under_its_id() -> None:
    """Regression: a thread that found the dead-object queue empty while
    another thread was still forgetting what it had popped went on to use
    the dead object's locations for a new object with the same id, and
    reported races against accesses to the dead one."""
    races: list[Race] = []
    d = Detector(races.append)
    clock, where = d.fork()
    held: list[Obj] = []

    def first_thread() -> None:  # writes an object that dies later
        d.begin_thread(clock, where)
        held.append(Obj())
        d.access(held[0], "x", True, describe)

    t = threading.Thread(target=first_thread)
    t.start()
    t.join()  # (no join edge: the detector is not told)
    new, _ = _same_id_twice(held.pop)
    d._dead.clear()  # as if another thread had popped its watch, not yet forgotten it
    d.access(new, "x", True, describe)  # unordered with the dead object's write
    d.access(new, "x", False, describe)
    assert races == []


def test_a_new_object_under_a_dead_ones_id_still_races_with_itself() -> None:
    races: list[Race] = []
    d = Detector(races.append)

    def written() -> Obj:
        box = [Obj()]  # (the detector keeps this frame: no local may refer to it)
        d.access(box[0], "y", True, describe)
        return box.pop()

    obj, _ = _same_id_twice(written)
    d._dead.clear()
    d.access(obj, "y", True, describe)
    clock, where = d.fork()
    d.access(obj, "y", True, describe)  # after the fork: unordered with the thread's

    def run() -> None:
        d.begin_thread(clock, where)
        d.access(obj, "y", False, describe)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert len(races) == 1


def test_stacks_name_the_right_call_site_when_a_function_runs_again() -> None:
    """The C path reuses a stack for another call of the same function from
    the same place; a call from elsewhere must get its own."""
    races: list[Race] = []
    d = Detector(races.append)
    objs = [Obj(), Obj(), Obj()]

    def touch(o: Obj) -> None:
        d.access(o, "x", True, describe)

    clock, where = d.fork()  # the thread's writes are unordered with what follows
    loop_line = sys._getframe().f_lineno + 2
    for o in objs:
        touch(o)
    d.release(object())  # a new epoch: the next write is recorded, not skipped
    again_line = sys._getframe().f_lineno + 1
    touch(objs[0])

    def run() -> None:
        d.begin_thread(clock, where)
        touch(objs[0])
        touch(objs[1])

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert len(races) == 2
    callers = [race.previous.stack[1] for race in races]
    assert [line for _file, line, _func in callers] == [again_line, loop_line]
    assert all(
        func.endswith("test_stacks_name_the_right_call_site_when_a_function_runs_again")
        for _file, _line, func in callers
    )


def test_consecutive_tasks_on_one_thread_are_ordered_and_the_thread_after_them() -> None:
    races: list[Race] = []
    d = Detector(races.append)
    registry = Obj()
    start, done = Obj(), Obj()

    def worker() -> None:
        d.begin_thread({}, ())
        for _ in range(3):  # one task after another: a thread's own state is not raced on
            previous = d.begin_task(start, "task", ())
            d.access(registry, "conn", True, describe)
            d.end_task(done, previous)
        d.access(registry, "conn", False, describe)  # the thread, after its tasks

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert races == []


def test_a_section_that_does_not_merge_back_leaves_its_thread_unordered() -> None:
    # end_task(merge=False): the thread goes on after the section, not
    # after what the section was ordered after
    races: list[Race] = []
    d = Detector(races.append)
    x, mutex, other_done = Obj(), Obj(), Obj()
    d.access(x, "a", True, describe)  # the main thread's write...
    d.release(mutex)  # ...seen by sections ordered after the mutex

    def worker() -> None:
        d.begin_thread({}, ())
        previous = d.begin_task(mutex, None, ())
        d.access(x, "a", False, describe)  # inside: ordered
        d.end_task(other_done, previous, merge=False)
        assert races == []
        d.access(x, "a", False, describe)  # after: not ordered with the write

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert [r.current.what for r in races] == ["Obj.a"]
