"""The C hot path against its pure-Python twin, the reference: random
schedules of accesses and lock operations by a few threads, run through
both detectors, must produce the same races, with the same stacks.  The
first-access path, dead objects and reused ids are in the mix, and so are
hand-offs through containers (stores, fetches, what is reached through a
fetched object).  The same for the hooks: random sequences of hook calls
(loads, stores, deletions, augmented assignments, iteration, ``in``,
builtins, container and lock methods, ``with lock:``) through the C hooks
over the C detector and the Python hooks over the Python one must give the
same races, results and final states."""

from __future__ import annotations

import collections
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
from threadline.race._hooks import Hooks

pytestmark = pytest.mark.skipif(_detector._accel is None, reason="_accel is not built here")

THREADS = 3


@pytest.fixture(autouse=True, params=["c"])
def detector_path(request: pytest.FixtureRequest) -> str:
    """(Overrides the package's two-way fixture: this test runs both itself.)"""
    return str(request.param)


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


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
    # An object handed over (stored, fetched, carried) but never accessed
    # has a hand-off clock and no shadow, so nothing forgets the clock when
    # it dies, and a new object that the allocator puts under its id may
    # be fetched with it (docs/race.md: harmless, it orders nothing of the
    # new object's). Whether the id is reused depends on the path's own
    # allocations, so such objects are kept alive rather than killed.
    accessed: set[int] = set()
    handed_only: set[int] = set()
    graveyard: list[Any] = []
    for thread, op, a, b in schedule:
        if op == "kill":
            if a in handed_only:
                graveyard.append(objects[a])
            accessed.discard(a)
            handed_only.discard(a)

            def replace(a: int = a) -> None:
                old = objects[a]
                objects[a] = type(old)() if not isinstance(old, list) else [0]
                del old
                gc.collect()

            replace()
            continue
        if op in ("read", "write", "atomic", "fetch"):
            touched = a if op != "fetch" else (a + 1) % 3  # (a fetch reads its holder)
            accessed.add(touched)
            handed_only.discard(touched)
        if op in ("store", "fetch", "carry") and a not in accessed:
            handed_only.add(a)
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


@pytest.mark.timeout(600)  # ~15 s here; a loaded CI machine took over 60
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


# -- the hooks: _accel.Hooks against _hooks.Hooks -----------------------------------


def test_the_hooks_with_c_twins_are_the_c_types_methods() -> None:
    accel = _detector._accel
    assert accel is not None
    in_c = {name for name in vars(accel.Hooks) if not name.startswith("__")}
    assert set(Hooks._IN_C) == in_c
    assert len(Hooks._IN_C) == len(in_c)
    for name in Hooks._IN_C:  # each twin stands in for a Python method of that name
        assert callable(getattr(Hooks, name))


class Obj:
    pass


# A hook step: (thread, op, a, b): a picks the object (a box, a container, a
# lock), b the attribute, key or value.  Every step runs on one of the
# worker threads, so steps of different threads are ordered only by locks
# (a ``with`` or a method call) and hand-offs through containers.
HOOK_OPS = [
    "ra", "wa", "sa", "da", "aug_attr", "ri", "wi", "si", "di", "aug_item", "it", "isin",
    "len", "list", "get", "setdefault", "dict_pop", "append", "pop", "popleft", "with",
    "acquire_release", "rg", "wg", "rgv", "wgv", "ri_slice", "wi_slice", "whole", "getattr",
    "bound_acquire_release", "bound_append", "bound_pop", "bound_get",
]  # fmt: skip
hook_steps = st.lists(
    st.tuples(
        st.integers(0, THREADS - 1),
        st.sampled_from(HOOK_OPS),
        st.integers(0, 2),
        st.integers(0, 2),
    ),
    max_size=30,
)


class World:
    """What one run's hooks work on, made afresh for each path."""

    def __init__(self) -> None:
        self.boxes = [Obj(), Obj()]
        for box in self.boxes:
            box.x = box.y = 0
        self.values = [Obj(), Obj()]  # stored in containers: handed over
        self.containers: list[Any] = [[0, 0, 0], {"a": 0, "b": 0}, collections.deque([0, 0])]
        self.locks = [threading.Lock(), threading.RLock()]
        self.namespace = {"__name__": "model", "g": 0}

    def name(self, value: Any) -> Any:
        """*value* as the same thing on either path's objects."""
        for kind in ("boxes", "values", "containers"):
            for i, obj in enumerate(getattr(self, kind)):
                if value is obj:
                    return (kind, i)
        if isinstance(value, (list, tuple, collections.deque)):
            return [self.name(v) for v in value]
        if isinstance(value, dict):
            return {k: self.name(v) for k, v in value.items()}
        return value

    def state(self) -> Any:
        return (
            [self.name(vars(box)) for box in self.boxes],
            [
                {k: self.name(v) for k, v in c.items()}
                if isinstance(c, dict)
                else self.name(list(c))
                for c in self.containers
            ],
            self.namespace["g"],
        )


def hook_step(h: Hooks, w: World, op: str, a: int, b: int) -> Any:
    box = w.boxes[a % 2]
    attr = ("x", "y", "z")[b]
    c = w.containers[a]
    key = ("a", "b", "c")[b] if isinstance(c, dict) else (0, -1, 1)[b]
    value = w.values[b % 2]
    lock = w.locks[a % 2]
    if op == "ra":
        return h.ra(box, attr)
    if op == "wa":
        return h.wa(box, attr, value)
    if op == "sa":
        return h.sa(b, box, attr)
    if op == "da":
        return h.da(box, "z")
    if op == "aug_attr":
        return h.wa_top(h.iadd(h.ra_push(box, ("x", "y", "x")[b]), 1))
    if op == "ri":
        return h.ri(c, key)
    if op == "wi":
        return h.wi(c, key, value)
    if op == "si":
        return h.si(b, c, key)
    if op == "di":
        return h.di(c, key)
    if op == "aug_item":
        return h.wi_top(h.iadd(h.ri_push(c, key), 1))
    if op == "it":
        return [x for x in h.it(c)]  # noqa: C416 (the loop is the point)
    if op == "isin":
        return h.isin(value, c)
    if op == "len":
        return h.call(len)(c)
    if op == "list":
        return h.call(list)(c)
    if op == "get":
        return h.m(w.containers[1], "get")(key if isinstance(key, str) else "a")
    if op == "setdefault":
        return h.m(w.containers[1], "setdefault")(("a", "b", "c")[b], value)
    if op == "dict_pop":
        return h.m(w.containers[1], "pop")(("a", "b", "c")[b], None)
    if op == "append":
        return h.m(w.containers[0 if a < 2 else 2], "append")(value)
    if op == "pop":
        return h.m(w.containers[0 if a < 2 else 2], "pop")()
    if op == "popleft":
        return h.m(w.containers[2], "popleft")()
    if op == "with":
        with h.cm(lock):
            return hook_step(h, w, ("ra", "wa", "ri")[b], a, b)
    if op == "acquire_release":
        h.m(lock, "acquire")()
        try:
            return hook_step(h, w, ("wi", "ri", "it")[b], a, b)
        finally:
            h.m(lock, "release")()
    # methods read as attributes and called later (``w = ev.wait; w()``)
    if op == "bound_acquire_release":
        acquire, release = h.ra(lock, "acquire"), h.ra(lock, "release")
        acquire()
        try:
            return hook_step(h, w, ("wi", "ri", "it")[b], a, b)
        finally:
            release()
    if op == "bound_append":
        return h.ra(w.containers[0 if a < 2 else 2], "append")(value)
    if op == "bound_pop":
        return h.ra(w.containers[0 if a < 2 else 2], "pop")()
    if op == "bound_get":
        return h.call(getattr)(w.containers[1], "get")(key if isinstance(key, str) else "a")
    if op == "ri_slice":  # the C hooks hand slices to the Python ones
        return h.ri(c, slice(b - 1, None))
    if op == "wi_slice":
        return h.wi(w.containers[0], slice(0, b), [value])
    if op == "whole":
        return h.whole(c)
    if op == "getattr":
        return h.call(getattr)(box, attr, None)
    if op in ("rg", "wg"):
        return getattr(h, op)(w.namespace, "g")
    if op in ("rgv", "wgv"):
        return getattr(h, op)(w.namespace, "g", b)
    raise AssertionError(op)


def run_hooks(
    use_c: bool, schedule: list[tuple[int, str, int, int]], workers: Workers
) -> list[Any]:
    races: list[Race] = []
    d = Detector(races.append, use_c=use_c)
    h = Hooks(d)
    assert ("ra" in vars(h)) is use_c  # the C twins are in place on the C path only
    w = World()
    outcomes: list[Any] = []

    def step(op: str, a: int, b: int) -> None:
        try:
            outcomes.append(w.name(hook_step(h, w, op, a, b)))
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            outcomes.append(type(exc).__name__)

    for thread, op, a, b in schedule:
        workers.run(thread, lambda op=op, a=a, b=b: step(op, a, b))
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
    ] + [("outcomes", outcomes, w.state())]


@pytest.mark.timeout(600)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=hook_steps)
def test_the_c_hooks_report_what_the_python_hooks_report(
    schedule: list[tuple[int, str, int, int]], workers: Workers
) -> None:
    assert run_hooks(True, schedule, workers) == run_hooks(False, schedule, workers)
