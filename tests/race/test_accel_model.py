"""The C hot path against its pure-Python twin, the reference: random
schedules of accesses and lock operations by a few threads, run through
both detectors, must produce the same races, with the same stacks.  The
first-access path, dead objects and reused ids are in the mix, and so are
hand-offs through containers (stores, fetches, what is reached through a
fetched object)."""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from threadline.race import _detector
from threadline.race._detector import Detector, Race

pytestmark = pytest.mark.skipif(_detector._accel is None, reason="_accel is not built here")

THREADS = 3


@pytest.fixture(autouse=True, params=["c"])
def detector_path(request: pytest.FixtureRequest) -> str:
    """(Overrides the package's two-way fixture: this test runs both itself.)"""
    return str(request.param)


def describe(typ: type, label: object, key: object) -> str:
    return f"{typ.__name__}.{key}"


class Box:
    pass


class Workers:
    """Long-lived threads that run one step each, in the order given."""

    def __init__(self, count: int) -> None:
        self.inboxes: list[queue.Queue[Callable[[], None] | None]] = []
        self.done: queue.Queue[BaseException | None] = queue.Queue()
        self.threads = []
        for _ in range(count):
            inbox: queue.Queue[Callable[[], None] | None] = queue.Queue()
            thread = threading.Thread(target=self._serve, args=(inbox,))
            thread.start()
            self.inboxes.append(inbox)
            self.threads.append(thread)

    def _serve(self, inbox: queue.Queue[Callable[[], None] | None]) -> None:
        while (step := inbox.get()) is not None:
            try:
                step()
            except BaseException as exc:
                self.done.put(exc)
            else:
                self.done.put(None)

    def run(self, worker: int, step: Callable[[], None]) -> None:
        self.inboxes[worker].put(step)
        error = self.done.get(timeout=10)
        if error is not None:
            raise error

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join()


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    pool = Workers(THREADS)
    yield pool
    pool.close()


# A step: (thread, op, a, b) with op one of
#   "read"/"write"/"atomic": an access to location b of object a
#   "acquire"/"release": of lock a
#   "kill": object a dies and a new one takes its place (often under its id)
#   "store": object a (alone, or in a tuple) is stored in a container
#   "fetch": object a is fetched from object a + 1 (a container), whose
#            location b is then read with what the fetch returned
#   "carry": object a is read through object a + 1 (an attribute)
steps = st.lists(
    st.tuples(
        st.integers(0, THREADS - 1),
        st.sampled_from(
            ["read", "write", "atomic", "acquire", "release", "kill", "store", "fetch", "carry"]
        ),
        st.integers(0, 2),
        st.sampled_from(["x", "y", ("<item>", 0), "<shape>"]),
    ),
    max_size=40,
)


def touch(d: Detector, obj: Any, key: Any, write: bool, atomic: bool) -> None:
    d.access(obj, key, write, describe, atomic)


def store(d: Detector, obj: Any, pair: bool) -> None:
    if d.stored((obj, 1) if pair else obj):
        d.tick()


def fetch(d: Detector, obj: Any, holder: Any, key: Any, seen: list[Any]) -> None:
    got = d.fetched(obj, holder, True)
    seen.append(got)
    d.access(holder, key, False, describe, False, got)


def run_schedule(
    use_c: bool, schedule: list[tuple[int, str, int, Any]], workers: Workers
) -> list[tuple[Any, ...]]:
    races: list[Race] = []
    fetches: list[Any] = []
    d = Detector(races.append, use_c=use_c)
    objects: list[Any] = [Box(), Box(), [0]]
    locks = [object(), object(), object()]
    for thread, op, a, b in schedule:
        if op == "kill":

            def replace(a: int = a) -> None:
                old = objects[a]
                objects[a] = type(old)() if not isinstance(old, list) else [0]
                del old
                gc.collect()

            replace()
            continue
        if op in ("acquire", "release"):
            method = d.acquire if op == "acquire" else d.release
            workers.run(thread, lambda m=method, lock=locks[a]: m(lock))
        elif op == "store":
            workers.run(thread, lambda o=objects[a], pair=b == "y": store(d, o, pair))
        elif op == "fetch":
            workers.run(
                thread,
                lambda o=objects[a], h=objects[(a + 1) % 3], k=b: fetch(d, o, h, k, fetches),
            )
        elif op == "carry":
            workers.run(thread, lambda o=objects[a], h=objects[(a + 1) % 3]: d.fetched(o, h, False))
        else:
            obj = objects[a]
            workers.run(
                thread, lambda o=obj, k=b, op=op: touch(d, o, k, op != "read", op == "atomic")
            )
    return [
        (
            r.current.thread.slot,
            r.current.write,
            r.current.what,
            r.current.stack,
            r.previous.thread.slot,
            r.previous.write,
            r.previous.stack,
        )
        for r in races
    ] + [("fetched", clock) for clock in fetches]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=steps)
def test_the_c_path_reports_what_the_python_path_reports(
    schedule: list[tuple[int, str, int, Any]], workers: Workers
) -> None:
    assert run_schedule(True, schedule, workers) == run_schedule(False, schedule, workers)
