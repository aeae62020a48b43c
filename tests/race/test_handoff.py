"""Builtin containers hand objects over (docs/race.md): what a thread wrote
to an object before storing it is ordered before the uses of that object
by a thread that fetched it, and by threads ordered after that fetch; the
container's own locations, and what the storer does after the store, stay
unordered.  Run on both paths (see conftest.py)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from threadline.race._detector import Detector, Race


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


class Obj:
    pass


class Actor:
    """A thread of its own (unordered with every other), run step by step."""

    def __init__(self, d: Detector) -> None:
        self.steps: queue.Queue[Callable[[], Any] | None] = queue.Queue()
        self.results: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, args=(d,))
        self.thread.start()

    def _serve(self, d: Detector) -> None:
        d.begin_thread({}, ())
        while (step := self.steps.get()) is not None:
            try:
                self.results.put((True, step()))
            except BaseException as exc:  # handed to the test
                self.results.put((False, exc))

    def __call__(self, step: Callable[[], Any]) -> Any:
        self.steps.put(step)
        ok, value = self.results.get(timeout=10)
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self.steps.put(None)
        self.thread.join()


@pytest.fixture
def world() -> Iterator[tuple[Detector, list[Race], Callable[[], Actor]]]:
    races: list[Race] = []
    d = Detector(races.append)
    actors: list[Actor] = []

    def actor() -> Actor:
        actors.append(Actor(d))
        return actors[-1]

    yield d, races, actor
    for a in actors:
        a.stop()


def put(d: Detector, value: Any, container: Any) -> None:
    """What an append does: stored, the container's atomic writes, tick."""
    handed = d.stored(value)
    d.access(container, "<all>", True, describe, True)
    if handed:
        d.tick()


def take(d: Detector, value: Any, container: Any) -> Any:
    """What a popleft does: the container's atomic write, then the fetch."""
    d.access(container, "<all>", True, describe, True)
    return d.fetched(value, container, True)


def whats(races: list[Race]) -> list[str]:
    return [r.current.what for r in races]


World = tuple[Detector, list[Race], Callable[[], Actor]]


def test_fields_written_before_the_store_are_ordered_before_the_fetchers_use(
    world: World,
) -> None:
    d, races, actor = world
    producer, consumer = actor(), actor()
    box, job = [], Obj()
    producer(lambda: d.access(job, "n", True, describe))
    producer(lambda: put(d, job, box))
    consumer(lambda: take(d, job, box))
    consumer(lambda: d.access(job, "n", False, describe))
    consumer(lambda: d.access(job, "n", True, describe))
    assert races == []


def test_a_write_after_the_store_still_races(world: World) -> None:
    d, races, actor = world
    producer, consumer = actor(), actor()
    box, job = [], Obj()
    producer(lambda: d.access(job, "n", True, describe))
    producer(lambda: put(d, job, box))
    producer(lambda: d.access(job, "n", True, describe))  # after the hand-off
    consumer(lambda: take(d, job, box))
    consumer(lambda: d.access(job, "n", False, describe))
    assert whats(races) == ["Obj.n"]


def test_a_thread_that_did_not_fetch_is_not_ordered(world: World) -> None:
    d, races, actor = world
    producer, consumer, bystander = actor(), actor(), actor()
    box, job = [], Obj()
    producer(lambda: d.access(job, "n", True, describe))
    producer(lambda: put(d, job, box))
    consumer(lambda: take(d, job, box))
    bystander(lambda: d.access(job, "n", False, describe))
    assert whats(races) == ["Obj.n"]


def test_a_thread_ordered_after_the_fetch_is_ordered_too(world: World) -> None:
    d, races, actor = world
    producer, consumer, next_one = actor(), actor(), actor()
    box, job, lock = [], Obj(), object()
    producer(lambda: d.access(job, "n", True, describe))
    producer(lambda: put(d, job, box))
    consumer(lambda: take(d, job, box))
    consumer(lambda: d.release(lock))
    next_one(lambda: d.acquire(lock))
    next_one(lambda: d.access(job, "n", True, describe))
    assert races == []


def test_the_container_itself_stays_unordered(world: World) -> None:
    d, races, actor = world
    producer, consumer = actor(), actor()
    box, job = [], Obj()
    producer(lambda: put(d, job, box))
    consumer(lambda: d.fetched(job, box, True))  # box[0]
    consumer(lambda: d.access(box, "<all>", False, describe))  # then iterating box
    assert whats(races) == ["list.<all>"]


def test_what_is_reached_through_a_fetched_object_is_handed_over_with_it(
    world: World,
) -> None:
    d, races, actor = world
    producer, consumer = actor(), actor()
    box, job, parts = [], Obj(), [1, 2]
    producer(lambda: d.access(parts, "<shape>", True, describe, True))  # parts.append
    producer(lambda: d.access(job, "parts", True, describe))
    producer(lambda: put(d, (7, job), box))  # a (key, object) pair
    consumer(lambda: take(d, (7, job), box))
    consumer(lambda: d.access(job, "parts", False, describe))
    consumer(lambda: d.fetched(parts, job, False))  # job.parts
    consumer(lambda: d.access(parts, "<shape>", False, describe))  # len(job.parts)
    assert races == []


def test_the_read_that_returns_a_stored_value_is_ordered_after_its_store(
    world: World,
) -> None:
    d, races, actor = world
    writer, reader, other = actor(), actor(), actor()
    cache, entry = {}, Obj()
    key = ("<item>", "k")

    def store() -> None:
        handed = d.stored(entry)
        d.access(cache, key, True, describe)
        if handed:
            d.tick()

    def load() -> None:
        seen = d.fetched(entry, cache, True)
        assert seen
        d.access(cache, key, False, describe, False, seen)

    writer(store)
    reader(load)
    assert races == []
    # the key's item is still a location: a write of it races
    other(lambda: d.access(cache, key, True, describe))
    assert whats(races) == ["dict.('<item>', 'k')", "dict.('<item>', 'k')"]


def test_scalars_are_not_handed_over(world: World) -> None:
    d, _, actor = world
    writer = actor()
    assert writer(lambda: d.stored(5)) is False
    assert writer(lambda: d.stored((1, "a", None))) is False
    assert d.handoff == {}
    assert writer(lambda: d.fetched(5, None, True)) is None
