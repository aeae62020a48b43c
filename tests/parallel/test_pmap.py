"""pmap on the threads backend: the contract's rules for laziness, order,
failures and leaving early."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

import threadline as tl
from threadline._parallel._engine import Driver, Engine
from threadline._parallel._pmap import PMap

pytestmark = pytest.mark.timeout(30)


class Counting:
    """An input that counts how many items were taken from it."""

    def __init__(self, limit: int | None = None) -> None:
        self.taken = 0
        self.limit = limit

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count():
            if self.limit is not None and i >= self.limit:
                return
            self.taken += 1
            yield i


def square(x: int) -> int:
    return x * x


def pmap(fn: Callable[[Any], Any], items: Iterable[Any], **kwargs: Any) -> tl.PMap[Any]:
    """These tests are about the threads backend (their functions are local)."""
    return tl.pmap(fn, items, backend="threads", **kwargs)


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_ordered_matches_builtin_map(workers: int) -> None:
    assert list(pmap(square, range(200), workers=workers)) == list(map(square, range(200)))


def test_unordered_yields_every_result_once() -> None:
    def jitter(x: int) -> int:
        time.sleep((x % 3) * 0.001)
        return x

    assert sorted(pmap(jitter, range(300), ordered=False, workers=4)) == list(range(300))


def test_empty_input() -> None:
    assert list(pmap(square, [])) == []


@pytest.mark.parametrize("workers", [1, 3])
def test_input_is_taken_only_as_results_are(workers: int) -> None:
    source = Counting()
    window = 4 * workers + 16
    results = pmap(square, source, workers=workers)
    for consumed in range(1, 60):
        next(results)
        time.sleep(0.002 if consumed % 10 == 0 else 0)  # give the feeder a chance
        assert source.taken - consumed <= window
    results.close()


def test_explicit_window_bounds_the_lookahead() -> None:
    source = Counting()
    results = pmap(square, source, workers=2, window=3)
    next(results)
    time.sleep(0.1)
    assert source.taken <= 1 + 3
    results.close()


def test_failure_yields_earlier_results_then_raises() -> None:
    def f(x: int) -> int:
        if x == 10:
            raise ValueError("item 10")
        time.sleep(0.002 if x < 10 else 0.2)
        return x

    out: list[int] = []
    with pytest.raises(ValueError, match="item 10") as info:
        for r in pmap(f, range(1000), workers=4):
            out.append(r)
    assert out == list(range(10))
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "f" in frames  # the failing call's traceback is kept


def test_failure_stops_intake_and_cancels_later_calls() -> None:
    source = Counting()
    started: list[int] = []
    lock = threading.Lock()

    def f(x: int) -> int:
        with lock:
            started.append(x)
        if x == 5:
            raise KeyError(x)
        if x > 5:
            tl.sleep(30)  # cancelled, not waited for
        return x

    begin = time.monotonic()
    with pytest.raises(KeyError):
        list(pmap(f, source, workers=4))
    assert time.monotonic() - begin < 10
    assert source.taken < 5 + 4 * 4 + 16 + 2
    count = len(started)
    time.sleep(0.1)
    assert len(started) == count  # nothing starts after the error was raised


def test_input_that_raises_is_reported_after_earlier_results() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise OSError("input broke")

    out: list[int] = []
    with pytest.raises(OSError, match="input broke"):
        for r in pmap(square, source(), workers=2):
            out.append(r)
    assert out == [0, 1, 4, 9, 16]


def test_close_stops_the_work_and_waits_for_running_calls() -> None:
    running = 0
    calls = 0
    lock = threading.Lock()
    ch: tl.Channel[int] = tl.Channel()

    def f(x: int) -> int:
        nonlocal running, calls
        with lock:
            running += 1
            calls += 1
        try:
            if x > 0:
                ch.recv()  # blocks until cancelled
            return x
        finally:
            with lock:
                running -= 1

    results = pmap(f, itertools.count(), workers=3)
    assert next(results) == 0
    results.close()
    assert running == 0  # close() returned only once no call was running
    after = calls
    time.sleep(0.1)
    assert calls == after
    with pytest.raises(StopIteration):
        next(results)


def test_break_in_with_block_cancels() -> None:
    source = Counting()
    with pmap(square, source, workers=2) as results:
        for r in results:
            if r >= 25:
                break
    taken = source.taken
    time.sleep(0.1)
    assert source.taken == taken


def test_abandoned_iterator_is_collected_and_cancels() -> None:
    source = Counting()
    started = threading.Event()

    def slow(x: int) -> int:
        started.set()
        tl.sleep(30)
        return x

    results = pmap(slow, source, workers=2)
    engine = results._engine
    started.wait(5)
    del results
    gc.collect()
    assert engine.finished.wait(10), "the work did not stop after the iterator was collected"


def test_consumer_deadline_cancels_the_work() -> None:
    def slow(x: int) -> int:
        tl.sleep(30)
        return x

    begin = time.monotonic()
    with pytest.raises(TimeoutError):
        with tl.timeout(0.2):
            list(pmap(slow, range(10), workers=2))
    assert time.monotonic() - begin < 10


@pytest.mark.usefixtures("tiny_switch")
def test_many_items_under_a_tiny_switch_interval() -> None:
    n = 3000
    assert list(pmap(square, range(n), workers=6)) == [square(i) for i in range(n)]
    assert sorted(pmap(square, range(n), workers=6, ordered=False)) == sorted(
        square(i) for i in range(n)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
        ({"workers": -2}, ValueError, "workers must be >= 1, got -2"),
        ({"workers": "2"}, TypeError, "workers must be a positive int or None, got '2'"),
        ({"workers": True}, TypeError, "workers must be a positive int or None, got True"),
        ({"window": 0}, ValueError, "window must be >= 1, got 0"),
        ({"window": "x"}, TypeError, "window must be an int >= 1 or None, got 'x'"),
        ({"window": 2.5}, TypeError, "window must be an int >= 1 or None, got 2.5"),
        ({"ordered": "no"}, TypeError, "ordered must be True or False, got 'no'"),
        ({"ordered": None}, TypeError, "ordered must be True or False, got None"),
        ({"backend": "gpu"}, ValueError, "backend must be one of .*got 'gpu'"),
        ({"backend": 3}, TypeError, "backend must be one of .*Executor, got 3"),
        ({"progress": "yes"}, TypeError, "progress must be True or False, got 'yes'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        tl.pmap(square, range(3), **kwargs)  # type: ignore[arg-type]


def test_fn_must_be_callable() -> None:
    with pytest.raises(TypeError, match="fn must be callable, got 3"):
        tl.pmap(3, range(3))  # type: ignore[arg-type]


def test_items_must_be_iterable() -> None:
    with pytest.raises(TypeError, match="items must be iterable, got 5"):
        tl.pmap(square, 5)  # type: ignore[call-overload]


def test_fn_raising_cancelled_is_that_items_failure() -> None:
    # Regression: this ended in "RuntimeError: pmap lost the result of item 3".
    def f(x: int) -> int:
        if x == 3:
            with tl.TaskGroup() as tg:
                task = tg.go(tl.sleep, 30)
                task.cancel()
            return task.result()  # raises tl.Cancelled: the task was cancelled
        return x

    seen = []
    with pytest.raises(tl.Cancelled, match="was cancelled"):
        for r in pmap(f, range(10), workers=2):
            seen.append(r)
    assert seen == [0, 1, 2]


def consume_from_threads(
    results: Iterator[int], consumers: int
) -> tuple[list[list[int]], list[BaseException]]:
    """Consume *results* from several threads at once: what each got, in
    the order it got them, and what each raised."""
    got: list[list[int]] = [[] for _ in range(consumers)]
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(consumers)

    def consume(mine: list[int]) -> None:
        start.wait()
        try:
            for r in results:
                mine.append(r)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=consume, args=(mine,)) for mine in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got, errors


@pytest.mark.usefixtures("tiny_switch")
@pytest.mark.parametrize("ordered", [True, False])
def test_several_consumers_get_each_result_exactly_once(ordered: bool) -> None:
    # Regression: results went missing, or came twice, and "pmap lost the
    # result of item N" was raised.
    def yielding(x: int) -> int:
        time.sleep(0)
        return x

    for _ in range(20):
        results = pmap(yielding, range(1000), workers=4, ordered=ordered)
        got, errors = consume_from_threads(results, 4)
        assert errors == []
        assert sorted(itertools.chain(*got)) == list(range(1000))
        if ordered:  # handed out in input order: each consumer's share is increasing
            assert all(mine == sorted(mine) for mine in got)


@pytest.mark.usefixtures("tiny_switch")
def test_several_consumers_and_a_failure() -> None:
    def f(x: int) -> int:
        if x == 500:
            raise ValueError("item 500")
        return x

    for _ in range(10):
        got, errors = consume_from_threads(pmap(f, range(1000), workers=4), 4)
        # every result before the failure, once; the failure, once; the others see the end
        assert sorted(itertools.chain(*got)) == list(range(500))
        assert [str(e) for e in errors] == ["item 500"]


def test_close_from_one_consumer_ends_the_others() -> None:
    results = pmap(lambda x: tl.sleep(30), range(10), workers=2)
    waiting: list[object] = []

    def wait() -> None:
        waiting.append(list(results))

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.1)
    results.close()
    thread.join(5)
    assert waiting == [[]]


def test_unordered_raises_the_first_failure_after_its_results() -> None:
    # Regression: with ordered=False, a chunk that arrived after the failing
    # one was handed out first, and its own failure replaced the first one.
    delivered = threading.Event()

    class TwoFailures:
        drivers = 1
        per_item = True

        def drive(self, engine: Engine, driver: Driver) -> None:
            engine.deliver(driver, 0, [10, 11], ValueError("first"))
            engine.deliver(driver, 5, [15], KeyError("second"))
            delivered.set()

        def shutdown(self) -> None:
            pass

    results: tl.PMap[int] = PMap(Engine(iter(range(10)), 8, TwoFailures(), ordered=False))
    assert delivered.wait(10)
    got = []
    with pytest.raises(ValueError, match="first"):
        for r in results:
            got.append(r)
    assert got == [10, 11]
