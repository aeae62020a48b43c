"""The detector on its own: happens-before edges, atomic container writes,
and shadow state that dies with its object (ids get reused)."""

from __future__ import annotations

import gc
import threading

from threadline.race import _detector
from threadline.race._detector import Detector, Race


def describe(typ: type, label: object, key: object) -> str:
    return f"{typ.__name__}.{key}"


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


def test_stacks_leave_out_threadline() -> None:
    stack = _detector.capture_stack(0)
    assert stack[0][2].endswith("test_stacks_leave_out_threadline")
    assert all("/threadline/" not in frame[0] for frame in stack)
