"""The edges of the standard queues and barriers (``race/_queues.py``), with
the detector and its patches in this process: per message, per round, and
the patches undone afterwards.  (The corpus has whole programs.)"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest

from threadline.race._detector import Detector, Race
from threadline.race._patches import Patches

pytestmark = pytest.mark.timeout(60)


class Obj:
    pass


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


def unordered(d: Detector, fn: Callable[[], None], name: str | None = None) -> threading.Thread:
    """A thread that the detector sees as new and unordered with any other
    (thread idents get reused: a thread would inherit a dead one's slot)."""

    def work() -> None:
        d.begin_thread({}, ())
        fn()

    return threading.Thread(target=work, name=name)


def run(d: Detector, *fns: Callable[[], None]) -> None:
    threads = [unordered(d, fn) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def test_the_patches_are_undone() -> None:
    before = {
        (cls, name): cls.__dict__[name]
        for cls in (queue.Queue, queue.LifoQueue, queue.PriorityQueue)
        for name in ("_put", "_get")
    }
    barrier_wait = threading.Barrier.wait
    patches = Patches(Detector(lambda race: None))
    patches.install()
    assert queue.Queue.__dict__["_put"] is not before[queue.Queue, "_put"]
    patches.restore()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original
    assert threading.Barrier.wait is barrier_wait


def test_a_get_is_ordered_after_its_own_put_only(
    detector: tuple[Detector, list[Race]],
) -> None:
    d, races = detector
    q: queue.Queue[Obj] = queue.Queue()
    mine, other = Obj(), Obj()
    got: list[Obj] = []
    first_in = threading.Event()

    def producer_a() -> None:
        d.access(mine, "x", True, describe)
        q.put(mine)
        first_in.set()

    def producer_b() -> None:
        first_in.wait()  # (an Event not seen by the detector: no edge)
        d.access(other, "x", True, describe)
        q.put(other)
        d.access(mine, "y", True, describe)  # unordered with the getter

    run(d, producer_a, producer_b)

    def getter() -> None:
        got.append(q.get())  # mine: after producer_a's put, not producer_b's
        d.access(got[0], "x", False, describe)
        d.access(got[0], "y", False, describe)

    run(d, getter)
    assert got == [mine]
    assert [r.current.what for r in races] == ["Obj.y"]


def test_a_bounded_queue_orders_the_kth_get_before_the_put_it_made_room_for(
    detector: tuple[Detector, list[Race]],
) -> None:
    d, races = detector
    q: queue.Queue[int] = queue.Queue(maxsize=2)
    shared = Obj()
    q.put(1)
    q.put(2)

    def getter() -> None:
        d.access(shared, "x", True, describe)
        q.get()  # the first get: before the third put returns

    run(d, getter)

    def putter() -> None:
        q.put(3)
        d.access(shared, "x", True, describe)  # ordered: no race
        d.access(shared, "z", True, describe)

    run(d, putter)
    assert races == []

    def second_getter() -> None:
        d.access(shared, "z", True, describe)  # the fourth put has not happened
        q.get()

    run(d, second_getter)
    assert [r.current.what for r in races] == ["Obj.z"]


def test_a_barrier_round_does_not_reach_the_previous_ones_slow_party(
    detector: tuple[Detector, list[Race]],
) -> None:
    # the slow party's return from round 1 is seen only after the fast
    # one entered round 2: one clock per barrier would order the fast
    # party's write between the rounds before the slow party's read
    d, races = detector
    barrier = threading.Barrier(2)
    box = Obj()
    fast_in_round_2 = threading.Event()
    release, acquire = d.release, d.acquire
    released: dict[int, int] = {}

    def counting_release(obj: Any) -> None:
        release(obj)
        me = threading.get_ident()
        released[me] = released.get(me, 0) + 1
        if threading.current_thread().name == "fast" and released[me] == 2:
            fast_in_round_2.set()

    def late_acquire(obj: Any) -> None:
        if threading.current_thread().name == "slow" and not fast_in_round_2.is_set():
            fast_in_round_2.wait(10)
        acquire(obj)

    d.release = counting_release  # type: ignore[method-assign]
    d.acquire = late_acquire  # type: ignore[method-assign]

    def fast() -> None:
        barrier.wait()
        d.access(box, "value", True, describe)
        barrier.wait()

    def slow() -> None:
        barrier.wait()
        d.access(box, "value", False, describe)
        barrier.wait()

    threads = [unordered(d, fast, "fast"), unordered(d, slow, "slow")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert fast_in_round_2.is_set()
    assert [r.current.what for r in races] == ["Obj.value"]


def test_a_barrier_orders_every_partys_writes_before_every_return(
    detector: tuple[Detector, list[Race]],
) -> None:
    d, races = detector
    barrier = threading.Barrier(3)
    slots = [Obj() for _ in range(3)]

    def party(i: int) -> Callable[[], None]:
        def work() -> None:
            for _ in range(3):
                d.access(slots[i], "v", True, describe)
                barrier.wait()
                for slot in slots:
                    d.access(slot, "v", False, describe)
                barrier.wait()

        return work

    run(d, *(party(i) for i in range(3)))
    assert races == []
    assert d._sync == {}  # each round's token is forgotten once every party is back


def test_the_tokens_of_delivered_messages_are_forgotten(
    detector: tuple[Detector, list[Race]],
) -> None:
    d, _ = detector
    for q in (queue.Queue(maxsize=3), queue.LifoQueue(), queue.PriorityQueue()):
        before = len(d._sync)
        for n in range(50):
            q.put(n)
            q.get()
        assert len(d._sync) <= before + 3, type(q).__name__
